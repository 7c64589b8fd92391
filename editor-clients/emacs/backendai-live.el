;;; backendai-live.el --- The live Backend.AI session: completion, variables, export  -*- lexical-binding: t -*-

;; This file is part of backendai.el (see there for the license and requirements).

;;; Commentary:

;; Code intelligence from the session the code runs in (bai-lsp's "Live session"):
;;
;; * `backendai-completion-at-point': a `completion-at-point-functions' entry
;;   fed by bai-lsp's side connection, so that a buffer another eglot server
;;   (pyright, pylsp) manages also completes from the live kernel; in a buffer
;;   bai-lsp itself manages, eglot's own completion already asks it.
;; * `backendai-variables': the session's variables in a `tabulated-list-mode'
;;   buffer (RET shows a page of the variable, g refreshes; it also refreshes
;;   after each run while it is shown).
;; * `backendai-inspect': one page (50 rows) of a variable; n and p page.
;; * `backendai-export': the run log as a notebook (.ipynb) or an HTML page.
;;
;; Loaded on demand through autoloads in backendai.el.

;;; Code:

(require 'backendai)
(require 'cl-lib)
(require 'tabulated-list)
(require 'subr-x)

(defcustom backendai-completion-timeout 1.0
  "Seconds `backendai-completion-at-point' waits for the session's answer."
  :type 'number
  :group 'backendai)

(defconst backendai-page-size 50
  "Rows per page of `backendai-inspect'.")

;;;; Completion

(defun backendai--side-connection-p ()
  "Non-nil when this buffer talks to bai-lsp through a side connection."
  (and buffer-file-name backendai--side-server
       (jsonrpc-running-p backendai--side-server)
       (not (eq backendai--side-server (ignore-errors (eglot-current-server))))))

(defun backendai-completion-at-point ()
  "Complete from the live session through bai-lsp's side connection.
Non-exclusive: the other `completion-at-point-functions' (the managing
server's) still run when the session offers nothing."
  (when (backendai--side-connection-p)
    (let* ((server backendai--side-server)
           (end (point))
           (start (save-excursion (skip-chars-backward "A-Za-z0-9_") (point)))
           (answer (progn
                     (backendai--side-sync server)
                     (condition-case nil
                         (jsonrpc-request
                          server :textDocument/completion
                          (list :textDocument (list :uri (backendai--uri))
                                :position (backendai--lsp-position end))
                          :timeout backendai-completion-timeout)
                       (error nil))))
           (items (if (vectorp answer) answer (plist-get answer :items))))
      (when (and items (> (length items) 0))
        (list start end
              (mapcar (lambda (item) (plist-get item :label)) items)
              :exclusive 'no
              :annotation-function (lambda (_) " <session>"))))))

;;;###autoload
(defun backendai-live-setup ()
  "Add `backendai-completion-at-point' to this buffer's completion functions."
  (if backendai-minor-mode
      (add-hook 'completion-at-point-functions #'backendai-completion-at-point nil t)
    (remove-hook 'completion-at-point-functions #'backendai-completion-at-point t)))

;;;; Variables

(defvar-local backendai--source nil
  "The source buffer whose session a variables or inspect buffer shows.")

(defvar-local backendai--inspected nil
  "(NAME . OFFSET) of the page an inspect buffer shows.")

(defvar backendai-variables-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'backendai-variables-inspect)
    map)
  "Keymap of `backendai-variables-mode'.")

(define-derived-mode backendai-variables-mode tabulated-list-mode "BackendAI-Variables"
  "The variables of a Backend.AI session; RET inspects one, g refreshes."
  (setq tabulated-list-format [("Name" 16 t) ("Type" 14 t) ("Size" 10 nil) ("Value" 0 nil)])
  (setq tabulated-list-padding 1)
  (add-hook 'tabulated-list-revert-hook #'backendai--variables-revert nil t)
  (tabulated-list-init-header))

(defun backendai--size-text (variable)
  "The size column of VARIABLE (a plist): its shape, else its length."
  (let ((shape (plist-get variable :shape))
        (size (plist-get variable :size)))
    (cond ((and shape (> (length shape) 0))
           (mapconcat #'number-to-string shape "×"))
          ((numberp size) (number-to-string size))
          (t ""))))

(defun backendai-variables-entries (result)
  "Tabulated-list entries of a `backendai.session.variables' RESULT."
  (mapcar (lambda (v)
            (list (plist-get v :name)
                  (vector (plist-get v :name) (plist-get v :type)
                          (backendai--size-text v)
                          (replace-regexp-in-string "\n" " " (or (plist-get v :summary) "")))))
          (plist-get result :variables)))

(defun backendai--variables-show (source result)
  "Show RESULT, the variables of SOURCE's session, in the variables buffer."
  (with-current-buffer (get-buffer-create "*backendai-variables*")
    (unless (derived-mode-p 'backendai-variables-mode)
      (backendai-variables-mode))
    (setq backendai--source source)
    (setq tabulated-list-entries (backendai-variables-entries result))
    (tabulated-list-print t)
    (current-buffer)))

;;;###autoload
(defun backendai-variables ()
  "Show the variables of the current buffer's Backend.AI session.
They are read from the running session while it is idle; no session
is started for this."
  (interactive)
  (let ((source (backendai--source-buffer)))
    (with-current-buffer source
      (backendai-execute
       "backendai.session.variables" (list :uri (backendai--uri))
       (lambda (result)
         (display-buffer (backendai--variables-show source result)))))))

(defun backendai--variables-revert ()
  "Ask the session again (g in the variables buffer)."
  (when (buffer-live-p backendai--source)
    (let ((source backendai--source))
      (with-current-buffer source
        (backendai-execute "backendai.session.variables" (list :uri (backendai--uri))
                           (lambda (result) (backendai--variables-show source result)))))))

(defun backendai--variables-after-run (_result)
  "Refresh a shown variables buffer after each run."
  (let ((buffer (get-buffer "*backendai-variables*")))
    (when (and buffer (get-buffer-window buffer t))
      (with-current-buffer buffer (backendai--variables-revert)))))

(add-hook 'backendai-run-finished-functions #'backendai--variables-after-run)

(defun backendai-variables-inspect ()
  "Inspect the variable on this line of the variables buffer."
  (interactive)
  (let ((name (tabulated-list-get-id)))
    (unless name (user-error "BackendAI: no variable on this line"))
    (with-current-buffer backendai--source
      (backendai-inspect name))))

;;;; Inspect

(defvar backendai-inspect-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "n") #'backendai-inspect-next-page)
    (define-key map (kbd "p") #'backendai-inspect-previous-page)
    map)
  "Keymap of `backendai-inspect-mode'.")

(define-derived-mode backendai-inspect-mode tabulated-list-mode "BackendAI-Inspect"
  "One page of a variable of a Backend.AI session; n and p page.")

(defun backendai--inspect-show (source name offset result)
  "Show RESULT, the page at OFFSET of NAME in SOURCE's session."
  (with-current-buffer (get-buffer-create (format "*backendai-inspect: %s*" name))
    (unless (derived-mode-p 'backendai-inspect-mode)
      (backendai-inspect-mode))
    (setq backendai--source source
          backendai--inspected (cons name offset))
    (let* ((rows (plist-get result :rows))
           (columns (and rows (plist-get rows :columns)))
           (data (and rows (plist-get rows :data)))
           (n -1))
      (setq tabulated-list-format
            (vconcat (mapcar (lambda (c) (list (if (equal c "") "#" c) 12 nil))
                             (or columns ["value"]))))
      (setq tabulated-list-entries
            (mapcar (lambda (row)
                      (list (cl-incf n)
                            (vconcat (mapcar (lambda (v)
                                               (replace-regexp-in-string
                                                "\n" " " (if (stringp v) v (format "%s" v))))
                                             row))))
                    data))
      (tabulated-list-init-header)
      (tabulated-list-print)
      (setq header-line-format
            (format "%s: %s — %s  rows %d–%d of %s  (n next, p previous)"
                    name (plist-get result :type) (plist-get result :summary)
                    (if (> (length data) 0) (1+ offset) offset) (+ offset (length data))
                    (if rows (plist-get rows :total) "?"))))
    (current-buffer)))

;;;###autoload
(defun backendai-inspect (name &optional offset)
  "Show a page (50 rows from OFFSET) of the session's variable NAME.
Lists, dicts, numpy arrays, pandas and polars frames have rows."
  (interactive (list (read-string "Inspect variable: " (thing-at-point 'symbol t))))
  (let ((source (backendai--source-buffer))
        (offset (max 0 (or offset 0))))
    (with-current-buffer source
      (backendai-execute
       "backendai.session.inspect"
       (list :uri (backendai--uri) :name name :offset offset :limit backendai-page-size)
       (lambda (result)
         (display-buffer (backendai--inspect-show source name offset result)))))))

(defun backendai--inspect-page (delta)
  "Show the page DELTA rows away from the current one."
  (let ((name (car backendai--inspected))
        (offset (+ (cdr backendai--inspected) delta)))
    (when (>= offset 0)
      (with-current-buffer backendai--source
        (backendai-inspect name offset)))))

(defun backendai-inspect-next-page ()
  "Show the next page of the inspected variable."
  (interactive)
  (backendai--inspect-page backendai-page-size))

(defun backendai-inspect-previous-page ()
  "Show the previous page of the inspected variable."
  (interactive)
  (backendai--inspect-page (- backendai-page-size)))

;;;; Export

;;;###autoload
(defun backendai-export (file)
  "Export the current project's run log to FILE.
A name ending in .ipynb gets a Jupyter notebook (code and outputs),
any other a standalone HTML page."
  (interactive "FExport Backend.AI runs to (.ipynb or .html): ")
  (let* ((path (expand-file-name file))
         (kind (if (string-suffix-p ".ipynb" path) "ipynb" "html"))
         (root (with-current-buffer (backendai--source-buffer)
                 (project-root (backendai--project)))))
    (with-current-buffer (backendai--source-buffer)
      (backendai-execute
       "backendai.runs.export"
       (list :format kind :path path
             :uri (backendai--path-to-uri (directory-file-name (expand-file-name root))))
       (lambda (result)
         (message "BackendAI: exported %s runs to %s"
                  (plist-get result :runs) (plist-get result :path)))))))

(provide 'backendai-live)
;;; backendai-live.el ends here

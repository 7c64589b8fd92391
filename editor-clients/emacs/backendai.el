;;; backendai.el --- Run code on Backend.AI compute sessions via eglot  -*- lexical-binding: t -*-

;; Copyright (C) 2026 The bai-lsp authors

;; Author: The bai-lsp authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9") (jsonrpc "1.0.14"))
;; Keywords: tools, processes
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Send the region, the current line, a `# %%' cell or the whole file
;; to a Backend.AI compute session through the `bai-lsp' language
;; server, and watch the output stream into the *backendai* buffer.
;; Programs that call input() or getpass() are answered in the
;; minibuffer (`read-string' / `read-passwd'); images are shown inline
;; in graphical frames and saved to files otherwise; a mode-line
;; lighter shows the session's status (idle, busy, input?).
;;
;; bai-lsp is an ordinary eglot server: M-x backendai-run-line starts
;; it for the current buffer when needed.  eglot gives a buffer one
;; server, so in a buffer another eglot server manages bai-lsp runs as
;; a side connection of the project (see `backendai-side-connection').
;; `backendai-eglot-setup' registers it in `eglot-server-programs' for
;; `backendai-modes' so that M-x eglot picks it.
;;
;; Commands: `backendai-run-region', `backendai-run-line',
;; `backendai-run-cell', `backendai-run-file', `backendai-interrupt',
;; `backendai-restart', `backendai-destroy', `backendai-sessions',
;; `backendai-status'.  See docs/editors/emacs.md.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)
(require 'subr-x)
(require 'seq)
(require 'ansi-color)
(require 'project)
(require 'backendai-install)
(require 'backendai-protocol)

;;;; Options

(defgroup backendai nil
  "Run code on Backend.AI compute sessions through bai-lsp."
  :group 'tools
  :prefix "backendai-")

(defcustom backendai-server-command '("bai-lsp")
  "Command (program and arguments) that starts the bai-lsp server."
  :type '(repeat string))

(defun backendai--server-command ()
  "Return the command to start bai-lsp with.
That is `backendai-server-command', except that its default means
the server `backendai-install-server' installed, when there is one."
  (let ((installed (backendai-installed-server)))
    (if (and installed (equal backendai-server-command '("bai-lsp")))
        (list installed)
      backendai-server-command)))

(defcustom backendai-settings nil
  "The bai-lsp settings, a plist sent as initializationOptions.
For example (:image \"python\" :resources (:cpu 2 :mem \"4g\")).
With no :endpoint here nor in BACKEND_ENDPOINT, the server starts
its embedded local gateway.  See the bai-lsp configuration docs."
  :type '(plist :key-type symbol :value-type sexp))

(defcustom backendai-modes
  '(python-mode python-ts-mode sh-mode bash-ts-mode c-mode c-ts-mode
                c++-mode c++-ts-mode js-mode js-ts-mode)
  "Major modes `backendai-eglot-setup' registers bai-lsp for."
  :type '(repeat symbol))

(defcustom backendai-language-ids
  '((python-mode . "python") (python-ts-mode . "python")
    (sh-mode . "shellscript") (bash-ts-mode . "shellscript")
    (c-mode . "c") (c-ts-mode . "c") (c++-mode . "cpp") (c++-ts-mode . "cpp")
    (js-mode . "javascript") (js-ts-mode . "javascript"))
  "LSP languageId of each major mode (others: the mode name less \"-mode\")."
  :type '(alist :key-type symbol :value-type string))

(defcustom backendai-output-buffer-name "*backendai*"
  "Name of the buffer runs write their output to."
  :type 'string)

(defcustom backendai-display-output t
  "When non-nil, show the output buffer when a run starts."
  :type 'boolean)

(defcustom backendai-output-max-lines 10000
  "Older lines of the output buffer are dropped past this many."
  :type 'natnum)

(defcustom backendai-media-directory
  (expand-file-name "backendai-media" temporary-file-directory)
  "Folder that images and HTML produced by runs are saved to."
  :type 'directory)

(defcustom backendai-inline-images t
  "When non-nil, insert images into the output buffer in graphical frames."
  :type 'boolean)

(defcustom backendai-lighter-prefix "BAI"
  "Text before the session status in the mode line."
  :type 'string)

(defcustom backendai-request-timeout (* 7 24 3600)
  "Seconds to wait for the answer of a run command (a run may be long)."
  :type 'natnum)

(defface backendai-stderr '((t :inherit error))
  "Face of text a run writes to stderr.")

(defface backendai-header '((t :inherit font-lock-keyword-face :weight bold))
  "Face of the line that starts a run.")

(defface backendai-footer '((t :inherit shadow))
  "Face of the line that ends a successful run.")

(defface backendai-failure '((t :inherit error :weight bold))
  "Face of the line that ends a failed or interrupted run.")

;;;; The server class and its capabilities

(defclass backendai-server (eglot-lsp-server) ()
  :documentation "An eglot connection to bai-lsp.")

(cl-defmethod eglot-client-capabilities :around ((_server backendai-server))
  "Add experimental.backendai.input: this client answers `backendai/input'."
  (let ((caps (cl-call-next-method)))
    (plist-put caps :experimental '(:backendai (:input t)))))

(cl-defmethod eglot-initialization-options ((_server backendai-server))
  "Send `backendai-settings' as the server's initializationOptions."
  (list :backendai (or backendai-settings (make-hash-table))))

;;;###autoload
(defun backendai-eglot-setup ()
  "Make bai-lsp the eglot server of `backendai-modes'."
  (interactive)
  (add-to-list 'eglot-server-programs
               (cons backendai-modes
                     (cons 'backendai-server (backendai--server-command)))))

;;;; State

(defvar backendai--statuses (make-hash-table :test #'eq)
  "Server → hash table of session name → status plist.")

(defvar backendai--active-runs (make-hash-table :test #'eq)
  "Server → number of runs started and not finished.")

(defvar backendai--runs (make-hash-table :test #'equal)
  "Run id → plist (:column MARKER :cr BOOL :media N :uri URI :password BOOL).")

(defvar backendai--last-owner nil
  "Run whose unfinished line is the output buffer's last line.")


(defvar backendai--last-uri nil
  "Document of the latest run (commands typed in the output buffer act on it).")

(defvar backendai-status-change-hook nil
  "Normal hook run after a session's status or the number of runs changed.
The mode line is updated already; use it to refresh other displays.")

(defvar backendai-run-finished-functions nil
  "Abnormal hook run with a plist when a run ends or a command fails.
For a run it is the runFinished notification; for a command the
server refused it is (:status \"error\" :message MESSAGE).")

(defconst backendai--status-priority
  '(("waiting-input" . 6) ("busy" . 5) ("starting" . 4) ("error" . 3)
    ("idle" . 2) ("terminated" . 1))
  "Which session's status the mode line shows when there are several.")

;;;; eglot compatibility

(defun backendai--path-to-uri (path)
  "The file URI of PATH (eglot 1.16+ made the function public)."
  (if (fboundp 'eglot-path-to-uri)
      (eglot-path-to-uri path)
    (with-no-warnings (eglot--path-to-uri path))))

(defun backendai--uri-to-path (uri)
  "The file name of URI (eglot 1.16+ made the function public)."
  (if (fboundp 'eglot-uri-to-path)
      (eglot-uri-to-path uri)
    (with-no-warnings (eglot--uri-to-path uri))))

;;;; Mode line

(defvar-local backendai--side-server nil
  "The side connection this buffer's text was opened on, if any.")

(declare-function backendai--countdown-of-buffer "backendai-launcher" ())
(declare-function backendai-start-polling "backendai-launcher" ())

(defun backendai--server-of-buffer (&optional buffer)
  "The live bai-lsp server of BUFFER (default: the current one), or nil.
That is the eglot server managing it, or the side connection used
when another eglot server manages it."
  (with-current-buffer (or buffer (current-buffer))
    (let ((server (ignore-errors (eglot-current-server))))
      (cond ((and server (cl-typep server 'backendai-server) (jsonrpc-running-p server))
             server)
            ((and backendai--side-server (jsonrpc-running-p backendai--side-server))
             backendai--side-server)))))

(defun backendai-status-of (server)
  "The most pressing session status of SERVER, a string, or nil."
  (let ((sessions (gethash server backendai--statuses))
        best)
    (when sessions
      (maphash
       (lambda (_name info)
         (let ((st (plist-get info :status)))
           (when (or (null best)
                     (> (alist-get st backendai--status-priority 0 nil #'equal)
                        (alist-get best backendai--status-priority 0 nil #'equal)))
             (setq best st))))
       sessions))
    (or best (and (> (gethash server backendai--active-runs 0) 0) "starting"))))

(defun backendai--status-changed ()
  "Update mode lines and run `backendai-status-change-hook'."
  (force-mode-line-update t)
  (run-hooks 'backendai-status-change-hook))

(defun backendai-mode-line ()
  "Mode-line text of the current buffer's session, e.g. \" BAI busy\"."
  (let ((server (backendai--server-of-buffer)))
    (if (not server)
        ""
      (let ((st (backendai-status-of server))
            (runs (gethash server backendai--active-runs 0)))
        (concat " " backendai-lighter-prefix
                (if st (concat " " (if (equal st "waiting-input") "input?" st)) "")
                (if (> runs 1) (format " (%d runs)" runs) "")
                (if (member st '("terminated" "error")) "" (backendai--countdown-of-buffer)))))))

;;;###autoload
(define-minor-mode backendai-minor-mode
  "Show the Backend.AI session status in the mode line.
Turned on in buffers a bai-lsp server manages."
  :lighter (:eval (backendai-mode-line)))

(defun backendai--maybe-enable-minor-mode ()
  "Turn on `backendai-minor-mode' in buffers bai-lsp manages."
  (when (backendai--server-of-buffer)
    (backendai-minor-mode 1)))

(add-hook 'eglot-managed-mode-hook #'backendai--maybe-enable-minor-mode)

;;;; Output buffer

(defvar backendai-output-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'backendai-interrupt)
    (define-key map (kbd "q") #'quit-window)
    map)
  "Keymap of `backendai-output-mode'.")

(define-derived-mode backendai-output-mode special-mode "BackendAI-Output"
  "Major mode of the *backendai* buffer, where runs stream their output."
  (setq-local buffer-undo-list t)
  (setq-local truncate-lines nil))

(defun backendai-output-buffer ()
  "The output buffer, created on first use."
  (or (get-buffer backendai-output-buffer-name)
      (with-current-buffer (get-buffer-create backendai-output-buffer-name)
        (backendai-output-mode)
        (current-buffer))))

(defun backendai--follow (buffer)
  "Keep windows showing BUFFER on its end, unless they were scrolled back."
  (dolist (win (get-buffer-window-list buffer nil t))
    (when (or (not (eq win (selected-window)))
              (>= (window-point win)
                  (with-current-buffer buffer
                    (save-excursion (goto-char (point-max))
                                    (line-beginning-position)))))
      (set-window-point win (with-current-buffer buffer (point-max))))))

(defun backendai--trim ()
  "Drop the oldest lines of the current buffer past `backendai-output-max-lines'."
  (let ((excess (- (count-lines (point-min) (point-max)) backendai-output-max-lines)))
    (when (> excess 0)
      (save-excursion
        (goto-char (point-min))
        (forward-line excess)
        (delete-region (point-min) (point))))))

(defmacro backendai--with-output (&rest body)
  "Run BODY in the output buffer with writing allowed, then trim and follow."
  (declare (indent 0) (debug t))
  `(let ((buffer (backendai-output-buffer)))
     (with-current-buffer buffer
       (let ((inhibit-read-only t))
         (save-excursion ,@body)
         (backendai--trim)))
     (backendai--follow buffer)))

(defun backendai--fresh-line ()
  "Go to the end of the output, on a line of its own."
  (goto-char (point-max))
  (unless (bolp) (insert "\n")))

(defun backendai--insert-line (text &optional face)
  "Insert TEXT as a line of its own with FACE."
  (backendai--fresh-line)
  (insert (if face (propertize text 'face face) text) "\n")
  (setq backendai--last-owner nil))

(defun backendai--run (run-id)
  "The state plist of RUN-ID, created on first use."
  (or (gethash run-id backendai--runs)
      (puthash run-id (list :media 0) backendai--runs)))

(defun backendai--insert-console (run-id text face)
  "For RUN-ID insert console TEXT with FACE, handling partial lines and \\r.
A line a run left unfinished is continued if it is still the last
line; a carriage return moves back to the line's start and the
following text overwrites what was there, as in a terminal."
  (let* ((run (backendai--run run-id))
         (ansi-color-context nil)
         (text (ansi-color-apply (replace-regexp-in-string "\r\n" "\n" text)))
         (col (plist-get run :column)))
    (goto-char (point-max))
    (if (and (equal backendai--last-owner run-id) (markerp col)
             (marker-buffer col))
        (goto-char col)
      (unless (bolp) (insert "\n"))
      (setq col (copy-marker (point))))
    (let ((start 0) (len (length text)))
      (while (< start len)
        (let* ((next (string-match "[\r\n]" text start))
               (seg (substring text start (or next len))))
          (unless (string-empty-p seg)
            ;; overwrite up to the end of the line, then insert the rest
            (let ((over (min (length seg) (- (line-end-position) (point)))))
              (delete-region (point) (+ (point) over)))
            (insert (if face (propertize seg 'face face) seg)))
          (when next
            (if (eq (aref text next) ?\r)
                (goto-char (line-beginning-position))
              (goto-char (line-end-position))
              (if (eobp) (insert "\n") (forward-line 1))))
          (setq start (if next (1+ next) len)))))
    (set-marker col (point))
    (plist-put run :column col)
    (setq backendai--last-owner run-id)))

(defun backendai--media-extension (mime)
  "File extension for MIME."
  (pcase mime
    ("image/png" "png") ("image/jpeg" "jpg") ("image/gif" "gif")
    ("image/svg+xml" "svg") ("text/html" "html") ("application/pdf" "pdf")
    (_ (if (string-match "\\`image/\\([[:alnum:]]+\\)\\'" mime)
           (match-string 1 mime)
         "bin"))))

(defun backendai--media-file (run-id n mime)
  "Path of a media file of RUN-ID: number N of the run, of type MIME."
  (expand-file-name
   (format "%s-%s-%d.%s" (format-time-string "%Y%m%d-%H%M%S")
           (replace-regexp-in-string "[^[:alnum:]_-]" "_" run-id)
           n (backendai--media-extension mime))
   backendai-media-directory))

(defun backendai--save-media (run-id mime data)
  "For RUN-ID save a MIME record's DATA (base64 unless SVG/text); return its path."
  (let* ((run (backendai--run run-id))
         (n (1+ (plist-get run :media)))
         (file (backendai--media-file run-id n mime))
         (textual (or (equal mime "image/svg+xml") (string-prefix-p "text/" mime))))
    (plist-put run :media n)
    (make-directory backendai-media-directory t)
    (let ((coding-system-for-write (if textual 'utf-8-unix 'binary)))
      (with-temp-file file
        (if textual
            (insert data)
          (set-buffer-multibyte nil)
          (insert (base64-decode-string data)))))
    file))

(defun backendai--insert-media (run-id mime data)
  "Insert a media record of RUN-ID with MIME and DATA.
The image is shown in graphical frames, else the path of its file."
  (condition-case err
      (let ((file (backendai--save-media run-id mime data)))
        (backendai--fresh-line)
        (let ((type (and backendai-inline-images (display-images-p)
                         (string-prefix-p "image/" mime)
                         (ignore-errors (image-type file)))))
          (if (and type (image-type-available-p type))
              (progn (insert-image (create-image file type) (format "[%s]" mime))
                     (insert " " file "\n"))
            (insert (format "[%s] " mime))
            (insert-text-button file 'action (lambda (_) (find-file-other-window file))
                                'help-echo "Open this file")
            (insert "\n")))
        (setq backendai--last-owner nil))
    (error (backendai--insert-line (format "[%s] could not be saved: %s"
                                           mime (error-message-string err))
                                   'backendai-failure))))

(defun backendai--relative (uri &optional root)
  "A short name for the document URI: relative to ROOT when it is inside."
  (if (not (stringp uri))
      "?"
    (let ((path (backendai--uri-to-path uri)))
      (if (and root (string-prefix-p (file-name-as-directory (expand-file-name root))
                                     (expand-file-name path)))
          (file-relative-name path root)
        (abbreviate-file-name path)))))

(defun backendai--root-of (server)
  "The project root SERVER serves, or nil."
  (ignore-errors (project-root (eglot--project server))))

;;;; Notification and request handlers (plain functions, easy to test)

(defun backendai-handle-run-started (server params)
  "Show that a run of SERVER started; PARAMS is the runStarted plist."
  (let ((run-id (plist-get params :runId)))
    (puthash server (1+ (gethash server backendai--active-runs 0)) backendai--active-runs)
    (setq backendai--last-uri (plist-get params :uri))
    (backendai--run run-id)
    (backendai--with-output
      (backendai--insert-line
       (format "▶ %s%s · %s · %s"
               (backendai--relative (plist-get params :uri) (backendai--root-of server))
               (if (equal (plist-get params :mode) "batch") " (batch)" "")
               (or (plist-get params :sessionName) "?") run-id)
       'backendai-header))
    (when backendai-display-output
      (display-buffer (backendai-output-buffer) '(nil (inhibit-same-window . t))))
    (backendai--status-changed)))

(defun backendai-handle-output (params)
  "Insert the records of a backendai/output notification PARAMS."
  (let ((run-id (plist-get params :runId)))
    (backendai--with-output
      (seq-doseq (rec (plist-get params :records))
        (let ((type (plist-get rec :type)))
          (cond
           ((equal type "stdout")
            (backendai--insert-console run-id (or (plist-get rec :text) "") nil))
           ((equal type "stderr")
            (backendai--insert-console run-id (or (plist-get rec :text) "")
                                       'backendai-stderr))
           ((equal type "media")
            (backendai--insert-media run-id (or (plist-get rec :mime) "application/octet-stream")
                                     (or (plist-get rec :data) "")))
           ((equal type "html")
            (backendai--insert-media run-id "text/html" (or (plist-get rec :data) "")))))))))

(defun backendai--format-duration (ms)
  "MS milliseconds as \"340 ms\" or \"1.2 s\"."
  (cond ((not (numberp ms)) "?")
        ((< ms 1000) (format "%d ms" ms))
        (t (format "%.1f s" (/ ms 1000.0)))))

(defun backendai-footer (params)
  "The footer line of a run that ended with the runFinished PARAMS."
  (let ((msg (plist-get params :message)))
    (concat (format "■ %s" (or (plist-get params :status) "finished"))
            (if (numberp (plist-get params :exitCode))
                (format " · exit %d" (plist-get params :exitCode)) "")
            (if (numberp (plist-get params :durationMs))
                (concat " · " (backendai--format-duration (plist-get params :durationMs))) "")
            (if (and (stringp msg) (not (string-empty-p msg)))
                (concat " · " (replace-regexp-in-string "\n" " " msg)) ""))))

(defun backendai-handle-run-finished (server params)
  "Write the footer of a run of SERVER that ended with PARAMS."
  (let* ((status (plist-get params :status))
         (failed (or (not (equal status "finished"))
                     (not (equal (plist-get params :exitCode) 0)))))
    (puthash server (max 0 (1- (gethash server backendai--active-runs 0)))
             backendai--active-runs)
    (backendai--with-output
      (when (stringp (plist-get params :outputFile))
        (backendai--insert-line (format "[full output] %s" (plist-get params :outputFile))))
      (backendai--insert-line (backendai-footer params)
                              (if failed 'backendai-failure 'backendai-footer)))
    (remhash (plist-get params :runId) backendai--runs)
    (unless (equal status "finished")
      (message "BackendAI: run %s%s" status
               (if (stringp (plist-get params :message))
                   (concat ": " (plist-get params :message)) "")))
    (backendai--status-changed)
    (run-hook-with-args 'backendai-run-finished-functions params)))

(defun backendai-handle-session-status (server params)
  "For SERVER record the sessionStatus PARAMS for the mode line."
  (let ((sessions (or (gethash server backendai--statuses)
                      (puthash server (make-hash-table :test #'equal) backendai--statuses))))
    (puthash (or (plist-get params :sessionName) "?") params sessions)
    ;; a lost session is news, unless the server says this user destroyed
    ;; it; an "error" status comes with the failing command's own message,
    ;; so it only shows in the mode line
    (when (and (equal (plist-get params :status) "terminated")
               (not (equal (plist-get params :reason)
                           backendai-protocol-reason-destroyed-by-user))
               (stringp (plist-get params :message)))
      (message "BackendAI: %s: %s" (plist-get params :sessionName)
               (plist-get params :message)))
    (backendai--status-changed)))

(defun backendai-prompt-text (params)
  "The prompt to show for the input request PARAMS."
  (let ((prompt (replace-regexp-in-string "[\r\n]" "" (or (plist-get params :prompt) ""))))
    (if (string-blank-p prompt)
        (if (eq (plist-get params :password) t) "Password: " "Input: ")
      prompt)))

(defun backendai-answer-input (params)
  "Ask the user for the input request PARAMS; return (:text TEXT) or nil.
Passwords are read with `read-passwd' and never echoed; \\[keyboard-quit]
cancels, which interrupts the run.  The server appends the answer to
the run's output (only the newline for a password)."
  (let* ((password (eq (plist-get params :password) t))
         (answer (condition-case nil
                     (if password
                         (read-passwd (backendai-prompt-text params))
                       (read-string (backendai-prompt-text params)))
                   (quit nil))))
    (prog1 (and answer (list :text (substring-no-properties answer)))
      (when (and password answer) (clear-string answer)))))

(cl-defmethod eglot-handle-notification
  ((server backendai-server) (_method (eql backendai/runStarted)) &rest params)
  "Handle backendai/runStarted from SERVER with PARAMS."
  (backendai-handle-run-started server params))

(cl-defmethod eglot-handle-notification
  ((_server backendai-server) (_method (eql backendai/output)) &rest params)
  "Handle backendai/output with PARAMS."
  (backendai-handle-output params))

(cl-defmethod eglot-handle-notification
  ((server backendai-server) (_method (eql backendai/runFinished)) &rest params)
  "Handle backendai/runFinished from SERVER with PARAMS."
  (backendai-handle-run-finished server params))

(cl-defmethod eglot-handle-notification
  ((server backendai-server) (_method (eql backendai/sessionStatus)) &rest params)
  "Handle backendai/sessionStatus from SERVER with PARAMS."
  (backendai-handle-session-status server params)
  (backendai-start-polling))

(cl-defmethod eglot-handle-request
  ((_server backendai-server) (_method (eql backendai/input)) &rest params)
  "Answer backendai/input with PARAMS: the text the user typed, or null."
  (backendai-answer-input params))

;;;; Connecting

(defun backendai--language-id ()
  "The LSP languageId of the current buffer."
  (or (alist-get major-mode backendai-language-ids)
      (string-remove-suffix "-mode" (symbol-name major-mode))))

(defun backendai--eglot-wants-language-ids ()
  "Non-nil when `eglot' takes a list of language ids (eglot 1.12+)."
  (let ((args (help-function-arglist 'eglot--connect t)))
    (cond ((and (listp args) (memq 'language-ids args)) t)
          ((and (listp args) (memq 'language-id args)) nil)
          ;; names not available (e.g. native-compiled): eglot 1.12 came with Emacs 29
          (t (>= emacs-major-version 29)))))

(defun backendai--check-startable ()
  "Signal a `user-error' when bai-lsp cannot be started for this buffer."
  (unless buffer-file-name
    (user-error "BackendAI: save the buffer to a file first: runs are addressed by file"))
  (unless (executable-find (car (backendai--server-command)))
    (user-error "BackendAI: the server command %S was not found: install bai-lsp with \
M-x backendai-install-server, or set `backendai-server-command'"
                (car (backendai--server-command)))))

(defun backendai--check-protocol (server)
  "Warn when SERVER, a bai-lsp just connected, speaks another protocol version."
  (when (cl-typep server 'backendai-server)
    (backendai-install-check-protocol (eglot--capabilities server)
                                      (eglot--server-info server))))

(add-hook 'eglot-connect-hook #'backendai--check-protocol)

(defun backendai--project ()
  "The project of the current buffer (its folder when it has none)."
  (or (project-current)
      (cons 'transient (file-name-directory buffer-file-name))))

(defun backendai--start ()
  "Start bai-lsp for the current buffer with eglot and return the server."
  (backendai--check-startable)
  (let* ((eglot-sync-connect t)
         (project (backendai--project))
         (lang (backendai--language-id))
         (server (eglot (list major-mode) project 'backendai-server
                        (backendai--server-command)
                        (if (backendai--eglot-wants-language-ids) (list lang) lang))))
    (unless (and server (jsonrpc-running-p server))
      (user-error "BackendAI: bai-lsp did not start (see the *EGLOT ... stderr* buffer)"))
    (backendai-minor-mode 1)
    server))

(defun backendai--source-buffer ()
  "The buffer commands act on: the current one, or the latest run's document."
  (if (and (derived-mode-p 'backendai-output-mode) backendai--last-uri)
      (or (find-buffer-visiting (backendai--uri-to-path backendai--last-uri))
          (user-error "BackendAI: the latest run's file is not open"))
    (current-buffer)))

(defcustom backendai-side-connection t
  "When non-nil, buffers another eglot server manages still run code.
eglot gives a buffer one server; for a buffer managed by, say,
pyright, bai-lsp then runs as a second connection of the project
that eglot attaches to no buffer, and this package sends it the
buffer's text itself before each command."
  :type 'boolean)

(defconst backendai--side-mode 'backendai-side-connection
  "The managed-mode name of side connections: no buffer has it.")

(defvar backendai--side-servers (make-hash-table :test #'equal)
  "Project root → the side connection to bai-lsp for that project.")

(defvar-local backendai--side-version nil
  "Version of this buffer's text last sent to its side connection.")

(defun backendai--side-start ()
  "The side connection for the current buffer's project, started when needed."
  (backendai--check-startable)
  (let* ((project (backendai--project))
         (root (project-root project))
         (server (gethash root backendai--side-servers)))
    (unless (and server (jsonrpc-running-p server))
      (let ((eglot-sync-connect t)
            (lang (backendai--language-id)))
        (setq server (eglot--connect (list backendai--side-mode) project 'backendai-server
                                     (backendai--server-command)
                                     (if (backendai--eglot-wants-language-ids)
                                         (list lang)
                                       lang))))
      (unless (and server (jsonrpc-running-p server))
        (user-error "BackendAI: bai-lsp did not start (see the *EGLOT ... stderr* buffer)"))
      (puthash root server backendai--side-servers))
    server))

(defun backendai--side-close ()
  "Tell the side connection that this buffer is gone."
  (when (and backendai--side-server (jsonrpc-running-p backendai--side-server)
             buffer-file-name)
    (jsonrpc-notify backendai--side-server :textDocument/didClose
                    (list :textDocument (list :uri (backendai--uri))))))

(defun backendai--side-sync (server)
  "Send the current buffer's text to the side connection SERVER."
  (let ((uri (backendai--uri))
        (text (save-restriction (widen)
                                (buffer-substring-no-properties (point-min) (point-max)))))
    (if (and backendai--side-version (eq backendai--side-server server))
        (jsonrpc-notify server :textDocument/didChange
                        (list :textDocument (list :uri uri
                                                  :version (cl-incf backendai--side-version))
                              :contentChanges (vector (list :text text))))
      (setq backendai--side-version 0
            backendai--side-server server)
      (jsonrpc-notify server :textDocument/didOpen
                      (list :textDocument (list :uri uri :languageId (backendai--language-id)
                                                :version 0 :text text)))
      (add-hook 'kill-buffer-hook #'backendai--side-close nil t)
      (backendai-minor-mode 1))))

(defun backendai-current-server ()
  "The bai-lsp server of the current buffer, started when needed."
  (or (let ((managed (ignore-errors (eglot-current-server))))
        (and managed (cl-typep managed 'backendai-server) (jsonrpc-running-p managed)
             managed))
      (let ((other (ignore-errors (eglot-current-server))))
        (cond ((not (and other (jsonrpc-running-p other)))
               (backendai--start))
              (backendai-side-connection
               (backendai--side-start))
              (t
               (user-error "BackendAI: this buffer is managed by another eglot server (%s); \
eglot allows one server per buffer: set `backendai-side-connection'"
                           (jsonrpc-name other)))))))

(defun backendai--uri ()
  "The current buffer's document URI."
  (unless buffer-file-name
    (user-error "BackendAI: save the buffer to a file first: runs are addressed by file"))
  (backendai--path-to-uri buffer-file-name))

(defun backendai--error-message (err)
  "The user-facing message of a JSON-RPC error ERR (a plist)."
  (or (and (listp err) (plist-get err :message)) (format "%S" err)))

(defun backendai-execute (command argument &optional on-result)
  "Send COMMAND with ARGUMENT (a plist) to the current buffer's server.
ON-RESULT is called with the result.  Errors are shown as messages."
  (let ((server (backendai-current-server))
        (buffer (current-buffer)))
    (when buffer-file-name
      ;; send pending edits now so the server runs what is on screen
      (if (eq server (ignore-errors (eglot-current-server)))
          (eglot--signal-textDocument/didChange)
        (backendai--side-sync server)))
    (jsonrpc-async-request
     server :workspace/executeCommand
     (list :command command :arguments (vector argument))
     :success-fn (lambda (result)
                   (when on-result
                     (with-current-buffer (if (buffer-live-p buffer) buffer (current-buffer))
                       (funcall on-result result))))
     :error-fn (lambda (err)
                 (message "BackendAI: %s" (backendai--error-message err))
                 (run-hook-with-args 'backendai-run-finished-functions
                                     (list :status "error"
                                           :message (backendai--error-message err))))
     :timeout backendai-request-timeout)
    server))

;;;; Commands

(defun backendai--lsp-position (pos)
  "The LSP position of buffer position POS."
  (eglot--pos-to-lsp-position pos))

(defun backendai--refuse-in-output ()
  "Signal a `user-error' in the output buffer, where there is no code to run."
  (when (derived-mode-p 'backendai-output-mode)
    (user-error "BackendAI: go to a source buffer to run code (this is the output buffer)")))

;;;###autoload
(defun backendai-run-region (start end)
  "Run the text between START and END on the session of this workspace."
  (interactive "r")
  (backendai--refuse-in-output)
  (backendai-execute backendai-protocol-command-run-selection
                     (list :uri (backendai--uri)
                           :range (list :start (backendai--lsp-position start)
                                        :end (backendai--lsp-position end)))))

;;;###autoload
(defun backendai-run-line ()
  "Run the current line."
  (interactive)
  (backendai-run-region (line-beginning-position) (line-end-position)))

;;;###autoload
(defun backendai-run-dwim ()
  "Run the region if it is active, else the current line."
  (interactive)
  (if (use-region-p)
      (backendai-run-region (region-beginning) (region-end))
    (backendai-run-line)))

;;;###autoload
(defun backendai-run-cell ()
  "Run the `# %%' cell around point."
  (interactive)
  (backendai--refuse-in-output)
  (backendai-execute backendai-protocol-command-run-cell
                     (list :uri (backendai--uri)
                           :position (backendai--lsp-position (point)))))

;;;###autoload
(defun backendai-run-file (&optional batch)
  "Run the whole file; with prefix argument BATCH, in batch mode.
Batch mode uploads the file and the workspace files, then runs the
build and exec commands of its language."
  (interactive "P")
  (with-current-buffer (backendai--source-buffer)
    (backendai-execute backendai-protocol-command-run-file
                       (list :uri (backendai--uri) :mode (if batch "batch" "query")))))

;;;###autoload
(defun backendai-interrupt ()
  "Interrupt the code running on this workspace's session."
  (interactive)
  (with-current-buffer (backendai--source-buffer)
    (backendai-execute backendai-protocol-command-interrupt (list :uri (backendai--uri)))))

(defun backendai--session-command (command verb)
  "Send the session COMMAND and report the new status with VERB."
  (with-current-buffer (backendai--source-buffer)
    (backendai-execute command (list :uri (backendai--uri))
                       (lambda (result)
                         (message "BackendAI: %s %s: %s" verb
                                  (plist-get result :sessionName)
                                  (plist-get result :status))))))

;;;###autoload
(defun backendai-restart ()
  "Restart this workspace's session (a fresh kernel; files stay)."
  (interactive)
  (backendai--session-command backendai-protocol-command-session-restart "restarted"))

;;;###autoload
(defun backendai-destroy ()
  "Destroy this workspace's session."
  (interactive)
  (when (or (not (called-interactively-p 'any))
            (yes-or-no-p "Destroy this workspace's Backend.AI session? "))
    (backendai--session-command backendai-protocol-command-session-destroy "destroyed")))

;;;###autoload
(defun backendai-status ()
  "Show the status of this workspace's session."
  (interactive)
  (backendai--session-command backendai-protocol-command-session-status "session"))

(defun backendai-format-sessions (result)
  "Lines describing the session list RESULT, one session each."
  (let ((sessions (append (plist-get result :sessions) nil)))
    (if (null sessions)
        "no sessions"
      (mapconcat (lambda (s)
                   (format "%-28s %-12s %s" (plist-get s :name)
                           (plist-get s :status) (plist-get s :image)))
                 sessions "\n"))))

;;;###autoload
(defun backendai-sessions ()
  "List the sessions of this server's keypair."
  (interactive)
  (with-current-buffer (backendai--source-buffer)
    (backendai-execute backendai-protocol-command-session-list (make-hash-table)
                       (lambda (result)
                         (message "BackendAI sessions:\n%s"
                                  (backendai-format-sessions result))))))

;;;; Terminal and apps

(require 'comint)

(defvar backendai--terminals (make-hash-table :test #'equal)
  "Open terminal buffers by terminalId.")

(defvar backendai--terminal-early (make-hash-table :test #'equal)
  "Output and close notices that arrived before their terminal's id.")

(defvar-local backendai-terminal-id nil
  "The terminalId of this terminal buffer, once open.")

(defvar-local backendai-terminal-closed nil
  "Why this terminal closed, once it did.")

(defvar-local backendai--terminal-server nil
  "The bai-lsp server this terminal buffer talks to.")

(defvar-local backendai--terminal-size nil
  "The last (COLS . ROWS) sent for this terminal.")

(defvar-local backendai--terminal-echo nil
  "The line just sent, which the remote terminal is about to echo.")

(defvar backendai-terminal-closed-functions nil
  "Called with the reason (a string) in the terminal buffer when it closes.")

(defvar backendai-last-app-url nil
  "The URL of the app `backendai-open-app' opened last.")

(defconst backendai--terminal-noise
  "\e\\(?:\\[[0-9;?]*[@-Za-z\\\\^_`{|}~]\\|\\][^\a\e]*\\(?:\a\\|\e\\\\\\)\\|[()][0-9A-Za-z]\\|[=>]\\)"
  "Escape sequences a comint buffer cannot show (all but SGR colours).")

(defun backendai--terminal-clean (text)
  "TEXT without terminal control sequences other than colours, with LF line ends."
  (replace-regexp-in-string
   "\r+\n" "\n"
   (replace-regexp-in-string
    backendai--terminal-noise
    (lambda (m) (if (string-match-p "\\`\e\\[[0-9;]*m\\'" m) m ""))
    text t t)
   t t))

(defun backendai--terminal-drop-echo (text)
  "TEXT without the echo of the line just sent (already in the buffer)."
  (let* ((echo backendai--terminal-echo)
         (at (and echo (string-search echo text))))
    (cond ((null echo) text)
          (at
           (setq backendai--terminal-echo nil)
           (concat (substring text 0 at) (substring text (+ at (length echo)))))
          ((and (> (length text) 0) (string-prefix-p text echo))
           (setq backendai--terminal-echo (substring echo (length text)))
           "")
          (t text))))

(define-derived-mode backendai-terminal-mode comint-mode "BAI-Term"
  "A shell in the Backend.AI session of a workspace (line by line, as comint).
Each line is sent when you press RET; \\[comint-interrupt-subjob] sends Ctrl-C."
  (setq-local comint-input-sender #'backendai--terminal-send-line)
  ;; the remote pty echoes each line: `backendai--terminal-insert' drops it
  ;; (comint-process-echoes would wait for the local process, which never
  ;; writes); comint-output-filter applies carriage returns itself
  (setq-local comint-prompt-read-only nil)
  (setq-local comint-interrupt-subjob #'backendai-terminal-interrupt)
  (add-hook 'kill-buffer-hook #'backendai--terminal-kill nil t)
  (add-hook 'window-size-change-functions #'backendai--terminal-window-changed nil t))

(defun backendai--terminal-request (command argument &optional on-error)
  "Send COMMAND with ARGUMENT for this terminal; ON-ERROR gets the message."
  (let ((server backendai--terminal-server)
        (buffer (current-buffer)))
    (when (and server (jsonrpc-running-p server))
      (jsonrpc-async-request
       server :workspace/executeCommand
       (list :command command :arguments (vector argument))
       :success-fn #'ignore
       :error-fn (lambda (err)
                   (when (and on-error (buffer-live-p buffer))
                     (with-current-buffer buffer
                       (funcall on-error (backendai--error-message err)))))
       :timeout backendai-request-timeout))))

(defun backendai-terminal-send (data)
  "Send DATA to the shell of the current terminal buffer, as typed."
  (interactive "sSend to the terminal: ")
  (cond (backendai-terminal-closed
         (user-error "BackendAI: this terminal is closed (%s)" backendai-terminal-closed))
        ((not backendai-terminal-id)
         (user-error "BackendAI: the terminal is still opening"))
        (t (backendai--terminal-request
            backendai-protocol-command-terminal-input (list :terminalId backendai-terminal-id :data data)
            (lambda (msg) (message "BackendAI: %s" msg))))))

(defun backendai--terminal-send-line (_proc line)
  "Send LINE and a carriage return (comint's input sender)."
  (setq backendai--terminal-echo (concat line "\n"))
  (backendai-terminal-send (concat line "\r")))

(defun backendai-terminal-interrupt (&rest _)
  "Send Ctrl-C to the shell."
  (interactive)
  (backendai-terminal-send "\C-c"))

(defun backendai-terminal-resize (cols rows)
  "Tell the shell its terminal is COLS wide and ROWS high."
  (interactive "nColumns: \nnRows: ")
  (when (and backendai-terminal-id (not backendai-terminal-closed)
             (not (equal backendai--terminal-size (cons cols rows))))
    (setq backendai--terminal-size (cons cols rows))
    (backendai--terminal-request
     backendai-protocol-command-terminal-resize
     (list :terminalId backendai-terminal-id :cols cols :rows rows))))

(defun backendai--terminal-window-changed (&optional _frame)
  "Follow the size of the window showing this terminal."
  (dolist (buffer (hash-table-values backendai--terminals))
    (let ((window (get-buffer-window buffer)))
      (when window
        (with-current-buffer buffer
          (backendai-terminal-resize (max 10 (window-body-width window))
                                     (max 2 (window-body-height window))))))))

(defun backendai--terminal-insert (buffer text)
  "Insert TEXT (terminal output) at the end of BUFFER."
  (with-current-buffer buffer
    (let ((proc (get-buffer-process buffer))
          (text (backendai--terminal-drop-echo (backendai--terminal-clean text))))
      (if proc
          (comint-output-filter proc text)
        (let ((inhibit-read-only t))
          (save-excursion
            (goto-char (point-max))
            (insert (ansi-color-apply text))))))))

(defun backendai--terminal-closed (buffer reason)
  "Mark the terminal in BUFFER closed for REASON and say so."
  (with-current-buffer buffer
    (unless backendai-terminal-closed
      (setq backendai-terminal-closed reason)
      (when backendai-terminal-id
        (remhash backendai-terminal-id backendai--terminals))
      (backendai--terminal-insert buffer (format "\n[BackendAI: terminal closed: %s]\n" reason))
      (let ((proc (get-buffer-process buffer)))
        (when proc
          (set-process-query-on-exit-flag proc nil)
          (delete-process proc)))
      (message "BackendAI: terminal closed: %s" reason)
      (run-hook-with-args 'backendai-terminal-closed-functions reason))))

(defun backendai--terminal-kill ()
  "Close the remote shell when its buffer is killed."
  (when (and backendai-terminal-id (not backendai-terminal-closed))
    (setq backendai-terminal-closed "buffer killed")
    (remhash backendai-terminal-id backendai--terminals)
    (backendai--terminal-request backendai-protocol-command-terminal-close
                                 (list :terminalId backendai-terminal-id))))

(defun backendai-handle-terminal-output (params)
  "Handle backendai/terminalOutput PARAMS."
  (let* ((id (plist-get params :terminalId))
         (buffer (gethash id backendai--terminals)))
    (if (buffer-live-p buffer)
        (backendai--terminal-insert buffer (plist-get params :data))
      (puthash id (append (gethash id backendai--terminal-early) (list params))
               backendai--terminal-early))))

(defun backendai-handle-terminal-closed (params)
  "Handle backendai/terminalClosed PARAMS."
  (let* ((id (plist-get params :terminalId))
         (buffer (gethash id backendai--terminals)))
    (if (buffer-live-p buffer)
        (backendai--terminal-closed buffer (plist-get params :reason))
      (puthash id (append (gethash id backendai--terminal-early) (list params))
               backendai--terminal-early))))

(cl-defmethod eglot-handle-notification
  ((_server backendai-server) (_method (eql backendai/terminalOutput)) &rest params)
  "Handle backendai/terminalOutput with PARAMS."
  (backendai-handle-terminal-output params))

(cl-defmethod eglot-handle-notification
  ((_server backendai-server) (_method (eql backendai/terminalClosed)) &rest params)
  "Handle backendai/terminalClosed with PARAMS."
  (backendai-handle-terminal-closed params))

;;;###autoload
(defun backendai-terminal ()
  "Open a shell in this workspace's Backend.AI session, in a comint buffer.
Lines go to the shell when you press RET.  When the shell exits or the
session ends, the reason is written into the buffer."
  (interactive)
  (let* ((uri (backendai--uri))
         (server (backendai-current-server))
         (buffer (generate-new-buffer "*backendai-terminal*"))
         (window (display-buffer buffer '(display-buffer-at-bottom))))
    (with-current-buffer buffer
      (backendai-terminal-mode)
      (setq backendai--terminal-server server)
      ;; a local process with nothing behind it gives comint its marks; input
      ;; goes to the session through `comint-input-sender'
      (let ((proc (make-pipe-process :name "backendai-terminal" :buffer buffer
                                     :noquery t :filter #'ignore :sentinel #'ignore)))
        (set-marker (process-mark proc) (point-max)))
      (insert "[BackendAI: opening a terminal in the session…]\n")
      (set-marker (process-mark (get-buffer-process buffer)) (point-max)))
    (let ((cols (if window (max 10 (window-body-width window)) 80))
          (rows (if window (max 2 (window-body-height window)) 24)))
      (jsonrpc-async-request
       server :workspace/executeCommand
       (list :command backendai-protocol-command-terminal-open
             :arguments (vector (list :uri uri :cols cols :rows rows)))
       :success-fn
       (lambda (result)
         (when (buffer-live-p buffer)
           (let ((id (plist-get result :terminalId)))
             (with-current-buffer buffer
               (setq backendai-terminal-id id
                     backendai--terminal-size (cons cols rows))
               (rename-buffer (format "*backendai-terminal %s*" (plist-get result :sessionName)) t))
             (puthash id buffer backendai--terminals)
             (dolist (early (gethash id backendai--terminal-early))
               (if (plist-member early :data)
                   (backendai-handle-terminal-output early)
                 (backendai-handle-terminal-closed early)))
             (remhash id backendai--terminal-early))))
       :error-fn
       (lambda (err)
         (when (buffer-live-p buffer)
           (backendai--terminal-closed buffer (backendai--error-message err))))
       :timeout backendai-request-timeout))
    buffer))

;;;###autoload
(defun backendai-open-app (&optional app)
  "Open APP of this workspace's session in the browser (ask which when nil).
The server forwards it to a local URL; `browse-url' opens it and the
URL is shown.  Returns nothing; the URL is also in `backendai-last-app-url'."
  (interactive)
  (let ((uri (backendai--uri)))
    (if app
        (backendai--open-app uri app)
      (backendai-execute
       backendai-protocol-command-session-apps (list :uri uri)
       (lambda (result)
         (let ((names (mapcar (lambda (a) (plist-get a :name)) (plist-get result :apps))))
           (if (null names)
               (message "BackendAI: session %s offers no apps; declare ports in :apps of `backendai-settings'"
                        (plist-get result :sessionName))
             (backendai--open-app
              uri (completing-read (format "Open app of %s: " (plist-get result :sessionName))
                                   names nil t)))))))))

(defun backendai--open-app (uri app)
  "Ask the server to forward APP of URI's session; open the URL."
  (backendai-execute
   backendai-protocol-command-session-open-app (list :uri uri :app app)
   (lambda (result)
     (let ((url (plist-get result :url)))
       (setq backendai-last-app-url url)
       (message "BackendAI: app %s of %s: %s" (plist-get result :app)
                (plist-get result :sessionName) url)
       (when (string-prefix-p "http" url)
         (browse-url url))))))

;;;; The live session (backendai-live.el, loaded on first use)

(autoload 'backendai-live-setup "backendai-live")
(autoload 'backendai-variables "backendai-live"
  "Show the variables of the current buffer's Backend.AI session." t)
(autoload 'backendai-inspect "backendai-live"
  "Show a page of the session's variable NAME (from OFFSET)." t)
(autoload 'backendai-export "backendai-live"
  "Export the current project's run log to FILE (.ipynb or HTML)." t)
(add-hook 'backendai-minor-mode-hook #'backendai-live-setup)

(provide 'backendai)
;; The launcher, vfolders and countdowns (backendai-launcher.el, beside this file).
(require 'backendai-launcher)
;;; backendai.el ends here

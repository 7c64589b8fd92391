;;; live.el --- drive backendai-live.el in a real Emacs against a real bai-lsp  -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/editors/test_emacs_live.py as `emacs --batch -l live.el'.  The
;; demo buffer is managed by another eglot server (other_server.py), so bai-lsp
;; runs as the side connection: completion-at-point functions of both are
;; asked, then `backendai-variables', `backendai-inspect' with paging and
;; `backendai-export'.  Writes what the user would have seen to $BAI_RESULT.
;; Env: BAI_PACKAGE, BAI_LSP, BAI_DEMO (live.py), BAI_RESULT, BAI_PYTHON,
;; BAI_OTHER_SERVER, BAI_EXPORT.

;;; Code:

(load (expand-file-name "driver-common" (file-name-directory load-file-name)) nil t)

(defvar live-result (list :messages nil))
(defvar live-finished nil "RunFinished plists, in order.")

(defun live-put (key value)
  "Record VALUE under KEY and save the result file."
  (setq live-result (plist-put live-result key value))
  (driver-write-result live-result))

(advice-add 'message :after
            (lambda (fmt &rest args)
              (when fmt
                (let ((text (apply #'format fmt args)))
                  (driver-log "MESSAGE %s" text)
                  (setq live-result (plist-put live-result :messages
                                               (append (plist-get live-result :messages)
                                                       (list text))))))))
(add-hook 'backendai-run-finished-functions
          (lambda (p) (setq live-finished (append live-finished (list p)))))

(setq backendai-server-command (list (getenv "BAI_LSP")))
(setq backendai-settings (list :onExit "destroy"))
(setq backendai-display-output nil)

(defun live-run-line (n)
  "Run line N of the current buffer; the run's result plist."
  (let ((runs (length live-finished)))
    (goto-char (point-min))
    (forward-line (1- n))
    (call-interactively #'backendai-run-line)
    (driver-wait (lambda () (> (length live-finished) runs)) 120)
    (nth runs live-finished)))

(defun live-capf-candidates ()
  "What each completion-at-point function offers at point, by function name."
  (let (out)
    (dolist (fn completion-at-point-functions)
      (unless (eq fn t)
        (let ((answer (ignore-errors (funcall fn))))
          (push (list :fn (symbol-name fn)
                      :candidates (vconcat
                                   (when answer
                                     (let ((prefix (buffer-substring-no-properties
                                                    (nth 0 answer) (nth 1 answer))))
                                       (all-completions prefix (nth 2 answer))))))
                out))))
    (vconcat (nreverse out))))

(let ((buffer (find-file (getenv "BAI_DEMO")))
      (ok t))
  (condition-case err
      (progn
        (let* ((eglot-sync-connect t)
               (other (eglot (list major-mode) (project-current) 'eglot-lsp-server
                             (list (getenv "BAI_PYTHON") (getenv "BAI_OTHER_SERVER"))
                             (if (backendai--eglot-wants-language-ids) '("python") "python"))))
          (live-put :other_manages_buffer (if (eq (eglot-current-server) other) t :json-false)))
        (live-put :first_run (live-run-line 1))
        (live-put :side_connection (if (backendai--side-connection-p) t :json-false))
        ;; after "xs." and after "json.du"
        (goto-char (point-min)) (forward-line 1) (end-of-line)
        (live-put :at_xs (live-capf-candidates))
        (forward-line 1) (end-of-line)
        (live-put :at_json (live-capf-candidates))
        ;; M-x backendai-variables
        (call-interactively #'backendai-variables)
        (driver-wait (lambda () (let ((b (get-buffer "*backendai-variables*")))
                                  (and b (with-current-buffer b tabulated-list-entries))))
                     30)
        (with-current-buffer "*backendai-variables*"
          (live-put :variables_mode (symbol-name major-mode))
          (live-put :variables (vconcat (mapcar (lambda (e) (cadr e)) tabulated-list-entries)))
          (live-put :variables_text (buffer-substring-no-properties (point-min) (point-max))))
        ;; a DataFrame, one page then the next
        (with-current-buffer buffer
          (live-put :frame_run (live-run-line 4))
          (backendai-inspect "df"))
        (driver-wait (lambda () (let ((b (get-buffer "*backendai-inspect: df*")))
                                  (and b (with-current-buffer b header-line-format))))
                     30)
        (with-current-buffer "*backendai-inspect: df*"
          (live-put :first_header header-line-format)
          (live-put :first_rows (length tabulated-list-entries))
          (live-put :columns (vconcat (mapcar #'car tabulated-list-format)))
          (backendai-inspect-next-page)
          (driver-wait (lambda () (string-match-p "rows 51" (or header-line-format ""))) 30)
          (live-put :second_header header-line-format)
          (live-put :second_first_row (cadr (car tabulated-list-entries))))
        ;; M-x backendai-export
        (with-current-buffer buffer
          (backendai-export (getenv "BAI_EXPORT")))
        (driver-wait (lambda () (cl-some (lambda (m) (string-match-p "exported" m))
                                         (plist-get live-result :messages)))
                     30))
    (error (setq ok nil)
           (live-put :error (format "%S" err))))
  (live-put :ok (if ok t :json-false))
  (dolist (server (hash-table-values backendai--side-servers))
    (when (jsonrpc-running-p server)
      (ignore-errors (eglot-shutdown server))))
  (with-current-buffer buffer
    (when (eglot-current-server)
      (ignore-errors (eglot-shutdown (eglot-current-server)))))
  (kill-emacs (if ok 0 1)))

;;; live.el ends here

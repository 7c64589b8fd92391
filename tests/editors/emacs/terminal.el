;;; terminal.el --- drive backendai-terminal and backendai-open-app in a real Emacs  -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/editors/test_emacs_terminal.py as `emacs --batch -l terminal.el'
;; against a real bai-lsp: lines typed at the terminal buffer's prompt and sent
;; with RET, a resize, `exit', and a web server started by a run, fetched
;; through the URL `backendai-open-app' opened.  Writes $BAI_RESULT (JSON).
;; Env: BAI_PACKAGE, BAI_LSP, BAI_DEMO (serve.py), BAI_RESULT, BAI_APP_PORT.

;;; Code:

(load (expand-file-name "driver-common" (file-name-directory load-file-name)) nil t)

(defvar term-result (list :steps nil :messages nil))

(defun term-save ()
  "Write the result file."
  (driver-write-result term-result))

(defun term-put (key value)
  "Record VALUE under KEY."
  (setq term-result (plist-put term-result key value))
  (term-save))

(defun term-text (buffer)
  "BUFFER's text."
  (with-current-buffer buffer (buffer-substring-no-properties (point-min) (point-max))))

(defun term-type (buffer line)
  "Type LINE at BUFFER's prompt and press RET, as a user does."
  (with-current-buffer buffer
    (goto-char (point-max))
    (insert line)
    (comint-send-input)))

(defun term-expect (buffer regexp)
  "Wait until BUFFER matches REGEXP; return the first group or the match."
  (unless (driver-wait (lambda () (string-match regexp (term-text buffer))) 30)
    (error "%S never appeared in:\n%s" regexp (term-text buffer)))
  (let ((text (term-text buffer)))
    (string-match regexp text)
    (or (match-string 1 text) (match-string 0 text))))

(advice-add 'message :around
            (lambda (orig fmt &rest args)
              (when fmt
                (setq term-result
                      (plist-put term-result :messages
                                 (append (plist-get term-result :messages)
                                         (list (apply #'format-message fmt args))))))
              (apply orig fmt args)))

(setq backendai-server-command (list (getenv "BAI_LSP"))
      backendai-settings (list :onExit "destroy"
                               :apps (vector (list :name "web"
                                                   :port (string-to-number (getenv "BAI_APP_PORT")))))
      eglot-connect-timeout 120)

(condition-case err
    (let* ((demo (find-file (getenv "BAI_DEMO")))
           (buffer (with-current-buffer demo (backendai-terminal))))
      (unless (driver-wait (lambda () (buffer-local-value 'backendai-terminal-id buffer)) 120)
        (error "The terminal did not open: %s" (term-text buffer)))
      (term-put :mode (symbol-name (buffer-local-value 'major-mode buffer)))
      (term-put :buffer (buffer-name buffer))
      (term-expect buffer "# $")  ; the prompt, before typing
      (term-type buffer "echo $((6*7))")
      (term-put :echo (term-expect buffer "^\\(42\\)$"))
      (with-current-buffer buffer (backendai-terminal-resize 100 30))
      (term-type buffer "stty size")
      (term-put :stty (term-expect buffer "^\\(30 100\\)$"))
      (term-type buffer "exit")
      (unless (driver-wait (lambda () (buffer-local-value 'backendai-terminal-closed buffer)) 30)
        (error "The terminal did not close: %s" (term-text buffer)))
      (term-put :closed (buffer-local-value 'backendai-terminal-closed buffer))
      (term-put :text (term-text buffer))
      ;; a web server started by a run, opened as an app
      (let (finished opened)
        (add-hook 'backendai-run-finished-functions (lambda (p) (setq finished p)))
        (with-current-buffer demo (backendai-run-file))
        (unless (driver-wait (lambda () finished) 120)
          (error "The server run did not finish"))
        (term-put :serveRun (plist-get finished :status))
        (setq browse-url-browser-function (lambda (url &rest _) (setq opened url)))
        (setq completing-read-function
              (lambda (_prompt collection &rest _)
                (term-put :offered (vconcat collection))
                (car collection)))
        (with-current-buffer demo (backendai-open-app))
        (unless (driver-wait (lambda () opened) 60)
          (error "No URL was opened"))
        (term-put :url opened)
        (term-put :page (with-temp-buffer
                          (call-process "python3" nil t nil "-c"
                                        "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=20).read().decode())"
                                        opened)
                          (buffer-string))))
      (term-put :ok t))
  (error (term-put :ok :json-false)
         (term-put :error (format "%S" err))
         (driver-log "ERROR %S" err)))

(dolist (server (hash-table-values eglot--servers-by-project))
  (dolist (s server) (ignore-errors (eglot-shutdown s))))
(kill-emacs 0)

;;; terminal.el ends here

;;; emacs_first_run.el --- a new user's first session with the release's Emacs package  -*- lexical-binding: t -*-

;;; Commentary:

;; emacs --batch -l emacs_first_run.el, run by tests/install/test_first_run.py with a private
;; HOME: M-x package-install-file of the release's backendai-VERSION.tar (no archives, no
;; network), M-x backendai-install-server, then M-x backendai-run-line on "print(1)"; then
;; the same with the package told it speaks another protocol version, which must warn.
;; Env: BAI_PACKAGE (the .tar), BAI_FILE (hello.py), BAI_FILE2 (the same in another
;; project), BAI_RESULT (JSON written here).

;;; Code:

(require 'package)
(require 'json)
(setq package-archives nil)
(package-initialize)

(defvar first-run-result nil)
(defvar first-run-finished nil)

(defun first-run-put (key value)
  "Record VALUE under KEY."
  (setq first-run-result (plist-put first-run-result key value)))

(defun first-run-wait (pred timeout)
  "Process events until PRED is non-nil or TIMEOUT seconds passed."
  (let ((deadline (+ (float-time) timeout)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(condition-case err
    (progn
      (package-install-file (getenv "BAI_PACKAGE"))
      (require 'backendai)
      (first-run-put :package (locate-library "backendai"))
      (add-hook 'backendai-run-finished-functions
                (lambda (p) (setq first-run-finished (append first-run-finished (list p)))))
      (first-run-put :installed (backendai-install-server))  ; M-x, taking the default: the wheels shipped with the package
      (find-file (getenv "BAI_FILE"))
      (goto-char (point-min))
      (call-interactively #'backendai-run-line)
      (first-run-wait (lambda () first-run-finished) 180)
      (first-run-put :run (car first-run-finished))
      (first-run-put :output (with-current-buffer (backendai-output-buffer)
                               (buffer-substring-no-properties (point-min) (point-max))))
      (first-run-put :warning_before backendai-protocol-warning)
      ;; the same package, told it speaks another protocol version, connecting to this
      ;; server for another project
      (setq backendai-protocol-version 99)
      (find-file (getenv "BAI_FILE2"))
      (goto-char (point-min))
      (call-interactively #'backendai-run-line)
      (first-run-wait (lambda () (>= (length first-run-finished) 2)) 120)
      (first-run-put :warning backendai-protocol-warning))
  (error (first-run-put :error (error-message-string err))))

(with-temp-file (getenv "BAI_RESULT")
  (insert (json-encode first-run-result)))
(dolist (server (ignore-errors (hash-table-values eglot--servers-by-project)))
  (ignore-errors (eglot-shutdown (car server))))
(kill-emacs 0)

;;; emacs_first_run.el ends here

;;; lint.el --- byte-compile the package with warnings as errors, then checkdoc  -*- lexical-binding: t -*-

;;; Commentary:

;; emacs --batch -l lint.el PACKAGE-DIR OUT-DIR: prints "BYTE-COMPILE OK" and the
;; checkdoc report ("CHECKDOC:" then one line per problem, none when clean) of
;; backendai-protocol.el, backendai-install.el, backendai.el, backendai-live.el and
;; backendai-launcher.el.

;;; Code:

(require 'checkdoc)
(let* ((dir (file-name-as-directory (pop command-line-args-left)))
       (out (file-name-as-directory (pop command-line-args-left)))
       ;; backendai-protocol.el (generated constants) first: backendai.el requires it
       (files '("backendai-protocol.el" "backendai-install.el" "backendai.el" "backendai-live.el"
                "backendai-launcher.el")))
  ;; compile copies so no .elc lands in the source tree
  (dolist (file files)
    (copy-file (expand-file-name file dir) (expand-file-name file out) t))
  (add-to-list 'load-path out)
  (setq byte-compile-error-on-warn t)
  (dolist (file files)
    (unless (byte-compile-file (expand-file-name file out))
      (princ (format "BYTE-COMPILE FAILED: %s\n" file))
      (kill-emacs 1)))
  (princ "BYTE-COMPILE OK\n")
  (princ "CHECKDOC:\n")
  (dolist (file files)
    (with-current-buffer (find-file-noselect (expand-file-name file dir))
      (let ((checkdoc-autofix-flag 'never)
            (checkdoc-diagnostic-buffer "*checkdoc*"))
        (checkdoc-current-buffer t)
        (with-current-buffer (get-buffer-create "*checkdoc*")
          (dolist (line (split-string (buffer-string) "\n" t))
            (when (string-match-p
                   "backendai\\(-live\\|-install\\|-launcher\\|-protocol\\)?\\.el:[0-9]+:" line)
              (princ (concat line "\n"))))
          (let ((inhibit-read-only t)) (erase-buffer)))))))
(kill-emacs 0)

;;; lint.el ends here

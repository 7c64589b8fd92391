;;; lint.el --- byte-compile backendai.el with warnings as errors, then checkdoc  -*- lexical-binding: t -*-

;;; Commentary:

;; emacs --batch -l lint.el PACKAGE-DIR OUT-DIR: prints "BYTE-COMPILE OK" and the
;; checkdoc report ("CHECKDOC:" then one line per problem, none when clean).

;;; Code:

(require 'checkdoc)
(let* ((dir (file-name-as-directory (pop command-line-args-left)))
       (out (file-name-as-directory (pop command-line-args-left)))
       (src (expand-file-name "backendai.el" dir))
       (copy (expand-file-name "backendai.el" out)))
  ;; compile a copy so no .elc lands in the source tree
  (copy-file src copy t)
  (add-to-list 'load-path out)
  (setq byte-compile-error-on-warn t)
  (if (byte-compile-file copy)
      (princ "BYTE-COMPILE OK\n")
    (princ "BYTE-COMPILE FAILED\n")
    (kill-emacs 1))
  (with-current-buffer (find-file-noselect src)
    (let ((checkdoc-autofix-flag 'never)
          (checkdoc-diagnostic-buffer "*checkdoc*"))
      (checkdoc-current-buffer t)
      (princ "CHECKDOC:\n")
      (with-current-buffer (get-buffer-create "*checkdoc*")
        (dolist (line (split-string (buffer-string) "\n" t))
          (when (string-match-p "backendai\\.el:[0-9]+:" line)
            (princ (concat line "\n"))))))))
(kill-emacs 0)

;;; lint.el ends here

;;; driver-common.el --- what the Emacs test drivers share  -*- lexical-binding: t -*-

;;; Commentary:

;; Loaded by drive.el, launcher.el, live.el and terminal.el (next to it): the package from
;; $BAI_PACKAGE, logging to stderr, waiting on a condition while processing events, and
;; writing the result file $BAI_RESULT the Python side reads.

;;; Code:

(require 'json)
(require 'cl-lib)
(add-to-list 'load-path (getenv "BAI_PACKAGE"))
(require 'backendai)

(defun driver-log (fmt &rest args)
  "Print FMT with ARGS to stderr."
  (princ (concat (apply #'format fmt args) "\n") #'external-debugging-output))

(defun driver-wait (pred timeout)
  "Process events until PRED is non-nil or TIMEOUT seconds passed; return PRED."
  (let ((deadline (+ (float-time) timeout)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(defun driver-write-result (result)
  "Write the plist RESULT to the result file as JSON."
  (with-temp-file (getenv "BAI_RESULT")
    (insert (json-encode result))))

(provide 'driver-common)
;;; driver-common.el ends here

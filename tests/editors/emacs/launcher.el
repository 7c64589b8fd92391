;;; launcher.el --- drive backendai-configure, backendai-folders and the countdown  -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/editors/test_emacs_launcher.py as `emacs --batch -l launcher.el'
;; against a real bai-lsp and a gateway with a 200 s idle timeout: the launcher's
;; `completing-read' prompts answered as a user would, a run reading the mounted
;; vfolder, the mode-line countdown and its warning, and the folder buffer
;; (open, upload, download, a file opened).  Writes $BAI_RESULT (JSON).
;; Env: BAI_PACKAGE, BAI_LSP, BAI_DEMO, BAI_RESULT, BAI_ENDPOINT, BAI_AK, BAI_SK,
;; BAI_UPLOAD, BAI_DOWNLOAD.

;;; Code:

(load (expand-file-name "driver-common" (file-name-directory load-file-name)) nil t)

(defvar lr-result (list :messages [] :prompts [] :warnings []))

(defun lr-save ()
  "Write the result file."
  (driver-write-result lr-result))

(defun lr-put (key value)
  "Record VALUE under KEY."
  (setq lr-result (plist-put lr-result key value))
  (lr-save))

(defun lr-push (key value)
  "Append VALUE to the array under KEY."
  (lr-put key (vconcat (plist-get lr-result key) (list value))))

(advice-add 'message :around
            (lambda (orig fmt &rest args)
              (when fmt (lr-push :messages (apply #'format-message fmt args)))
              (apply orig fmt args)))
(advice-add 'display-warning :before
            (lambda (_type msg &rest _) (lr-push :warnings msg)))

(setq backendai-server-command (list (getenv "BAI_LSP"))
      backendai-settings (list :onExit "destroy"
                               :endpoint (getenv "BAI_ENDPOINT")
                               :accessKey (getenv "BAI_AK")
                               :secretKey (getenv "BAI_SK"))
      eglot-connect-timeout 120)

(setq completing-read-function
      (lambda (prompt collection &rest _)
        (let* ((items (mapcar (lambda (c) (if (consp c) (car c) c)) collection))
               (want (cond ((string-prefix-p "Backend.AI image" prompt) "^python")
                           ((string-prefix-p "Resource preset" prompt) "^cpu02-medium")
                           ((string-prefix-p "Resource group" prompt) "^default")
                           ((string-prefix-p "Mount" prompt) "^launcher-data$"))))
          (lr-push :prompts (list :prompt prompt :items (vconcat items)))
          (or (cl-find-if (lambda (i) (string-match-p want i)) items)
              (error "Nothing matches %s in %S" want items)))))

(defun lr-line (buffer text)
  "Move point in BUFFER to the line starting with TEXT."
  (with-current-buffer buffer
    (goto-char (point-min))
    (unless (re-search-forward (concat "^" (regexp-quote text)) nil t)
      (error "%S is not listed: %s" text (buffer-string)))
    (beginning-of-line)))

(condition-case err
    (let ((demo (find-file (getenv "BAI_DEMO"))) finished status)
      (with-current-buffer demo (backendai-configure))
      (unless (driver-wait (lambda () (cl-some (lambda (m) (string-match-p "Saved:" m))
                                               (append (plist-get lr-result :messages) nil)))
                           120)
        (error "Configure did not finish"))
      (add-hook 'backendai-run-finished-functions (lambda (p) (setq finished p)))
      (with-current-buffer demo (backendai-run-file))
      (unless (driver-wait (lambda () finished) 120)
        (error "The run did not finish"))
      (lr-put :run (plist-get finished :status))
      (lr-put :output (with-current-buffer (backendai-output-buffer)
                        (buffer-substring-no-properties (point-min) (point-max))))
      (with-current-buffer demo (backendai-poll-status (lambda (r) (setq status r))))
      (unless (driver-wait (lambda () status) 30)
        (error "No status answer"))
      (lr-put :status status)
      (lr-put :modeline (with-current-buffer demo (backendai-mode-line)))
      ;; the folder buffer
      (let ((folders (with-current-buffer demo (backendai-folders))) refreshed)
        (add-hook 'backendai-folders-refreshed-hook (lambda () (setq refreshed t)))
        (unless (driver-wait (lambda () (buffer-local-value 'backendai-folders--entries folders)) 30)
          (error "No vfolders listed"))
        (lr-put :folderList (with-current-buffer folders (buffer-string)))
        (lr-line folders "launcher-data/")
        (setq refreshed nil)
        (with-current-buffer folders (backendai-folders-open))
        (unless (driver-wait (lambda () refreshed) 30) (error "The vfolder did not open"))
        (lr-put :folderFiles (with-current-buffer folders (buffer-string)))
        (setq refreshed nil)
        (with-current-buffer folders (backendai-folders-upload (getenv "BAI_UPLOAD")))
        (unless (driver-wait (lambda () refreshed) 60) (error "The upload did not finish"))
        (lr-put :afterUpload (with-current-buffer folders (buffer-string)))
        (lr-line folders "hello.txt")
        (with-current-buffer folders (backendai-folders-download (getenv "BAI_DOWNLOAD")))
        (unless (driver-wait (lambda () (file-exists-p (getenv "BAI_DOWNLOAD"))) 60)
          (error "The download did not finish"))
        (lr-line folders "hello.txt")
        (let (opened)
          (add-hook 'backendai-vfolder-opened-hook (lambda () (setq opened (current-buffer))))
          (with-current-buffer folders (backendai-folders-open))
          (unless (driver-wait (lambda () opened) 30) (error "The vfolder file did not open"))
          (lr-put :openedName (buffer-name opened))
          (lr-put :opened (with-current-buffer opened (buffer-string)))))
      (lr-put :ok t))
  (error (lr-put :ok :json-false)
         (lr-put :error (format "%S" err))))

(dolist (server (hash-table-values eglot--servers-by-project))
  (dolist (s server) (ignore-errors (eglot-shutdown s))))
(kill-emacs 0)

;;; launcher.el ends here

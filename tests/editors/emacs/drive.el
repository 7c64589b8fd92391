;;; drive.el --- drive backendai.el in a real Emacs against a real bai-lsp  -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/editors/test_emacs.py as `emacs --batch -l drive.el' with the
;; answers to the demo's input() and getpass() prompts on stdin (in batch mode
;; `read-string' and `read-passwd' read stdin: they are typed, as a user would).
;; Uses the package's commands in demo.py, samples the mode line on every status
;; change and writes what the user would have seen to $BAI_RESULT (JSON).
;; Env: BAI_PACKAGE, BAI_LSP, BAI_DEMO, BAI_RESULT, BAI_MEDIA, BAI_LINES (JSON).

;;; Code:

(load (expand-file-name "driver-common" (file-name-directory load-file-name)) nil t)

(defvar drive-result (list :scenarios nil :messages nil :modelines nil))
(defvar drive-finished nil "RunFinished plists, in order.")
(defvar drive-demo nil "The demo.py buffer.")
(defvar drive-lines (json-parse-string (getenv "BAI_LINES") :object-type 'plist))

(defun drive-save ()
  "Write the result file."
  (driver-write-result drive-result))

(defun drive-modeline ()
  "The BAI lighter of the demo buffer's mode line.
`format-mode-line' renders nothing in --batch (no display), so the
lighter `backendai-minor-mode' registered in `minor-mode-alist' is
evaluated the way the mode line does: only while the mode is on."
  (with-current-buffer drive-demo
    (let ((lighter (cadr (assq 'backendai-minor-mode minor-mode-alist))))
      (string-trim
       (cond ((not backendai-minor-mode) "")
             ((and (consp lighter) (eq (car lighter) :eval)) (eval (cadr lighter) t))
             ((stringp lighter) lighter)
             (t (format "%s" lighter)))))))

(defun drive-sample ()
  "Record the mode line when it changed."
  (when (buffer-live-p drive-demo)
    (let ((now (drive-modeline))
          (seen (plist-get drive-result :modelines)))
      (unless (equal now (car (last seen)))
        (setq drive-result (plist-put drive-result :modelines (append seen (list now))))))))

(add-hook 'backendai-status-change-hook #'drive-sample)
(add-hook 'backendai-run-finished-functions
          (lambda (p) (setq drive-finished (append drive-finished (list p)))))

(defun drive-wait-finished (n timeout)
  "Wait for the N-th run to end; return its plist."
  (driver-wait (lambda () (>= (length drive-finished) n)) timeout)
  (nth (1- n) drive-finished))

(defun drive-settled-modeline ()
  "The mode line once the session went back to idle (it follows runFinished closely)."
  (driver-wait (lambda () (equal (drive-modeline) "BAI idle")) 5)
  (drive-modeline))

(defun drive-output ()
  "Lines of the *backendai* buffer."
  (with-current-buffer (backendai-output-buffer)
    (split-string (buffer-substring-no-properties (point-min) (point-max)) "\n" t)))

(defun drive-goto-line (n)
  "Move to line N of the demo."
  (goto-char (point-min))
  (forward-line (1- n)))

(defmacro drive-scenario (name &rest body)
  "Run BODY as scenario NAME; BODY returns a plist merged into the result."
  (declare (indent 1))
  `(let ((t0 (float-time)) data ok err)
     (condition-case e
         (progn (setq data (progn ,@body)) (setq ok t))
       (error (setq err (format "%S" e))))
     (setq data (append (list :ok (if ok t :json-false) :error err
                              :seconds (- (float-time) t0))
                        data))
     (driver-log "scenario %s: %s (%.1f s)" ,name (if ok "done" err) (- (float-time) t0))
     (setq drive-result
           (plist-put drive-result :scenarios
                      (append (plist-get drive-result :scenarios)
                              (list (intern (concat ":" ,name)) data))))
     (drive-save)))

;; keep the messages a user would have seen
(advice-add 'message :around
            (lambda (orig fmt &rest args)
              (when fmt
                (let ((text (apply #'format-message fmt args)))
                  (setq drive-result (plist-put drive-result :messages
                                                (append (plist-get drive-result :messages)
                                                        (list text))))))
              (apply orig fmt args)))

(setq backendai-server-command (list (getenv "BAI_LSP"))
      backendai-settings '(:onExit "destroy")
      backendai-media-directory (getenv "BAI_MEDIA")
      eglot-connect-timeout 120)

(setq drive-demo (find-file (getenv "BAI_DEMO")))
(let ((n 0))
  (drive-scenario "region"
    (let ((before (length (plist-get drive-result :modelines))))
      (drive-goto-line (aref (plist-get drive-lines :greeting) 0))
      (push-mark (point) t t)
      (drive-goto-line (aref (plist-get drive-lines :greeting) 1))
      (goto-char (line-end-position))
      (call-interactively #'backendai-run-region)
      (deactivate-mark)
      (cl-incf n)
      (let ((run (drive-wait-finished n 120)))
        (list :run run
              :output (drive-output)
              :stderr_face (with-current-buffer (backendai-output-buffer)
                             (goto-char (point-min))
                             (and (search-forward "this is stderr" nil t)
                                  (format "%s" (get-text-property (match-beginning 0) 'face))))
              :minor_mode (if (buffer-local-value 'backendai-minor-mode drive-demo) t :json-false)
              :modelines (seq-drop (plist-get drive-result :modelines) before)
              :modeline_after (drive-settled-modeline)))))

  (drive-scenario "input"
    (let ((before (length (plist-get drive-result :modelines))))
      (drive-goto-line (plist-get drive-lines :ask))
      (call-interactively #'backendai-run-cell)
      (cl-incf n)
      (list :run (drive-wait-finished n 60)
            :output (drive-output)
            :modelines (seq-drop (plist-get drive-result :modelines) before))))

  (drive-scenario "interrupt"
    (drive-goto-line (plist-get drive-lines :loop))
    (call-interactively #'backendai-run-cell)
    (cl-incf n)
    (let* ((saw (progn (driver-wait (lambda () (or (member "tick 3" (drive-output))
                                                   (>= (length drive-finished) n)))
                                    60)
                       (member "tick 3" (drive-output))))
           (while-running (drive-modeline))
           (t0 (float-time))
           (run (progn (call-interactively #'backendai-interrupt)
                       (drive-wait-finished n 30)))
           (stop (- (float-time) t0))
           (after-modeline (drive-settled-modeline)))
      (drive-goto-line (plist-get drive-lines :after))
      (call-interactively #'backendai-run-line)
      (cl-incf n)
      (list :saw_ticks (if saw t :json-false) :modeline_while_running while-running
            :run run :seconds_to_stop stop :modeline_after after-modeline
            :after (drive-wait-finished n 30) :output (drive-output))))

  (drive-scenario "restart"
    (let ((before (length (plist-get drive-result :messages))))
      (call-interactively #'backendai-sessions)
      (driver-wait (lambda () (> (length (plist-get drive-result :messages)) before)) 30)
      (let ((sessions (seq-drop (plist-get drive-result :messages) before)))
        (setq before (length (plist-get drive-result :messages)))
        (call-interactively #'backendai-restart)
        (driver-wait (lambda () (> (length (plist-get drive-result :messages)) before)) 60)
        (let ((restart (seq-drop (plist-get drive-result :messages) before)))
          ;; `i' was defined by the loop cell; after a restart it is gone
          (goto-char (point-max))
          (insert "print(\"i\" in dir())")
          (call-interactively #'backendai-run-line)
          (cl-incf n)
          (prog1 (list :sessions sessions :restart restart
                       :run (drive-wait-finished n 60) :output (drive-output))
            (delete-region (line-beginning-position) (point-max))
            (set-buffer-modified-p nil))))))

  (drive-scenario "flood"
    (goto-char (point-max))
    (insert "for k in range(30000): print(\"line\", k)")
    (call-interactively #'backendai-run-line)
    (cl-incf n)
    (prog1 (let ((run (drive-wait-finished n 120))
                 (out (drive-output)))
             (list :run run :line_count (length out) :tail (last out 3)))
      (delete-region (line-beginning-position) (point-max))
      (set-buffer-modified-p nil)))

  (drive-scenario "partial-region"
    ;; a region of part of a line runs only those characters
    (goto-char (point-max))
    (insert (getenv "BAI_CHARWISE_LINE"))
    (let ((start (+ (line-beginning-position)
                    (string-to-number (getenv "BAI_CHARWISE_START")))))
      (push-mark start t t)
      (goto-char (line-end-position))
      (call-interactively #'backendai-run-region)
      (deactivate-mark)
      (cl-incf n)
      (prog1 (list :run (drive-wait-finished n 60) :tail (last (drive-output) 3))
        (delete-region (line-beginning-position) (point-max))
        (set-buffer-modified-p nil))))

  (drive-scenario "past-end"
    ;; ranges past the end, sent through the package's own request plumbing: an end
    ;; column past its line (Neovim's linewise selections end at 2^31 - 1) and an end
    ;; line past the last; the server clamps them as LSP says
    (goto-char (point-max))
    (let ((from (point))
          (runs nil))
      (insert "print(\"past one\")\nprint(\"past two\")")
      (let ((last (1- (line-number-at-pos))))
        (dolist (range (list (list :start (list :line (1- last) :character 0)
                                   :end (list :line last :character 2147483647))
                             (list :start (list :line last :character 0)
                                   :end (list :line (+ last 40) :character 3))))
          (backendai-execute "backendai.runSelection" (list :uri (backendai--uri) :range range))
          (cl-incf n)
          (push (list :run (drive-wait-finished n 60) :tail (last (drive-output) 3)) runs)))
      (delete-region from (point-max))
      (set-buffer-modified-p nil)
      (list :runs (vconcat (nreverse runs)))))

  (drive-scenario "batch"
    ;; C-u M-x backendai-run-file: upload the workspace, run `python batch_demo.py'
    (with-current-buffer (find-file (expand-file-name "batch_demo.py"
                                                      (file-name-directory (getenv "BAI_DEMO"))))
      (let ((current-prefix-arg '(4)))
        (call-interactively #'backendai-run-file))
      (cl-incf n)
      (prog1 (list :run (drive-wait-finished n 120) :output (drive-output))
        (switch-to-buffer drive-demo))))

  (drive-scenario "media"
    (drive-goto-line (plist-get drive-lines :plot))
    (call-interactively #'backendai-run-cell)
    (cl-incf n)
    (list :run (drive-wait-finished n 60) :output (drive-output))))

(drive-scenario "destroy"
  ;; M-x backendai-destroy asks first; "yes" is typed on stdin
  (with-current-buffer drive-demo
    (let ((before (length (plist-get drive-result :messages))))
      (call-interactively #'backendai-destroy)
      (driver-wait (lambda () (seq-find (lambda (m) (string-prefix-p "BackendAI: destroyed" m))
                                        (seq-drop (plist-get drive-result :messages) before)))
                   60)
      (driver-wait (lambda () (equal (drive-modeline) "BAI terminated")) 5)
      (list :messages (seq-drop (plist-get drive-result :messages) before)
            :modeline (drive-modeline)))))

(setq drive-result (plist-put drive-result :final_modeline (drive-modeline)))
(setq drive-result (plist-put drive-result :errors_before_unreachable
                              (vconcat (seq-filter (lambda (r) (equal (plist-get r :status) "error"))
                                                   drive-finished))))

;; a buffer another eglot server manages: bai-lsp runs as a side connection
(let ((main drive-demo))
  (drive-scenario "alongside"
    (setq drive-demo (find-file (getenv "BAI_DEMO3")))
    (let* ((eglot-sync-connect t)
           (other (eglot (list major-mode) (project-current) 'eglot-lsp-server
                         (list (getenv "BAI_PYTHON") (getenv "BAI_OTHER_SERVER"))
                         (if (backendai--eglot-wants-language-ids) '("python") "python")))
           (runs (length drive-finished)))
      (drive-goto-line (aref (plist-get drive-lines :greeting) 0))
      (call-interactively #'backendai-run-line)
      (let ((run (progn (driver-wait (lambda () (> (length drive-finished) runs)) 120)
                        (nth runs drive-finished))))
        (list :other_is_eglot_server (if (eq (eglot-current-server) other) t :json-false)
              :other_name (jsonrpc-name other)
              :run run
              :output (drive-output)
              :modeline (drive-settled-modeline)))))
  (setq drive-demo main))

;; a second project whose settings point at a backend that is not there
(let ((main drive-demo))
  (drive-scenario "unreachable"
    (setq backendai-settings (list :endpoint (getenv "BAI_DEAD_ENDPOINT")
                                   :accessKey "AKIADEADENDPOINT0000"
                                   :secretKey (getenv "BAI_DEAD_SECRET")
                                   :onExit "destroy"))
    (setq drive-demo (find-file (getenv "BAI_DEMO2")))
    (let ((before (length (plist-get drive-result :messages)))
          (runs (length drive-finished)))
      (call-interactively #'backendai-run-line)
      (driver-wait (lambda () (> (length drive-finished) runs)) 60)
      (list :result (nth runs drive-finished)
            :messages (seq-drop (plist-get drive-result :messages) before)
            :modeline (drive-modeline))))
  (setq drive-demo main))
(drive-save)
(dolist (server (hash-table-keys backendai--statuses))
  (when (jsonrpc-running-p server)
    (ignore-errors (eglot-shutdown server))))
(kill-emacs 0)

;;; drive.el ends here

;;; backendai-launcher.el --- Backend.AI session launcher, vfolders and countdowns  -*- lexical-binding: t -*-

;;; Commentary:

;; `backendai-configure' asks (with `completing-read') for the image, the
;; resource preset (with its CPU and memory, and whether the backend can
;; allocate it now), the resource group and a vfolder to mount, and stores the
;; choice for the workspace's next session.  `backendai-folders' lists your
;; vfolders in a dired-like buffer: RET opens a vfolder, a folder or a file
;; (read-only, in a buffer named after its bai-vfolder:// URI), ^ goes up,
;; U uploads a local file here, D downloads the file at point, g refreshes.
;; The mode line shows the idle and lifetime countdowns the server reports
;; (refreshed every 30 s) and warns once when either is under 5 minutes.

;;; Code:

(require 'cl-lib)
(require 'backendai)

(defconst backendai-launcher-warn-before 300
  "Seconds before an idle timeout or lifetime end that a warning is shown.")

(defvar backendai-launcher-poll-interval 30
  "Seconds between status requests that refresh the countdowns.")

;;;; Configure

(defun backendai--gib (bytes)
  "BYTES (a number or a numeric string) as GiB text."
  (let ((n (if (stringp bytes) (string-to-number bytes) bytes)))
    (format "%.1f GiB" (/ n 1073741824.0))))

(defun backendai-describe-slots (slots)
  "SLOTS (a plist such as (:cpu \"2\" :mem \"4294967296\")) as text."
  (let (parts)
    (cl-loop for (key value) on slots by #'cddr
             do (push (if (eq key :mem)
                          (concat "mem " (backendai--gib value))
                        (format "%s %s" (substring (symbol-name key) 1) value))
                      parts))
    (mapconcat #'identity (sort parts #'string<) ", ")))

(defun backendai--preset-label (preset)
  "Return the launcher's text for PRESET."
  (format "%s (%s)%s" (plist-get preset :name)
          (backendai-describe-slots (plist-get preset :resources))
          (if (eq (plist-get preset :allocatable) t) "" " — not allocatable now")))

;;;###autoload
(defun backendai-configure ()
  "Choose image, preset, resource group and mount for the next session."
  (interactive)
  (let ((uri (with-current-buffer (backendai--source-buffer) (backendai--uri))))
    (backendai-execute
     "backendai.session.options" (list :uri uri)
     (lambda (options)
       (let* ((images (mapcar (lambda (i) (plist-get i :ref)) (plist-get options :images)))
              (presets (mapcar (lambda (p) (cons (backendai--preset-label p) p))
                               (plist-get options :presets)))
              (groups (append (plist-get options :resourceGroups) nil))
              (folders (cons "(no vfolder)"
                             (mapcar (lambda (v) (plist-get v :name)) (plist-get options :vfolders))))
              (image (completing-read "Backend.AI image: " images nil t))
              (preset (cdr (assoc (completing-read "Resource preset: " presets nil t) presets)))
              (group (if (cdr groups)
                         (completing-read "Resource group: " groups nil t)
                       (car groups)))
              (mount (completing-read "Mount a vfolder: " folders nil t))
              (choice (list :uri uri :image image :preset (plist-get preset :name)
                            :mounts (if (equal mount "(no vfolder)") [] (vector mount)))))
         (when group
           (setq choice (plist-put choice :resourceGroup group)))
         (backendai-execute
          "backendai.session.configure" choice
          (lambda (result)
            (message "BackendAI: %s" (plist-get result :message)))))))))

;;;; Folders

(defvar-local backendai-folders--server-buffer nil
  "The buffer whose server answers for this folder listing.")
(defvar-local backendai-folders--name nil
  "The vfolder shown (nil: the list of vfolders).")
(defvar-local backendai-folders--path ""
  "The path inside the vfolder shown.")
(defvar-local backendai-folders--entries nil
  "One plist per listed line, after the header line.")

(defvar backendai-folders-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'backendai-folders-open)
    (define-key map (kbd "^") #'backendai-folders-up)
    (define-key map (kbd "U") #'backendai-folders-upload)
    (define-key map (kbd "D") #'backendai-folders-download)
    (define-key map (kbd "g") #'backendai-folders-refresh)
    map)
  "Keys of `backendai-folders-mode'.")

(define-derived-mode backendai-folders-mode special-mode "BAI-Folders"
  "A dired-like listing of Backend.AI vfolders.
\\{backendai-folders-mode-map}")

(defun backendai--in-source (thunk)
  "Call THUNK in the source buffer of this listing."
  (with-current-buffer backendai-folders--server-buffer (funcall thunk)))

(defun backendai-folders--render (header entries)
  "Show HEADER and ENTRIES (plists with :line) in the current buffer."
  (let ((inhibit-read-only t))
    (erase-buffer)
    (insert header "\n")
    (dolist (e entries) (insert (plist-get e :line) "\n"))
    (goto-char (point-min))
    (forward-line 1))
  (setq backendai-folders--entries entries)
  (run-hooks 'backendai-folders-refreshed-hook))

(defvar backendai-folders-refreshed-hook nil
  "Run after a folder listing was redrawn.")

(defun backendai-folders-refresh ()
  "Redraw the listing from the server."
  (interactive)
  (let ((listing (current-buffer)))
    (if (null backendai-folders--name)
        (backendai--in-source
         (lambda ()
           (backendai-execute
            "backendai.vfolders.list" (make-hash-table)
            (lambda (result)
              (with-current-buffer listing
                (backendai-folders--render
                 "Backend.AI vfolders  (RET open, g refresh)"
                 (mapcar (lambda (v)
                           (list :line (concat (plist-get v :name) "/")
                                 :kind "vfolder" :name (plist-get v :name)))
                         (plist-get result :vfolders))))))))
      (let ((name backendai-folders--name) (path backendai-folders--path))
        (backendai--in-source
         (lambda ()
           (backendai-execute
            "backendai.vfolders.files" (list :name name :path path)
            (lambda (result)
              (with-current-buffer listing
                (backendai-folders--render
                 (format "%s/  (RET open, ^ up, U upload, D download, g refresh)"
                         (if (string-empty-p path) name (concat name "/" path)))
                 (mapcar (lambda (f)
                           (let ((dir (equal (plist-get f :type) "directory")))
                             (list :line (if dir (concat (plist-get f :name) "/")
                                           (format "%-40s %10d" (plist-get f :name)
                                                   (or (plist-get f :size) 0)))
                                   :kind (if dir "directory" "file")
                                   :name (plist-get f :name) :uri (plist-get f :uri))))
                         (plist-get result :files))))))))))))

(defun backendai-folders--entry ()
  "The entry on the current line, or nil."
  (let ((row (1- (line-number-at-pos))))
    (and (> row 0) (nth (1- row) backendai-folders--entries))))

(defun backendai-folders--join (name)
  "NAME inside the path shown."
  (if (string-empty-p backendai-folders--path) name (concat backendai-folders--path "/" name)))

(defun backendai-folders-open ()
  "Open the vfolder, folder or file at point."
  (interactive)
  (let ((entry (backendai-folders--entry)))
    (pcase (plist-get entry :kind)
      ("vfolder" (setq backendai-folders--name (plist-get entry :name)
                       backendai-folders--path "")
       (backendai-folders-refresh))
      ("directory" (setq backendai-folders--path (backendai-folders--join (plist-get entry :name)))
       (backendai-folders-refresh))
      ("file" (backendai-open-vfolder-uri (plist-get entry :uri) backendai-folders--server-buffer))
      (_ (user-error "BackendAI: no entry on this line")))))

(defun backendai-folders-up ()
  "Go to the parent folder (or the list of vfolders)."
  (interactive)
  (when backendai-folders--name
    (if (string-empty-p backendai-folders--path)
        (setq backendai-folders--name nil)
      (setq backendai-folders--path (or (file-name-directory backendai-folders--path) ""))
      (setq backendai-folders--path (string-trim-right backendai-folders--path "/")))
    (backendai-folders-refresh)))

(defun backendai-folders-upload (file)
  "Upload the local FILE into the folder shown."
  (interactive (list (read-file-name "Upload local file: " nil nil t)))
  (unless backendai-folders--name
    (user-error "BackendAI: open a vfolder first"))
  (let ((listing (current-buffer))
        (arg (list :name backendai-folders--name
                   :path (backendai-folders--join (file-name-nondirectory file))
                   :localPath (expand-file-name file))))
    (backendai--in-source
     (lambda ()
       (backendai-execute
        "backendai.vfolders.upload" arg
        (lambda (result)
          (message "BackendAI: uploaded %s (%s bytes)" (plist-get result :path)
                   (plist-get result :bytes))
          (with-current-buffer listing (backendai-folders-refresh))))))))

(defun backendai-folders-download (target)
  "Download the file at point to the local path TARGET (never overwriting)."
  (interactive
   (let ((entry (backendai-folders--entry)))
     (unless (equal (plist-get entry :kind) "file")
       (user-error "BackendAI: put point on a file"))
     (list (read-file-name "Download to: " nil nil nil (plist-get entry :name)))))
  (let ((entry (backendai-folders--entry)))
    (unless (equal (plist-get entry :kind) "file")
      (user-error "BackendAI: put point on a file"))
    (let ((arg (list :name backendai-folders--name
                     :path (backendai-folders--join (plist-get entry :name))
                     :localPath (expand-file-name target))))
      (backendai--in-source
       (lambda ()
         (backendai-execute
          "backendai.vfolders.download" arg
          (lambda (result)
            (message "BackendAI: downloaded %s to %s" (plist-get result :path)
                     (plist-get result :localPath)))))))))

(defun backendai-open-vfolder-uri (uri &optional source)
  "Open the vfolder file URI read-only, asking the server of SOURCE for it."
  (with-current-buffer (or source (current-buffer))
    (backendai-execute
     "backendai.vfolders.read" (list :uri uri)
     (lambda (result)
       (let ((buffer (get-buffer-create uri)))
         (with-current-buffer buffer
           (let ((inhibit-read-only t))
             (erase-buffer)
             (insert (if (equal (plist-get result :encoding) "utf-8")
                         (plist-get result :text)
                       (format "(binary, %s bytes)" (plist-get result :size)))))
           (goto-char (point-min))
           (set-buffer-modified-p nil)
           (setq buffer-read-only t)
           (run-hooks 'backendai-vfolder-opened-hook))
         (pop-to-buffer-same-window buffer))))))

(defvar backendai-vfolder-opened-hook nil
  "Run in a vfolder file's buffer once its text is in.")

;;;###autoload
(defun backendai-folders ()
  "Browse your Backend.AI vfolders in a dired-like buffer."
  (interactive)
  (let ((source (backendai--source-buffer))
        (buffer (get-buffer-create "*Backend.AI folders*")))
    (with-current-buffer buffer
      (backendai-folders-mode)
      (setq backendai-folders--server-buffer source
            backendai-folders--name nil
            backendai-folders--path "")
      (backendai-folders-refresh))
    (pop-to-buffer-same-window buffer)
    buffer))

;;;; Countdowns

(defvar backendai--clocks (make-hash-table :test #'equal)
  "Workspace URI → (:idle S :lifetime S :at TIME :warned KINDS).")

(defun backendai-remaining (workspace kind)
  "Seconds left of KIND (:idle or :lifetime) for WORKSPACE, or nil."
  (let* ((clock (gethash workspace backendai--clocks))
         (left (plist-get clock kind)))
    (and left (max 0 (- left (- (float-time) (plist-get clock :at)))))))

(defun backendai--clock-text (seconds)
  "SECONDS as m:ss or h:mm:ss."
  (let ((s (floor seconds)))
    (if (>= s 3600)
        (format "%d:%02d:%02d" (/ s 3600) (/ (% s 3600) 60) (% s 60))
      (format "%d:%02d" (/ s 60) (% s 60)))))

(defun backendai-countdown-text (workspace)
  "\" idle 9:41 · life 1:59:00\" for WORKSPACE, or \"\"."
  (let ((idle (backendai-remaining workspace :idle))
        (life (backendai-remaining workspace :lifetime))
        parts)
    (when life (push (concat "life " (backendai--clock-text life)) parts))
    (when idle (push (concat "idle " (backendai--clock-text idle)) parts))
    (if parts (concat " " (mapconcat #'identity parts " · ")) "")))

(defun backendai-record-status (result)
  "Record the status answer RESULT; warn once when a countdown nears its end."
  (let* ((ws (plist-get result :workspace))
         (old (gethash ws backendai--clocks))
         (clock (list :idle (plist-get result :idleRemainingSeconds)
                      :lifetime (plist-get result :lifetimeRemainingSeconds)
                      :at (float-time)
                      :warned (plist-get old :warned))))
    (dolist (kind '(:idle :lifetime))
      (let ((left (plist-get clock kind)))
        (cond ((and left (<= left backendai-launcher-warn-before)
                    (not (memq kind (plist-get clock :warned))))
               (setq clock (plist-put clock :warned (cons kind (plist-get clock :warned))))
               (display-warning
                'backendai
                (format "session %s ends in %s (%s)" (plist-get result :sessionName)
                        (backendai--clock-text left)
                        (if (eq kind :idle) "idle for too long" "at its maximum lifetime"))))
              ((and left (> left backendai-launcher-warn-before))
               (setq clock (plist-put clock :warned (delq kind (plist-get clock :warned))))))))
    (puthash ws clock backendai--clocks)
    (force-mode-line-update t)))

(defun backendai-poll-status (&optional on-result)
  "Ask for this buffer's session status now; ON-RESULT gets the answer."
  (interactive)
  (with-current-buffer (backendai--source-buffer)
    (backendai-execute "backendai.session.status" (list :uri (backendai--uri))
                       (lambda (result)
                         (backendai-record-status result)
                         (when on-result (funcall on-result result))))))

(defvar backendai--poll-timer nil
  "The timer that refreshes the countdowns.")

(defun backendai--poll-tick ()
  "Refresh the countdown of the current buffer's session, if it has a server."
  (when (and buffer-file-name (backendai--server-of-buffer))
    (ignore-errors (backendai-poll-status))))

(defun backendai-start-polling ()
  "Refresh the countdowns every `backendai-launcher-poll-interval' seconds."
  (unless backendai--poll-timer
    (setq backendai--poll-timer
          (run-with-timer backendai-launcher-poll-interval backendai-launcher-poll-interval
                          #'backendai--poll-tick))))

(defun backendai--countdown-of-buffer ()
  "The countdown text of the current buffer's workspace, or \"\"."
  (let ((server (backendai--server-of-buffer)))
    (or (and server
             (cl-some (lambda (ws)
                        (let ((text (backendai-countdown-text ws)))
                          (and (not (string-empty-p text))
                               (or (null buffer-file-name)
                                   (string-prefix-p
                                    ws (backendai--path-to-uri buffer-file-name)))
                               text)))
                      (hash-table-keys backendai--clocks)))
        "")))

(provide 'backendai-launcher)
;;; backendai-launcher.el ends here

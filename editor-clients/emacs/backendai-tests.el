;;; backendai-tests.el --- ERT tests of backendai.el  -*- lexical-binding: t -*-

;; Copyright (C) 2026 The bai-lsp authors
;; SPDX-License-Identifier: MIT

;;; Commentary:

;; Unit tests of the parts of backendai.el that need no server: the
;; output buffer (partial lines, carriage returns, stderr faces, ANSI
;; colours, media files, trimming), footers, prompts and the status
;; shown in the mode line.  The end-to-end tests against a real
;; bai-lsp are in tests/editors/emacs/ of the repository.
;;
;; Run: emacs --batch -L . -l backendai-tests.el -f ert-run-tests-batch-and-exit

;;; Code:

(require 'ert)
(require 'backendai)

(defmacro backendai-tests--fresh (&rest body)
  "Run BODY with an empty output buffer and fresh run state."
  (declare (indent 0) (debug t))
  `(let ((backendai-output-buffer-name "*backendai-test*")
         (backendai-display-output nil)
         (backendai--runs (make-hash-table :test #'equal))
         (backendai--statuses (make-hash-table :test #'eq))
         (backendai--active-runs (make-hash-table :test #'eq))
         (backendai--last-owner nil)
         (backendai-media-directory (make-temp-file "backendai-media" t)))
     (when (get-buffer backendai-output-buffer-name)
       (kill-buffer backendai-output-buffer-name))
     (unwind-protect (progn ,@body)
       (delete-directory backendai-media-directory t)
       (when (get-buffer backendai-output-buffer-name)
         (kill-buffer backendai-output-buffer-name)))))

(defun backendai-tests--text ()
  "The output buffer's text."
  (with-current-buffer (backendai-output-buffer)
    (buffer-substring-no-properties (point-min) (point-max))))

(defun backendai-tests--lines ()
  "The output buffer's lines."
  (split-string (backendai-tests--text) "\n"))

(defun backendai-tests--out (run-id &rest records)
  "Send RECORDS of RUN-ID as one backendai/output notification."
  (backendai-handle-output (list :runId run-id :seq 0 :records (vconcat records))))

(defun backendai-tests--face-at (needle)
  "The face at the first occurrence of NEEDLE in the output buffer."
  (with-current-buffer (backendai-output-buffer)
    (save-excursion
      (goto-char (point-min))
      (search-forward needle)
      (get-text-property (match-beginning 0) 'face))))

(ert-deftest backendai-test-run-streams-with-header-and-footer ()
  (backendai-tests--fresh
    (backendai-handle-run-started 'srv '(:runId "r1" :uri "file:///tmp/ws/demo.py"
                                         :mode "query" :sessionName "bai-ws-1"))
    (should (= 1 (gethash 'srv backendai--active-runs)))
    (backendai-tests--out "r1" '(:type "stdout" :text "hello "))
    (backendai-tests--out "r1" '(:type "stdout" :text "world\nsecond"))
    (backendai-tests--out "r1" '(:type "stderr" :text " oops\n"))
    (backendai-handle-run-finished 'srv '(:runId "r1" :uri "file:///tmp/ws/demo.py"
                                          :status "finished" :exitCode 0 :durationMs 1500))
    (let ((lines (backendai-tests--lines)))
      (should (string-match-p "\\`▶ /tmp/ws/demo.py · bai-ws-1 · r1\\'" (nth 0 lines)))
      (should (equal "hello world" (nth 1 lines)))
      (should (equal "second oops" (nth 2 lines)))
      (should (equal "■ finished · exit 0 · 1.5 s" (nth 3 lines))))
    (should (eq 'backendai-stderr (backendai-tests--face-at "oops")))
    (should-not (backendai-tests--face-at "second"))
    (should (eq 'backendai-footer (backendai-tests--face-at "■")))
    (should (= 0 (gethash 'srv backendai--active-runs)))
    (with-current-buffer (backendai-output-buffer)
      (should buffer-read-only)
      (should (derived-mode-p 'backendai-output-mode)))))

(ert-deftest backendai-test-header-names-files-relative-to-the-project ()
  (should (equal "sub/a.py" (backendai--relative "file:///tmp/ws/sub/a.py" "/tmp/ws/")))
  (should (equal "/elsewhere/b.py" (backendai--relative "file:///elsewhere/b.py" "/tmp/ws/")))
  (should (equal "?" (backendai--relative nil "/tmp/ws/"))))

(ert-deftest backendai-test-carriage-return-rewrites-the-line ()
  (backendai-tests--fresh
    (dolist (pct '(0 25 50 75 100))
      (backendai-tests--out "p" (list :type "stdout" :text (format "\rprogress %3d%%" pct))))
    (backendai-tests--out "p" '(:type "stdout" :text "\n"))
    (should (equal '("progress 100%" "") (backendai-tests--lines)))
    (backendai-tests--out "p" '(:type "stdout" :text "abcdef\rXY\n"))
    (should (equal "XYcdef" (nth 1 (backendai-tests--lines))))
    (backendai-tests--out "p" '(:type "stdout" :text "crlf\r\nnext\n"))
    (should (equal '("progress 100%" "XYcdef" "crlf" "next" "") (backendai-tests--lines)))))

(ert-deftest backendai-test-ansi-colours-become-faces ()
  (backendai-tests--fresh
    (backendai-tests--out "a" '(:type "stdout" :text "\e[32mgreen text\e[0m plain\n"))
    (should (equal "green text plain\n" (backendai-tests--text)))
    (with-current-buffer (backendai-output-buffer)
      (goto-char (point-min))
      (should (or (get-text-property (point) 'face)
                  (get-text-property (point) 'font-lock-face))))))

(ert-deftest backendai-test-interleaved-runs-keep-their-lines ()
  (backendai-tests--fresh
    (backendai-tests--out "a" '(:type "stdout" :text "a1"))
    (backendai-tests--out "b" '(:type "stdout" :text "b1"))
    (backendai-tests--out "a" '(:type "stdout" :text "a2\n"))
    (should (equal '("a1" "b1" "a2" "") (backendai-tests--lines)))))

(ert-deftest backendai-test-output-is-capped ()
  (backendai-tests--fresh
    (let ((backendai-output-max-lines 20))
      (dotimes (i 100)
        (backendai-tests--out "c" (list :type "stdout" :text (format "n%d\n" (1+ i)))))
      (let ((lines (backendai-tests--lines)))
        (should (<= (length lines) 21))
        (should (equal "n100" (car (last lines 2))))))))

(ert-deftest backendai-test-media-saved-to-files ()
  (backendai-tests--fresh
    (let ((png "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
      (backendai-tests--out "m"
                            (list :type "media" :mime "image/png" :data png)
                            '(:type "media" :mime "image/svg+xml" :data "<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
                            '(:type "html" :data "<b>bold</b>"))
      (let* ((lines (backendai-tests--lines))
             (png-file (and (string-match "\\`\\[image/png\\] \\(.+\\.png\\)\\'" (nth 0 lines))
                            (match-string 1 (nth 0 lines))))
             (svg-file (and (string-match "\\`\\[image/svg\\+xml\\] \\(.+\\.svg\\)\\'" (nth 1 lines))
                            (match-string 1 (nth 1 lines))))
             (html-file (and (string-match "\\`\\[text/html\\] \\(.+\\.html\\)\\'" (nth 2 lines))
                             (match-string 1 (nth 2 lines)))))
        (should png-file)
        (should (equal (base64-decode-string png)
                       (with-temp-buffer
                         (set-buffer-multibyte nil)
                         (insert-file-contents-literally png-file)
                         (buffer-string))))
        (should (equal "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
                       (with-temp-buffer (insert-file-contents svg-file) (buffer-string))))
        (should (equal "<b>bold</b>"
                       (with-temp-buffer (insert-file-contents html-file) (buffer-string))))))))

(ert-deftest backendai-test-bad-media-is-reported ()
  (backendai-tests--fresh
    (backendai-tests--out "m" '(:type "media" :mime "image/png" :data "%%% not base64"))
    (should (string-match-p "\\`\\[image/png\\] could not be saved: "
                            (car (backendai-tests--lines))))))

(ert-deftest backendai-test-failed-run-footer ()
  (backendai-tests--fresh
    (let ((messages nil))
      (cl-letf (((symbol-function 'message)
                 (lambda (fmt &rest args) (push (apply #'format fmt args) messages))))
        (backendai-handle-run-started 'srv '(:runId "f" :uri "file:///w/a.py" :mode "batch"
                                             :sessionName "s"))
        (backendai-handle-run-finished 'srv '(:runId "f" :uri "file:///w/a.py" :status "failed"
                                              :exitCode 1 :durationMs 20 :message "session lost"
                                              :outputFile "/tmp/full.log")))
      (let ((lines (backendai-tests--lines)))
        (should (string-match-p "(batch)" (nth 0 lines)))
        (should (equal "[full output] /tmp/full.log" (nth 1 lines)))
        (should (equal "■ failed · exit 1 · 20 ms · session lost" (nth 2 lines))))
      (should (eq 'backendai-failure (backendai-tests--face-at "■")))
      (should (member "BackendAI: run failed: session lost" messages)))))

(ert-deftest backendai-test-status-priority ()
  (backendai-tests--fresh
    (backendai-handle-session-status 'srv '(:workspace "file:///w" :sessionName "a" :status "idle"))
    (should (equal "idle" (backendai-status-of 'srv)))
    (backendai-handle-session-status 'srv '(:workspace "file:///w" :sessionName "b" :status "busy"))
    (should (equal "busy" (backendai-status-of 'srv)))
    (backendai-handle-session-status 'srv '(:workspace "file:///w" :sessionName "a"
                                            :status "waiting-input"))
    (should (equal "waiting-input" (backendai-status-of 'srv)))
    (should-not (backendai-status-of 'other))))

;; the server's reason decides; nothing is guessed from timing
(ert-deftest backendai-test-ended-session-announced-unless-destroyed-by-user ()
  (backendai-tests--fresh
    (let ((messages nil))
      (cl-letf (((symbol-function 'message)
                 (lambda (fmt &rest args) (push (apply #'format fmt args) messages))))
        (backendai-handle-session-status
         'srv '(:workspace "file:///w" :sessionName "a" :status "terminated"
                :message "Destroyed on request." :reason "destroyed-by-user"))
        (should-not messages)
        (backendai-handle-session-status
         'srv '(:workspace "file:///w" :sessionName "a" :status "terminated"
                :message "Session a ended: it was idle longer than the idle timeout."
                :reason "idle-timeout")))
      (should (equal '("BackendAI: a: Session a ended: it was idle longer than the idle timeout.")
                     messages)))))

(ert-deftest backendai-test-prompt-text ()
  (should (equal "Your name: " (backendai-prompt-text '(:prompt "Your name: "))))
  (should (equal "Input: " (backendai-prompt-text '(:prompt ""))))
  (should (equal "Password: " (backendai-prompt-text '(:prompt " " :password t)))))

(ert-deftest backendai-test-password-answer-is-masked ()
  (backendai-tests--fresh
    (backendai-tests--out "p" '(:type "stdout" :text "Password: "))
    (let (asked)
      (cl-letf (((symbol-function 'read-passwd)
                 (lambda (prompt &rest _) (setq asked prompt) (copy-sequence "s3cret")))
                ((symbol-function 'read-string)
                 (lambda (&rest _) (error "Passwords must not use read-string"))))
        (should (equal '(:text "s3cret")
                       (backendai-answer-input '(:runId "p" :prompt "Password: "
                                                 :password t)))))
      (should (equal "Password: " asked))
      (should (equal "Password: " (backendai-tests--text))))))

(ert-deftest backendai-test-cancelled-input-answers-nil ()
  (backendai-tests--fresh
    (cl-letf (((symbol-function 'read-string) (lambda (&rest _) (signal 'quit nil))))
      (should-not (backendai-answer-input '(:runId "q" :prompt "x? " :password :json-false))))))

(ert-deftest backendai-test-footer-and-sessions ()
  (should (equal "■ interrupted · exit 130 · 340 ms · stopped"
                 (backendai-footer '(:status "interrupted" :exitCode 130 :durationMs 340
                                     :message "stopped"))))
  (should (equal "no sessions" (backendai-format-sessions '(:sessions []))))
  (should (string-match-p "\\`bai-proj-1a2b3c4d +RUNNING +python\\'"
                          (backendai-format-sessions
                           '(:sessions [(:name "bai-proj-1a2b3c4d" :status "RUNNING"
                                         :image "python")])))))

(ert-deftest backendai-test-language-ids ()
  (with-temp-buffer
    (sh-mode)
    (should (equal "shellscript" (backendai--language-id))))
  (with-temp-buffer
    (python-mode)
    (should (equal "python" (backendai--language-id)))))

(ert-deftest backendai-test-no-server-command-is-explained ()
  (let ((backendai-server-command '("no-such-bai-lsp-binary"))
        (file (make-temp-file "backendai" nil ".py")))
    (unwind-protect
        (with-current-buffer (find-file-noselect file)
          (unwind-protect
              (let ((err (should-error (backendai-run-line) :type 'user-error)))
                (should (string-match-p "\"no-such-bai-lsp-binary\" was not found: install bai-lsp"
                                        (cadr err))))
            (kill-buffer)))
      (delete-file file))))

(ert-deftest backendai-test-unsaved-buffer-is-explained ()
  (with-temp-buffer
    (python-mode)
    (let ((err (should-error (backendai-run-line) :type 'user-error)))
      (should (string-match-p "save the buffer to a file first" (cadr err))))))

(ert-deftest backendai-test-no-runs-from-the-output-buffer ()
  (backendai-tests--fresh
    (with-current-buffer (backendai-output-buffer)
      (dolist (cmd '(backendai-run-line backendai-run-cell))
        (let ((err (should-error (funcall cmd) :type 'user-error)))
          (should (string-match-p "go to a source buffer" (cadr err))))))))

(ert-deftest backendai-test-eglot-setup-registers-the-server ()
  (let ((eglot-server-programs nil)
        (backendai-server-command '("/opt/bai/bin/bai-lsp" "-v")))
    (backendai-eglot-setup)
    (should (equal '(backendai-server "/opt/bai/bin/bai-lsp" "-v")
                   (cdr (assoc backendai-modes eglot-server-programs))))))

(ert-deftest backendai-test-capabilities-declare-input ()
  ;; a real connection object (to `cat'): its capabilities are eglot's own plus
  ;; experimental.backendai.input, and the settings go out as initializationOptions
  (let* ((proc (make-process :name "backendai-test-cat" :command '("cat")
                             :connection-type 'pipe :noquery t))
         (server (make-instance 'backendai-server :name "test" :process proc))
         (backendai-settings '(:image "python" :resources (:cpu 2))))
    (setf (eglot--project server) (cons 'transient temporary-file-directory))
    (unwind-protect
        (let ((caps (eglot-client-capabilities server)))
          (should (equal '(:backendai (:input t)) (plist-get caps :experimental)))
          (should (plist-get caps :workspace))
          (should (equal '(:backendai (:image "python" :resources (:cpu 2)))
                         (eglot-initialization-options server))))
      (jsonrpc-shutdown server t))))

(ert-deftest backendai-test-mode-line-is-empty-without-server ()
  (with-temp-buffer
    (should (equal "" (backendai-mode-line)))))

;; Terminal buffers (the session's shell in a comint buffer)

(ert-deftest backendai-test-terminal-output-keeps-colours-drops-controls ()
  (should (equal (backendai--terminal-clean
                  "\e[?2004h\e]0;title\aroot# \e[1;32mok\e[0m\r\n")
                 "root# \e[1;32mok\e[0m\n")))

(ert-deftest backendai-test-terminal-drops-the-echo-of-the-sent-line ()
  (with-temp-buffer
    (setq backendai--terminal-echo "ls\n")
    ;; the echo may come after a redrawn prompt, and split over chunks
    (should (equal (backendai--terminal-drop-echo "root# l") "root# l"))
    (should (equal (backendai--terminal-drop-echo "root# ls\nfile\n") "root# file\n"))
    (should (null backendai--terminal-echo))
    (setq backendai--terminal-echo "pwd\n")
    (should (equal (backendai--terminal-drop-echo "pw") ""))
    (should (equal (backendai--terminal-drop-echo "d\n/home\n") "/home\n"))))

;; Installing the server (backendai-install.el)

(ert-deftest backendai-test-install-names-what-is-missing ()
  (let* ((dir (make-temp-file "bai-install" t))
         (backendai-install-directory (file-name-as-directory dir))
         (backendai-install-python (expand-file-name "no/python3.11" dir)))
    (unwind-protect
        (progn
          (should (string-match-p
                   "needs Python 3\\.11 or newer; .*/no/python3\\.11 was not found\\.  Install it"
                   (cadr (should-error (backendai-install-server dir) :type 'user-error))))
          (write-region "not a wheel\n" nil (expand-file-name "notes.txt" dir))
          (should (string-match-p
                   "notes\\.txt is neither a folder of wheels nor a \\.whl file"
                   (cadr (should-error (backendai-install-server (expand-file-name "notes.txt" dir))
                                       :type 'user-error))))
          (should-not (backendai-installed-server)))
      (delete-directory dir t))))

(ert-deftest backendai-test-protocol-mismatch-warns-with-both-versions ()
  (let ((backendai-protocol-warning nil))
    (should-not (backendai-install-check-protocol
                 (list :experimental (list :backendai (list :protocolVersion
                                                            backendai-protocol-version)))
                 '(:name "bai-lsp" :version "0.1.0")))
    (should (equal (backendai-install-check-protocol nil '(:name "bai-lsp" :version "0.0.9"))
                   (format "bai-lsp 0.0.9 speaks protocol version (none), backendai.el %s \
speaks %s: install the matching server (M-x backendai-install-server) or update the package"
                           backendai-version backendai-protocol-version)))))

(provide 'backendai-tests)
;;; backendai-tests.el ends here

;;; backendai-install.el --- Install the bai-lsp server for backendai.el  -*- lexical-binding: t -*-

;; Copyright (C) 2026 The bai-lsp authors

;; Author: The bai-lsp authors
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; M-x backendai-install-server creates a private Python venv under
;; `backendai-install-directory' and installs bai-lsp into it from
;; wheels only, with no network: the wheels/ folder that the release's
;; package tar carries, or a folder or .whl file you name.  Once
;; installed, backendai.el starts that server (unless
;; `backendai-server-command' was changed).  The package's version and
;; the protocol version it speaks are here too: when the server speaks
;; another protocol version, connecting shows a warning.

;;; Code:

(require 'cl-lib)

(defconst backendai-version "0.1.0"
  "The version of this package; the same as the bai-lsp release it belongs to.")

(defconst backendai-protocol-version 1
  "The bai-lsp protocol version this package speaks (docs/protocol.md).")

(defgroup backendai-install nil
  "Installing the bai-lsp server."
  :group 'backendai
  :prefix "backendai-install-")

(defcustom backendai-install-directory (locate-user-emacs-file "backendai/")
  "Folder of the private venv `backendai-install-server' creates."
  :type 'directory)

(defcustom backendai-install-python nil
  "Python (3.11 or newer) that creates the venv.
nil: the first of python3.13, python3.12, python3.11 and python3
on the variable `exec-path' that is new enough."
  :type '(choice (const :tag "Search" nil) file))

(defvar backendai-install-last-log nil
  "Output of the last installation's commands (for bug reports).")

(defconst backendai-install--wheels
  (expand-file-name "wheels" (file-name-directory (or load-file-name buffer-file-name "")))
  "The wheels shipped next to this file by the release's package tar.")

(defun backendai-install--venv ()
  "The venv folder."
  (expand-file-name "venv" backendai-install-directory))

(defun backendai-installed-server ()
  "The bai-lsp executable `backendai-install-server' installed, or nil."
  (let ((exe (expand-file-name (if (eq system-type 'windows-nt) "Scripts/bai-lsp.exe" "bin/bai-lsp")
                               (backendai-install--venv))))
    (and (file-executable-p exe) exe)))

(defun backendai-install--run (program &rest args)
  "Run PROGRAM with ARGS; return (EXIT-CODE . OUTPUT) and log both."
  (with-temp-buffer
    (let ((code (apply #'call-process program nil t nil args)))
      (setq backendai-install-last-log
            (concat backendai-install-last-log
                    (format "$ %s %s\n%s[exit %s]\n" program
                            (mapconcat #'identity args " ") (buffer-string) code)))
      (cons code (buffer-string)))))

(defun backendai-install--python-version (python)
  "The (MAJOR MINOR) of PYTHON, or nil when it does not run."
  (let ((done (ignore-errors
                (backendai-install--run
                 python "-c" "import sys; print(*sys.version_info[:2])"))))
    (when (and done (eq (car done) 0))
      (mapcar #'string-to-number (split-string (cdr done))))))

(defun backendai-install--find-python ()
  "A Python 3.11+ as (PATH MAJOR MINOR), or signal an error naming what was found."
  (let (seen)
    (cl-loop for name in (if backendai-install-python
                             (list backendai-install-python)
                           '("python3.13" "python3.12" "python3.11" "python3"))
             for path = (executable-find name)
             for version = (and path (backendai-install--python-version path))
             when version do (push (format "%s is %d.%d" path (car version) (cadr version)) seen)
             when (and version (version-list-<= '(3 11) version))
             return (cons path version)
             finally do
             (user-error "BackendAI: installing bai-lsp needs Python 3.11 or newer; %s.  \
Install it (e.g. apt install python3.11) or set `backendai-install-python'"
                         (cond (seen (mapconcat #'identity seen ", "))
                               (backendai-install-python
                                (format "%s was not found" backendai-install-python))
                               (t "no python3.13, python3.12, python3.11 or python3 \
was found on `exec-path'"))))))

(defun backendai-install--source (source)
  "The folder of wheels and the requirement to install from SOURCE."
  (let ((source (expand-file-name source)))
    (cond ((and (file-regular-p source) (string-suffix-p ".whl" source))
           (cons (file-name-directory source) source))
          ((file-directory-p source) (cons source "bai-lsp"))
          (t (user-error "BackendAI: %s is neither a folder of wheels nor a .whl file" source)))))

;;;###autoload
(defun backendai-install-server (&optional source)
  "Install bai-lsp into a private venv under `backendai-install-directory'.
SOURCE is a folder of wheels (the release's wheels/) or a bai-lsp
.whl file whose dependencies are in the same folder; nil means the
wheels shipped with this package.  Nothing is downloaded."
  (interactive
   (list (read-file-name "bai-lsp wheels (a folder or a .whl): "
                         (file-name-as-directory backendai-install--wheels) nil t)))
  (setq backendai-install-last-log nil)
  (let* ((source (or source backendai-install--wheels))
         (_ (unless (file-exists-p source)
              (user-error "BackendAI: no wheels at %s; pass the release's wheels/ folder or a .whl"
                          source)))
         (from (backendai-install--source source))
         (dir (car from))
         (python (backendai-install--find-python))
         (venv (backendai-install--venv))
         (pip-wheel (car (directory-files dir t "\\`pip-.*\\.whl\\'")))
         (vpython (expand-file-name (if (eq system-type 'windows-nt) "Scripts/python.exe" "bin/python")
                                    venv)))
    (message "BackendAI: creating a venv in %s with %s (Python %d.%d)…"
             venv (car python) (nth 1 python) (nth 2 python))
    (when (file-directory-p venv)
      (delete-directory venv t))
    (make-directory backendai-install-directory t)
    ;; --without-pip + the pip wheel: works where ensurepip is missing (Debian's python3-venv)
    (let ((done (apply #'backendai-install--run (car python) "-m" "venv"
                       (append (and pip-wheel '("--without-pip")) (list venv)))))
      (unless (eq (car done) 0)
        (user-error "BackendAI: %s -m venv failed: %s" (car python) (string-trim (cdr done)))))
    (message "BackendAI: installing bai-lsp from %s (offline)…" dir)
    (let ((done (apply #'backendai-install--run vpython
                       (append (if pip-wheel (list (expand-file-name "pip" pip-wheel)) '("-m" "pip"))
                               (list "install" "--no-index" "--find-links" dir
                                     "--disable-pip-version-check" "--no-input"
                                     (cdr from))))))
      (unless (eq (car done) 0)
        (user-error "BackendAI: installing bai-lsp failed (see `backendai-install-last-log'): %s"
                    (car (last (split-string (string-trim (cdr done)) "\n"))))))
    (let* ((exe (or (backendai-installed-server)
                    (user-error "BackendAI: the venv has no bai-lsp after installing")))
           (version (string-trim (cdr (backendai-install--run exe "--version")))))
      (message "BackendAI: installed %s (%s)" version exe)
      exe)))

(defun backendai-install--protocol-of (capabilities)
  "The protocol version in server CAPABILITIES (a plist), or nil."
  (plist-get (plist-get (plist-get capabilities :experimental) :backendai) :protocolVersion))

(defvar backendai-protocol-warning nil
  "The last protocol-version warning shown, or nil.")

(defun backendai-install-check-protocol (capabilities server-info)
  "Warn when the server's protocol (from CAPABILITIES) is not this package's.
SERVER-INFO is the initialize result's serverInfo plist.
Returns the warning shown, or nil."
  (let ((theirs (backendai-install--protocol-of capabilities)))
    (unless (equal theirs backendai-protocol-version)
      (setq backendai-protocol-warning
            (format "bai-lsp %s speaks protocol version %s, backendai.el %s speaks %s: \
install the matching server (M-x backendai-install-server) or update the package"
                    (or (plist-get server-info :version) "(unknown version)")
                    (or theirs "(none)") backendai-version backendai-protocol-version))
      (display-warning 'backendai backendai-protocol-warning :warning)
      backendai-protocol-warning)))

(provide 'backendai-install)
;;; backendai-install.el ends here

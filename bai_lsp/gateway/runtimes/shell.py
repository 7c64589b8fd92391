"""Query mode for bash images: one persistent ``bash`` per session.

Each snippet is ``eval``'d inside a function, so variables, functions and the current
directory persist between runs. SIGINT (interrupt) makes the function return 130 through a
trap instead of killing the shell, which also stops builtin loops like ``while :; do :; done``.
The end markers go to duplicates of the original stdout/stderr, so a snippet that redirects
the shell's own output (``exec >log``) does not lose its end.
"""

from __future__ import annotations

import shutil

from bai_lsp.gateway.runtimes.repl import PersistentRepl

_DRIVER = r"""
exec {__bai_out}>&1 {__bai_err}>&2
__bai_run() { eval "$1"; }
trap 'return 130 2>/dev/null' INT
while IFS= read -r -d '' __bai_code <&{fd}; do
  __bai_run "$__bai_code"
  __bai_status=$?
  printf '\036BAI-END-{token}-%d\036' "$__bai_status" >&$__bai_out
  printf '\036BAI-END-{token}-0\036' >&$__bai_err
done
"""


class ShellEngine(PersistentRepl):
    language = "bash"

    def argv(self, control_fd: int, token: str) -> list[str]:
        bash = shutil.which("bash", path=self.env.get("PATH")) or "/bin/bash"
        script = _DRIVER.replace("{fd}", str(control_fd)).replace("{token}", token)
        return [bash, "--noprofile", "--norc", "-c", script]

    def frame(self, code: str) -> bytes:
        return code.replace("\0", "").encode() + b"\0"

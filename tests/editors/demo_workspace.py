"""The workspace both real-editor tests (Neovim, Emacs) open: one Python file with cells.

Kept in one place so the two drivers exercise the same user-visible behaviour.
"""

from __future__ import annotations

from pathlib import Path

DEMO = """\
# %% Greeting
print("hello from backend.ai")
print("second line · é漢😀")
import sys; _ = sys.stderr.write("this is stderr\\n")
# %% Ask
name = input("Your name: ")
import getpass
secret = getpass.getpass("Password: ")
print(f"Hello, {name}! Your password has {len(secret)} characters.")
# %% Loop
import time
i = 0
while True:
    print("tick", i, flush=True)
    i += 1
    time.sleep(0.2)
# %% Plot
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt
plt.figure(figsize=(2, 2))
plt.plot([1, 3, 2])
plt.show()
# %% After
print("still alive after the interrupt")
"""

#: 1-based line numbers of interesting places in DEMO.
GREETING_BODY = (2, 4)
ASK_LINE = 6
LOOP_LINE = 13
PLOT_LINE = 21
AFTER_LINE = 25

#: a loopback port nothing listens on (the "other" project's settings point there)
DEAD_ENDPOINT = "http://127.0.0.1:9"
DEAD_SECRET = "dead-endpoint-secret-must-not-show"

NAME = "Ada"
PASSWORD = "s3cret-pw"


#: run with run_file in batch mode: it reads a workspace file the upload must have sent
BATCH_DEMO = """\
import sys
from pathlib import Path
print("batch says:", Path("data/greeting.txt").read_text().strip())
print("argv:", sys.argv[0])
"""
BATCH_GREETING = "uploaded with the workspace"

#: one line, two statements: a charwise selection runs only the second
CHARWISE_LINE = 'print("first statement"); print("second statement")'
CHARWISE_START = CHARWISE_LINE.index("print", 1)


def make_workspace(root: Path) -> Path:
    """A workspace folder (with a .git marker) holding demo.py; returns the file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    demo = root / "demo.py"
    demo.write_text(DEMO)
    (root / "batch_demo.py").write_text(BATCH_DEMO)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "greeting.txt").write_text(BATCH_GREETING + "\n")
    lines = DEMO.splitlines()
    assert lines[ASK_LINE - 1].startswith("name = input")
    assert lines[LOOP_LINE - 1].startswith("while True")
    assert lines[AFTER_LINE - 1].startswith("print(")
    return demo

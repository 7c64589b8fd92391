"""``bai-lsp`` entry point: dispatches to the language server, the gateway or a one-off run.

Each sub-command owns its own argument parser in the package it belongs to, so this module
only routes. stdout belongs to the LSP channel unless a sub-command says otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "gateway":
        from bai_lsp.gateway.cli import main as gateway_main

        return gateway_main(args[1:])
    if args and args[0] == "run":
        from bai_lsp.lsp.runner import main as run_main

        return run_main(args[1:])
    from bai_lsp.lsp.cli import main as server_main

    return server_main(args)


if __name__ == "__main__":
    raise SystemExit(main())

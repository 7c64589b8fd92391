"""The editor contract generated from the code that implements it.

``schema.py`` reads the attrs classes (command arguments in ``bai_lsp.lsp.protocol``, the
command table, notification and result payloads in ``bai_lsp.domain``, the settings tree,
the error codes, status values and reasons) into one JSON Schema, ``docs/contract.schema.json``.
The renderers write from that schema what each editor client used to copy by hand
(``protocol.ts``, VS Code's ``contributes.configuration``, the Lua and elisp constants, the
tables of ``docs/protocol.md``). ``python -m bai_lsp.lsp.contract`` rewrites them all;
``--check`` lists the stale ones (``tests/unit/test_contract.py`` runs it in CI).
"""

"""Runs *inside the session's Python kernel*, sent as text by ``live.py``; bai-lsp never
imports it for its own use.

It answers one request (``_REQUEST``) about the user's namespace (``_NS``) with one line,
``_MARK`` followed by JSON, on stdout. It imports nothing the user has not imported already
(numpy, pandas and polars are recognised through ``sys.modules`` only), touches no user name,
and keeps every answer small: reprs are cut, tables are pages. It must run on any Python 3
kernel from 3.7 on (a manager's image may be older than ours), so it sticks to the standard
library and to syntax those versions know.
"""

# ruff: noqa: B905
from __future__ import annotations

import contextlib
import inspect
import json
import math
import sys
import types
from typing import Any

# Given by live.py in the globals this source is executed with.
_NS: dict[str, Any] = globals().get("_NS", {})
_REQUEST: dict[str, Any] = globals().get("_REQUEST", {})
_MARK: str = globals().get("_MARK", "")

SUMMARY_CHARS = 120
HOVER_REPR_CHARS = 400
CELL_CHARS = 200
#: Names IPython (and ipykernel) put into the user namespace.
_INTERNALS = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def _short(value: Any, limit: int = SUMMARY_CHARS, *, one_line: bool = True) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the answer
        text = f"<repr failed: {type(exc).__name__}>"
    if one_line:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _module_of(value: Any) -> str:
    return str(getattr(type(value), "__module__", "") or "")


def _is_pandas(value: Any, name: str) -> bool:
    return _module_of(value).startswith("pandas") and type(value).__name__ == name


def _is_polars_frame(value: Any) -> bool:
    return _module_of(value).startswith("polars") and type(value).__name__ == "DataFrame"


def _is_ndarray(value: Any) -> bool:
    return "numpy" in sys.modules and isinstance(value, sys.modules["numpy"].ndarray)


def _hidden() -> set[str]:
    shell = _NS.get("get_ipython")
    try:
        return set(shell().user_ns_hidden) if callable(shell) else set()
    except Exception:
        return set()


def _describe(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(value).__name__}
    if _is_pandas(value, "DataFrame") or _is_polars_frame(value):
        rows, cols = value.shape
        out.update(size=rows, shape=[rows, cols], summary=f"{rows} rows x {cols} columns")
    elif _is_pandas(value, "Series"):
        out.update(size=len(value), shape=[len(value)], summary=f"{len(value)} values")
        out["summary"] += f", dtype {value.dtype}"
    elif _is_ndarray(value):
        shape = [int(n) for n in value.shape]
        out.update(shape=shape, size=int(value.size))
        out["summary"] = f"{value.dtype} {'x'.join(map(str, shape)) or 'scalar'}"
    else:
        with contextlib.suppress(Exception):
            out["size"] = len(value)
        out["summary"] = _short(value)
    return out


def _user_values() -> list[tuple[str, Any]]:
    hidden = _hidden() | _INTERNALS
    wanted = []
    for name, value in list(_NS.items()):
        if name.startswith("_") or name in hidden:
            continue
        if isinstance(value, (types.ModuleType, type)) or inspect.isroutine(value):
            continue
        wanted.append((name, value))
    return sorted(wanted)


def variables() -> dict[str, Any]:
    return {"variables": [{"name": name, **_describe(v)} for name, v in _user_values()]}


class _NotFound(Exception):
    pass


def _resolve(expr: str) -> Any:
    parts = expr.split(".")
    if not all(p.isidentifier() for p in parts):
        raise _NotFound(expr)
    builtins = _NS.get("__builtins__")
    builtin_names = builtins if isinstance(builtins, dict) else vars(builtins or object)
    if parts[0] in _NS:
        value = _NS[parts[0]]
    elif parts[0] in builtin_names:
        value = builtin_names[parts[0]]
    else:
        raise _NotFound(parts[0])
    for part in parts[1:]:
        try:
            value = getattr(value, part)
        except Exception:
            raise _NotFound(expr) from None
    return value


def _cell(value: Any) -> Any:
    """A table cell as JSON: numbers, booleans, short strings and null as such, else a repr."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= CELL_CHARS else value[: CELL_CHARS - 1] + "…"
    item = getattr(value, "item", None)
    if _module_of(value).startswith("numpy") and callable(item):
        with contextlib.suppress(Exception):
            return _cell(item())
    return _short(value, CELL_CHARS)


def _rows(value: Any, offset: int, limit: int) -> dict[str, Any] | None:
    end = offset + limit
    if _is_pandas(value, "DataFrame"):
        part = value.iloc[offset:end]
        columns = [str(value.index.name or "")] + [str(c) for c in value.columns]
        data = [
            [_cell(i), *map(_cell, row)]
            for i, row in zip(part.index, part.itertuples(index=False, name=None))
        ]
        return {"columns": columns, "data": data, "total": len(value)}
    if _is_pandas(value, "Series"):
        part = value.iloc[offset:end]
        columns = [str(value.index.name or ""), str(value.name if value.name is not None else "")]
        data = [[_cell(i), _cell(v)] for i, v in zip(part.index, part.tolist())]
        return {"columns": columns, "data": data, "total": len(value)}
    if _is_polars_frame(value):
        part = value.slice(offset, limit)
        data = [[offset + n, *map(_cell, row)] for n, row in enumerate(part.rows())]
        return {"columns": ["", *value.columns], "data": data, "total": value.height}
    if _is_ndarray(value):
        if value.ndim == 0:
            return None
        part = value[offset:end]
        if value.ndim == 2:
            columns = ["", *[str(n) for n in range(value.shape[1])]]
            data = [[offset + n, *map(_cell, row)] for n, row in enumerate(part.tolist())]
        else:
            columns = ["", "value"]
            data = [[offset + n, _cell(v)] for n, v in enumerate(part)]
        return {"columns": columns, "data": data, "total": int(value.shape[0])}
    if isinstance(value, dict):
        items = list(value.items())[offset:end]
        return {
            "columns": ["key", "value"],
            "data": [[_cell(k), _cell(v)] for k, v in items],
            "total": len(value),
        }
    if isinstance(value, (list, tuple, range, set, frozenset)) or type(value).__name__ == "deque":
        seq = list(value)
        data = [[offset + n, _cell(v)] for n, v in enumerate(seq[offset:end])]
        return {"columns": ["", "value"], "data": data, "total": len(seq)}
    return None


def inspect_value(name: str, offset: int, limit: int) -> dict[str, Any]:
    try:
        value = _resolve(name)
    except _NotFound:
        return {"error": f"No variable named {name!r} in the session."}
    out = {"name": name, **_describe(value)}
    try:
        rows = _rows(value, max(offset, 0), max(limit, 1))
    except Exception as exc:
        rows = None
        out["summary"] += f" (rows unavailable: {type(exc).__name__})"
    if rows is not None:
        out["rows"] = rows
    return out


def hover(expr: str) -> dict[str, Any]:
    try:
        value = _resolve(expr)
    except _NotFound:
        return {"found": False}
    out: dict[str, Any] = {"found": True, "name": expr, "type": type(value).__name__}
    module = _module_of(value)
    if module and module != "builtins":
        out["type"] = f"{module}.{type(value).__qualname__}"
    if callable(value):
        with contextlib.suppress(TypeError, ValueError):
            out["signature"] = str(inspect.signature(value))
    if not isinstance(value, types.ModuleType) and not callable(value):
        out["repr"] = _short(value, HOVER_REPR_CHARS, one_line=False)
    doc = inspect.getdoc(value) or ""
    out["doc"] = doc.strip().split("\n\n", 1)[0].strip()
    return out


def _main() -> None:
    op = _REQUEST.get("op")
    try:
        if op == "variables":
            answer = variables()
        elif op == "inspect":
            answer = inspect_value(
                str(_REQUEST.get("name", "")),
                int(_REQUEST.get("offset", 0)),
                int(_REQUEST.get("limit", 50)),
            )
        elif op == "hover":
            answer = hover(str(_REQUEST.get("expr", "")))
        else:
            answer = {"error": f"unknown request {op!r}"}
    except Exception as exc:
        answer = {"error": f"{type(exc).__name__}: {_short(exc)}"}
    sys.stdout.write(_MARK + json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__bai_lsp_helper__":
    _main()

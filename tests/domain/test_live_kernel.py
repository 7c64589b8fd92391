"""The snippet bai-lsp runs in Python kernels (bai_lsp/domain/live_kernel.py), run here on
real values: numpy arrays, pandas and polars frames, containers, the names it leaves out."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import math
import types
from typing import Any

import numpy as np

from bai_lsp.domain.live import helper_code

MARK = "bai-lsp-helper-test:"


def ask(namespace: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Run the snippet as a kernel would (``exec`` at top level of ``namespace``)."""
    code = helper_code(request, MARK)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, namespace)  # noqa: S102 - what the kernel does with it
    lines = [line for line in out.getvalue().splitlines() if line.startswith(MARK)]
    assert len(lines) == 1, out.getvalue()
    answer: dict[str, Any] = json.loads(lines[0][len(MARK) :])
    return answer


def user_namespace(**values: Any) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    ns.update(values)
    return ns


def rows(ns: dict[str, Any], name: str, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    answer = ask(ns, {"op": "inspect", "name": name, "offset": offset, "limit": limit})
    assert "error" not in answer, answer
    return answer


def test_variables_leave_out_modules_functions_classes_and_private_names() -> None:
    ns = user_namespace(
        xs=[3, 1, 2],
        json=json,
        helper=lambda: 1,
        Klass=type("Klass", (), {}),
        _hidden=1,
        In=[""],
        Out={},
        n=42,
        arr=np.zeros((3, 4)),
    )
    names = {v["name"]: v for v in ask(ns, {"op": "variables"})["variables"]}
    assert sorted(names) == ["arr", "n", "xs"]
    assert names["xs"] == {"name": "xs", "type": "list", "size": 3, "summary": "[3, 1, 2]"}
    assert names["arr"]["shape"] == [3, 4] and names["arr"]["summary"] == "float64 3x4"
    assert names["n"] == {"name": "n", "type": "int", "summary": "42"}
    assert "__bai_lsp_helper__" not in ns and "_NS" not in ns  # nothing left behind


def test_numpy_arrays_page_by_rows() -> None:
    ns = user_namespace(a=np.arange(120), m=np.arange(12).reshape(4, 3), s=np.float64(1.5))
    one = rows(ns, "a", offset=100, limit=50)["rows"]
    assert one["columns"] == ["", "value"] and one["total"] == 120
    assert one["data"][0] == [100, 100] and len(one["data"]) == 20
    two = rows(ns, "m")["rows"]
    assert two["columns"] == ["", "0", "1", "2"] and two["data"][3] == [3, 9, 10, 11]
    assert "rows" not in rows(ns, "s")


def test_pandas_frames_and_series() -> None:
    import pandas as pd  # a dev dependency since issue 17: only this test needs a new venv

    frame = pd.DataFrame({"x": [1.5, math.nan, 3.0], "name": ["a", "b", None]})
    frame.index.name = "idx"
    ns = user_namespace(df=frame, ser=pd.Series([10, 20], name="v"))
    page = rows(ns, "df")
    assert page["type"] == "DataFrame" and page["summary"] == "3 rows x 2 columns"
    assert page["rows"]["columns"] == ["idx", "x", "name"]
    # pandas 3 keeps a missing string as NaN: both read "nan"
    assert page["rows"]["data"] == [[0, 1.5, "a"], [1, "nan", "b"], [2, 3.0, "nan"]]
    series = rows(ns, "ser")["rows"]
    assert series == {"columns": ["", "v"], "data": [[0, 10], [1, 20]], "total": 2}


def test_polars_frames() -> None:
    import polars as pl  # likewise

    ns = user_namespace(pf=pl.DataFrame({"k": list(range(75)), "s": [str(i) for i in range(75)]}))
    variables = {v["name"]: v for v in ask(ns, {"op": "variables"})["variables"]}
    assert variables["pf"]["shape"] == [75, 2] and variables["pf"]["type"] == "DataFrame"
    page = rows(ns, "pf", offset=50)["rows"]
    assert page["columns"] == ["", "k", "s"] and page["total"] == 75
    assert page["data"][0] == [50, 50, "50"] and len(page["data"]) == 25


def test_containers_and_dotted_names() -> None:
    ns = user_namespace(
        d={"a": 1, "b": [1, 2]},
        st={3},
        r=range(5),
        dq=collections.deque([1, 2]),
        obj=types.SimpleNamespace(inner=[7, 8]),
        text="x" * 500,
    )
    assert rows(ns, "d")["rows"] == {
        "columns": ["key", "value"],
        "data": [["a", 1], ["b", "[1, 2]"]],
        "total": 2,
    }
    assert rows(ns, "st")["rows"]["data"] == [[0, 3]]
    assert rows(ns, "r", offset=3)["rows"]["data"] == [[3, 3], [4, 4]]
    assert rows(ns, "dq")["rows"]["total"] == 2
    assert rows(ns, "obj.inner")["rows"]["data"] == [[0, 7], [1, 8]]
    long = rows(ns, "text")
    assert "rows" not in long and len(long["summary"]) == 120 and long["summary"].endswith("…")
    missing = ask(ns, {"op": "inspect", "name": "nope", "offset": 0, "limit": 5})
    assert missing == {"error": "No variable named 'nope' in the session."}


def test_hover_gives_type_value_signature_and_first_doc_paragraph() -> None:
    def scale(x: float, factor: float = 2.0) -> float:
        """Scale x.

        More details here."""
        return x * factor

    ns = user_namespace(xs=[3, 1, 2], scale=scale)
    xs = ask(ns, {"op": "hover", "expr": "xs"})
    assert xs["type"] == "list" and xs["repr"] == "[3, 1, 2]" and xs["found"] is True
    fn = ask(ns, {"op": "hover", "expr": "scale"})
    assert fn["signature"] == "(x: 'float', factor: 'float' = 2.0) -> 'float'"
    assert fn["doc"] == "Scale x." and "repr" not in fn
    assert ask(ns, {"op": "hover", "expr": "len"})["doc"].startswith("Return the number")
    assert ask(ns, {"op": "hover", "expr": "nothing.here"}) == {"found": False}


def test_a_broken_repr_does_not_break_the_answer() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    answer = ask(user_namespace(b=Broken()), {"op": "variables"})
    assert answer["variables"][0]["summary"] == "<repr failed: RuntimeError>"

"""The real-manager table and its target rows (``--phases realmgr``).

The issue asks for these figures side by side, with no numeric limit. The limit printed
here is this project's own: bai-lsp end to end no slower than the faster of the two official
SDKs on the same cluster (c/b ≤ 1.0), where "b" is whichever SDK measured the lower figure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.report import Row, Target, _ms
from benchmarks.stats import fmt, percentile, ratio

STACKS = ("b", "b26", "c0", "c")


def titles(versions: dict[str, str]) -> dict[str, str]:
    return {
        "b": f"(b) official SDK {versions.get('b', '23.9.10')}",
        "b26": f"(b) official SDK {versions.get('b26', '26.9.6')}",
        "c0": "bai-lsp's client alone",
        "c": "(c) bai-lsp",
    }


def _seconds(samples: Any, how: str) -> float | None:
    clean = [s for s in samples or () if s is not None]
    if not clean:
        return None
    return max(clean) if how == "max" else percentile(clean, 50)


PREFIX = "real manager: "


def rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    def each(get: Callable[[dict[str, Any]], float | None]) -> dict[str, float | None]:
        return {name: get(results[name]) if name in results else None for name in STACKS}

    return [
        Row(
            PREFIX + "session create → first run done, median (s)",
            "s",
            each(lambda r: _seconds(r.get("create_s"), "median")),
        ),
        Row(
            PREFIX + "session create → first run done, max (s)",
            "s",
            each(lambda r: _seconds(r.get("create_s"), "max")),
        ),
        Row(
            PREFIX + "session creations measured",
            "",
            each(lambda r: float(len(r["create_s"])) if r.get("create_s") else None),
            digits=0,
        ),
        Row(PREFIX + "status p50 (ms)", "ms", each(lambda r: _ms(r.get("status_s"), 50))),
        Row(PREFIX + "status p99 (ms)", "ms", each(lambda r: _ms(r.get("status_s"), 99))),
        Row(
            PREFIX + "print(1) first output p50 (ms)",
            "ms",
            each(lambda r: _ms(r.get("first_output_s"), 50)),
        ),
        Row(
            PREFIX + "print(1) first output p99 (ms)",
            "ms",
            each(lambda r: _ms(r.get("first_output_s"), 99)),
        ),
        Row(
            PREFIX + "print(1) run → finished p50 (ms)",
            "ms",
            each(lambda r: _ms(r.get("finished_s"), 50)),
        ),
        Row(
            PREFIX + "print(1) run → finished p99 (ms)",
            "ms",
            each(lambda r: _ms(r.get("finished_s"), 99)),
        ),
    ]


def metric_labels() -> list[str]:
    return [row.label for row in rows({})]


#: (target label, metric row label): c over the faster SDK, at most 1.0.
TARGET_ROWS = (
    ("session create → first run median", "session create → first run done, median (s)"),
    ("status p50", "status p50 (ms)"),
    ("status p99", "status p99 (ms)"),
    ("print(1) first output p50", "print(1) first output p50 (ms)"),
    ("print(1) run → finished p50", "print(1) run → finished p50 (ms)"),
)
TARGET_LABELS = tuple(f"{PREFIX}{name}, c / faster SDK ≤ 1.0" for name, _ in TARGET_ROWS)


def targets(results: dict[str, dict[str, Any]]) -> list[Target]:
    by_label = {row.label: row for row in rows(results)}
    out = []
    for label, (_, metric) in zip(TARGET_LABELS, TARGET_ROWS, strict=True):
        row = by_label[PREFIX + metric]
        sdks = {k: v for k in ("b", "b26") if (v := row.values[k]) is not None}
        best = min(sdks.values()) if sdks else None
        c = row.values["c"]
        unit = f" {row.unit}"
        detail = f"c {fmt(c, unit)} / b 23.9 {fmt(row.values['b'], unit)}, b 26.9 " + fmt(
            row.values["b26"], unit
        )
        out.append(Target(label, ratio(c, best), 1.0, True, detail))
    return out


def render(results: dict[str, dict[str, Any]], versions: dict[str, str]) -> str:
    names = titles(versions)
    lines = [
        "| metric | " + " | ".join(names[s] for s in STACKS) + " | c/b 23.9 | c/b 26.9 |",
        "|---|" + "---:|" * (len(STACKS) + 2),
    ]
    for row in rows(results):
        values = [fmt(row.values[s], "", row.digits) for s in STACKS]
        c_b = ratio(row.values["c"], row.values["b"])
        c_b26 = ratio(row.values["c"], row.values["b26"])
        lines.append(f"| {row.label} | " + " | ".join(values) + f" | {fmt(c_b)} | {fmt(c_b26)} |")
    lines += [
        "",
        "| target (this project's own limit: the issue sets none) | measured | limit | verdict "
        "| detail |",
        "|---|---:|---:|---|---|",
    ]
    for target in targets(results):
        lines.append(
            f"| {target.label} | {fmt(target.measured)} | ≤ {fmt(target.limit)} | "
            f"{target.verdict} | {target.detail} |"
        )
    failures = [
        (name, error.splitlines()[0])
        for name in STACKS
        for key in ("findings", "errors")
        for error in results.get(name, {}).get(key, [])
    ]
    if failures:
        lines += ["", "Real-manager scenarios that could not be measured (rows read n/a):", ""]
        lines += [f"* ({name}) {first.replace('|', '/')[:400]}" for name, first in failures]
    return "\n".join(lines)

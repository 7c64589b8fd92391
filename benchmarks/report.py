"""Turn the stacks' raw results into the side-by-side tables, ratios and PASS/FAIL targets.

The output is Markdown, printed as is and written into docs/performance.md by
``--write-docs``. Every metric row and every target row has a fixed label
(``METRIC_LABELS``, ``TARGET_LABELS``) so that the smoke test can check that none is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.stats import fmt, jain, percentile, ratio

MB = 1_000_000
FIRST, DONE = "first_output_s", "finished_s"
STACKS = ("a", "a-default", "b", "c0", "c")
STACK_TITLES = {
    "a": "(a) raw ipykernel, gateway flush",
    "a-default": "ipykernel, default 0.2 s flush",
    "b": "(b) official SDK",
    "c0": "bai-lsp's client alone",
    "c": "(c) bai-lsp",
}


@dataclass
class Row:
    label: str
    unit: str
    values: dict[str, float | None]
    #: Higher is better (throughput) or lower is better (latency, memory).
    higher_better: bool = False
    digits: int = 2


def _ms(samples: Sequence[float | None] | None, q: float) -> float | None:
    clean = [s for s in samples or () if s is not None]
    return percentile(clean, q) * 1000 if clean else None


def _flood(result: dict[str, Any], kind: str) -> dict[str, Any] | None:
    value = (result.get("floods") or {}).get(kind)
    return value if isinstance(value, dict) else None


def _mb_per_s(flood: dict[str, Any] | None) -> float | None:
    if not flood or not flood["seconds"]:
        return None
    return float(flood["bytes"]) / MB / float(flood["seconds"])


def _msgs_per_s(flood: dict[str, Any] | None) -> float | None:
    if not flood or not flood["seconds"]:
        return None
    return float(flood["messages"]) / float(flood["seconds"])


def _peak(
    result: dict[str, Any], kind: str, process: str, what: str = "peak_rss_mb"
) -> float | None:
    flood = _flood(result, kind)
    if not flood:
        return None
    value = flood.get(what, {}).get(process)
    return float(value) if value is not None else None


def _load(result: dict[str, Any], n: int) -> dict[str, Any] | None:
    value = (result.get("load") or {}).get(str(n))
    return value if isinstance(value, dict) else None


def _load_metric(result: dict[str, Any], n: int, what: str) -> float | None:
    load = _load(result, n)
    if load is None:
        return None
    per_ws = [
        b / s if s else 0.0
        for b, s in zip(load["per_workspace_bytes"], load["per_workspace_seconds"], strict=True)
    ]
    if what == "aggregate":
        return sum(load["per_workspace_bytes"]) / MB / load["seconds"]
    if what == "jain":
        return jain(per_ws)
    if what == "min_share":
        fair = sum(per_ws) / len(per_ws) if per_ws else 0.0
        return min(per_ws) / fair if fair else None
    if what == "probe_p50":
        return _ms(load["probe_s"], 50)
    if what == "probe_p99":
        return _ms(load["probe_s"], 99)
    if what == "probes":
        return float(len(load["probe_s"]))
    if what == "loop_first_p99":
        return _ms(load["loop_first_output_s"], 99)
    if what == "msgs":
        return load["messages"] / load["seconds"]
    if what.startswith(("cpu_cores:", "peak_rss_mb:")):
        key, process = what.split(":", 1)
        value = load.get(key, {}).get(process)
        return float(value) if value is not None else None
    raise ValueError(what)


def rows(results: dict[str, dict[str, Any]], workspace_counts: Sequence[int]) -> list[Row]:
    def each(get: Callable[[dict[str, Any]], float | None]) -> dict[str, float | None]:
        return {name: get(results[name]) if name in results else None for name in STACKS}

    out = [
        Row(
            "language server spawn → initialize answer (s)",
            "s",
            each(lambda r: r.get("initialize_s")),
        ),
        Row(
            "session creation → first run done, median (s)",
            "s",
            each(lambda r: percentile(r["create_s"], 50) if r.get("create_s") else None),
        ),
        Row(
            "print(1) first output p50 (ms)", "ms", each(lambda r: _ms(r.get("first_output_s"), 50))
        ),
        Row(
            "print(1) first output p99 (ms)", "ms", each(lambda r: _ms(r.get("first_output_s"), 99))
        ),
        Row("print(1) run → finished p50 (ms)", "ms", each(lambda r: _ms(r.get("finished_s"), 50))),
        Row("print(1) run → finished p99 (ms)", "ms", each(lambda r: _ms(r.get("finished_s"), 99))),
        Row(
            "running cell first output p50 (ms)",
            "ms",
            each(lambda r: _ms(r.get("running_first_output_s"), 50)),
        ),
        Row(
            "running cell first output p99 (ms)",
            "ms",
            each(lambda r: _ms(r.get("running_first_output_s"), 99)),
        ),
    ]
    for kind, title in (("lines", "line flood"), ("block", "block flood")):
        out += [
            Row(
                f"{title} throughput (MB/s)",
                "MB/s",
                each(lambda r, k=kind: _mb_per_s(_flood(r, k))),  # type: ignore[misc]
                higher_better=True,
            ),
            Row(
                f"{title} messages reaching the client (/s)",
                "/s",
                each(lambda r, k=kind: _msgs_per_s(_flood(r, k))),  # type: ignore[misc]
                higher_better=True,
                digits=0,
            ),
            Row(
                f"{title} peak RSS bai-lsp (MB)",
                "MB",
                each(lambda r, k=kind: _peak(r, k, "bai-lsp")),  # type: ignore[misc]
                digits=0,
            ),
            Row(
                f"{title} peak RSS gateway (a: the jupyter_client process) (MB)",
                "MB",
                each(lambda r, k=kind: _peak(r, k, "gateway")),  # type: ignore[misc]
                digits=0,
            ),
            Row(
                f"{title} CPU of bai-lsp (cores)",
                "",
                each(lambda r, k=kind: _peak(r, k, "bai-lsp", "cpu_cores")),  # type: ignore[misc]
            ),
            Row(
                f"{title} CPU of the gateway (a: jupyter_client process) (cores)",
                "",
                each(lambda r, k=kind: _peak(r, k, "gateway", "cpu_cores")),  # type: ignore[misc]
            ),
        ]
    for n in workspace_counts:
        for what, label, unit, higher, digits in (
            ("aggregate", "aggregate throughput (MB/s)", "MB/s", True, 2),
            ("jain", "Jain's fairness index", "", True, 3),
            ("min_share", "smallest share of the fair throughput", "", True, 2),
            ("msgs", "messages reaching the client (/s)", "/s", True, 0),
            ("loop_first_p99", "loops' first output p99 (ms)", "ms", False, 2),
            ("probe_p50", "probe print(1) first output p50 (ms)", "ms", False, 2),
            ("probe_p99", "probe print(1) first output p99 (ms)", "ms", False, 2),
            ("probes", "probes taken", "", True, 0),
            ("cpu_cores:bai-lsp", "CPU of bai-lsp (cores)", "", False, 2),
            (
                "cpu_cores:gateway",
                "CPU of the gateway (a: jupyter_client process) (cores)",
                "",
                False,
                2,
            ),
            ("peak_rss_mb:bai-lsp", "peak RSS bai-lsp (MB)", "MB", False, 0),
            (
                "peak_rss_mb:gateway",
                "peak RSS gateway (a: jupyter_client process) (MB)",
                "MB",
                False,
                0,
            ),
        ):
            out.append(
                Row(
                    f"{n} busy: {label}",
                    unit,
                    each(lambda r, n=n, w=what: _load_metric(r, n, w)),  # type: ignore[misc]
                    higher_better=higher,
                    digits=digits,
                )
            )
    return out


def metric_labels(workspace_counts: Sequence[int]) -> list[str]:
    return [row.label for row in rows({}, workspace_counts)]


@dataclass
class Target:
    label: str
    measured: float | None
    limit: float
    at_most: bool
    detail: str

    @property
    def verdict(self) -> str:
        if self.measured is None or math.isnan(self.measured):
            return "FAIL (not measured)"
        ok = self.measured <= self.limit if self.at_most else self.measured >= self.limit
        return "PASS" if ok else "FAIL"


TARGET_LABELS = (
    "first-output p50, c/a ≤ 1.5",
    "line-flood throughput, c/a ≥ 0.9",
    "peak RSS bai-lsp during floods ≤ 150 MB",
    "peak RSS gateway during floods ≤ 200 MB",
    "busiest load: probe first-output p99 ≤ 10x single p50",
    # issue 19: the physical limit
    "first-output p50, c/b ≤ 0.8",
    "first-output p99, c/a ≤ 2",
    "block-flood throughput, c/a ≥ 0.5",
    "line-flood throughput, c / faster kernel baseline ≥ 0.9",
    "busiest load: peak RSS bai-lsp ≤ 250 MB",
    "busiest load: peak RSS gateway ≤ 400 MB",
    "busiest load: Jain's fairness of (c) ≥ 0.9",
)


def targets(results: dict[str, dict[str, Any]], workspace_counts: Sequence[int]) -> list[Target]:
    a, b, c = (results.get(k, {}) for k in ("a", "b", "c"))
    c_p50 = _ms(c.get("first_output_s"), 50)
    a_p50 = _ms(a.get("first_output_s"), 50)
    c_lines = _mb_per_s(_flood(c, "lines"))
    a_lines = _mb_per_s(_flood(a, "lines"))
    lsp_peaks = [p for k in ("lines", "block") if (p := _peak(c, k, "bai-lsp")) is not None]
    gw_peaks = [
        p for r in (b, c) for k in ("lines", "block") if (p := _peak(r, k, "gateway")) is not None
    ]
    busiest = max(workspace_counts)
    probe_p99 = _load_metric(c, busiest, "probe_p99") if c else None
    raw_probe_p99 = _load_metric(a, busiest, "probe_p99") if a else None
    b_p50 = _ms(b.get("first_output_s"), 50)
    c_p99 = _ms(c.get("first_output_s"), 99)
    a_p99 = _ms(a.get("first_output_s"), 99)
    c_block = _mb_per_s(_flood(c, "block"))
    a_block = _mb_per_s(_flood(a, "block"))
    kernel_lines = [
        v for v in (a_lines, _mb_per_s(_flood(results.get("a-default", {}), "lines"))) if v
    ]
    fastest_lines = max(kernel_lines) if kernel_lines else None
    load_lsp = _load_metric(c, busiest, "peak_rss_mb:bai-lsp") if c else None
    load_gw = _load_metric(c, busiest, "peak_rss_mb:gateway") if c else None
    load_jain = _load_metric(c, busiest, "jain") if c else None
    return [
        Target(
            TARGET_LABELS[0],
            ratio(c_p50, a_p50),
            1.5,
            True,
            f"c {fmt(c_p50, ' ms')} / a {fmt(a_p50, ' ms')}",
        ),
        Target(
            TARGET_LABELS[1],
            ratio(c_lines, a_lines),
            0.9,
            False,
            f"c {fmt(c_lines, ' MB/s')} / a {fmt(a_lines, ' MB/s')}",
        ),
        Target(
            TARGET_LABELS[2],
            max(lsp_peaks) if lsp_peaks else None,
            150,
            True,
            "max over the line and block floods of (c)",
        ),
        Target(
            TARGET_LABELS[3],
            max(gw_peaks) if gw_peaks else None,
            200,
            True,
            "max over the line and block floods of (b) and (c)",
        ),
        Target(
            TARGET_LABELS[4],
            ratio(probe_p99, c_p50),
            10,
            True,
            f"(c) with {busiest} busy: p99 {fmt(probe_p99, ' ms')} vs single p50 "
            f"{fmt(c_p50, ' ms')}; the raw engine's probe p99 under the same load: "
            f"{fmt(raw_probe_p99, ' ms')} (c/a {fmt(ratio(probe_p99, raw_probe_p99))})",
        ),
        Target(
            TARGET_LABELS[5],
            ratio(c_p50, b_p50),
            0.8,
            True,
            f"c {fmt(c_p50, ' ms')} / b {fmt(b_p50, ' ms')}",
        ),
        Target(
            TARGET_LABELS[6],
            ratio(c_p99, a_p99),
            2,
            True,
            f"c {fmt(c_p99, ' ms')} / a {fmt(a_p99, ' ms')}",
        ),
        Target(
            TARGET_LABELS[7],
            ratio(c_block, a_block),
            0.5,
            False,
            f"c {fmt(c_block, ' MB/s')} / a {fmt(a_block, ' MB/s')}",
        ),
        Target(
            TARGET_LABELS[8],
            ratio(c_lines, fastest_lines),
            0.9,
            False,
            f"c {fmt(c_lines, ' MB/s')} / max(a, a default) {fmt(fastest_lines, ' MB/s')}",
        ),
        Target(
            TARGET_LABELS[9],
            load_lsp,
            250,
            True,
            f"(c) with {busiest} busy",
        ),
        Target(
            TARGET_LABELS[10],
            load_gw,
            400,
            True,
            f"the gateway behind (c) with {busiest} busy",
        ),
        Target(
            TARGET_LABELS[11],
            load_jain,
            0.9,
            False,
            f"per-workspace throughputs of (c) with {busiest} busy",
        ),
    ]


def _cell(value: float | None, unit: str, digits: int) -> str:
    return fmt(value, "", digits)


def render(results: dict[str, dict[str, Any]], workspace_counts: Sequence[int]) -> str:
    lines = [
        "| metric | " + " | ".join(STACK_TITLES[s] for s in STACKS) + " | c/a | c/b |",
        "|---|" + "---:|" * (len(STACKS) + 2),
    ]
    for row in rows(results, workspace_counts):
        values = [_cell(row.values[s], row.unit, row.digits) for s in STACKS]
        c_a = ratio(row.values["c"], row.values["a"])
        c_b = ratio(row.values["c"], row.values["b"])
        lines.append(f"| {row.label} | " + " | ".join(values) + f" | {fmt(c_a)} | {fmt(c_b)} |")
    lines += [
        "",
        "| target | measured | limit | verdict | detail |",
        "|---|---:|---:|---|---|",
    ]
    for target in targets(results, workspace_counts):
        lines.append(
            f"| {target.label} | {fmt(target.measured)} | "
            f"{'≤' if target.at_most else '≥'} {fmt(target.limit)} | {target.verdict} | "
            f"{target.detail} |"
        )
    failures = [
        (name, error.splitlines()[0])
        for name in STACKS
        for key in ("findings", "errors")
        for error in results.get(name, {}).get(key, [])
    ]
    if failures:
        lines += ["", "Scenarios that could not be measured (their rows read n/a):", ""]
        lines += [f"* ({name}) {first.replace('|', '/')}" for name, first in failures]
    retried = [(name, r) for name in STACKS for r in results.get(name, {}).get("retried", [])]
    if retried:
        lines += ["", "Session starts that failed once and were retried:", ""]
        lines += [f"* ({name}) {text.replace('|', '/')[:300]}" for name, text in retried]
    return "\n".join(lines)

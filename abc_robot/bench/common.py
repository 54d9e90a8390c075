"""Shared table/JSON output for every ``abc-bench SUITE``.

Every suite returns a list of :class:`Row`; :func:`report` prints either a rich table
or one JSON object ``{"suite", "machine", "rows": [{"name", "value", "unit", "vs",
"ratio"}]}`` where ``ratio = value / value(vs)`` measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass

import numpy as np

__all__ = ["Row", "report", "machine_description", "percentiles_us"]


@dataclass(frozen=True)
class Row:
    """One measured figure.

    Attributes:
        name: slash-separated row name, e.g. ``ours/small/ipc``.
        value: the figure, in ``unit``.
        unit: ``us``, ``ms``, ``mm``, ``x``, ``hz``...
        vs: name of the baseline row (same run) this row is compared against.
    """

    name: str
    value: float
    unit: str
    vs: str | None = None


def machine_description() -> str:
    """Short description of this machine: CPU model, cores, Python, GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    gpu = os.environ.get("ABC_BENCH_GPU_NAME")
    return f"{desc}, {gpu}" if gpu else desc


def percentiles_us(samples_ns: list[int] | np.ndarray) -> tuple[float, float]:
    """(p50, p99) of nanosecond samples, in microseconds."""
    a = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def _ratios(rows: list[Row]) -> list[dict]:
    by_name = {r.name: r for r in rows}
    out = []
    for r in rows:
        ratio = None
        if r.vs is not None and r.vs in by_name and by_name[r.vs].value:
            ratio = r.value / by_name[r.vs].value
        out.append({"name": r.name, "value": r.value, "unit": r.unit, "vs": r.vs, "ratio": ratio})
    return out


def report(suite: str, rows: list[Row], *, as_json: bool = False, note: str | None = None) -> str:
    """Render ``rows`` as a table (default) or as the one-object JSON form; return the text."""
    items = _ratios(rows)
    if as_json:
        text = json.dumps({"suite": suite, "machine": machine_description(), "rows": items})
        print(text)
        return text
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"abc-bench {suite} — {machine_description()}")
    for col in ("name", "value", "unit", "vs", "ratio"):
        table.add_column(col, justify="right" if col in ("value", "ratio") else "left")
    for it in items:
        ratio = "" if it["ratio"] is None else f"{it['ratio']:.2f}×"
        table.add_row(it["name"], f"{it['value']:.3f}", it["unit"], it["vs"] or "", ratio)
    console = Console(width=120)
    with console.capture() as cap:
        console.print(table)
        if note:
            console.print(note, markup=False)
    text = cap.get()
    print(text, end="")
    return text

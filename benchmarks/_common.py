"""Small helpers shared by the benchmark scripts: machine description, timing, result files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def cpu_name() -> str:
    """The CPU model: ``platform.processor()`` is often empty on Linux, so read /proc/cpuinfo."""
    name = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.machine()


def machine_info() -> dict[str, Any]:
    """Date, host, CPU, Python and library versions, JAX backend and devices."""
    import jax
    import numpy as np

    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
    }
    try:
        import jaxlib

        info["jaxlib"] = jaxlib.__version__
    except ImportError:
        pass
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def command_line() -> str:
    """The command that produced a result file."""
    script = os.path.relpath(sys.argv[0], ROOT) if sys.argv and sys.argv[0] else "?"
    return " ".join(["python", script, *sys.argv[1:]])


def best_time(fn: Callable[[], Any], *, min_repeats: int = 3, max_repeats: int = 200, budget_s: float = 1.5) -> tuple[float, list[float]]:
    """Best wall time of ``fn()`` over several repeats (at least ``min_repeats``, at most
    ``max_repeats``, stopping early once ``budget_s`` has been spent)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_repeats and time.perf_counter() - start > budget_s:
            break
    return min(times), times


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], markdown: str, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Writes ``<name>.json`` and ``<name>.md`` under ``benchmarks/results`` (or ``out_dir``)."""
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return json_path, md_path


def run_line(meta: dict[str, Any]) -> str:
    """One line saying when, where and how a result was made: date, CPU, command, duration."""
    return (f"{meta['date']} · {meta['processor']} ({meta['cpu_count']} cores) · command: `{meta['command']}` · "
            f"{meta['total_time_s']:.0f} s")

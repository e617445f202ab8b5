"""Peak memory of a whole minimize run against the budget: it must not grow with it.

Each budget runs in a fresh process (shifted 10-D Rastrigin, batch 4096, method auto,
device path) and reports its peak resident memory (ru_maxrss). History and solver
state have a fixed capacity, so only the best-so-far curve (one float per batch)
grows with the budget.

    python benchmarks/memory.py [--budgets 1000000 10000000 100000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import command_line, machine_info, markdown_table, write_results  # noqa: E402

CHILD = """
import json, resource, sys, time
import arqon_jax as aj
from arqon_jax.functions import make_problem
p = make_problem("rastrigin", 10, seed=0)
t = time.perf_counter()
r = aj.minimize(p.f, p.bounds, budget=int(sys.argv[1]), batch_size=4096, seed=0)
print(json.dumps({"nfev": r.nfev, "gap": r.fun - p.f_opt, "strategy": r.decision.get("strategy"),
                  "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[10**6, 10**7])
    args = ap.parse_args()
    rows, cells = [], []
    for budget in args.budgets:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(budget)], capture_output=True, text=True, check=True)
        cell = json.loads(out.stdout.strip().splitlines()[-1]) | {"budget": budget, "wall_s": time.perf_counter() - t}
        cells.append(cell)
        rows.append([f"{budget:,}", cell["nfev"], cell["strategy"], f"{cell['gap']:.3g}", f"{cell['seconds']:.1f}", f"{cell['peak_rss_mb']:.0f}"])
        print(rows[-1], flush=True)
    info = machine_info()
    md = "\n".join([
        "# Peak memory against the budget (10-D Rastrigin, batch 4096, device path)",
        "",
        f"{info['date']} · {info['processor']} · command: `{command_line()}`",
        "",
        markdown_table(["budget", "nfev", "strategy", "f - f*", "run s", "peak RSS MB"], rows),
        "",
    ])
    write_results("memory", {"meta": info, "cells": cells}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

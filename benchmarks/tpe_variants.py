"""TPE variants: joint (multivariate) against independent per-dimension densities, and bandwidths.

Budget 100, batch 10, shifted test functions in 5 and 10 dimensions, median f - f*
over 4 seeds; the last column is the geometric mean of the gaps relative to the first
variant (below 1 is better). The defaults in ``arqon_jax/core/strategies/tpe.py`` come from
this table.

    python benchmarks/tpe_variants.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arqon_jax as aj  # noqa: E402
from arqon_jax.functions import make_problem  # noqa: E402
from arqon_jax.host.device import device_runner  # noqa: E402
from benchmarks._common import command_line, machine_info, markdown_table, write_results  # noqa: E402

FUNCTIONS = ["sphere", "rosenbrock", "rastrigin", "ackley", "levy", "styblinski_tang", "griewank", "schwefel"]
VARIANTS = [
    ("multivariate, 0.2", (("multivariate", True),)),
    ("independent, 0.25", (("multivariate", False), ("bandwidth", 0.25))),
    ("independent, 0.15", (("multivariate", False), ("bandwidth", 0.15))),
    ("independent, 0.1 (default)", (("multivariate", False), ("bandwidth", 0.1))),
]


def main() -> int:
    rows, cells = [], []
    for dim in (5, 10):
        problems = [make_problem(n, dim, seed=77) for n in FUNCTIONS]
        base = None
        for label, opts in VARIANTS:
            gaps = []
            for p in problems:
                solver = aj.make_solver(aj.Space.from_bounds(p.bounds), 100, 10, method="tpe", strategy_options=(("tpe", opts),))
                run = device_runner(p.f, solver)
                consts = solver.space.unit_constants(solver.dtype)
                gaps.append(float(np.median([float(run(jax.random.key(s), consts)[0].best_y) - p.f_opt for s in range(4)])))
            g = np.maximum(np.asarray(gaps), 1e-12)
            base = g if base is None else base
            ratio = float(np.exp(np.mean(np.log(g / base))))
            cells.append({"dim": dim, "variant": label, "gaps": dict(zip(FUNCTIONS, gaps)), "ratio": ratio})
            rows.append([dim, label, *[f"{v:.3g}" for v in gaps], f"{ratio:.2f}"])
            print(rows[-1], flush=True)
    info = machine_info()
    md = "\n".join([
        "# TPE variants (budget 100, batch 10, median f - f* over 4 seeds)",
        "",
        f"{info['date']} · {info['processor']} · command: `{command_line()}`",
        "",
        markdown_table(["dim", "variant", *FUNCTIONS, "geo-mean vs first"], rows),
        "",
    ])
    write_results("tpe_variants", {"meta": info, "cells": cells}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

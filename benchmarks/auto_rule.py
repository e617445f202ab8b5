"""The evidence behind ``method="auto"``'s rule: batched Nelder-Mead against TPE.

For shifted test functions in 2, 5 and 10 dimensions and budgets 100 to 125 * dim (batch 10),
runs both refine strategies after the same probe and reports which wins, next to the
probe's rank fitness-distance correlation. The rule in ``arqon_jax/core/solver.py``
(Nelder-Mead only when the refine budget reaches ``NM_EVALS_PER_DIM * dim``) comes
from this table.

    python benchmarks/auto_rule.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arqon_jax as aj  # noqa: E402
from arqon_jax.functions import make_problem  # noqa: E402
from arqon_jax.core.solver import NM_EVALS_PER_DIM  # noqa: E402
from benchmarks._common import command_line, machine_info, markdown_table, write_results  # noqa: E402

FUNCTIONS = ["sphere", "rosenbrock", "levy", "ackley", "styblinski_tang", "rastrigin"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    rows, cells = [], []
    agree = 0
    for name in FUNCTIONS:
        for dim in (2, 5, 10):
            p = make_problem(name, dim, seed=1234 + dim)
            for budget in sorted({100, 20 * dim, 50 * dim, 125 * dim}):
                gap, stat = {}, []
                for m in ("tpe", "nelder-mead"):
                    rs = [aj.minimize(p.f, p.bounds, budget=budget, batch_size=10, method=m, seed=s) for s in range(args.seeds)]
                    gap[m] = float(np.median([r.fun - p.f_opt for r in rs]))
                    stat += [r.decision["statistic"] for r in rs]
                refine = budget - aj.make_solver(aj.Space.from_bounds(p.bounds), budget, 10).probe_count
                rule = "nelder-mead" if refine >= NM_EVALS_PER_DIM * dim else "tpe"
                winner = "nelder-mead" if gap["nelder-mead"] < gap["tpe"] else "tpe"
                agree += rule == winner
                cells.append({"function": name, "dim": dim, "budget": budget, "statistic": float(np.median(stat)),
                              "tpe": gap["tpe"], "nelder_mead": gap["nelder-mead"], "winner": winner, "rule": rule})
                rows.append([name, dim, budget, f"{np.median(stat):.2f}", f"{gap['tpe']:.3g}", f"{gap['nelder-mead']:.3g}",
                             winner, rule])
                print(" ".join(str(v) for v in rows[-1]), flush=True)
    info = machine_info()
    md = "\n".join([
        "# auto rule: batched Nelder-Mead against TPE after the same probe",
        "",
        f"{info['date']} · {info['processor']} · command: `{command_line()}` · median f - f* over {args.seeds} seeds, batch 10",
        "",
        markdown_table(["function", "dim", "budget", "rank FDC", "tpe", "nelder-mead", "winner", "auto rule picks"], rows),
        "",
        f"The rule (Nelder-Mead when the refine budget >= {NM_EVALS_PER_DIM} * dim) agrees with the winner in "
        f"{agree} of {len(cells)} cells.",
        "",
    ])
    write_results("auto_rule", {"meta": info, "cells": cells, "agreement": agree}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

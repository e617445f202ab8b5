"""The evidence behind ``method="auto"``'s budget rule on BBOB, with TPE's quadratic rows.

Forces each of auto's candidate refine strategies (TPE with its quadratic rows,
batched Nelder-Mead, the CMA-ES portfolio) through ``arqon_jax.minimize`` with
default arguments otherwise (the default probe, batch and polish) on the 24 noiseless
BBOB functions (``ioh``), instances 1..N with seed ``i``, at budgets where the rule
in ``arqon_jax/core/solver.py`` switches, and reports the median best ``f - f*`` per
function, which strategy wins each function (medians within 1e-8 of each other, or
both below 1e-8, tie), and what ``auto`` picks for the cell.

    python benchmarks/auto_rule_bbob.py          # 2-D at 1000, 2000; 5-D and 10-D at 500, 1000
    python benchmarks/auto_rule_bbob.py --cells 5:500 --instances 2 --name auto_rule_bbob_smoke  # a smoke run

Writes benchmarks/results/<name>.{json,md,png} (``--name`` defaults to auto_rule_bbob).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import command_line, machine_info, markdown_table, run_line, write_results  # noqa: E402
from benchmarks.bbob_small import Objective, run_arqon  # noqa: E402

METHODS = ("tpe", "nelder-mead", "cmaes")
CELLS = "2:1000,2:2000,5:500,5:1000,10:500,10:1000"
TIE = 1e-8


def winners(meds: dict[str, float]) -> list[str]:
    """The methods whose median is the best, within ``TIE``."""
    best = min(meds.values())
    return [m for m, v in meds.items() if v - best <= TIE or v < TIE]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", default=CELLS, help="dim:budget pairs")
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--functions", default="1-24")
    ap.add_argument("--name", default="auto_rule_bbob")
    args = ap.parse_args()
    import arqon_jax
    from arqon_jax.core.solver import make_solver
    from arqon_jax.core.space import Space

    warnings.filterwarnings("ignore")
    lo, hi = (int(v) for v in args.functions.split("-")) if "-" in args.functions else (int(args.functions),) * 2
    fids = list(range(lo, hi + 1))
    cells_arg = [tuple(int(v) for v in c.split(":")) for c in args.cells.split(",")]
    t0 = time.time()
    cells = []
    for dim, budget in cells_arg:
        auto = make_solver(Space.from_bounds([(-5.0, 5.0)] * dim), budget,
                           arqon_jax.default_batch_size(budget, dim, wide=False))
        gaps = {m: {} for m in METHODS}
        seconds = {}
        for m in METHODS:
            run_arqon(Objective(1, dim, 1), budget, 12345, m)  # compiles outside the timing
            t = time.time()
            for fid in fids:
                gaps[m][fid] = []
                for inst in range(1, args.instances + 1):
                    obj = Objective(fid, dim, inst)
                    run_arqon(obj, budget, inst, m)
                    gaps[m][fid].append(obj.gap(budget))
            seconds[m] = time.time() - t
            print(f"{dim}-D budget {budget} {m}: {seconds[m]:.0f} s", flush=True)
        rows = []
        for fid in fids:
            meds = {m: float(np.median(gaps[m][fid])) for m in METHODS}
            rows.append({"fid": fid, "medians": meds, "winners": winners(meds)})
        wins = {m: sum(m in r["winners"] and len(r["winners"]) == 1 for r in rows) for m in METHODS}
        cells.append({"dim": dim, "budget": budget, "auto": list(auto.strategy_names), "rule": auto.rule,
                      "gaps": {m: {str(f): g for f, g in gaps[m].items()} for m in METHODS},
                      "rows": rows, "sole_wins": wins, "seconds": seconds})
        print(f"{dim}-D budget {budget}: sole wins {wins}; auto -> {auto.strategy_names}", flush=True)
    info = machine_info()
    info.update(command=command_line(), total_time_s=time.time() - t0)
    lines = ["# auto's budget rule on BBOB: TPE (with its quadratic rows) vs Nelder-Mead vs CMA-ES", "",
             run_line(info), "",
             f"Each strategy forced with `arqon_jax.minimize(f, bounds, budget=..., seed=i, method=...)`, default "
             f"arguments otherwise; BBOB functions {lo}-{hi} (ioh), instances 1-{args.instances}; median best f - f* "
             f"per function. A sole win: the only median within {TIE:g} of the best.", "",
             markdown_table(["dim", "budget", *(f"{m} sole wins" for m in METHODS), "auto picks", "auto's rule"],
                            [[c["dim"], c["budget"], *(c["sole_wins"][m] for m in METHODS), "+".join(c["auto"]),
                              c["rule"]] for c in cells]), ""]
    for c in cells:
        lines += [f"## {c['dim']}-D, budget {c['budget']}", "",
                  markdown_table(["f", *METHODS, "best"],
                                 [[r["fid"], *(f"{r['medians'][m]:.3g}" for m in METHODS), ", ".join(r["winners"])]
                                  for r in c["rows"]]), ""]
    write_results(args.name, {"meta": info, "instances": args.instances, "cells": cells}, "\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = np.arange(len(cells))
    for i, m in enumerate(METHODS):
        ax.bar(xs + (i - 1) * 0.27, [c["sole_wins"][m] for c in cells], 0.27, label=m)
    ax.set_xticks(xs, [f"{c['dim']}-D / {c['budget']}" for c in cells])
    ax.set_ylabel(f"BBOB functions won (of {len(fids)})")
    ax.set_title("Forced refine strategies, default arguments otherwise")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "benchmarks" / "results" / f"{args.name}.png", dpi=110)


if __name__ == "__main__":
    main()

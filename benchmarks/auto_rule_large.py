"""The evidence behind ``method="auto"`` picking CMA-ES for large budgets.

Runs auto's candidate refine strategies (TPE, batched Nelder-Mead, the CMA-ES
portfolio), each forced after the same probe, on shifted test functions in 2, 5 and 10
dimensions at budgets 20 dim .. 10^5 with ``batch = default_batch_size(budget)`` (the
batch a user gets by default), in float64, and reports the median final gap
``f - f*`` over seeds. No gradient polish (this measures the strategies alone).

One compiled program per (dim, budget, method): the functions are mapped onto the
unit cube and selected with ``lax.switch`` on a traced index, and (function, seed)
pairs are ``vmap``-ed, so the grid costs 45 compilations instead of one per cell.

    python benchmarks/auto_rule_large.py [--seeds 3] [--quick]

Writes benchmarks/results/auto_cmaes_rule.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arqon_jax.functions import make_problem  # noqa: E402
from arqon_jax.core.solver import (CMAES_EVALS_PER_DIM, CMAES_MIN_REFINE, PROBE_RATIO, default_batch_size,  # noqa: E402
                                   make_solver)
from arqon_jax.core.space import Space  # noqa: E402
from benchmarks._common import command_line, machine_info, markdown_table, write_results  # noqa: E402

FUNCTIONS = ["sphere", "ellipsoid", "rosenbrock", "rastrigin", "ackley"]
METHODS = ("tpe", "nelder-mead", "cmaes")
BUDGETS = (1_000, 3_000, 10_000, 30_000, 100_000)
#: Also budgets of k * dim, to find the crossover per dimension.
PER_DIM = (20, 50, 100, 200, 500)
#: TPE's cost grows with budget x history capacity (15 vmapped 2-D runs took 180 s at
#: 3*10^4 on this shared machine) and it already loses by orders of magnitude at 10^4.
TPE_MAX_BUDGET = 10_000
DIMS = (2, 5, 10)


def unit_objectives(dim: int, seed: int = 0):
    """The shifted problems as functions of the unit cube (one space for all of them)."""
    fns, probs = [], []
    for name in FUNCTIONS:
        p = make_problem(name, dim, seed=seed + 17 * dim)
        lo, hi = np.asarray(p.bounds[:, 0]), np.asarray(p.bounds[:, 1])

        def g(u, p=p, lo=lo, hi=hi):
            x = jnp.asarray(lo, u.dtype) + u * jnp.asarray(hi - lo, u.dtype)
            return p.f(x) - p.f_opt  # the gap itself (f_opt is exact)

        fns.append(g)
        probs.append(p)
    return fns, probs


def runner(dim: int, budget: int, method: str, fns):
    """A jitted ``run(keys (n,), fidx (n,)) -> best gaps (n,)``."""
    space = Space.from_bounds([(0.0, 1.0)] * dim)
    batch = default_batch_size(budget)
    solver = make_solver(space, budget, batch, method=method)
    n_full, rem = divmod(budget, batch)
    assert rem == 0, (budget, batch)

    def run(key, fidx):
        def body(state, _):
            X, state = solver.ask(state)
            y = jax.lax.switch(fidx, fns, space.from_unit(X))
            return solver.tell(state, X, y), None

        state, _ = jax.lax.scan(body, solver.init(key), None, length=n_full)
        return state.best_y

    return jax.jit(jax.vmap(run)), batch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="dims 2 and 10, budgets 1e3, 1e4, 1e5, 2 seeds")
    ap.add_argument("--tpe-max-budget", type=int, default=TPE_MAX_BUDGET, help="largest budget TPE is run at")
    args = ap.parse_args()
    dims, budgets, per_dim, seeds = DIMS, BUDGETS, PER_DIM, args.seeds
    if args.quick:
        dims, budgets, per_dim, seeds = (2, 10), (1_000, 10_000, 100_000), (50, 200), min(seeds, 2)
    jax.config.update("jax_enable_x64", True)
    cells, rows = [], []
    # Finished (dim, budget, method) results, so an interrupted run can resume.
    cache_path = Path(__file__).resolve().parent / "results" / f"auto_cmaes_rule.partial-s{seeds}.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for dim in dims:
        fns, probs = unit_objectives(dim)
        nf = len(fns)
        fidx = jnp.repeat(jnp.arange(nf), seeds)
        for budget in sorted(set(budgets) | {k * dim for k in per_dim}):
            gaps, secs, per_seed = {}, {}, {}
            for method in METHODS:
                if method == "tpe" and budget > args.tpe_max_budget:
                    gaps[method], secs[method] = np.full(nf, np.nan), 0.0
                    continue
                tag = f"{dim}-{budget}-{method}"
                batch = default_batch_size(budget)
                if tag not in cache:
                    run, batch = runner(dim, budget, method, fns)
                    keys = jax.random.split(jax.random.key(budget + dim), nf * seeds)
                    t0 = time.perf_counter()
                    best = np.asarray(run(keys, fidx), np.float64).reshape(nf, seeds)
                    cache[tag] = {"best": best.tolist(), "seconds": time.perf_counter() - t0}
                    cache_path.write_text(json.dumps(cache))
                secs[method] = cache[tag]["seconds"]
                per_seed[method] = np.maximum(np.asarray(cache[tag]["best"]), 0.0)
                gaps[method] = np.median(per_seed[method], axis=1)
                print(f"dim {dim} budget {budget} batch {batch} {method:12s} {secs[method]:6.1f}s "
                      + " ".join(f"{g:.3g}" for g in gaps[method]), flush=True)
            for i, name in enumerate(FUNCTIONS):
                vals = {m: float(gaps[m][i]) for m in METHODS}
                ran = [m for m in METHODS if not np.isnan(vals[m])]
                best = min(vals[m] for m in ran)
                winner = min(ran, key=lambda m: (vals[m], METHODS.index(m)))
                # "CMA-ES is as good": equal to the best, or both below 1e-8 (solved).
                cma_ok = vals["cmaes"] <= best or vals["cmaes"] < 1e-8
                cells.append({"function": name, "dim": dim, "budget": budget, "batch": batch,
                              "budget_per_dim": budget // dim, **vals, "winner": winner, "cmaes_as_good": cma_ok,
                              "seconds": secs,
                              "per_seed": {m: per_seed[m][i].tolist() for m in per_seed}})
                rows.append([name, dim, budget, budget // dim, batch]
                            + [f"{vals[m]:.3g}" if not np.isnan(vals[m]) else "not run" for m in METHODS]
                            + [winner, "yes" if cma_ok else "no"])
    elapsed = sum(v["seconds"] for k, v in cache.items() if int(k.split("-")[0]) in dims)  # incl. earlier runs

    # Scan of simple rules "refine budget >= max(K dim, M)" (refine = budget - probe = 0.8 budget here).
    scan_k, scan_m = (20, 30, 40, 50, 75, 100), (0, 200, 400, 800, 1600)
    scan = [[k] + [sum((0.8 * c["budget"] >= max(k * c["dim"], m)) == (c["winner"] == "cmaes") for c in cells)
                   for m in scan_m] for k in scan_k]

    # Per (dim, budget): in how many cells is CMA-ES the winner / as good, and what does
    # the rule in arqon_jax/core/solver.py pick there?
    summary, agree, n_cells = [], 0, 0
    for dim in dims:
        for budget in sorted({c["budget"] for c in cells if c["dim"] == dim}):
            sub = [c for c in cells if c["dim"] == dim and c["budget"] == budget]
            space = Space.from_bounds([(0.0, 1.0)] * dim)
            picks = make_solver(space, budget, default_batch_size(budget)).strategy_names == ("cmaes",)
            wins = sum(c["winner"] == "cmaes" for c in sub)
            # The rule agrees with a cell when it picks CMA-ES where CMA-ES wins, and not where it loses.
            agree += sum((c["winner"] == "cmaes") == picks for c in sub)
            n_cells += len(sub)
            summary.append([dim, budget, budget // dim, len(sub), wins, sum(c["cmaes_as_good"] for c in sub),
                            "cmaes" if picks else "tpe / nelder-mead"])
    info = machine_info()
    md = "\n".join([
        "# auto rule for large budgets: TPE vs Nelder-Mead vs CMA-ES after the same probe",
        "",
        f"{info['date']} · {info['processor']} ({info['cpu_count']} cores, shared) · command: `{command_line()}` · "
        f"float64 · median f - f* over {seeds} seeds · batch = default_batch_size(budget) · no polish · "
        f"{elapsed:.0f} s of runs (compile + run, summed over cells)",
        "",
        "Shifted problems (`make_problem(name, dim, seed=17 dim)`); each method forced after auto's probe "
        f"({PROBE_RATIO:.0%} of the budget). `cmaes as good` = CMA-ES's median equals the best of those run "
        "or is below 1e-8. "
        f"TPE is not run above budget {args.tpe_max_budget} (its cost grows with budget x history capacity; "
        "it is far behind from 10^4 on).",
        "",
        markdown_table(["function", "dim", "budget", "budget/dim", "batch", *METHODS, "winner", "cmaes as good"], rows),
        "",
        "## By dimension and budget, and what the rule picks",
        "",
        markdown_table(["dim", "budget", "budget/dim", "functions", "cmaes wins", "cmaes as good", "auto rule picks"],
                       summary),
        "",
        f"Rule (arqon_jax/core/solver.py): CMA-ES when the refine budget (budget - probe) >= max({CMAES_EVALS_PER_DIM} dim, "
        f"{CMAES_MIN_REFINE}) and the batch holds a default CMA-ES population (4 + 3 ln dim) and no dimension is "
        f"categorical. It agrees with the winner in {agree} of {n_cells} cells.",
        "",
        "Cells where each rule `refine >= max(K dim, M)` agrees with the winner (CMA-ES picked where it wins, "
        "not picked where it loses):",
        "",
        markdown_table(["K \\ M", *scan_m], scan),
        "",
    ])
    write_results("auto_cmaes_rule", {"meta": info, "seeds": seeds, "cells": cells, "summary": summary, "rule_agreement": [agree, n_cells],
                                      "rule_scan": {"K": scan_k, "M": scan_m, "agree": scan},
                                      "elapsed_s": elapsed}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Large budgets (issue 4): quality, wall time and throughput against the peers.

Three parts, side by side in one run on this machine:

* **quality**: shipped test functions, shifted and shifted+rotated
  (``make_problem(name, dim, rotate=True)``), budget ``10^4 dim``, float64, median
  final ``f - f*`` over seeds (the problem instance is fixed per function and
  variant, the optimizer seed varies). arqon_jax runs ``minimize`` with its
  defaults (``method="auto"``, which picks CMA-ES here, and the gradient polish)
  at batch 512 in 10-D and 1024 in 20-D (on rastrigin 10-D, batch 256 solved 3 of 6
  runs, 512-2048 all 6: the largest CMA-ES population of the portfolio matters there,
  the polish finishes the smooth functions). Peers: pycma ``cma.fmin2``
  with IPOP restarts (``restarts=9, incpopsize=2``, bounds, random ``x0`` per
  restart, ``sigma0 = 0.3 (high - low)``), scipy ``differential_evolution``
  (``vectorized=True``, popsize 15, ``polish=False``, ``tol=0`` so it uses the
  budget), evosax ``CMA_ES`` (one run, population = arqon's batch, points
  clipped to the box) and uniform random search.
* **wall time**: the same runs; arqon_jax is timed on a second, compiled call
  (the compile time is reported separately), pycma on every run.
* **throughput**: evaluations per second on Rastrigin (float32) of the whole
  ``minimize(method="cmaes")`` loop, of evosax's CMA-ES loop (``CMA_ES``; its
  separable ``Sep_CMA_ES`` at dim 1000, where arqon_jax also switches to the
  diagonal variant) as one jitted ``lax.scan`` with the same batch and f, and of
  the "hardware limit": a jitted loop that only samples uniform points and
  evaluates f.

    python benchmarks/large_budget.py --quick     # 10-D, 3 seeds, 6 functions, small throughput grid
    python benchmarks/large_budget.py             # 10-D and 20-D, 5 seeds, all functions, full grid
    python benchmarks/large_budget.py --parts throughput

Writes benchmarks/results/<name>.{json,md,png} (``--name``, default large_budget) and
a log. ``--merge a,b,...`` combines earlier result files into one report and plot.
CPU only here: GPU figures are not part of these runs.

On record (2 shared cores; each part run separately, then merged into large_budget.md):
quality in 10-D (all 9 functions, shifted and rotated, 3 seeds: ``--quick --functions
...``, large_budget_quality) and 20-D (3 seeds, large_budget_quality_d20), both from
before issue 14's loop rework; throughput (issue 14, ``OPENBLAS_NUM_THREADS=1``, see
results/large_budget_throughput_before_after.md) for dim 10 and 100 at batch 4096 and
16384 with the breakdown (large_budget_throughput) and dim 1000 at batch 4096 and 16384
(large_budget_throughput_d1000). Not run: 5 seeds, dim 1000 x 65536, GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import arqon_jax as aj  # noqa: E402
from arqon_jax import functions as F  # noqa: E402
from arqon_jax.functions import make_problem  # noqa: E402
from arqon_jax.core.strategies.cmaes import portfolio_lambdas  # noqa: E402
from benchmarks._common import RESULTS, command_line, machine_info, markdown_table, write_results  # noqa: E402

ALL_FUNCTIONS = ["sphere", "ellipsoid", "rosenbrock", "rastrigin", "ackley", "griewank", "levy", "styblinski_tang",
                 "schwefel"]
QUICK_FUNCTIONS = ["sphere", "ellipsoid", "rosenbrock", "rastrigin", "ackley", "levy"]
SOLVED = 1e-8
PEERS = ("arqon_jax", "pycma_ipop", "scipy_de", "evosax_cmaes", "random")


# ------------------------------------------------------------------- quality
def _gap(v, f_opt):
    return max(float(v) - f_opt, 0.0)


def run_arqon(p, budget, batch, seed):
    kw = dict(budget=budget, batch_size=batch, seed=seed, x64=True)
    t = time.perf_counter()
    r = aj.minimize(p.f, p.bounds, **kw)
    first = time.perf_counter() - t
    t = time.perf_counter()
    r2 = aj.minimize(p.f, p.bounds, **kw)  # compiled: the run time alone
    wall = time.perf_counter() - t
    assert r2.fun == r.fun  # deterministic
    pol = r.info.get("polish", {})
    return {"gap": _gap(r.fun, p.f_opt), "nfev": r.nfev, "wall_s": wall, "first_call_s": first,
            "strategy": r.decision.get("strategy"), "polish_before_gap": _gap(pol["before"], p.f_opt) if "before" in pol
            else None, "polish_evals": pol.get("evaluations", 0)}


def _jit_f(p):
    jf = jax.jit(p.f)
    return lambda X: np.asarray(jf(jnp.asarray(X, jnp.float64)), np.float64)


def run_pycma(p, budget, seed):
    import cma

    f = _jit_f(p)
    lo, hi = p.bounds[:, 0], p.bounds[:, 1]
    rng = np.random.default_rng(1000 + seed)
    seen = {"n": 0, "best": math.inf}

    def par(X):
        y = f(np.asarray(X))
        room = max(0, budget - seen["n"])  # evaluations past the budget do not count
        if room:
            seen["best"] = min(seen["best"], float(np.min(y[:room])))
        seen["n"] += len(y)
        return list(y)

    opts = {"bounds": [lo.tolist(), hi.tolist()], "maxfevals": budget, "seed": seed + 1, "verbose": -9,
            "verb_log": 0, "verb_disp": 0}
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cma.fmin2(None, lambda: rng.uniform(lo, hi), 0.3 * float(np.mean(hi - lo)), opts, restarts=9, incpopsize=2,
                  parallel_objective=par)
    return {"gap": _gap(seen["best"], p.f_opt), "nfev": seen["n"], "wall_s": time.perf_counter() - t}


def run_de(p, budget, seed):
    from scipy.optimize import differential_evolution

    f = _jit_f(p)
    dim = p.dim
    pop = 15 * dim
    maxiter = budget // pop - 1
    rows = [0]

    def fv(X):  # scipy passes (dim, S) and counts calls, not rows, in nfev
        rows[0] += X.shape[1]
        return f(X.T)

    t = time.perf_counter()
    r = differential_evolution(fv, list(map(tuple, p.bounds)), vectorized=True, updating="deferred",
                               popsize=15, maxiter=maxiter, tol=0.0, atol=0.0, polish=False, seed=seed)
    return {"gap": _gap(r.fun, p.f_opt), "nfev": rows[0], "wall_s": time.perf_counter() - t}


def _evosax_runner(f, lo, hi, dim, pop, gens, sep=False, sigma=None):
    from evosax.algorithms import CMA_ES, Sep_CMA_ES

    es = (Sep_CMA_ES if sep else CMA_ES)(population_size=pop, solution=jnp.zeros(dim))
    params = es.default_params
    if sigma is not None:
        params = params.replace(std_init=jnp.asarray(sigma))
    lo_a, hi_a = jnp.asarray(lo), jnp.asarray(hi)

    def run(key):
        k0, k1, k2 = jax.random.split(key, 3)
        mean = lo_a + jax.random.uniform(k0, (dim,), lo_a.dtype) * (hi_a - lo_a)
        state = es.init(k1, mean, params)

        def body(carry, k):
            state, best = carry
            ka, kt = jax.random.split(k)
            X, state = es.ask(ka, state, params)
            y = f(jnp.clip(X, lo_a, hi_a))
            state, _ = es.tell(kt, X, y, state, params)
            return (state, jnp.minimum(best, jnp.min(y))), None

        (state, best), _ = jax.lax.scan(body, (state, jnp.asarray(jnp.inf, lo_a.dtype)), jax.random.split(k2, gens))
        return best

    return jax.jit(run)


def run_evosax(p, budget, batch, seed):
    lo, hi = p.bounds[:, 0], p.bounds[:, 1]
    run = _evosax_runner(p.f, lo, hi, p.dim, batch, budget // batch, sigma=0.3 * float(np.mean(hi - lo)))
    best = float(run(jax.random.key(seed)))  # compile + run
    t = time.perf_counter()
    best = float(run(jax.random.key(seed)))
    return {"gap": _gap(best, p.f_opt), "nfev": (budget // batch) * batch, "wall_s": time.perf_counter() - t}


def run_random(p, budget, batch, seed):
    lo, hi = jnp.asarray(p.bounds[:, 0]), jnp.asarray(p.bounds[:, 1])
    n = budget // batch

    @jax.jit
    def run(key):
        def body(best, k):
            y = p.f(lo + jax.random.uniform(k, (batch, p.dim), lo.dtype) * (hi - lo))
            return jnp.minimum(best, jnp.min(y)), None

        best, _ = jax.lax.scan(body, jnp.asarray(jnp.inf, lo.dtype), jax.random.split(key, n))
        return best

    best = float(run(jax.random.key(seed)))
    return {"gap": _gap(best, p.f_opt), "nfev": n * batch, "wall_s": math.nan}


def quality(dims, functions, seeds, batch_for, peers, log):
    jax.config.update("jax_enable_x64", True)
    cells = []
    for dim in dims:
        budget = 10_000 * dim
        batch = batch_for(dim)
        for name in functions:
            for rotate in (False, True):
                p = make_problem(name, dim, rotate=rotate, seed=1)
                runs = {m: [] for m in peers}
                for seed in range(seeds):
                    for m in peers:
                        if m == "arqon_jax":
                            out = run_arqon(p, budget, batch, seed)
                        elif m == "pycma_ipop":
                            out = run_pycma(p, budget, seed)
                        elif m == "scipy_de":
                            out = run_de(p, budget, seed)
                        elif m == "evosax_cmaes":
                            out = run_evosax(p, budget, batch, seed)
                        else:
                            out = run_random(p, budget, batch, seed)
                        runs[m].append(out)
                        log(f"{p.name} budget {budget} batch {batch} seed {seed} {m}: gap {out['gap']:.3g} "
                            f"nfev {out['nfev']} wall {out['wall_s']:.2f}s"
                            + (f" (first call {out['first_call_s']:.1f}s, {out['strategy']}, "
                               f"before polish {out['polish_before_gap']})" if m == "arqon_jax" else ""))
                cells.append({"problem": p.name, "function": name, "dim": dim, "rotated": rotate, "budget": budget,
                              "batch": batch, "runs": runs,
                              "median_gap": {m: float(np.median([r["gap"] for r in runs[m]])) for m in peers},
                              "solved": {m: sum(r["gap"] < SOLVED for r in runs[m]) for m in peers},
                              "median_wall_s": {m: float(np.median([r["wall_s"] for r in runs[m]])) for m in peers}})
    jax.config.update("jax_enable_x64", False)
    return cells


# ---------------------------------------------------------------- throughput
def throughput(dims, batches, log, max_evals=2**26, repeats=3):
    """Evaluations/s of the limit, our ``minimize`` loop and evosax's loop.

    Each is compiled first, then timed ``repeats`` times, interleaved (limit, ours,
    evosax, limit, ...), keeping the best time of each: on a shared machine the best of
    a few interleaved runs is the least disturbed estimate, and all three see the same
    load.
    """
    import os

    jax.config.update("jax_enable_x64", False)
    rows = []
    for dim in dims:
        lo, hi = -5.12, 5.12
        bounds = np.tile([lo, hi], (dim, 1))
        for batch in batches:
            n = int(np.clip(max_evals // (batch * dim), 8, 256))
            budget = n * batch

            # Hardware limit: sample uniform points and evaluate f, nothing else.
            @jax.jit
            def limit(key, batch=batch, n=n, dim=dim):
                def body(best, k):
                    y = F.rastrigin(lo + jax.random.uniform(k, (batch, dim)) * (hi - lo))
                    return jnp.minimum(best, jnp.min(y)), None

                return jax.lax.scan(body, jnp.inf, jax.random.split(key, n))[0]

            ev = _evosax_runner(F.rastrigin, np.full(dim, lo), np.full(dim, hi), dim, batch, n, sep=dim > 100,
                                sigma=0.3 * (hi - lo))

            def run_limit(seed):
                t = time.perf_counter()
                jax.block_until_ready(limit(jax.random.key(seed)))
                return time.perf_counter() - t

            def run_arqon(seed):
                t = time.perf_counter()
                r = aj.minimize(F.rastrigin, bounds, budget=budget, batch_size=batch, method="cmaes", seed=seed)
                return r.info["wall_time_s"], time.perf_counter() - t, r

            def run_evosax(seed):
                t = time.perf_counter()
                jax.block_until_ready(ev(jax.random.key(seed)))
                return time.perf_counter() - t

            run_limit(0), run_arqon(0), run_evosax(0)  # compile
            t_limit = t_loop = t_call = t_evo = math.inf
            for rep in range(repeats):
                t_limit = min(t_limit, run_limit(rep + 1))
                loop, call, r = run_arqon(rep + 1)
                t_loop, t_call = min(t_loop, loop), min(t_call, call)
                t_evo = min(t_evo, run_evosax(rep + 1))
            row = {"dim": dim, "batch": batch, "batches": n, "evaluations": budget, "repeats": repeats,
                   "limit_eps": budget / t_limit, "arqon_loop_eps": budget / t_loop, "arqon_call_eps": budget / t_call,
                   "evosax_eps": budget / t_evo, "evosax_variant": "Sep_CMA_ES" if dim > 100 else "CMA_ES",
                   "polish": r.info["polish"].get("evaluations", 0),
                   "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}
            row["arqon_vs_limit"] = row["arqon_loop_eps"] / row["limit_eps"]
            row["arqon_vs_evosax"] = row["arqon_loop_eps"] / row["evosax_eps"]
            rows.append(row)
            log(f"throughput dim {dim} batch {batch} x {n}: limit {row['limit_eps']:.3g}/s arqon loop "
                f"{row['arqon_loop_eps']:.3g}/s ({row['arqon_vs_limit']:.0%} of limit) call {row['arqon_call_eps']:.3g}/s"
                f" evosax {row['evosax_eps']:.3g}/s ({row['arqon_vs_evosax']:.2f}x)")
    return rows


# ----------------------------------------------------------------- breakdown
def breakdown(dims, batch, log, n=32):
    """Milliseconds per batch of the pieces of the device loop (where the time goes)."""
    from arqon_jax.core.history import history_init, history_insert
    from arqon_jax.core.solver import make_solver
    from arqon_jax.core.strategies.base import Geometry
    from arqon_jax.core.strategies.cmaes import make_cmaes

    jax.config.update("jax_enable_x64", False)
    rows = []
    for dim in dims:
        space = aj.Space.from_bounds([(-5.12, 5.12)] * dim)
        h0 = history_init(2048, dim, jnp.float32)
        keys = jax.random.split(jax.random.key(0), n)

        def ms(fn):
            jf = jax.jit(fn)
            jax.block_until_ready(jf(keys))
            t = time.perf_counter()
            jax.block_until_ready(jf(keys))
            return (time.perf_counter() - t) / n * 1e3

        def limit(ks):
            def body(b, k):
                return jnp.minimum(b, F.rastrigin(space.from_unit(jax.random.uniform(k, (batch, dim)))).min()), None
            return jax.lax.scan(body, jnp.inf, ks)[0]

        def with_history(ks):
            def body(h, k):
                X = jax.random.uniform(k, (batch, dim))
                return history_insert(h, X, F.rastrigin(space.from_unit(X)), jnp.ones(batch, bool)), None
            return jax.lax.scan(body, h0, ks)[0].y[0]

        def strategy(strat):
            def run(ks):
                def body(st, k):
                    X, st = strat.ask(st, k, h0)
                    return strat.tell(st, k, X, F.rastrigin(space.from_unit(X)), jnp.ones(batch, bool), h0), None
                return jax.lax.scan(body, strat.init(ks[0], h0), ks)[0].best_y
            return run

        solver = make_solver(space, n * batch, batch, method="cmaes", probe_ratio=1e-9)  # one probe batch

        def full(ks):
            def body(st, _):
                X, st = solver.ask(st)
                return solver.tell(st, X, F.rastrigin(space.from_unit(X))), None
            return jax.lax.scan(body, solver.init(ks[0]), None, length=n)[0].best_y

        geo = Geometry.continuous(dim)
        portfolio = make_cmaes(geo, batch)
        row = {"dim": dim, "batch": batch, "limit_ms": ms(limit), "uniform_f_history_ms": ms(with_history),
               "cmaes_portfolio_ms": ms(strategy(portfolio)),
               "cmaes_one_instance_ms": ms(strategy(make_cmaes(geo, batch, n_instances=1))),
               "solver_cmaes_ms": ms(full), "portfolio_lambdas": list(portfolio_lambdas(dim, batch))}
        rows.append(row)
        log(f"breakdown dim {dim} batch {batch}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                                               for k, v in row.items()))
    return rows


# ---------------------------------------------------------------------- report
def _fmt(v):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2g}"


def report(args, info, cells, tput, elapsed, brk=()):
    lines = ["# Large budgets: quality, wall time and throughput (issue 4)", "",
             f"{info['date']} · {info['processor']} ({info['cpu_count']} cores, shared with other jobs: load average "
             f"{info.get('load_average', ['?'])[0]}) · jax {info['jax']} ({info['jax_backend']}) · command: "
             f"`{command_line()}` · {elapsed:.0f} s in all", "",
             "**No GPU in this run**: all figures are CPU figures; GPU throughput figures are still missing.", ""]
    if cells:
        peers = list(cells[0]["median_gap"])
        seeds = len(cells[0]["runs"][peers[0]])
        lines += ["## Quality: median f - f* (float64), budget 10^4 dim", "",
                  f"{seeds} seeds (optimizer seeds 0..{seeds - 1}) per problem; problem instance `make_problem(name, dim, "
                  f"rotate=..., seed=1)`; `(k/{seeds})` = runs with f - f* < {SOLVED:g}. arqon_jax: "
                  "`minimize(f, bounds, budget, batch_size, x64=True)` (auto + polish).", ""]
        rows = []
        for c in cells:
            row = [c["problem"], c["batch"]]
            for m in peers:
                row.append(f"{_fmt(c['median_gap'][m])} ({c['solved'][m]}/{seeds})")
            rows.append(row)
        lines += [markdown_table(["problem", "batch", *peers], rows), ""]
        # Goals.
        cma_solved = [c for c in cells if c["solved"].get("pycma_ipop", 0) * 2 > seeds]
        ours_too = [c for c in cma_solved if c["solved"]["arqon_jax"] * 2 > seeds]
        rast = [c for c in cells if c["function"] == "rastrigin"]
        lines += ["### Goals", "",
                  f"- Solve (majority of seeds below {SOLVED:g}) every problem pycma-IPOP solves: "
                  f"{len(ours_too)} of {len(cma_solved)}"
                  + (f" (missed: {', '.join(c['problem'] for c in cma_solved if c not in ours_too)})"
                     if len(ours_too) < len(cma_solved) else "") + ".",
                  "- Better than pycma-IPOP on rastrigin: " + "; ".join(
                      f"{c['problem']}: {_fmt(c['median_gap']['arqon_jax'])} vs {_fmt(c['median_gap']['pycma_ipop'])}"
                      for c in rast) + ".", ""]
        # Wall time.
        wrows = []
        ratios = []
        for c in cells:
            a = c["median_wall_s"]["arqon_jax"]
            pc = c["median_wall_s"].get("pycma_ipop")
            first = float(c["runs"]["arqon_jax"][0]["first_call_s"])  # seed 0: compiles
            ratio = a / pc if pc else math.nan
            ratios.append(ratio)
            wrows.append([c["problem"], f"{a:.2f}", f"{first:.1f}", f"{pc:.1f}" if pc else "-", f"{ratio:.3f}",
                          f"{c['median_wall_s'].get('scipy_de', math.nan):.1f}",
                          f"{c['median_wall_s'].get('evosax_cmaes', math.nan):.2f}"])
        lines += ["## Wall time per run (median, seconds)", "",
                  "arqon_jax: a compiled call (`minimize` again with the same arguments), and the first call of seed 0 "
                  "(compilation + run; later seeds reuse the compiled program); evosax: compiled run.", "",
                  markdown_table(["problem", "arqon_jax", "arqon_jax first call", "pycma_ipop", "arqon/pycma",
                                  "scipy_de", "evosax_cmaes"], wrows), "",
                  f"Goal arqon/pycma <= 0.1: median ratio {np.nanmedian(ratios):.3f}, worst {np.nanmax(ratios):.3f} "
                  "(compiled calls; first calls include 5-30 s of compilation on this loaded machine).", ""]
    if tput:
        trows = [[r["dim"], r["batch"], r["evaluations"], f"{r['limit_eps']:.3g}", f"{r['arqon_loop_eps']:.3g}",
                  f"{r['arqon_vs_limit']:.0%}", f"{r['arqon_call_eps']:.3g}", f"{r['evosax_eps']:.3g}",
                  r["evosax_variant"], f"{r['arqon_vs_evosax']:.2f}"] for r in tput]
        lines += ["## Throughput on Rastrigin (float32, evaluations per second)", "",
                  "limit: jitted loop that samples uniform points and evaluates f; arqon loop: "
                  "`minimize(method=\"cmaes\")` (probe, CMA-ES portfolio, history, gradient polish) from "
                  "`info['wall_time_s']`; arqon call: the whole `minimize` call; evosax: its CMA-ES ask/clip/f/tell "
                  "in one jitted `lax.scan`.", "",
                  markdown_table(["dim", "batch", "evals", "limit", "arqon loop", "loop/limit", "arqon call", "evosax",
                                  "evosax variant", "arqon/evosax"], trows), ""]
        ok = [r for r in tput if r["batch"] >= 4096 and r["dim"] in (10, 100)]
        lines += [f"Goal loop >= 50% of the limit at batch >= 4096, dim 10 and 100: "
                  f"{sum(r['arqon_vs_limit'] >= 0.5 for r in ok)} of {len(ok)} configurations; "
                  f"faster than evosax: {sum(r['arqon_vs_evosax'] > 1 for r in tput)} of {len(tput)}.", ""]
    if brk:
        lines += ["## Where the time goes (ms per batch, Rastrigin, float32)", "",
                  "limit: uniform sample + f; +history: the same plus `history_insert` (capacity 2048); CMA-ES "
                  "portfolio / one instance: the strategy's ask + f + tell without history; solver: "
                  "`make_solver(method=\"cmaes\")` ask + f + tell (history, best tracking).", "",
                  markdown_table(["dim", "batch", "limit", "+history", "CMA-ES portfolio", "lambdas",
                                  "CMA-ES 1 instance", "solver"],
                                 [[r["dim"], r["batch"], f"{r['limit_ms']:.2f}", f"{r['uniform_f_history_ms']:.2f}",
                                   f"{r['cmaes_portfolio_ms']:.2f}", r["portfolio_lambdas"],
                                   f"{r['cmaes_one_instance_ms']:.2f}", f"{r['solver_cmaes_ms']:.2f}"] for r in brk]),
                  ""]
    return "\n".join(lines)


def plot(cells, tput, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = int(bool(cells)) + int(bool(tput))
    if not n:
        return
    fig, axes = plt.subplots(1, n, figsize=(7 * n, 4.8), squeeze=False)
    ax_i = 0
    if cells:
        ax = axes[0, ax_i]
        ax_i += 1
        peers = list(cells[0]["median_gap"])
        width = 0.8 / len(peers)
        x = np.arange(len(cells))
        for i, m in enumerate(peers):
            vals = [max(c["median_gap"][m], 1e-16) for c in cells]
            ax.bar(x + i * width, vals, width, label=m)
        ax.set_yscale("log")
        ax.axhline(SOLVED, color="k", lw=0.8, ls="--")
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([c["problem"].replace("-shift", "").replace("-s1", "") for c in cells], rotation=60,
                           ha="right", fontsize=7)
        ax.set_ylabel("median f - f* (floored at 1e-16)")
        ax.set_title("quality at budget 10^4 dim (float64)")
        ax.legend(fontsize=7)
    if tput:
        ax = axes[0, ax_i]
        for dim, color in zip(sorted({r["dim"] for r in tput}), ("C0", "C1", "C2", "C3")):
            rs = [r for r in tput if r["dim"] == dim]
            b = [r["batch"] for r in rs]
            ax.plot(b, [r["limit_eps"] for r in rs], color=color, ls=":", marker=".", label=f"limit d={dim}")
            ax.plot(b, [r["arqon_loop_eps"] for r in rs], color=color, ls="-", marker="o", label=f"arqon d={dim}")
            ax.plot(b, [r["evosax_eps"] for r in rs], color=color, ls="--", marker="x", label=f"evosax d={dim}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch")
        ax.set_ylabel("evaluations / s")
        ax.set_title("Rastrigin throughput (CPU, float32)")
        ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10-D, 3 seeds, 6 functions, small throughput grid")
    ap.add_argument("--parts", default="quality,throughput,breakdown")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--dims", default=None, help="quality dims, e.g. 10,20")
    ap.add_argument("--functions", default=None, help="comma-separated quality functions")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--tput-dims", default=None)
    ap.add_argument("--tput-batches", default=None)
    ap.add_argument("--name", default="large_budget", help="result file stem")
    ap.add_argument("--merge", default=None,
                    help="comma-separated result stems (e.g. large_budget_quality,large_budget_throughput) to "
                         "combine into --name without running anything")
    args = ap.parse_args()
    if args.merge:
        cells, tput, brk, metas = [], [], [], []
        for stem in args.merge.split(","):
            doc = json.loads((RESULTS / f"{stem}.json").read_text())
            cells += doc.get("quality", [])
            tput += doc.get("throughput", [])
            brk += doc.get("breakdown", [])
            cmd = doc["meta"].get("command") or ("python benchmarks/large_budget.py " + " ".join(
                f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in doc.get("args", {}).items()
                if v not in (None, False)))
            metas.append({"stem": stem, "date": doc["meta"]["date"], "command": cmd,
                          "load_average": doc["meta"].get("load_average"), "elapsed_s": doc.get("elapsed_s")})
        info = machine_info()
        md = report(args, info, cells, tput, sum(m["elapsed_s"] or 0 for m in metas), brk)
        md += "\n## Runs merged here\n\n" + "\n".join(
            f"- `{m['stem']}`: {m['date']}, `{m['command']}`, load average {m['load_average']}, {m['elapsed_s']:.0f} s"
            for m in metas) + "\n"
        write_results(args.name, {"meta": info, "merged": metas, "quality": cells, "throughput": tput,
                                  "breakdown": brk}, md)
        plot(cells, tput, RESULTS / f"{args.name}.png")
        print(md)
        return 0
    parts = set(args.parts.split(","))
    seeds = args.seeds or (3 if args.quick else 5)
    dims = [int(d) for d in args.dims.split(",")] if args.dims else ([10] if args.quick else [10, 20])
    functions = args.functions.split(",") if args.functions else (QUICK_FUNCTIONS if args.quick else ALL_FUNCTIONS)
    peers = tuple(args.peers.split(","))
    tdims = [int(d) for d in args.tput_dims.split(",")] if args.tput_dims else [10, 100, 1000]
    tbatches = ([int(b) for b in args.tput_batches.split(",")] if args.tput_batches
                else ([1024, 4096, 16384] if args.quick else [1024, 4096, 16384, 65536]))
    log_path = RESULTS / f"{args.name}.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    logf = open(log_path, "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    t0 = time.perf_counter()
    cells = quality(dims, functions, seeds, lambda d: 512 if d <= 10 else 1024, peers, log) if "quality" in parts else []
    tput = throughput(tdims, tbatches, log) if "throughput" in parts else []
    brk = breakdown([10, 100], 4096, log) if "breakdown" in parts else []
    elapsed = time.perf_counter() - t0
    info = machine_info()
    info["command"] = command_line()
    md = report(args, info, cells, tput, elapsed, brk)
    for c in cells:  # keep the JSON small: per-run details stay, plus the medians
        c["runs"] = {m: [{k: v for k, v in r.items()} for r in rs] for m, rs in c["runs"].items()}
    write_results(args.name, {"meta": info, "args": vars(args), "quality": cells, "throughput": tput,
                              "breakdown": brk, "elapsed_s": elapsed}, md)
    plot(cells, tput, RESULTS / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

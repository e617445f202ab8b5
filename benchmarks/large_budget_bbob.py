"""BBOB (issue 14): arqon_jax with default arguments against pycma IPOP, scipy DE and evosax.

COCO's 24 noiseless BBOB functions from ``ioh`` (an independent implementation), in
``--dim`` dimensions, budget ``10^4 dim``, ``--instances`` instances, one optimizer seed
per instance. The objective is a host (numpy) function of a batch, so ``minimize`` takes
its host path. Configurations:

* ``arqon_default``: ``aj.minimize(f, bounds, budget=budget, seed=...)``, nothing else;
* ``arqon_batch<N>``: the same with ``batch_size=N``, to measure what the default batch
  size decides; a ``_x64`` suffix (``arqon_default_x64``, ``arqon_batch100_x64``) adds
  ``x64=True``: by default the solver ranks float32 values, which cannot resolve
  ``f - f* < 1e-8`` when ``|f*|`` is ~100 (BBOB's optimal values are);
* ``pycma_ipop``: ``cma.fmin2`` with IPOP restarts (``restarts=9, incpopsize=2``), bounds,
  a uniform random ``x0`` per restart, ``sigma0 = 0.3 (high - low)``, evaluations past
  the budget not counted;
* ``scipy_de``: ``scipy.optimize.differential_evolution`` (vectorized, population
  ``15 dim``, ``tol=0``, no polish, as many generations as the budget holds);
* ``evosax_cmaes``: evosax's ``CMA_ES`` with Hansen's default population, one run without
  restarts, ``std_init = 0.3 (high - low)``, a uniform random mean, a host loop of jitted
  ``ask``/``tell`` in float64 (the objective is numpy); evosax has no bound handling, so
  its points are evaluated unclipped (BBOB functions are defined everywhere; clipping
  made flat plateaus on which its step size collapsed, 9.4 on f1);
* ``arqon_device``: the device path, ``aj.minimize(f, bounds, budget=budget, seed=...)``
  with a JAX objective: evosax's JAX implementation of the same 24 functions
  (``evosax.problems.bbob``; its own random instances, ``f_opt = 0`` so that float32,
  the device path's default, resolves ``f - f* < 1e-8``); ``arqon_device_batch<N>`` the
  same with ``batch_size=N``.

Reported: problems solved (``f - f* < 1e-8``), mean ``log10(max(f - f*, 1e-8))`` and the
median wall time per run (arqon: compiled; the first run of a configuration is timed again,
later ones reuse its compiled programs).

    python benchmarks/large_budget_bbob.py --dim 10 --instances 1
    python benchmarks/large_budget_bbob.py --dim 10 --instances 1 --configs arqon_default,arqon_batch100
    python benchmarks/large_budget_bbob.py --dim 10 --instances 3 \
        --configs arqon_default,pycma_ipop,scipy_de,evosax_cmaes,arqon_device

Writes benchmarks/results/<name>.{json,md} and a log (``--name``, default large_budget_bbob_d<dim>).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import arqon_jax as aj  # noqa: E402
from benchmarks._common import RESULTS, command_line, machine_info, markdown_table, write_results  # noqa: E402

SOLVED = 1e-8


class Objective:
    """A batch numpy objective over one ioh problem that records the best gap within the budget."""

    def __init__(self, fid, instance, dim, budget):
        import ioh

        self.p = ioh.get_problem(fid, instance, dim)
        self.f_opt = float(self.p.optimum.y)
        self.budget = budget
        self.n = 0
        self.best = math.inf

    def __call__(self, X):
        X = np.atleast_2d(np.asarray(X, np.float64))
        y = np.asarray(self.p(X), np.float64).reshape(len(X))
        room = max(0, self.budget - self.n)
        if room:
            self.best = min(self.best, float(np.min(y[:room])) - self.f_opt)
        self.n += len(X)
        return y


def run_arqon(fid, inst, dim, budget, seed, batch, x64=False):
    kw = {} if batch is None else {"batch_size": batch}
    if x64:
        kw["x64"] = True
    bounds = [(-5.0, 5.0)] * dim
    obj = Objective(fid, inst, dim, budget)
    t = time.perf_counter()
    r = aj.minimize(obj, bounds, budget=budget, seed=seed, **kw)
    wall = time.perf_counter() - t
    gap = max(min(obj.best, float(r.fun) - obj.f_opt), 0.0)
    return {"gap": gap, "nfev": obj.n, "wall_s": wall, "batch": r.info["batch_size"],
            "strategy": r.decision.get("strategy"), "x64": r.info.get("x64")}


def device_objective(fid, instance, dim):
    """BBOB function ``fid`` as a JAX batch objective (evosax's implementation), ``f* = 0``."""
    import jax
    import jax.numpy as jnp
    from evosax.problems.bbob.bbob_fns import bbob_fns
    from evosax.problems.bbob.meta_bbob import MetaBBOBProblem

    name = list(bbob_fns)[fid - 1]
    meta = MetaBBOBProblem(fn_names=[name], min_num_dims=dim, max_num_dims=dim)
    p = meta.sample_params(jax.random.key(1000 * fid + instance))
    fn = bbob_fns[name]

    def one(x):
        val, pen = fn(x, p.x_opt.astype(x.dtype), p.R.astype(x.dtype), p.Q.astype(x.dtype), dim)
        return val + pen

    return lambda X: jax.vmap(one)(jnp.asarray(X))


def run_arqon_device(fid, inst, dim, budget, seed, batch=None):
    f = device_objective(fid, inst, dim)
    bounds = [(-5.0, 5.0)] * dim
    kw = {} if batch is None else {"batch_size": batch}
    t = time.perf_counter()
    r = aj.minimize(f, bounds, budget=budget, seed=seed, **kw)
    wall = time.perf_counter() - t
    assert r.info["path"] == "device", r.info["path"]
    return {"gap": max(float(r.fun), 0.0), "nfev": int(r.nfev), "wall_s": wall, "batch": r.info.get("batch_size"),
            "strategy": r.decision.get("strategy")}


def run_de(fid, inst, dim, budget, seed):
    from scipy.optimize import differential_evolution

    obj = Objective(fid, inst, dim, budget)
    pop = 15 * dim
    t = time.perf_counter()
    differential_evolution(lambda X: obj(X.T), [(-5.0, 5.0)] * dim, vectorized=True, updating="deferred",
                           popsize=15, maxiter=budget // pop - 1, tol=0.0, atol=0.0, polish=False, seed=seed)
    return {"gap": max(obj.best, 0.0), "nfev": obj.n, "wall_s": time.perf_counter() - t}


def run_evosax(fid, inst, dim, budget, seed):
    import jax
    import jax.numpy as jnp
    from evosax.algorithms import CMA_ES

    from arqon_jax.core.strategies.cmaes import default_lambda

    obj = Objective(fid, inst, dim, budget)
    lam = default_lambda(dim)
    t = time.perf_counter()
    with jax.enable_x64(True):
        es = CMA_ES(population_size=lam, solution=jnp.zeros(dim))
        params = es.default_params.replace(std_init=jnp.asarray(3.0))
        ask, tell = jax.jit(es.ask), jax.jit(es.tell)
        k0, k1, key = jax.random.split(jax.random.key(seed), 3)
        state = es.init(k1, jax.random.uniform(k0, (dim,), minval=-5.0, maxval=5.0), params)
        for _ in range(budget // lam):
            key, ka, kt = jax.random.split(key, 3)
            X, state = ask(ka, state, params)
            y = obj(np.asarray(X))
            state, _ = tell(kt, X, jnp.asarray(y), state, params)
    return {"gap": max(obj.best, 0.0), "nfev": obj.n, "wall_s": time.perf_counter() - t}


def run_pycma(fid, inst, dim, budget, seed):
    import cma

    obj = Objective(fid, inst, dim, budget)
    rng = np.random.default_rng(1000 + seed)
    lo, hi = -5.0, 5.0
    opts = {"bounds": [lo, hi], "maxfevals": budget, "seed": seed + 1, "verbose": -9, "verb_log": 0,
            "verb_disp": 0}
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cma.fmin2(None, lambda: rng.uniform(lo, hi, dim), 0.3 * (hi - lo), opts, restarts=9, incpopsize=2,
                  parallel_objective=lambda X: list(obj(np.asarray(X))))
    return {"gap": max(obj.best, 0.0), "nfev": obj.n, "wall_s": time.perf_counter() - t}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--functions", default=",".join(str(i) for i in range(1, 25)))
    ap.add_argument("--configs", default="arqon_default,pycma_ipop")
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    dim, budget = args.dim, 10_000 * args.dim
    fids = [int(f) for f in args.functions.split(",")]
    configs = args.configs.split(",")
    name = args.name or f"large_budget_bbob_d{dim}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    logf = open(RESULTS / f"{name}.log", "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    t0 = time.perf_counter()
    runs = []
    # Interleaved (each problem runs every configuration in turn), so that the load of a
    # shared machine weighs on all of them alike.
    for fid in fids:
        for inst in range(1, args.instances + 1):
            for cfg in configs:
                seed = inst - 1
                if cfg == "pycma_ipop":
                    out = run_pycma(fid, inst, dim, budget, seed)
                elif cfg == "scipy_de":
                    out = run_de(fid, inst, dim, budget, seed)
                elif cfg == "evosax_cmaes":
                    out = run_evosax(fid, inst, dim, budget, seed)
                elif cfg.startswith("arqon_device"):
                    batch = int(cfg.removeprefix("arqon_device_batch")) if "_batch" in cfg else None
                    out = run_arqon_device(fid, inst, dim, budget, seed, batch)
                    # Every objective is a new program to compile: time each run again.
                    out["first_call_s"] = out["wall_s"]
                    out["wall_s"] = run_arqon_device(fid, inst, dim, budget, seed, batch)["wall_s"]
                else:
                    x64 = cfg.endswith("_x64")
                    base = cfg.removesuffix("_x64")
                    batch = None if base == "arqon_default" else int(base.removeprefix("arqon_batch"))
                    out = run_arqon(fid, inst, dim, budget, seed, batch, x64)
                    if not any(r["config"] == cfg for r in runs):  # the first run compiles: time a second one
                        out["first_call_s"] = out["wall_s"]
                        out["wall_s"] = run_arqon(fid, inst, dim, budget, seed, batch, x64)["wall_s"]
                out.update(config=cfg, fid=fid, instance=inst)
                runs.append(out)
                log(f"{cfg} f{fid} i{inst}: gap {out['gap']:.3g} nfev {out['nfev']} wall {out['wall_s']:.2f}s"
                    + (f" batch {out['batch']} {out['strategy']}" if cfg.startswith("arqon") else ""))
    rows, per_fn = [], []
    for cfg in configs:
        rs = [r for r in runs if r["config"] == cfg]
        first = [r["first_call_s"] for r in rs if "first_call_s" in r]
        rows.append([cfg, f"{sum(r['gap'] < SOLVED for r in rs)} of {len(rs)}",
                     f"{np.mean([math.log10(max(r['gap'], SOLVED)) for r in rs]):.2f}",
                     f"{np.median([r['wall_s'] for r in rs]):.2f}",
                     f"{np.median(first):.2f}" if len(first) > 1 else f"{first[0]:.2f} (first run)" if first else ""])
    for fid in fids:
        per_fn.append([f"f{fid}"] + [
            " ".join(f"{r['gap']:.1e}" for r in runs if r["config"] == cfg and r["fid"] == fid) for cfg in configs])
    info = machine_info()
    elapsed = time.perf_counter() - t0
    md = "\n".join([
        f"# BBOB {dim}-D, budget 10^4 dim, "
        + ("JAX objective (device path)" if all(c.startswith("arqon_device") for c in configs)
           else "host (numpy) objective" + (", and a JAX one for arqon_device" if any(
               c.startswith("arqon_device") for c in configs) else "")), "",
        f"{info['date']} · {info['processor']} ({info['cpu_count']} cores, shared: load average "
        f"{info.get('load_average', ['?'])[0]}) · command: `{command_line()}` · {elapsed:.0f} s in all", "",
        f"ioh BBOB functions {fids[0]}-{fids[-1]}, instances 1..{args.instances} (optimizer seed = instance - 1). "
        f"Solved: f - f* < {SOLVED:g}; mean log10 of max(f - f*, {SOLVED:g}). Wall: median per run "
        "(arqon: compiled calls; 'with compile': a call that compiles, every device run, the first host run). "
        "arqon_device runs evosax's JAX implementation of the functions (its own instances, f* = 0).", "",
        markdown_table(["config", "solved", "mean log10(f - f*)", "median wall s", "with compile s"], rows), "",
        "## f - f* per function (one value per instance)", "",
        markdown_table(["function", *configs], per_fn), ""])
    write_results(name, {"meta": info, "args": vars(args), "runs": runs, "elapsed_s": elapsed}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

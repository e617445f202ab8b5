"""BBOB at small budgets: answers per evaluation, default arguments, side by side.

All 24 noiseless BBOB functions (``ioh``'s implementation of COCO's suite), 5-D at
budget 100 and 10-D at budget 200, instances 1..N (instance ``i`` runs with seed
``i``). Every optimizer runs with its default arguments: ``arqon_jax.minimize(f,
bounds, budget=...)`` (auto, and forced ``method="gp"`` / ``method="tpe"`` rows),
Nevergrad's NGOpt, Optuna's TPESampler and GPSampler, uniform random search, and
ArqonHPO 0.3.3 (``arqonhpo``: Python 3.12 only, run in ``benchmarks/.peer_env`` made by
``benchmarks/setup_peer_env.sh`` plus ``pip install ioh``; its evaluations beyond the
budget are not counted).

Reported: the median over instances of the best ``f - f*`` per function, the rank of
each optimizer per function (ties share the mean rank), the mean rank over the 24
functions, and the optimizer time per trial (wall time minus objective time, over
evaluations; arqon_jax's compilation is excluded by one warm-up run per dimension
and reported apart).

    python benchmarks/bbob_small.py                                  # everything
    python benchmarks/bbob_small.py --instances 2 --functions 1,8 --optimizers arqon_auto,random --out /tmp/b  # a smoke run
    python benchmarks/bbob_small.py --optimizers optuna_gp --gp-instances 2 --name bbob_small_optuna_gp
    python benchmarks/bbob_small.py --optimizers arqon_auto,optuna_gp --dims 5:300,10:300 --instances 1 --name bbob_small_time_300  # time per trial at budget 300

Writes <out>/<name>.{json,md} and <name>.png (``--out`` defaults to benchmarks/results,
``--name`` to bbob_small); ``--merge a.json b.json`` combines runs of disjoint optimizers into one
table.

The default batch of ``minimize`` against another (``default_batch_size``'s measurement),
for ``auto``, the forced-method rows ``arqon_neldermead`` / ``arqon_cmaes`` and
``arqon_ask_one`` (the seed's ``ArqonSolver.ask_one`` loop, default config), none of
them part of a default run, compared run by run on the same instances::

    python benchmarks/bbob_small.py --optimizers arqon_neldermead,arqon_cmaes,arqon_ask_one --instances 10 --batch-size 10 --name bbob_small_batch10 --out /tmp/b
    python benchmarks/bbob_small.py --optimizers arqon_neldermead,arqon_cmaes,arqon_ask_one --instances 10 --name bbob_small_batch_default --out /tmp/b

``--suite bbob-mixint`` runs COCO's mixed-integer suite instead (``coco-experiment``'s
``cocoex``; Tusar et al. 2019, "A suite of mixed-integer black-box optimization
problems", GECCO): the same 24 functions with 80% of the variables integer (in 5-D,
4 of 5, of 2, 4, 8 and 16 values; in 10-D, 8 of 10), which every optimizer is told
(arqon_jax: integer scales; Optuna: ``suggest_int``; NGOpt: integer-cast scalars;
random: integers). f* is the value at cocoex's own optimum (``_best_parameter``).
ArqonHPO is left out there (its integer handling is not measured here).

    python benchmarks/bbob_small.py --suite bbob-mixint --optimizers arqon_auto,arqon_gp,ngopt,optuna_tpe,random --name bbob_mixint
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import command_line, machine_info, run_line, write_results  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ALL = ["arqon_auto", "arqon_gp", "arqon_tpe", "ngopt", "optuna_tpe", "optuna_gp", "arqonhpo", "random"]
# Forced-method rows, only on request (--optimizers): they measure a default (the batch)
# for methods auto may pick, not an optimizer of the comparison.
EXTRA = ["arqon_neldermead", "arqon_cmaes", "arqon_ask_one"]
BATCH = [None]  # --batch-size for the arqon_jax rows (None: their default)


SUITE = ["bbob"]  # set by --suite


class Objective:
    """One BBOB problem instance, counting evaluations and the time spent in them.

    ``n_int``: the first ``n_int`` variables are integers (bbob-mixint; 0 for bbob).
    """

    def __init__(self, fid, dim, instance):
        if SUITE[0] == "bbob-mixint":
            self.p, self.f_opt = _mixint_problem(fid, dim, instance)
            self.n_int = int(self.p.number_of_integer_variables)
            self.bounds = np.stack([self.p.lower_bounds, self.p.upper_bounds], 1)
        else:
            import ioh

            self.p = ioh.get_problem(fid, instance=instance, dimension=dim, problem_class=ioh.ProblemClass.BBOB)
            self.f_opt = float(self.p.optimum.y)
            self.n_int = 0
            self.bounds = np.stack([self.p.bounds.lb, self.p.bounds.ub], 1)
        self.seconds, self.calls, self.trace = 0.0, 0, []

    def point(self, x):
        t = time.perf_counter()
        x = np.asarray(x, np.float64)
        if self.n_int:
            # An optimizer that was told the integers must give them.
            assert np.all(x[: self.n_int] == np.round(x[: self.n_int])), f"non-integer values: {x}"
            v = float(self.p(x))
        else:
            v = float(self.p(x.tolist()))
        self.seconds += time.perf_counter() - t
        self.calls += 1
        self.trace.append(v)
        return v

    def batch(self, X):
        return np.array([self.point(x) for x in np.asarray(X)])

    def gap(self, budget):
        vals = np.asarray(self.trace[:budget])
        return float(np.min(vals) - self.f_opt) if len(vals) else math.inf


def _mixint_problem(fid, dim, instance):
    """A bbob-mixint problem and its f*, the value at cocoex's recorded optimum."""
    import os
    import tempfile

    import cocoex

    suite = cocoex.Suite("bbob-mixint", "", f"dimensions: {dim} function_indices: {fid} instance_indices: {instance}")
    p = suite[0]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # cocoex writes the optimum to a file in the working directory
        try:
            p._best_parameter("print")
            x_opt = np.loadtxt("._bbob_problem_best_parameter.txt", ndmin=1)
        finally:
            os.chdir(cwd)
    return p, float(p(x_opt))


def _scales(obj):
    return ["integer"] * obj.n_int + ["linear"] * (len(obj.bounds) - obj.n_int)


def run_arqon(obj, budget, seed, method):
    import arqon_jax

    r = arqon_jax.minimize(obj.batch, arqon_jax.Space.from_bounds(obj.bounds.tolist(), scale=_scales(obj)),
                           budget=budget, seed=seed, method=method, batch_size=BATCH[0])
    return {"strategy": r.decision.get("strategy")}


def run_arqon_ask_one(obj, budget, seed):
    """The seed's ArqonSolver loop: ask_one, evaluate, tell one result (default config: float32)."""
    import arqon_jax

    names = [f"x{i}" for i in range(len(obj.bounds))]
    bounds = {n: {"min": float(lo), "max": float(hi), **({"scale": "Integer"} if i < obj.n_int else {})}
              for i, (n, (lo, hi)) in enumerate(zip(names, obj.bounds))}
    config = {"seed": seed, "budget": budget, "bounds": bounds}
    if BATCH[0] is not None:
        config["batch_size"] = BATCH[0]
    solver = arqon_jax.ArqonSolver(config)
    while (p := solver.ask_one()) is not None:
        solver.tell([{"params": p, "value": obj.point(np.array([p[n] for n in names], np.float64))}])
    return {}


def run_random(obj, budget, seed):
    rng = np.random.default_rng(seed)
    lo, hi = obj.bounds[:, 0], obj.bounds[:, 1]
    k = obj.n_int
    for _ in range(budget):
        x = lo + rng.random(len(lo)) * (hi - lo)
        x[:k] = rng.integers(lo[:k].astype(int), hi[:k].astype(int) + 1)
        obj.point(x)
    return {}


def _optuna(obj, budget, sampler):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lo, hi = obj.bounds[:, 0], obj.bounds[:, 1]
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: obj.point([
        t.suggest_int(f"x{i:02d}", int(lo[i]), int(hi[i])) if i < obj.n_int else t.suggest_float(f"x{i:02d}", lo[i], hi[i])
        for i in range(len(lo))]), n_trials=budget)
    return {}


def run_optuna_tpe(obj, budget, seed):
    import optuna

    return _optuna(obj, budget, optuna.samplers.TPESampler(seed=seed))


def run_optuna_gp(obj, budget, seed):
    import optuna

    return _optuna(obj, budget, optuna.samplers.GPSampler(seed=seed))


def run_ngopt(obj, budget, seed):
    import nevergrad as ng

    lo, hi = obj.bounds[:, 0], obj.bounds[:, 1]
    if obj.n_int:
        param = ng.p.Tuple(*[ng.p.Scalar(lower=lo[i], upper=hi[i]).set_integer_casting() if i < obj.n_int
                             else ng.p.Scalar(lower=lo[i], upper=hi[i]) for i in range(len(lo))])
    else:
        param = ng.p.Array(shape=(len(lo),)).set_bounds(lo, hi)
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.NGOpt(parametrization=param, budget=budget, num_workers=1)
    for _ in range(budget):
        cand = opt.ask()
        opt.tell(cand, obj.point(cand.value))
    return {}


def run_arqonhpo(obj, budget, seed):
    from benchmarks.peers import arqonhpo as peer

    if SUITE[0] != "bbob":
        raise SystemExit("arqonhpo: runs the bbob suite only")
    t = time.perf_counter()
    r = peer.run_job({"kind": "minimize", "bounds": obj.bounds.tolist(), "budget": budget, "seed": seed,
                      "function": f"bbob:{obj.p.meta_data.problem_id}:{obj.p.meta_data.instance}"})
    if r is None:
        raise RuntimeError("ArqonHPO peer environment missing: bash benchmarks/setup_peer_env.sh")
    # The objective ran in the peer process: its running minimum stands in for the trace,
    # and the process start counts as objective time, not as ArqonHPO's.
    obj.trace = list(r["curve"])
    obj.calls = r["nfev"]
    obj.seconds = (time.perf_counter() - t) - r["wall_s"] + r["objective_s"]
    return {}


RUNNERS = {
    "arqon_auto": lambda o, b, s: run_arqon(o, b, s, "auto"),
    "arqon_gp": lambda o, b, s: run_arqon(o, b, s, "gp"),
    "arqon_tpe": lambda o, b, s: run_arqon(o, b, s, "tpe"),
    "arqon_neldermead": lambda o, b, s: run_arqon(o, b, s, "nelder-mead"),
    "arqon_cmaes": lambda o, b, s: run_arqon(o, b, s, "cmaes"),
    "arqon_ask_one": run_arqon_ask_one,
    "ngopt": run_ngopt,
    "optuna_tpe": run_optuna_tpe,
    "optuna_gp": run_optuna_gp,
    "arqonhpo": run_arqonhpo,
    "random": run_random,
}


def ranks(medians: dict[str, float]) -> dict[str, float]:
    """Rank per optimizer (1 = best), ties sharing their mean rank."""
    names = list(medians)
    vals = np.array([medians[n] for n in names])
    out = {}
    for n, v in zip(names, vals):
        below = np.sum(vals < v)
        equal = np.sum(vals == v)
        out[n] = float(below + (equal + 1) / 2)
    return out


def summarize(cells, optimizers):
    summary = {}
    for dim in sorted({c["dim"] for c in cells}):
        cs = [c for c in cells if c["dim"] == dim]
        # Rank among the optimizers that ran every function of this dimension.
        present = [o for o in optimizers if all(o in c["median_gap"] for c in cs)]
        rk = [ranks({o: c["median_gap"][o] for o in present}) for c in cs]
        summary[str(dim)] = {
            "budget": cs[0]["budget"] if cs else None,
            "functions": len(cs),
            "mean_rank": {o: float(np.mean([r[o] for r in rk])) for o in present} if cs else {},
            "time_per_trial_s": {o: float(np.median([c["time_per_trial_s"][o] for c in cs])) for o in present}
            if cs else {},
        }
    return summary


def render(meta, summary, cells, optimizers):
    lines = [
        f"# {meta.get('suite', 'bbob').upper()} at small budgets (default arguments)",
        "",
        run_line(meta),
        "",
        f"Instances per function: {meta.get('first') or meta['instances']}"
        + "".join(f"; {o}: {n}" for o, n in meta.get("instances_per_optimizer", {}).items()),
        "",
        "## Mean rank over the functions (lower is better)",
        "",
        "| dim | budget | functions | " + " | ".join(optimizers) + " |",
        "|---|---|---|" + "---|" * len(optimizers),
    ]
    for dim, s in summary.items():
        lines.append(f"| {dim} | {s['budget']} | {s['functions']} | "
                     + " | ".join(f"{s['mean_rank'].get(o, math.nan):.2f}" for o in optimizers) + " |")
    lines += ["", "## Optimizer time per trial (median over functions; wall minus objective time, s)", "",
              "| dim | " + " | ".join(optimizers) + " |", "|---|" + "---|" * len(optimizers)]
    for dim, s in summary.items():
        lines.append(f"| {dim} | " + " | ".join(f"{s['time_per_trial_s'].get(o, math.nan):.4f}" for o in optimizers) + " |")
    for dim in summary:
        lines += ["", f"## Median best f - f* per function, {dim}-D (**bold**: best)", "",
                  "| f | " + " | ".join(optimizers) + " |", "|---|" + "---|" * len(optimizers)]
        for c in [c for c in cells if str(c["dim"]) == dim]:
            best = min(c["median_gap"].get(o, math.inf) for o in optimizers)
            vals = [c["median_gap"].get(o, math.nan) for o in optimizers]
            lines.append(f"| f{c['fid']} | " + " | ".join(
                f"**{v:.3g}**" if v == best else f"{v:.3g}" for v in vals) + " |")
    if meta.get("compile_s"):
        lines += ["", "arqon_jax warm-up (compilation) per dimension and method, s: "
                  + ", ".join(f"{k}: {v:.1f}" for k, v in meta["compile_s"].items())]
    lines += ["", meta.get("notes", "")]
    return "\n".join(lines)


def plot(summary, optimizers, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 3.5), squeeze=False)
    for ax, (dim, s) in zip(axes.flat, summary.items()):
        vals = [s["mean_rank"].get(o, math.nan) for o in optimizers]
        ax.barh(optimizers, vals, color=["C0" if o.startswith("arqon") else "C7" for o in optimizers])
        ax.invert_yaxis()
        ax.set_xlabel("mean rank over BBOB functions (lower is better)")
        ax.set_title(f"{dim}-D, budget {s['budget']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge(paths, name, first=None, dims=None, concat=False):
    cells, metas = {}, []
    for p in paths:
        data = json.loads(Path(p).read_text())
        metas.append(data["meta"])
        for c in data["cells"]:
            key = (c["fid"], c["dim"])
            cur = cells.setdefault(key, {k: c[k] for k in ("fid", "dim", "budget")} | {
                "median_gap": {}, "time_per_trial_s": {}, "gaps": {}})
            for o, g in c["gaps"].items():
                if concat and o in cur["gaps"]:  # more instances of the same optimizer: pooled
                    cur["gaps"][o] = cur["gaps"][o] + list(g)
                    cur["median_gap"][o] = float(np.median(cur["gaps"][o]))
                    cur["time_per_trial_s"][o] = float(np.mean([cur["time_per_trial_s"][o],
                                                                c["time_per_trial_s"][o]]))
                else:
                    cur["gaps"][o], cur["median_gap"][o] = list(g), c["median_gap"][o]
                    cur["time_per_trial_s"][o] = c["time_per_trial_s"][o]
    suites = {m.get("suite", "bbob") for m in metas}
    if len(suites) > 1:
        raise SystemExit(f"--merge: the files ran different suites {sorted(suites)}")
    cells = sorted((c for c in cells.values() if dims is None or c["dim"] in dims), key=lambda c: (c["dim"], c["fid"]))
    if first:  # the same instances for every optimizer: medians over instances 1..first[dim]
        for c in cells:
            k = first.get(c["dim"], first.get(0))
            c["median_gap"] = {o: float(np.median(g[:k])) for o, g in c["gaps"].items()}
    optimizers = [o for o in ALL + EXTRA if any(o in c["median_gap"] for c in cells)]
    meta = metas[0] | {"command": command_line(), "merged_from": [str(p) for p in paths],
                       "total_time_s": sum(m["total_time_s"] for m in metas),
                       "instances_per_optimizer": {}, "compile_s": {}}
    for m in metas:
        for o in m["optimizers"]:
            n = m["instances"] + (meta["instances_per_optimizer"].get(o, 0) if concat else 0)
            meta["instances_per_optimizer"][o] = min([n, *(first or {}).values()])
        # A file's warm-up times count for the optimizers it holds: a peers file can carry
        # stale times of arqon runs removed from it.
        meta["compile_s"].update({k: v for k, v in m.get("compile_s", {}).items()
                                  if k.split(" ")[0] in m["optimizers"]})
    meta["notes"] = " ".join(dict.fromkeys(m.get("notes", "") for m in metas if m.get("notes")))
    meta["optimizers"] = optimizers
    meta["instances"] = min(meta["instances_per_optimizer"].values())
    if first:
        meta["first"] = ", ".join(f"{f'{d}-D' if d else 'every dimension'}: instances 1-{k}" for d, k in first.items())
        meta["instances_per_optimizer"] = {}
    return meta, cells, optimizers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=5)
    ap.add_argument("--first-instance", type=int, default=1,
                    help="instances first..first+N-1 (a check on instances the defaults were not chosen on)")
    ap.add_argument("--gp-instances", type=int, default=None, help="instances for optuna_gp (slow)")
    ap.add_argument("--functions", default="1-24")
    ap.add_argument("--suite", default="bbob", choices=["bbob", "bbob-mixint"])
    ap.add_argument("--dims", default="5:100,10:200", help="dim:budget pairs")
    ap.add_argument("--optimizers", default=None,
                    help=f"comma-separated, of {','.join(ALL + EXTRA)} (default: {','.join(ALL)}; "
                         "on bbob-mixint all of those but arqonhpo)")
    ap.add_argument("--name", default="bbob_small")
    ap.add_argument("--merge", nargs="+", default=None, help="result JSON files to combine")
    ap.add_argument("--first", default=None,
                    help="with --merge: medians over instances 1..K only: K, or dim:K pairs (5:3,10:1)")
    ap.add_argument("--concat", action="store_true",
                    help="with --merge: files hold other instances; pool each optimizer's runs")
    ap.add_argument("--merge-dims", default=None, help="with --merge: keep these dimensions (comma-separated)")
    ap.add_argument("--notes", default="")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--batch-size", type=int, default=None,
                    help="batch_size of the arqon_jax rows (not a default: the notes say so)")
    args = ap.parse_args()
    if args.batch_size is not None:
        BATCH[0] = args.batch_size
        args.notes = f"arqon_jax rows with batch_size={args.batch_size} (not their default). {args.notes}".strip()
    warnings.filterwarnings("ignore")
    SUITE[0] = args.suite
    out = Path(args.out)
    if args.optimizers is None:
        args.optimizers = ",".join(o for o in ALL if args.suite == "bbob" or o != "arqonhpo")
    unknown = [o for o in args.optimizers.split(",") if o not in RUNNERS]
    if unknown:
        ap.error(f"--optimizers: unknown {unknown}; expected some of {','.join(ALL + EXTRA)}")
    pairs = [p.split(":") for p in args.dims.split(",")]
    if not all(len(p) == 2 and all(v.strip().isdigit() for v in p) for p in pairs):
        ap.error(f"--dims: expected dim:budget pairs such as 5:100,10:200, got {args.dims!r}")
    dim_budgets = [(int(d), int(b)) for d, b in pairs]
    for path in args.merge or []:
        if not Path(path).is_file():
            ap.error(f"--merge: no file {path!r}")
    # One file named twice would count its runs twice (with --concat, as more instances).
    resolved = [Path(p).resolve() for p in args.merge or []]
    if len(set(resolved)) != len(resolved):
        ap.error(f"--merge: a file is named more than once: {args.merge}")
    if args.merge:
        dims = {int(d) for d in args.merge_dims.split(",")} if args.merge_dims else None
        first = None
        if args.first:
            first = {int(a): int(b) for a, b in (p.split(":") if ":" in p else ("0", p) for p in args.first.split(","))}
        meta, cells, optimizers = merge(args.merge, args.name, first, dims, args.concat)
        if args.notes:
            meta["notes"] = args.notes
    else:
        fids = []
        for part in args.functions.split(","):
            a, _, b = part.partition("-")
            fids += list(range(int(a), int(b or a) + 1))
        optimizers = args.optimizers.split(",")
        t_start = time.perf_counter()
        compile_s = {}
        for dim, budget in dim_budgets:
            for o in optimizers:
                if o.startswith("arqon_"):  # compile once per shape, outside the timed runs (not ArqonHPO)
                    t = time.perf_counter()
                    RUNNERS[o](Objective(1, dim, 1), budget, 12345)
                    compile_s[f"{o} {dim}-D"] = time.perf_counter() - t
        cells = []
        for dim, budget in dim_budgets:
            for fid in fids:
                cell = {"fid": fid, "dim": dim, "budget": budget, "median_gap": {}, "time_per_trial_s": {}, "gaps": {}}
                for o in optimizers:
                    n_inst = args.gp_instances if (o == "optuna_gp" and args.gp_instances) else args.instances
                    gaps, tpt = [], []
                    for inst in range(args.first_instance, args.first_instance + n_inst):
                        obj = Objective(fid, dim, inst)
                        t = time.perf_counter()
                        RUNNERS[o](obj, budget, inst)
                        wall = time.perf_counter() - t
                        gaps.append(obj.gap(budget))
                        tpt.append((wall - obj.seconds) / max(obj.calls, 1))
                    cell["gaps"][o] = gaps
                    cell["median_gap"][o] = float(np.median(gaps))
                    cell["time_per_trial_s"][o] = float(np.median(tpt))
                cells.append(cell)
                print(f"f{fid:2d} {dim:2d}-D B={budget}  " + "  ".join(
                    f"{o}={cell['median_gap'][o]:.3g}" for o in optimizers), flush=True)
        meta = machine_info() | {"command": command_line(), "suite": args.suite, "instances": args.instances, "first_instance": args.first_instance, "optimizers": optimizers,
                                 "instances_per_optimizer": {o: (args.gp_instances if o == "optuna_gp" and args.gp_instances
                                                                 else args.instances) for o in optimizers},
                                 "compile_s": compile_s, "total_time_s": time.perf_counter() - t_start,
                                 "notes": args.notes}
    summary = summarize(cells, optimizers)
    md = render(meta, summary, cells, optimizers)
    write_results(args.name, {"meta": meta, "summary": summary, "cells": cells}, md, out)
    plot(summary, optimizers, out / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

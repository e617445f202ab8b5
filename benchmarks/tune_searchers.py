"""Ray Tune searchers on shifted Rastrigin 10-D: ArqonSearch vs random, Optuna and Nevergrad.

Each run is a real ``tune.Tuner(...).fit()`` on a local Ray (``max_concurrent_trials``
trials at a time, reused actors, numpy trainables). Per searcher, number of samples
and seed it records the best loss and the time spent inside the searcher (``suggest``,
``on_trial_result``, ``on_trial_complete``; ``next_trial`` for the random generator),
measured by wrapping those methods. ArqonSearch's first run in the process includes
its JIT compilation (reported apart as "cold"); later runs reuse the compiled step.

    python benchmarks/tune_searchers.py --quick   # num_samples=100, 3 seeds
    python benchmarks/tune_searchers.py           # num_samples 100 and 300, 5 seeds

Writes benchmarks/results/tune_searchers.{json,md} (partial results after every run;
``--resume`` skips the runs already in the JSON file).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # results stay in memory
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "3600")  # no experiment checkpoints mid-run
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, command_line, machine_info, markdown_table  # noqa: E402

DIM = 10
TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(cls, methods):
    """A subclass of ``cls`` whose ``methods`` add their wall time to ``TIMES[label]``."""

    def wrap(name):
        def method(self, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return getattr(super(sub, self), name)(*args, **kwargs)
            finally:
                TIMES[_LABEL[0]] += time.perf_counter() - t0
                CALLS[_LABEL[0]] += 1

        method.__name__ = name
        return method

    sub = type(f"Timed{cls.__name__}", (cls,), {m: wrap(m) for m in methods})
    return sub


_LABEL = ["?"]  # the run being timed (one run at a time)


def make_trainable(seed: int):
    """Numpy Rastrigin, shifted exactly like ``arqon_jax.functions.make_problem``."""
    from arqon_jax.functions import make_problem

    problem = make_problem("rastrigin", DIM, seed=seed)
    x_opt = np.asarray(problem.x_opt, np.float64)
    x = np.random.default_rng(1).uniform(-5, 5, DIM)
    ref = float(np.asarray(problem.f(x[None, :].astype(np.float32)))[0])

    def rastrigin(x):
        z = np.asarray(x, np.float64) - x_opt
        return float(10 * len(z) + np.sum(z * z - 10 * np.cos(2 * np.pi * z)))

    assert abs(rastrigin(x) - ref) < 1e-3 * max(1.0, abs(ref)), "numpy Rastrigin differs from make_problem"

    def trainable(config):
        return {"loss": rastrigin([config[f"x{i}"] for i in range(DIM)])}

    return trainable, [tuple(map(float, b)) for b in problem.bounds]


def make_searcher(name: str, n: int, seed: int, concurrency: int):
    if name == "arqon":
        from arqon_jax.tune import ArqonSearch

        return timed(ArqonSearch, ["suggest", "on_trial_result", "on_trial_complete"])(seed=seed)
    if name == "random":
        from ray.tune.search import BasicVariantGenerator

        return timed(BasicVariantGenerator, ["next_trial", "on_trial_result", "on_trial_complete"])(random_state=seed)
    if name == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return timed(OptunaSearch, ["suggest", "on_trial_result", "on_trial_complete"])(seed=seed)
    if name == "nevergrad":
        import nevergrad as ng
        from ray.tune.search.nevergrad import NevergradSearch

        np.random.seed(seed)  # nevergrad's parametrization draws from numpy's global generator
        cls = timed(NevergradSearch, ["suggest", "on_trial_result", "on_trial_complete"])
        # CMA, not the NGOpt wizard: at budget 300 NGOpt picks a metamodel that raises
        # "TypeError: only 0-dimensional arrays can be converted" (nevergrad 1.0.12, numpy 2).
        return cls(optimizer=ng.optimizers.CMA, optimizer_kwargs={"budget": n, "num_workers": concurrency})
    raise ValueError(f"unknown searcher {name!r}")


def run_one(name: str, n: int, seed: int, concurrency: int, storage: str) -> dict:
    from ray import tune

    trainable, bounds = make_trainable(seed)
    space = {f"x{i}": tune.uniform(lo, hi) for i, (lo, hi) in enumerate(bounds)}
    label = f"{name}/{n}/{seed}"
    _LABEL[0] = label
    TIMES[label], CALLS[label] = 0.0, 0
    searcher = make_searcher(name, n, seed, concurrency)
    t0 = time.perf_counter()
    results = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="loss", mode="min", search_alg=searcher, num_samples=n, max_concurrent_trials=concurrency,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=storage, name=label.replace("/", "_"), verbose=0),
    ).fit()
    wall = time.perf_counter() - t0
    losses = [r.metrics.get("loss", np.nan) for r in results]
    finite = [v for v in losses if np.isfinite(v)]
    return {
        "searcher": name,
        "num_samples": n,
        "seed": seed,
        "n_trials": len(results),
        "n_errors": len(results.errors),
        "best_loss": min(finite) if finite else None,
        "searcher_time_s": TIMES[label],
        "searcher_calls": CALLS[label],
        "searcher_ms_per_trial": 1000 * TIMES[label] / max(1, len(results)),
        "wall_s": wall,
    }


def summarize(runs: list[dict], searchers: list[str], sizes: list[int]) -> tuple[dict, str]:
    summary = {}
    rows = []
    for n in sizes:
        for name in searchers:
            sel = [r for r in runs if r["searcher"] == name and r["num_samples"] == n and r["best_loss"] is not None]
            if not sel:
                continue
            warm = [r for r in sel if not r.get("cold")]
            cold = [r for r in sel if r.get("cold")]  # one per size and process (a --resume adds one)
            ms = [r["searcher_ms_per_trial"] for r in (warm or sel)]
            entry = {
                "runs": len(sel),
                "median_best_loss": float(np.median([r["best_loss"] for r in sel])),
                "best_losses": [round(r["best_loss"], 4) for r in sel],
                "median_searcher_ms_per_trial": float(np.median(ms)),
                "cold_searcher_ms_per_trial": cold[0]["searcher_ms_per_trial"] if cold else None,
                "median_wall_s": float(np.median([r["wall_s"] for r in sel])),
            }
            summary[f"{name}/{n}"] = entry
            rows.append([
                n, name, entry["runs"], f"{entry['median_best_loss']:.3f}",
                ", ".join(f"{v:.2f}" for v in entry["best_losses"]),
                f"{entry['median_searcher_ms_per_trial']:.2f}",
                "-" if entry["cold_searcher_ms_per_trial"] is None else f"{entry['cold_searcher_ms_per_trial']:.1f}",
                f"{entry['median_wall_s']:.1f}",
            ])
    table = markdown_table(
        ["num_samples", "searcher", "seeds", "median best loss", "best loss per seed",
         "searcher ms/trial (median)", "cold ms/trial (1st run, JIT)", "median wall s"],
        rows,
    )
    return summary, table


def verdict(summary: dict, sizes: list[int]) -> list[str]:
    lines = []
    for n in sizes:
        entries = {k.split("/")[0]: v for k, v in summary.items() if k.endswith(f"/{n}")}
        if "arqon" not in entries:
            continue
        best_name = min(entries, key=lambda k: entries[k]["median_best_loss"])
        a = entries["arqon"]
        lines.append(
            f"- num_samples={n}: lowest median best loss: **{best_name}** "
            f"({entries[best_name]['median_best_loss']:.3f}; ArqonSearch {a['median_best_loss']:.3f})."
        )
        if "optuna" in entries:
            o = entries["optuna"]
            ok = a["median_searcher_ms_per_trial"] < o["median_searcher_ms_per_trial"]
            lines.append(
                f"- num_samples={n}: searcher time per trial, ArqonSearch {a['median_searcher_ms_per_trial']:.2f} ms "
                f"vs OptunaSearch {o['median_searcher_ms_per_trial']:.2f} ms: "
                f"{'below' if ok else 'NOT below'} Optuna's"
                + (f" (ArqonSearch cold first run with JIT: {a['cold_searcher_ms_per_trial']:.1f} ms/trial)."
                   if a.get("cold_searcher_ms_per_trial") is not None else ".")
            )
    return lines


def write_report(out_dir: Path, runs: list, args, sizes: list, seeds: list, info: dict, elapsed: float) -> None:
    """Writes tune_searchers.json (every run) and tune_searchers.md (summary and verdict)."""
    import ray

    summary, table = summarize(runs, args.searchers, sizes)
    prev = out_dir / "tune_searchers.json"
    commands = []
    if args.resume and prev.exists():
        commands = json.loads(prev.read_text()).get("commands", [])
    if command_line() not in commands:
        commands.append(command_line())
    payload = {
        "benchmark": "tune_searchers",
        "commands": commands,
        "problem": f"rastrigin {DIM}-D, shifted (arqon_jax.functions.make_problem(seed=s))",
        "settings": {"sizes": sizes, "seeds": seeds, "concurrency": args.concurrency,
                     "searchers": args.searchers, "quick": args.quick, "nevergrad_optimizer": "CMA"},
        "machine": info,
        "runs": runs,
        "summary": summary,
        "elapsed_s": elapsed,
    }
    prev.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    md = [
        "# Ray Tune searchers: shifted Rastrigin 10-D",
        "",
        f"Commands: {', '.join(f'`{c}`' for c in commands)}; {info['processor']}, {info['cpu_count']} CPUs shared "
        f"with other work (load average {info.get('load_average')}), Ray {ray.__version__}, "
        f"max_concurrent_trials={args.concurrency}, reused actors, one `Tuner.fit()` per cell and seed "
        "(searchers interleaved per seed).",
        "",
        "Searcher time = wall time inside suggest/on_trial_result/on_trial_complete (next_trial for the "
        "random BasicVariantGenerator), divided by the trials. ArqonSearch's median excludes its cold runs "
        "(the first of each size in a process, which compile the solver step: about 3 s on this machine); "
        "the first cold run is shown apart. Nevergrad runs `ng.optimizers.CMA` (the NGOpt wizard crashes at "
        "budget 300 in nevergrad 1.0.12 with numpy 2). Random search with the same seed repeats its first "
        "100 points at 300 samples, so its best can be the same. HEBO was not installed (it needs torch).",
        "",
        table,
        "",
        "Verdict:",
        "",
        *verdict(summary, sizes),
    ]
    (out_dir / "tune_searchers.md").write_text("\n".join(md) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="num_samples=100 and 3 seeds")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--searchers", nargs="*", default=["arqon", "random", "optuna", "nevergrad"])
    ap.add_argument("--concurrency", type=int, default=2, help="max_concurrent_trials (default 2: one per core here)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in the results file")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([100] if args.quick else [100, 300])
    seeds = list(range(args.seeds or (3 if args.quick else 5)))
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "tune_searchers.json"

    import ray

    # Without file loggers Tune warns after each run that it cannot read result files back.
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, object_store_memory=300_000_000, log_to_driver=False)
    runs: list[dict] = []
    if args.resume and json_path.exists():
        runs = json.loads(json_path.read_text()).get("runs", [])
    runs = [r for r in runs if r.get("best_loss") is not None]  # failed runs are tried again
    done = {(r["searcher"], r["num_samples"], r["seed"]) for r in runs}
    info = machine_info()
    info["ray_cluster_cpus"] = ray.cluster_resources().get("CPU")
    storage = tempfile.mkdtemp(prefix="tune_searchers_")
    cold_seen = set()
    t_start = time.perf_counter()
    for n in sizes:
        for seed in seeds:
            for name in args.searchers:  # interleaved, so that machine load hits all alike
                if (name, n, seed) in done:
                    continue
                try:
                    rec = run_one(name, n, seed, args.concurrency, storage)
                except Exception as exc:  # a searcher that crashes is reported, not fatal
                    print(f"{name} n={n} seed={seed} failed: {type(exc).__name__}: {exc}", flush=True)
                    runs.append({"searcher": name, "num_samples": n, "seed": seed, "best_loss": None,
                                 "error": f"{type(exc).__name__}: {exc}"[:500]})
                    continue
                # The first ArqonSearch run of each solver shape compiles its step.
                rec["cold"] = name == "arqon" and n not in cold_seen  # first in this process
                if name == "arqon":
                    cold_seen.add(n)
                runs.append(rec)
                print(f"{name:10s} n={n:4d} seed={seed}: best {rec['best_loss']:.4f}  "
                      f"searcher {rec['searcher_ms_per_trial']:.2f} ms/trial  wall {rec['wall_s']:.1f} s"
                      + ("  (cold: includes JIT)" if rec["cold"] else ""), flush=True)
                write_report(out_dir, runs, args, sizes, seeds, info, time.perf_counter() - t_start)
    ray.shutdown()
    write_report(out_dir, runs, args, sizes, seeds, info, time.perf_counter() - t_start)
    print((out_dir / "tune_searchers.md").read_text())


if __name__ == "__main__":
    main()

"""Ray Tune searchers on real tuning tasks: ArqonSearch vs random, Optuna and Nevergrad.

Tasks (``--task``): ``rastrigin``, the seed document's benchmark (shifted Rastrigin
10-D, uniform floats); ``svm``, an SVC on scikit-learn's digits (C and gamma log-scaled,
kernel a choice, polynomial degree an integer; loss 1 - 3-fold CV accuracy); ``gbm``,
a histogram gradient-boosting classifier on scikit-learn's breast-cancer data
(learning rate and L2 log-scaled, iterations, leaves and leaf size integers; loss the
3-fold CV log loss); ``func2c`` and ``func3c``, CoCaBO's synthetic functions of 2 or 3
categorical and 2 continuous dimensions (Ru et al. 2020), whose categories each add one
of three 2-D test functions; ``func2c_cond``, Func2C whose first category is a
conditional choice of branches with their own parameters. Searchers: ``arqon``
(ArqonSearch, defaults), ``arqon_gp`` and ``arqon_tpe`` (ArqonSearch with
``method="gp"`` / ``"tpe"``, not defaults), ``random`` (Tune's BasicVariantGenerator),
``optuna`` (OptunaSearch, TPE), ``optuna_gp`` (OptunaSearch with GPSampler; needs
torch), ``nevergrad`` (NevergradSearch: CMA on Rastrigin, NGOpt on the other tasks).

Each run is a real ``tune.Tuner(...).fit()`` on a local Ray (``max_concurrent_trials``
trials at a time, reused actors, numpy trainables). Per searcher, number of samples
and seed it records the best loss and the time spent inside the searcher (``suggest``,
``on_trial_result``, ``on_trial_complete``; ``next_trial`` for the random generator),
measured by wrapping those methods. ArqonSearch's first run in the process includes
its JIT compilation (reported apart as "cold"); later runs reuse the compiled step.

    python benchmarks/tune_searchers.py --quick   # num_samples=100, 3 seeds
    python benchmarks/tune_searchers.py           # num_samples 100 and 300, 5 seeds
    python benchmarks/tune_searchers.py --task svm --sizes 100 --searchers arqon random optuna optuna_gp nevergrad
    python benchmarks/tune_searchers.py --direct --seeds 40 --searchers arqon optuna   # no Ray, 40 seeds

``--direct`` drives each searcher's ``suggest``/``on_trial_complete`` in this process,
as Tune does with trials of equal duration (first in, first out), which reproduces the
Ray runs' best losses seed for seed in a fraction of the time: for samples of many
seeds, where five Ray runs per cell cannot tell searchers apart.

Writes benchmarks/results/tune_searchers.{json,md} for Rastrigin and
tune_<task>.{json,md} for the others (partial results after every run; ``--resume``
skips the runs already in the JSON file).
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

    from ray import tune

    space = {f"x{i}": tune.uniform(float(lo), float(hi)) for i, (lo, hi) in enumerate(problem.bounds)}
    return trainable, space


def make_svm(seed: int):
    """SVC on digits: 1 - mean 3-fold CV accuracy over C, gamma, kernel and degree."""
    from ray import tune

    del seed  # the data and folds are fixed; the seed is the searcher's

    def trainable(config):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import cross_val_score
        from sklearn.svm import SVC

        X, y = load_digits(return_X_y=True)
        model = SVC(C=config["C"], gamma=config["gamma"], kernel=config["kernel"], degree=config["degree"])
        return {"loss": 1.0 - float(cross_val_score(model, X, y, cv=3).mean())}

    space = {"C": tune.loguniform(1e-3, 1e3), "gamma": tune.loguniform(1e-5, 1.0),
             "kernel": tune.choice(["rbf", "poly", "sigmoid"]), "degree": tune.randint(2, 6)}
    return trainable, space


def make_gbm(seed: int):
    """Histogram gradient boosting on breast cancer: mean 3-fold CV log loss."""
    from ray import tune

    del seed

    def trainable(config):
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.model_selection import cross_val_score

        X, y = load_breast_cancer(return_X_y=True)
        model = HistGradientBoostingClassifier(
            learning_rate=config["learning_rate"], max_iter=config["max_iter"], max_leaf_nodes=config["max_leaf_nodes"],
            min_samples_leaf=config["min_samples_leaf"], l2_regularization=config["l2_regularization"],
            early_stopping=False, random_state=0)
        return {"loss": -float(cross_val_score(model, X, y, cv=3, scoring="neg_log_loss").mean())}

    space = {"learning_rate": tune.loguniform(1e-3, 1.0), "max_iter": tune.randint(10, 201),
             "max_leaf_nodes": tune.randint(4, 65), "min_samples_leaf": tune.randint(2, 51),
             "l2_regularization": tune.loguniform(1e-6, 10.0)}
    return trainable, space


def _cocabo_term(i: int, x1: float, x2: float) -> float:
    """CoCaBO's scaled 2-D functions at the doubled point: Rosenbrock (``i`` 0), six-hump
    camel (1), Beale (2 and above); their testFunctions/syntheticFunctions.py."""
    x1, x2 = 2.0 * x1, 2.0 * x2  # their inputs lie in [-1, 1] and are doubled
    if i == 0:
        return (100 * (x2 - x1**2) ** 2 + (x1 - 1) ** 2) / 300
    if i == 1:
        return ((4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2) / 10
    return ((1.5 - x1 + x1 * x2) ** 2 + (2.25 - x1 + x1 * x2**2) ** 2 + (2.625 - x1 + x1 * x2**3) ** 2) / 50


def _cocabo(h: list, x1: float, x2: float) -> float:
    """CoCaBO's Func2C / Func3C (Ru et al. 2020, "Bayesian optimisation over multiple
    continuous and categorical inputs", ICML), without the 1e-6 uniform noise: each
    category adds one of the 2-D functions of the same continuous point."""
    f = _cocabo_term(h[0], x1, x2) + _cocabo_term(h[1], x1, x2)
    if len(h) == 3:  # Func3C's third term: 5 camel, 2 Rosenbrock, or h2 Beale
        f += 5 * _cocabo_term(1, x1, x2) if h[2] == 0 else 2 * _cocabo_term(0, x1, x2) if h[2] == 1 \
            else h[2] * _cocabo_term(2, x1, x2)
    return float(f)


def make_cocabo(levels: tuple[int, ...]):
    def make(seed: int):
        """A CoCaBO function: categories ``h0..`` with ``levels`` choices, ``x1, x2`` in [-1, 1]."""
        from ray import tune

        del seed  # the function is fixed; the seed is the searcher's

        def trainable(config):
            return {"loss": _cocabo([config[f"h{i}"] for i in range(len(levels))], config["x1"], config["x2"])}

        space = {f"h{i}": tune.choice(list(range(k))) for i, k in enumerate(levels)}
        space.update({"x1": tune.uniform(-1.0, 1.0), "x2": tune.uniform(-1.0, 1.0)})
        return trainable, space

    return make


def make_cocabo_conditional(seed: int):
    """Func2C with a conditional first term: ``branch`` picks one of the three 2-D
    functions with its own two parameters ``u, v`` (inactive in the other branches);
    ``h1`` (5 choices) picks the function of the shared ``x1, x2``, as Func2C's second
    term does. Minimum 2 x -0.103163 (six-hump camel in both)."""
    from ray import tune

    del seed

    def trainable(config):
        br = config["branch"]
        return {"loss": float(_cocabo_term(br["h0"], br["u"], br["v"])
                              + _cocabo_term(config["h1"], config["x1"], config["x2"]))}

    space = {"branch": tune.choice([{"h0": i, "u": tune.uniform(-1.0, 1.0), "v": tune.uniform(-1.0, 1.0)}
                                    for i in range(3)]),
             "h1": tune.choice(list(range(5))), "x1": tune.uniform(-1.0, 1.0), "x2": tune.uniform(-1.0, 1.0)}
    return trainable, space


TASKS = {
    "rastrigin": (make_trainable, f"shifted Rastrigin {DIM}-D", "tune_searchers"),
    "svm": (make_svm, "SVC on scikit-learn's digits (1 - 3-fold CV accuracy)", "tune_svm"),
    "gbm": (make_gbm, "histogram gradient boosting on scikit-learn's breast cancer (3-fold CV log loss)", "tune_gbm"),
    "func2c": (make_cocabo((3, 5)), "CoCaBO's Func2C: 2 categorical (3, 5 choices) + 2 continuous dimensions, "
               "minimum -0.20633", "tune_func2c"),
    "func3c": (make_cocabo((3, 5, 4)), "CoCaBO's Func3C: 3 categorical (3, 5, 4 choices) + 2 continuous "
               "dimensions, minimum -0.72214", "tune_func3c"),
    "func2c_cond": (make_cocabo_conditional, "Func2C with a conditional first term (a choice of three branches, "
                    "each with its own 2 continuous parameters), minimum -0.20633", "tune_func2c_cond"),
}


def make_searcher(name: str, n: int, seed: int, concurrency: int, task: str = "rastrigin"):
    if name == "arqon":
        from arqon_jax.tune import ArqonSearch

        return timed(ArqonSearch, ["suggest", "on_trial_result", "on_trial_complete"])(seed=seed)
    if name in ("arqon_gp", "arqon_tpe"):  # not a default: the method forced
        from arqon_jax.tune import ArqonSearch

        return timed(ArqonSearch, ["suggest", "on_trial_result", "on_trial_complete"])(seed=seed, method=name[6:])
    if name == "random":
        from ray.tune.search import BasicVariantGenerator

        return timed(BasicVariantGenerator, ["next_trial", "on_trial_result", "on_trial_complete"])(random_state=seed)
    if name == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return timed(OptunaSearch, ["suggest", "on_trial_result", "on_trial_complete"])(seed=seed)
    if name == "optuna_gp":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        return timed(OptunaSearch, ["suggest", "on_trial_result", "on_trial_complete"])(
            sampler=optuna.samplers.GPSampler(seed=seed))
    if name == "nevergrad":
        import nevergrad as ng
        from ray.tune.search.nevergrad import NevergradSearch

        np.random.seed(seed)  # nevergrad's parametrization draws from numpy's global generator
        cls = timed(NevergradSearch, ["suggest", "on_trial_result", "on_trial_complete"])
        opt = getattr(ng.optimizers, nevergrad_optimizer(task))
        return cls(optimizer=opt, optimizer_kwargs={"budget": n, "num_workers": concurrency})
    raise ValueError(f"unknown searcher {name!r}")


def nevergrad_optimizer(task: str) -> str:
    """The ``ng.optimizers`` name NevergradSearch runs on ``task``.

    Rastrigin: CMA, not the NGOpt wizard: at budget 300 NGOpt picks a metamodel that
    raises "TypeError: only 0-dimensional arrays can be converted" (nevergrad 1.0.12,
    numpy 2). The mixed spaces of the other tasks get the wizard.
    """
    return "CMA" if task == "rastrigin" else "NGOpt"


def run_one(name: str, n: int, seed: int, concurrency: int, storage: str, task: str = "rastrigin") -> dict:
    from ray import tune

    trainable, space = TASKS[task][0](seed)
    label = f"{name}/{n}/{seed}"
    _LABEL[0] = label
    TIMES[label], CALLS[label] = 0.0, 0
    searcher = make_searcher(name, n, seed, concurrency, task)
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
    return record(label, [r.metrics.get("loss", np.nan) for r in results], len(results.errors), wall)


def record(label: str, losses: list, n_errors: int, wall: float) -> dict:
    """One run's entry in the results file; ``label`` is ``searcher/num_samples/seed``."""
    name, n, seed = label.split("/")
    finite = [v for v in losses if np.isfinite(v)]
    return {
        "searcher": name,
        "num_samples": int(n),
        "seed": int(seed),
        "n_trials": len(losses),
        "n_errors": n_errors,
        "best_loss": min(finite) if finite else None,
        "searcher_time_s": TIMES[label],
        "searcher_calls": CALLS[label],
        "searcher_ms_per_trial": 1000 * TIMES[label] / max(1, len(losses)),
        "wall_s": wall,
    }


def run_one_direct(name: str, n: int, seed: int, concurrency: int, task: str = "rastrigin") -> dict:
    """One run without Ray: the searcher is driven as Tune drives it, ``concurrency``
    trials live, each completed (first in, first out) before the next is suggested.
    With trials of equal duration that is Tune's order, so the best losses equal the
    Ray runs' seed for seed (checked: ArqonSearch, OptunaSearch and NevergradSearch,
    Rastrigin, 100 samples, seeds 0-4), at a fraction of the wall time, for samples of
    many seeds."""
    from collections import deque

    trainable, space = TASKS[task][0](seed)
    label = f"{name}/{n}/{seed}"
    _LABEL[0] = label
    TIMES[label], CALLS[label] = 0.0, 0
    searcher = make_searcher(name, n, seed, concurrency, task)
    searcher.set_max_concurrency(concurrency)
    searcher.set_search_properties("loss", "min", space, num_samples=n)
    t0 = time.perf_counter()
    live, losses, made = deque(), [], 0
    while made < n or live:
        while made < n and len(live) < concurrency:
            config = searcher.suggest(f"trial_{made}")
            if config is None:
                break
            live.append((f"trial_{made}", config))
            made += 1
        if not live:
            break
        trial_id, config = live.popleft()
        result = trainable(config)
        losses.append(result["loss"])
        searcher.on_trial_complete(trial_id, {**result, "config": config})
    return record(label, losses, 0, time.perf_counter() - t0)


def stem_of(args) -> str:
    return TASKS[args.task][2] + ("_direct" if args.direct else "")


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
                "best_losses": [float(f"{r['best_loss']:.6g}") for r in sel],
                "median_searcher_ms_per_trial": float(np.median(ms)),
                "cold_searcher_ms_per_trial": cold[0]["searcher_ms_per_trial"] if cold else None,
                "median_wall_s": float(np.median([r["wall_s"] for r in sel])),
            }
            summary[f"{name}/{n}"] = entry
            rows.append([
                n, name, entry["runs"], f"{entry['median_best_loss']:.4g}",
                ", ".join(f"{v:.4g}" for v in entry["best_losses"]),
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
        best = entries[best_name]["median_best_loss"]
        tied = [k for k in entries if entries[k]["median_best_loss"] == best]
        a = entries["arqon"]
        lines.append(
            f"- num_samples={n}: lowest median best loss: **{' = '.join(tied)}** "
            f"({best:.4g}; ArqonSearch {a['median_best_loss']:.4g})."
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
        if "optuna_gp" in entries:
            ratio = a["median_searcher_ms_per_trial"] / entries["optuna_gp"]["median_searcher_ms_per_trial"]
            lines.append(f"- num_samples={n}: ArqonSearch's searcher time per trial is {ratio:.3g} of "
                         f"OptunaSearch-with-GPSampler's ({'within' if ratio <= 0.1 else 'NOT within'} the goal of 1/10).")
    return lines


def write_report(out_dir: Path, runs: list, args, sizes: list, seeds: list, info: dict, elapsed: float) -> None:
    """Writes <stem>.json (every run) and <stem>.md (summary and verdict)."""
    import ray

    title, stem = TASKS[args.task][1], stem_of(args)
    summary, table = summarize(runs, args.searchers, sizes)
    prev = out_dir / f"{stem}.json"
    commands = []
    if args.resume and prev.exists():
        commands = json.loads(prev.read_text()).get("commands", [])
    if command_line() not in commands:
        commands.append(command_line())
    payload = {
        "benchmark": stem,
        "commands": commands,
        "problem": (f"rastrigin {DIM}-D, shifted (arqon_jax.functions.make_problem(seed=s))" if args.task == "rastrigin"
                    else title),
        "settings": {"sizes": sizes, "seeds": seeds, "concurrency": args.concurrency,
                     "searchers": args.searchers, "quick": args.quick,
                     "nevergrad_optimizer": nevergrad_optimizer(args.task)},
        "machine": info,
        "runs": runs,
        "summary": summary,
        "elapsed_s": elapsed,
    }
    prev.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    md = [
        f"# Ray Tune searchers: {title}",
        "",
        f"Commands: {', '.join(f'`{c}`' for c in commands)}; {info['processor']}, {info['cpu_count']} CPUs shared "
        f"with other work (load average {info.get('load_average')}), Ray {ray.__version__}, "
        + (f"no Ray: each searcher driven as Tune drives it (`--direct`: {args.concurrency} trials live, "
           "completed first in, first out: Tune's order for trials of equal duration, so on Rastrigin the "
           "Ray runs' best losses again seed for seed, checked on seeds 0-4 of ArqonSearch, OptunaSearch "
           "and NevergradSearch at 100 samples; where trials take different times, as in model fits, "
           "Ray's order and so its runs differ)" if args.direct else
           f"max_concurrent_trials={args.concurrency}, reused actors, one `Tuner.fit()` per cell and seed")
        + " (searchers interleaved per seed).",
        "",
        "Searcher time = wall time inside suggest/on_trial_result/on_trial_complete (next_trial for the "
        "random BasicVariantGenerator), divided by the trials. ArqonSearch's median excludes its cold runs "
        "(the first of each size in a process, which compile the solver step: about 3 s on this machine); "
        "the first cold run is shown apart. "
        + ("Nevergrad runs `ng.optimizers.CMA` (the NGOpt wizard crashes at budget 300 in nevergrad 1.0.12 "
           "with numpy 2). Random search with the same seed repeats its first 100 points at 300 samples, so "
           "its best can be the same." if args.task == "rastrigin" else
           "Nevergrad runs the NGOpt wizard. "
           + ("The data and CV folds are fixed" if args.task in ("svm", "gbm") else "The function is fixed")
           + "; the seed is the searcher's."),
        "",
        table,
        "",
        "Verdict:",
        "",
        *verdict(summary, sizes),
    ]
    (out_dir / f"{stem}.md").write_text("\n".join(md) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(TASKS), default="rastrigin")
    ap.add_argument("--quick", action="store_true", help="num_samples=100 and 3 seeds")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--searchers", nargs="*", default=["arqon", "random", "optuna", "nevergrad"])
    ap.add_argument("--concurrency", type=int, default=2, help="max_concurrent_trials (default 2: one per core here)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in the results file")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--direct", action="store_true",
                    help="no Ray: drive each searcher's suggest/on_trial_complete in this process (many seeds "
                         "quickly; writes <stem>_direct.{json,md}); not for the random BasicVariantGenerator")
    args = ap.parse_args(argv)
    if args.direct and "random" in args.searchers:
        ap.error("--direct drives Searcher subclasses; the random BasicVariantGenerator is not one")
    sizes = args.sizes or ([100] if args.quick else [100, 300])
    seeds = list(range(args.seeds or (3 if args.quick else 5)))
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem_of(args)}.json"

    import ray

    # Without file loggers Tune warns after each run that it cannot read result files back.
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    if not args.direct:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, object_store_memory=300_000_000,
                 log_to_driver=False)
    runs: list[dict] = []
    if args.resume and json_path.exists():
        runs = json.loads(json_path.read_text()).get("runs", [])
    runs = [r for r in runs if r.get("best_loss") is not None]  # failed runs are tried again
    done = {(r["searcher"], r["num_samples"], r["seed"]) for r in runs}
    info = machine_info()
    info["ray_cluster_cpus"] = None if args.direct else ray.cluster_resources().get("CPU")
    storage = tempfile.mkdtemp(prefix="tune_searchers_")
    cold_seen = set()
    t_start = time.perf_counter()
    for n in sizes:
        for seed in seeds:
            for name in args.searchers:  # interleaved, so that machine load hits all alike
                if (name, n, seed) in done:
                    continue
                try:
                    rec = (run_one_direct(name, n, seed, args.concurrency, args.task) if args.direct
                           else run_one(name, n, seed, args.concurrency, storage, args.task))
                except Exception as exc:  # a searcher that crashes is reported, not fatal
                    print(f"{name} n={n} seed={seed} failed: {type(exc).__name__}: {exc}", flush=True)
                    runs.append({"searcher": name, "num_samples": n, "seed": seed, "best_loss": None,
                                 "error": f"{type(exc).__name__}: {exc}"[:500]})
                    continue
                # The first ArqonSearch run of each solver shape compiles its step.
                rec["cold"] = name.startswith("arqon") and (name, n) not in cold_seen  # first in this process
                if name.startswith("arqon"):
                    cold_seen.add((name, n))
                runs.append(rec)
                print(f"{name:10s} n={n:4d} seed={seed}: best {rec['best_loss']:.4f}  "
                      f"searcher {rec['searcher_ms_per_trial']:.2f} ms/trial  wall {rec['wall_s']:.1f} s"
                      + ("  (cold: includes JIT)" if rec["cold"] else ""), flush=True)
                write_report(out_dir, runs, args, sizes, seeds, info, time.perf_counter() - t_start)
    if not args.direct:
        ray.shutdown()
    write_report(out_dir, runs, args, sizes, seeds, info, time.perf_counter() - t_start)
    print((out_dir / f"{stem_of(args)}.md").read_text())


if __name__ == "__main__":
    main()

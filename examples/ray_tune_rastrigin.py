"""Ray Tune on the surfaces Rastrigin function, with ArqonSearch next to Random and Optuna.

The "Basic Usage", "Schedulers" and "Benchmarking Example" sections of the Ray Tune
user guide, runnable with surfaces 0.9 and Ray 2.60:

* ``func.search_space`` is a property in surfaces 0.9 (a dict of value grids), not
  a method.
* ``ArqonSearch`` is a Tune ``Searcher``: pass it as ``search_alg``. It takes the
  space, metric and mode from ``tune.run``/``Tuner`` like ``OptunaSearch``.
* ASHA stops trials early only if they report more than once, so the scheduler
  section uses a trainable that reports a (simulated) training curve.
* ``reuse_actors=True`` keeps one trial actor per slot instead of starting a process
  per trial (much faster for cheap trainables).

    python examples/ray_tune_rastrigin.py            # 100 samples per run
    python examples/ray_tune_rastrigin.py --quick    # a few samples (also ARQON_EXAMPLE_QUICK=1)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402
from ray.tune.search import BasicVariantGenerator  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from surfaces.test_functions.algebraic import RastriginFunction  # noqa: E402

from arqon_jax.tune import ArqonSearch  # noqa: E402


def basic_usage(num_samples: int, storage_path: str | None) -> dict:
    """The guide's "Basic Usage", searching with ArqonSearch."""
    func = RastriginFunction(n_dim=5)
    space = func.search_space  # surfaces 0.9: a property (dict name -> grid of values)

    # Define search space
    config = {name: tune.uniform(values.min(), values.max()) for name, values in space.items()}

    # Define trainable
    def trainable(config):
        result = func(config)
        return {"loss": result}

    # Run tuning
    analysis = tune.run(
        trainable,
        config=config,
        num_samples=num_samples,
        metric="loss",
        mode="min",
        search_alg=ArqonSearch(seed=0),
        reuse_actors=True,
        storage_path=storage_path,
        verbose=0,
    )

    print(f"Best config: {analysis.best_config}")
    print(f"Best loss: {analysis.best_result['loss']}")
    return {"best_loss": analysis.best_result["loss"], "n_trials": len(analysis.trials)}


def schedulers(num_samples: int, max_t: int, storage_path: str | None) -> dict:
    """The guide's "Schedulers": ASHA stopping bad trials early, ArqonSearch proposing them."""
    func = RastriginFunction(n_dim=5)
    config = {name: tune.uniform(values.min(), values.max()) for name, values in func.search_space.items()}

    def trainable(config):
        # A simulated training run: the loss falls towards the Rastrigin value.
        target = func(config)
        for step in range(1, max_t + 1):
            tune.report({"loss": target + 50.0 / step})

    # ASHA (Asynchronous Successive Halving)
    scheduler = ASHAScheduler(
        max_t=max_t,
        grace_period=max(1, max_t // 10),
        reduction_factor=2,
    )

    analysis = tune.run(
        trainable,
        config=config,
        scheduler=scheduler,
        search_alg=ArqonSearch(seed=0),
        metric="loss",
        mode="min",
        num_samples=num_samples,
        reuse_actors=True,
        storage_path=storage_path,
        verbose=0,
    )
    iters = [t.last_result.get("training_iteration", 0) for t in analysis.trials]
    stopped = sum(i < max_t for i in iters)
    print(f"ASHA: {stopped} of {len(iters)} trials stopped early; best loss {analysis.best_result['loss']:.4f}")
    return {"best_loss": analysis.best_result["loss"], "iterations": iters, "stopped_early": stopped}


def benchmarking(num_samples: int, storage_path: str | None) -> dict:
    """The guide's "Benchmarking Example", with ArqonSearch added to the algorithms."""
    func = RastriginFunction(n_dim=10)
    space = func.search_space

    config = {name: tune.uniform(v.min(), v.max()) for name, v in space.items()}

    algorithms = [
        ("Random", BasicVariantGenerator()),
        ("Optuna", OptunaSearch()),
        ("Arqon", ArqonSearch(seed=0)),
    ]

    best = {}
    for name, search_alg in algorithms:
        analysis = tune.run(
            lambda c: {"loss": func(c)},
            config=config,
            search_alg=search_alg,
            num_samples=num_samples,
            metric="loss",
            mode="min",
            reuse_actors=True,
            storage_path=storage_path,
            verbose=0,
        )
        best[name] = analysis.best_result["loss"]
        print(f"{name}: {analysis.best_result['loss']:.6f}")
    return best


def main(argv=None, storage_path: str | None = None) -> dict:
    """Runs the three sections; returns their results (used by the tests)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few samples per run (env ARQON_EXAMPLE_QUICK=1 too)")
    args = ap.parse_args(argv)
    quick = args.quick or os.environ.get("ARQON_EXAMPLE_QUICK", "") not in ("", "0")
    n = 8 if quick else 100
    return {
        "basic": basic_usage(n, storage_path),
        "asha": schedulers(n, 8 if quick else 100, storage_path),
        "benchmark": benchmarking(n, storage_path),
    }


if __name__ == "__main__":
    main()

"""Conditional hyperparameters with Ray Tune and ArqonSearch: domains inside tune.choice.

The optimizer's own hyperparameters depend on which optimizer is chosen (SGD has a
learning rate and momentum, Adam a learning rate and beta2), and dropout is either
off or a quantized rate. ArqonSearch samples a nested domain only when its category
is chosen, so every trial gets plain values, and the search learns which category
and which values work. The "training" is a cheap synthetic loss with a known best
config (Adam, lr near 3e-3, beta2 near 0.99, dropout 0.1).

    python examples/ray_tune_conditional.py            # 60 trials
    python examples/ray_tune_conditional.py --quick    # 12 trials (also ARQON_EXAMPLE_QUICK=1)
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray import tune  # noqa: E402

from arqon_jax.tune import ArqonSearch, convert_search_space  # noqa: E402

PARAM_SPACE = {
    "dropout": tune.choice([0.0, tune.quniform(0.05, 0.4, 0.05)]),
    "optim": tune.choice([
        {"name": "sgd", "lr": tune.loguniform(1e-4, 1e-1), "momentum": tune.uniform(0.0, 0.99)},
        {"name": "adam", "lr": tune.loguniform(1e-5, 1e-2), "beta2": tune.choice([0.9, 0.99, 0.999])},
    ]),
    "epochs": 3,
}


def trainable(config):
    """A synthetic validation loss; config holds plain values only (no Tune domains)."""
    opt = config["optim"]
    if opt["name"] == "adam":
        loss = 0.30 + (math.log10(opt["lr"]) - math.log10(3e-3)) ** 2 + 0.5 * abs(opt["beta2"] - 0.99)
    else:
        loss = 0.45 + (math.log10(opt["lr"]) + 1.5) ** 2 + 0.3 * (opt["momentum"] - 0.9) ** 2
    loss += 2.0 * abs(config["dropout"] - 0.1)
    return {"loss": loss}


def main(argv=None, storage_path: str | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 trials instead of 60")
    args = ap.parse_args(argv)
    quick = args.quick or os.environ.get("ARQON_EXAMPLE_QUICK") == "1"
    n = 12 if quick else 60

    print("dimensions the solver sees:")
    for name, bound in convert_search_space(PARAM_SPACE).items():
        print(f"  {name}: {bound}")
    searcher = ArqonSearch(
        seed=0,
        # A known config to start from: only the chosen category's values are given.
        points_to_evaluate=[{"dropout": 0.0, "optim": {"name": "sgd", "lr": 1e-2, "momentum": 0.9}}],
    )
    results = tune.Tuner(
        trainable,
        param_space=PARAM_SPACE,
        tune_config=tune.TuneConfig(metric="loss", mode="min", search_alg=searcher, num_samples=n,
                                    max_concurrent_trials=4, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=storage_path, name="conditional", verbose=0),
    ).fit()
    best = results.get_best_result()
    print(f"{len(results)} trials; best loss {best.metrics['loss']:.4f} with {best.config}")
    return {"n_trials": len(results), "best_loss": best.metrics["loss"], "best_config": best.config}


if __name__ == "__main__":
    main()

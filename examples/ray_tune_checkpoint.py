"""Checkpointing with Ray Tune 2.60 and ArqonSearch: trials resume, and so does the search.

The guide's ``ray.air.session`` / ``Checkpoint.from_dict`` code is gone from Ray;
today a function trainable calls ``tune.report(metrics, checkpoint=...)`` with a
``tune.Checkpoint.from_directory(d)`` and reads ``tune.get_checkpoint()`` when it
(re)starts. This example shows both levels of fault tolerance:

1. A trial that crashes is restarted from its last checkpoint
   (``FailureConfig(max_failures=1)``): it continues at the saved iteration.
2. An experiment whose driver crashes (simulated by a callback that raises) is
   continued with ``tune.Tuner.restore``: Tune restores ArqonSearch's saved state,
   so the search goes on where it was instead of starting over. (A graceful stop,
   e.g. ``fail_fast`` or Ctrl-C, marks the search finished in Tune's saved state:
   restoring such a run only finishes the trials it had started.)

Ray prints the traceback of every simulated crash (one per trial, then the driver's):
they are the point of the example, not a fault. The reported loss is the Rastrigin
value plus ``10 / (iteration + 1)``, a stand-in for a training curve, so a trial at the
global minimum ends at ``10 / n_iter`` (1.0 with 10 iterations), not 0.

    python examples/ray_tune_checkpoint.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray import tune  # noqa: E402
from ray.tune import Callback  # noqa: E402

from arqon_jax.tune import ArqonSearch  # noqa: E402


def make_trainable(n_iter: int, crash_dir: str | None):
    """A trainable that checkpoints every iteration and crashes once at iteration 2.

    ``crash_dir`` holds marker files so that each trial crashes only once (``None``: no crashes).
    """

    def trainable(config):
        import numpy as np

        # Load checkpoint if exists
        start_iter = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint:
            with checkpoint.as_directory() as d:
                with open(os.path.join(d, "state.json")) as fh:
                    state = json.load(fh)
            start_iter = state["iteration"] + 1

        x = np.array([config["x0"], config["x1"], config["x2"]])
        value = float(10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))  # Rastrigin
        for i in range(start_iter, n_iter):
            # Save checkpoint
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "state.json"), "w") as fh:
                    json.dump({"iteration": i}, fh)
                tune.report(
                    {"loss": value + 10.0 / (i + 1), "start_iter": start_iter},
                    checkpoint=tune.Checkpoint.from_directory(d),
                )
            if crash_dir is None:
                continue
            marker = os.path.join(crash_dir, tune.get_context().get_trial_id())
            if i == 2 and not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("simulated crash (happens once per trial)")

    return trainable


class CrashOnce(Callback):
    """Simulates a driver crash after ``after`` completed trials, once (a marker file remembers)."""

    def __init__(self, after: int, marker: str):
        self.after, self.marker, self.done = after, marker, 0

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done += 1

    def on_step_begin(self, iteration, trials, **info):
        # Raised here (not in on_trial_complete, where Tune catches it) it ends tuner.fit().
        if self.done >= self.after and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            raise RuntimeError("simulated driver crash")


def main(argv=None, storage_path: str | None = None) -> dict:
    """Runs the example; returns what the tests check."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials and iterations (env ARQON_EXAMPLE_QUICK=1 too)")
    args = ap.parse_args(argv)
    quick = args.quick or os.environ.get("ARQON_EXAMPLE_QUICK", "") not in ("", "0")
    n_iter, n_samples = (4, 4) if quick else (10, 20)
    storage_path = storage_path or os.path.expanduser("~/ray_results")
    # The crash markers must not outlive the run (a leftover marker would skip the crashes).
    with tempfile.TemporaryDirectory(prefix="arqon_crash_") as crash_dir:
        space = {f"x{i}": tune.uniform(-5.12, 5.12) for i in range(3)}

        # 1. Trials crash once each and resume from their checkpoint.
        trainable = make_trainable(n_iter, crash_dir)
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric="loss", mode="min", search_alg=ArqonSearch(seed=0), num_samples=n_samples,
                max_concurrent_trials=2, reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name="arqon_checkpoint", storage_path=storage_path, verbose=0,
                failure_config=tune.FailureConfig(max_failures=1),
            ),
        )
        results = tuner.fit()
        if any("start_iter" not in r.metrics for r in results):
            # Tune stops gracefully on Ctrl-C and returns what finished: stop here too.
            raise SystemExit("1. interrupted before every trial reported")
        resumed = [r.metrics["start_iter"] for r in results]
        print(f"1. {len(results)} trials, each crashed once and resumed at iteration {sorted(set(resumed))}; "
              f"best loss {results.get_best_result().metrics['loss']:.4f} "
              f"(Rastrigin {results.get_best_result().metrics['loss'] - 10.0 / n_iter:.4f})")

        # 2. The driver "crashes" after a few trials; Tuner.restore continues the search.
        # Tune saves the experiment (and the searcher) at most every TUNE_GLOBAL_CHECKPOINT_S
        # seconds; 0 saves at every step, so the crash loses nothing here.
        saved_period = os.environ.get("TUNE_GLOBAL_CHECKPOINT_S")
        os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = "0"
        try:
            path = os.path.join(storage_path, "arqon_checkpoint_restore")
            trainable2 = make_trainable(n_iter, None)
            tuner = tune.Tuner(
                trainable2,
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric="loss", mode="min", search_alg=ArqonSearch(seed=0), num_samples=n_samples,
                    max_concurrent_trials=2, reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name="arqon_checkpoint_restore", storage_path=storage_path, verbose=0,
                    callbacks=[CrashOnce(n_samples // 2, os.path.join(crash_dir, "driver_crashed"))],
                ),
            )
            try:
                tuner.fit()
            except Exception as exc:  # the simulated crash stops fit() (Ray 2.60 raises a RuntimeError)
                print(f"2. the run stopped: {type(exc).__name__}")
            tuner = tune.Tuner.restore(path, trainable=trainable2, resume_unfinished=True, resume_errored=True)
            results2 = tuner.fit()
        finally:
            if saved_period is None:
                os.environ.pop("TUNE_GLOBAL_CHECKPOINT_S")
            else:
                os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = saved_period
        configs = [tuple(round(r.config[f"x{i}"], 12) for i in range(3)) for r in results2]
        print(f"   restored and finished {len(results2)} trials "
              f"({len(set(configs))} distinct configs); best loss {results2.get_best_result().metrics['loss']:.4f} "
              f"(Rastrigin {results2.get_best_result().metrics['loss'] - 10.0 / n_iter:.4f})")
    return {
        "resumed_at": resumed,
        "n_trials": len(results),
        "n_restored": len(results2),
        "configs": configs,
        "errors_after_restore": len(results2.errors),
    }


if __name__ == "__main__":
    main()

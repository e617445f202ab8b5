"""ArqonSearch, the Ray Tune searcher: space conversion, batched suggest, asynchronous and
failed completions, budget, concurrency, warm starts, save/restore, and real Tuner runs
(all Domain types, max mode, errors, ASHA, the checkpoint example with Tuner.restore).

The unit tests call the searcher directly; most share one solver configuration (the
``ALL`` space, budget 40, batch 4) so that it compiles once. The Tuner tests run on the
shared session cluster. About 80-100 s on 2 busy cores.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

from arqon_jax.tune import ArqonSearch, convert_search_space  # noqa: E402

# Trainables below use this module's helpers: ship them by value, so that Ray workers
# need not import the test module.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

ROOT = Path(__file__).resolve().parent.parent

CATS = ["relu", "tanh", [1, 2], None]


def all_domains():
    """One parameter of every Domain type, nested dicts and constants."""
    return {
        "u": tune.uniform(-2.0, 3.0),
        "opt": {"lr": tune.loguniform(1e-5, 1e-1), "mom": tune.quniform(0.0, 1.0, 0.1)},
        "ql": tune.qloguniform(1e-3, 1.0, 1e-3),
        "n": tune.randint(1, 5),
        "qi": tune.qrandint(0, 20, 5),
        "li": tune.lograndint(1, 100),
        "qli": tune.qlograndint(2, 64, 2),
        "act": tune.choice(CATS),
        "const": 7,
        "nested": {"k": "v"},
    }


def check_config(c):
    """Every value inside its Tune domain, with Tune's types and quantization."""
    assert -2.0 <= c["u"] <= 3.0 and isinstance(c["u"], float)
    assert 1e-5 <= c["opt"]["lr"] <= 1e-1
    mom = c["opt"]["mom"]
    assert 0.0 <= mom <= 1.0 and abs(mom * 10 - round(mom * 10)) < 1e-9 and mom == round(mom, 1)
    assert 1e-3 <= c["ql"] <= 1.0 and abs(c["ql"] * 1000 - round(c["ql"] * 1000)) < 1e-6
    assert isinstance(c["n"], int) and 1 <= c["n"] <= 4  # randint: upper bound exclusive
    assert isinstance(c["qi"], int) and c["qi"] in (0, 5, 10, 15, 20)  # qrandint: inclusive
    assert isinstance(c["li"], int) and 1 <= c["li"] <= 99
    assert isinstance(c["qli"], int) and 2 <= c["qli"] <= 64 and c["qli"] % 2 == 0
    assert any(c["act"] is cat or c["act"] == cat for cat in CATS)


def loss_of(c):
    return (c["u"] - 1.0) ** 2 + (math.log10(c["opt"]["lr"]) + 3) ** 2 + (c["act"] == "tanh") + c["n"] * 0.1


def make(**kw):
    kw.setdefault("budget", 40)
    kw.setdefault("batch_size", 4)
    return ArqonSearch(all_domains(), metric="loss", mode=kw.pop("mode", "min"), **kw)


# ----------------------------------------------------------------- no Ray needed
def test_import_arqon_jax_does_not_import_ray():
    code = "import sys, arqon_jax; assert 'ray' not in sys.modules, 'ray imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_convert_search_space_table():
    bounds = convert_search_space(all_domains())
    assert bounds["u"] == {"min": -2.0, "max": 3.0, "scale": "linear"}
    assert bounds["opt/lr"]["scale"] == "log"
    assert bounds["opt/mom"] == {"min": 0, "max": 10, "scale": "integer"}  # grid index of q=0.1
    assert bounds["n"] == {"min": 1, "max": 4, "scale": "integer"}
    assert bounds["qi"] == {"min": 0, "max": 4, "scale": "integer"}
    assert bounds["li"]["scale"] == "log" and bounds["qli"]["scale"] == "log"
    assert bounds["act"] == {"choices": [0, 1, 2, 3]}
    assert "const" not in bounds and "nested/k" not in bounds


@pytest.mark.parametrize(
    "space, name",
    [
        ({"a": tune.uniform(0, 1), "g": tune.grid_search([1, 2])}, "g"),
        ({"a": tune.uniform(0, 1), "f": {"s": tune.sample_from(lambda c: 1)}}, "f/s"),
        ({"a": tune.uniform(0, 1), "r": tune.randn(0, 1)}, "r"),
    ],
)
def test_unsupported_domains_name_the_parameter(space, name):
    with pytest.raises(ValueError, match=name):
        ArqonSearch(space, metric="loss", mode="min")


def test_invalid_arguments():
    with pytest.raises(ValueError, match="mode"):
        ArqonSearch(mode="maximize")
    with pytest.raises(ValueError, match="method"):
        ArqonSearch(method="bayes")
    with pytest.raises(TypeError, match="budget"):
        ArqonSearch(budget=2.5)
    with pytest.raises(ValueError, match="batch_size"):
        ArqonSearch(budget=4, batch_size=8)
    with pytest.raises(ValueError, match="evaluated_rewards"):
        ArqonSearch(points_to_evaluate=[{"a": 1}], evaluated_rewards=[1.0, 2.0])
    with pytest.raises(ValueError, match="points_to_evaluate"):
        ArqonSearch({"a": tune.uniform(0, 1), "b": tune.uniform(0, 1)}, points_to_evaluate=[{"a": 0.5}])
    with pytest.raises(ValueError, match="'a'"):
        ArqonSearch({"a": tune.uniform(0, 1)}, points_to_evaluate=[{"a": 1.5}])
    s = ArqonSearch({"a": tune.uniform(0, 1)})  # no metric/mode anywhere
    with pytest.raises(RuntimeError, match="metric"):
        s.suggest("t0")
    with pytest.raises(RuntimeError, match="search space"):
        ArqonSearch(metric="loss", mode="min").suggest("t0")


def test_batch_handout_order_and_one_ask_per_batch():
    s = make()
    configs = [s.suggest(f"t{i}") for i in range(4)]
    assert s.stats["asks"] == 1
    batch = s._batches[s._cur]
    assert [s._row_config(v) for v in batch["values"]] == configs  # rows in order
    for c in configs:
        check_config(c)
        assert c["const"] == 7 and c["nested"] == {"k": "v"}  # constructor space: constants passed through
    s.suggest("t4")  # the first batch is used up: the next one is asked (no result needed)
    assert s.stats["asks"] == 2
    assert s._live["t4"] == ("row", s._cur, 0)


def test_async_completion_errors_none_results_and_budget():
    s = make()
    suggested, t = {}, 0

    def complete(tid):
        i = int(tid[1:])
        if i % 7 == 3:
            s.on_trial_complete(tid, error=True)
        elif i % 7 == 5:
            s.on_trial_result(tid, {"loss": 5.0, "training_iteration": 1})
            s.on_trial_complete(tid, result=None)  # e.g. stopped while paused: the last value counts
        elif i % 7 == 6:
            s.on_trial_complete(tid, result=None)  # no value at all: a failure
        else:
            s.on_trial_complete(tid, {"loss": loss_of(suggested[tid])})

    while True:
        c = s.suggest(f"t{t}")
        if c == Searcher.FINISHED:
            break
        if c is None:  # waiting for a batch (the classifier, Nelder-Mead): free a slot
            complete(next(iter(s._live)))
            continue
        check_config(c)
        suggested[f"t{t}"] = c
        t += 1
        live = list(s._live)
        if len(live) >= 3:
            complete(live[-1])  # out of order: the newest first, then the oldest
            complete(live[0])
    assert t == 40  # exactly the budget, then FINISHED
    assert s.suggest("again") == Searcher.FINISHED
    for tid in list(s._live):
        complete(tid)
    assert s.stats["completed"] == 40
    n_fail = s.stats["failed"]
    assert n_fail == sum(1 for tid in suggested if int(tid[1:]) % 7 in (3, 6))
    # Everything reached the solver: told rows plus observed ones, failures included.
    s.flush()
    hist = s._state.history
    assert int(hist.count) == 40
    assert int(hist.n_failed) == n_fail
    best = min(loss_of(c) for tid, c in suggested.items() if int(tid[1:]) % 7 not in (3, 5, 6))
    assert float(s._state.best_y) == pytest.approx(min(best, 5.0), rel=1e-5)


def test_integer_parameters_get_distinct_integers():
    s = ArqonSearch({"k": tune.randint(0, 8)}, metric="loss", mode="min", budget=8, batch_size=4, method="tpe")
    values = []
    for i in range(8):
        c = s.suggest(f"t{i}")
        values.append(c["k"])
        s.on_trial_complete(f"t{i}", {"loss": float((c["k"] - 5) ** 2)})
    assert sorted(values) == list(range(8))


def test_max_mode_and_max_concurrency():
    s = make(mode="max")
    assert s.set_max_concurrency(2) is True  # the searcher enforces it itself
    s.suggest("a")
    b = s.suggest("b")
    assert s.suggest("c") is None  # two live trials
    s.on_trial_complete("a", {"loss": 3.0})
    assert s.suggest("c") is not None
    s.on_trial_complete("b", {"loss": 10.0})
    s.on_trial_complete("c", {"loss": -1.0})
    config, value = s.best
    assert value == 10.0 and config == b
    s.flush()
    assert float(s._state.best_y) == -10.0  # max mode: the solver minimizes the negated metric


def test_points_to_evaluate_warm_starts_and_add_evaluated_point():
    point = {"u": 1.0, "opt": {"lr": 1e-3, "mom": 0.5}, "ql": 0.5, "n": 2, "qi": 10, "li": 7, "qli": 8, "act": [1, 2]}
    s = make(points_to_evaluate=[point])
    c = s.suggest("p")
    assert {k: c[k] for k in point} == point and c["const"] == 7
    s.on_trial_complete("p", {"loss": 0.25})
    flat = {"u": 0.0, "opt/lr": 1e-2, "opt/mom": 0.1, "ql": 0.01, "n": 1, "qi": 0, "li": 1, "qli": 2, "act": None}
    s.add_evaluated_point(flat, 0.125)
    s.add_evaluated_point(flat, None, error=True)
    with pytest.raises(ValueError, match="act"):
        s.add_evaluated_point(dict(flat, act="gelu"), 1.0)
    s.suggest("t1")
    assert s.stats["observed"] == 3
    assert int(s._state.history.count) == 3 and int(s._state.history.n_failed) == 1
    assert float(s._state.best_y) == pytest.approx(0.125)
    # evaluated_rewards: the points are recorded, not run again.
    w = make(points_to_evaluate=[point], evaluated_rewards=[0.5])
    c = w.suggest("t0")
    assert w.stats["observed"] == 1 and c != point


def test_save_restore_and_pickle_continue_identically(tmp_path):
    done = {}

    def advance(searchers, i):
        """One suggest on every searcher (equal results); completes the oldest live trial."""
        got = [s.suggest(f"t{i}") for s in searchers]
        assert all(g == got[0] for g in got)
        if got[0] is not None:
            done[f"t{i}"] = got[0]
        live = list(searchers[0]._live)
        if got[0] is None or len(live) > 2:
            for s in searchers:
                s.on_trial_complete(live[0], {"loss": loss_of(done[live[0]])})

    a = make(seed=3)
    for i in range(14):  # past the probe (8 of 40), some trials still running
        advance([a], i)
    path = tmp_path / "searcher.pkl"
    a.save(str(path))
    b = make(seed=99)  # a different seed: everything must come from the checkpoint
    b.restore(str(path))
    c = pickle.loads(pickle.dumps(a))
    for i in range(14, 30):
        advance([a, b, c], i)
    assert a.stats == b.stats == c.stats and a.stats["asks"] >= 6
    with pytest.raises(ValueError, match="ArqonSearch"):
        b.set_state({"something": 1})


def test_nelder_mead_waits_for_its_batch():
    s = ArqonSearch({"x": tune.uniform(-1, 1), "y": tune.uniform(-1, 1)}, metric="loss", mode="min",
                    budget=40, batch_size=4, method="nelder-mead")
    configs = {}
    for i in range(8):  # the probe (8 rows): handed out without waiting
        configs[f"t{i}"] = s.suggest(f"t{i}")
        assert configs[f"t{i}"] is not None
    for i in range(8):
        s.on_trial_complete(f"t{i}", {"loss": configs[f"t{i}"]["x"] ** 2 + configs[f"t{i}"]["y"] ** 2})
    for i in range(8, 12):
        configs[f"t{i}"] = s.suggest(f"t{i}")
    s.on_trial_complete("t8", {"loss": 1.0})
    assert s.suggest("t12") is None  # Nelder-Mead needs the whole batch
    for i in (9, 10, 11):
        s.on_trial_complete(f"t{i}", {"loss": 1.0})
    assert s.suggest("t12") is not None


# ------------------------------------------------------------------ real Tuner runs
@pytest.mark.ray
def test_tuner_all_domains_max_mode_errors_and_budget(ray_cluster, tmp_path):
    def trainable(config):
        check_config(config)
        assert config["const"] == 7 and config["nested"] == {"k": "v"}  # merged by Tune
        if config["act"] is None:
            raise RuntimeError("this activation crashes")
        return {"score": -loss_of(config)}

    crash = {"u": 0.0, "opt": {"lr": 1e-3, "mom": 0.5}, "ql": 0.5, "n": 2, "qi": 10, "li": 7, "qli": 8, "act": None}
    # Space, metric and mode come from Tune; the first trial runs a config that crashes.
    searcher = ArqonSearch(budget=10, batch_size=4, seed=1, points_to_evaluate=[crash])
    tuner = tune.Tuner(
        trainable,
        param_space=all_domains(),
        tune_config=tune.TuneConfig(
            metric="score", mode="max", search_alg=searcher, num_samples=16, max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="all", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 10  # the budget, not num_samples: FINISHED stopped the search
    n_err = len(results.errors)
    assert n_err >= 1  # errored trials are failures, and the search went on
    assert searcher.stats["completed"] == 10 and searcher.stats["failed"] == n_err
    assert searcher.solver_config["batch_size"] == 4
    best = results.get_best_result(metric="score", mode="max")
    assert best.metrics["score"] == max(r.metrics["score"] for r in results if r.error is None)
    assert list(tmp_path.rglob("searcher-state-*")), "Tune did not save the searcher"


@pytest.mark.ray
def test_tuner_asha_with_constructor_space(ray_cluster, tmp_path):
    from ray.tune.schedulers import ASHAScheduler

    def trainable(config):
        for step in range(1, 9):
            tune.report({"loss": (config["x"] - 0.5) ** 2 + config["w"] + 4.0 / step})

    space = {"x": tune.uniform(-2, 2), "w": tune.choice([0.0, 1.0, 3.0])}
    searcher = ArqonSearch(space, metric="loss", mode="min", seed=0)
    results = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=ASHAScheduler(metric="loss", mode="min", max_t=8, grace_period=1, reduction_factor=2),
            num_samples=10, max_concurrent_trials=2, reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="asha", verbose=0),
    ).fit()
    iters = [r.metrics["training_iteration"] for r in results]
    assert len(results) == 10 and not results.errors
    assert min(iters) < 8  # ASHA stopped some trials early ...
    assert searcher.stats["completed"] == 10 and searcher.stats["failed"] == 0  # ... with their last value
    assert searcher.solver_config["budget"] == 100  # no budget, no num_samples from Tune: the default plan


@pytest.mark.ray
def test_checkpoint_example_restores_the_search(ray_cluster, tmp_path):
    spec = importlib.util.spec_from_file_location("ray_tune_checkpoint", ROOT / "examples" / "ray_tune_checkpoint.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--quick"], storage_path=str(tmp_path))
    # 1. Each trial crashed at iteration 2 and resumed from its checkpoint at 3.
    assert out["n_trials"] == 4 and out["resumed_at"] == [3, 3, 3, 3]
    # 2. After the driver crash, Tuner.restore finished the run with the restored searcher:
    # a fresh one would have proposed its first points (the centre first) again.
    assert out["n_restored"] == 4 and out["errors_after_restore"] == 0
    assert len(set(out["configs"])) == 4
    assert out["configs"].count((0.0, 0.0, 0.0)) == 1

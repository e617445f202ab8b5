"""ArqonSearch, the Ray Tune searcher: space conversion, batched suggest, asynchronous and
failed completions, budget, concurrency, warm starts, save/restore, seeds, non-numeric
metrics, conditional spaces (domains inside tune.choice), the install hint without Ray,
and real Tuner runs (all Domain types, max mode, errors, ASHA, conditional spaces, the
checkpoint example with Tuner.restore).

The unit tests call the searcher directly; most share one solver configuration (the
``ALL`` space, budget 40, batch 4) so that it compiles once. The Tuner tests run on the
shared session cluster. About 80-100 s on 2 busy cores.
"""

from __future__ import annotations

import importlib.util
import math
import os
import json
import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402
from ray.tune.search.sample import Domain  # noqa: E402

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


def test_import_without_ray_says_how_to_install():
    # ``None`` in sys.modules makes ``import ray`` fail as if Ray were not installed.
    code = (
        "import sys\n"
        "sys.modules['ray'] = None\n"
        "import arqon_jax\n"
        "for name in ('arqon_jax.tune', 'arqon_jax.distributed'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as exc:\n"
        "        print(name, type(exc).__name__, exc)\n"
        "    else:\n"
        "        print(name, 'imported')\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout
    for line, name in zip(lines, ("arqon_jax.tune", "arqon_jax.distributed")):
        assert line.startswith(f"{name} ModuleNotFoundError "), line
        assert 'pip install "arqon_jax[ray]"' in line


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
    with pytest.raises(RuntimeError, match="metric") as info:
        s.suggest("t0")
    # Both ways of running Tune are named: Tuner's TuneConfig and tune.run's keywords.
    assert "tune.TuneConfig(metric=..., mode=...)" in str(info.value)
    assert "tune.run(..., metric=..., mode=...)" in str(info.value)
    with pytest.raises(RuntimeError, match="search space"):
        ArqonSearch(metric="loss", mode="min").suggest("t0")


@pytest.mark.parametrize("options, exc, match", [
    ({"probe_ratio": "x"}, TypeError, "^probe_ratio: "),
    ({"probe_ratio": 0.0}, ValueError, "^probe_ratio: "),
    ({"anchors": "center"}, TypeError, "^anchors: "),
    ({"strategy_options": {"tpe": {"gama": 0.2}}}, ValueError, "unknown option 'gama'"),
    ({"strategy_options": {"cmaes": {"sigma0": -1.0}}}, ValueError, "\\['sigma0'\\]"),
    ({"capacity": 0}, ValueError, "^capacity: "),
    ({"populationsize": 8}, ValueError, "^solver_options: unknown options"),
])
def test_solver_options_are_checked_when_given(options, exc, match):
    # The solver is built at the first suggest, inside Tune's loop: a bad value fails in the constructor.
    with pytest.raises(exc, match=match):
        ArqonSearch({"a": tune.uniform(0, 1)}, metric="loss", mode="min", solver_options=options)


def test_options_bounded_by_the_batch_are_checked_in_the_constructor():
    options = {"strategy_options": {"cmaes": {"n_instances": 5}}}
    with pytest.raises(ValueError, match="^strategy_options\\['cmaes'\\]\\['n_instances'\\]: expected at most "
                                         "batch_size=4"):
        ArqonSearch({"a": tune.uniform(0, 1)}, metric="loss", mode="min", batch_size=4, solver_options=options)
    s = ArqonSearch({"a": tune.uniform(0, 1)}, metric="loss", mode="min", batch_size=5, solver_options=options)
    assert s.suggest("t0") is not None


@pytest.mark.parametrize("concurrency, num_samples, batch", [(None, None, 4), (3, 100, 4), (8, 100, 8), (8, 3, 3)])
def test_options_bounded_by_a_derived_batch_say_where_it_came_from(concurrency, num_samples, batch):
    # Without batch_size the batch is derived at the first suggest; the error must not
    # name a batch_size the user never passed without saying so.
    def searcher(n_instances):
        s = ArqonSearch(solver_options={"strategy_options": {"cmaes": {"n_instances": n_instances}}})
        if concurrency is not None:
            s.set_max_concurrency(concurrency)
        spec = {} if num_samples is None else {"num_samples": num_samples}
        assert s.set_search_properties("loss", "min", {"a": tune.uniform(0, 1)}, **spec)
        return s

    with pytest.raises(ValueError, match=f"expected at most batch_size={batch} .*batch_size was not given: "
                                         f"ArqonSearch took max\\(4, max_concurrent={concurrency or 'unset'}\\)"):
        searcher(batch + 1).suggest("t0")
    assert searcher(batch).suggest("t0") is not None


def test_solver_options_reach_the_solver():
    space = {"a": tune.uniform(0, 1), "b": tune.randint(0, 10)}
    probes = {}
    for ratio in (0.1, 0.3):
        s = ArqonSearch(space, metric="loss", mode="min", budget=100, seed=3,
                        solver_options={"probe_ratio": ratio, "strategy_options": {"tpe": {"gamma": 0.25}},
                                        "anchors": ["min"]})
        configs = []
        for i in range(8):
            configs.append(s.suggest(f"t{i}"))
            s.on_trial_complete(f"t{i}", {"loss": configs[-1]["a"] + configs[-1]["b"]})
        probes[ratio] = s._session.solver.probe_count
        first = configs[0]
    assert probes == {0.1: 12, 0.3: 32}  # ceil(ratio * 100 / 4) batches of 4
    assert first == {"a": 0.0, "b": 0}  # the "min" anchor comes first


def test_batch_handout_order_and_one_ask_per_batch():
    s = make()
    configs = [s.suggest(f"t{i}") for i in range(4)]
    assert s.stats["asks"] == 1
    batch = s._session._batches[-1]
    assert [s._nested.config(v) for v in batch.V] == configs  # rows in order
    for c in configs:
        check_config(c)
        assert c["const"] == 7 and c["nested"] == {"k": "v"}  # constructor space: constants passed through
    s.suggest("t4")  # the first batch is used up: the next one is asked (no result needed)
    assert s.stats["asks"] == 2
    assert s._live["t4"][0] == 4 and s._session._batches[-1].ids[0] == 4  # eval_id 4: row 0 of the new batch


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
    hist = s._session.state.history
    assert int(hist.count) == 40
    assert int(hist.n_failed) == n_fail
    best = min(loss_of(c) for tid, c in suggested.items() if int(tid[1:]) % 7 not in (3, 5, 6))
    assert float(s._session.state.best_y) == pytest.approx(min(best, 5.0), rel=1e-5)


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
    assert float(s._session.state.best_y) == -10.0  # max mode: the solver minimizes the negated metric


def test_points_to_evaluate_warm_starts_and_add_evaluated_point():
    point = {"u": 1.0, "opt": {"lr": 1e-3, "mom": 0.5}, "ql": 0.5, "n": 2, "qi": 10, "li": 7, "qli": 8, "act": [1, 2]}
    s = make(points_to_evaluate=[point])
    c = s.suggest("p")
    assert {k: c[k] for k in point} == point and c["const"] == 7
    s.on_trial_complete("p", {"loss": 0.25})
    flat = {"u": 0.0, "opt/lr": 1e-2, "opt/mom": 0.1, "ql": 0.01, "n": 1, "qi": 0, "li": 1, "qli": 2, "act": None}
    s.add_evaluated_point(flat, 0.125)
    s.add_evaluated_point(flat, None, error=True)
    with pytest.raises(TypeError, match="^value: "):
        s.add_evaluated_point(flat, "0.1")
    with pytest.raises(ValueError, match="act"):
        s.add_evaluated_point(dict(flat, act="gelu"), 1.0)
    s.suggest("t1")
    assert s.stats["observed"] == 3
    assert int(s._session.state.history.count) == 3 and int(s._session.state.history.n_failed) == 1
    assert float(s._session.state.best_y) == pytest.approx(0.125)
    # evaluated_rewards: the points are recorded, not run again.
    w = make(points_to_evaluate=[point], evaluated_rewards=[0.5])
    c = w.suggest("t0")
    assert w.stats["observed"] == 1 and c != point
    # Values and parameters as a JAX or NumPy program gives them: 0-d arrays (refused before).
    j = make()
    j.add_evaluated_point({k: np.asarray(v) if isinstance(v, float) else v for k, v in flat.items()}, jnp.float32(0.25))
    j.suggest("t0")
    assert j.stats["observed"] == 1 and float(j._session.state.best_y) == 0.25


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
    with pytest.raises(ValueError, match="ArqonSearch state of this version .format None, expected 3"):
        b.set_state({"something": 1})
    # The saved form names its fields (no attribute names of the object); the solver
    # and its ledger are the session's versioned JSON state.
    state = a.get_state()
    assert set(state) == {"format", "session", "searcher"}
    assert json.loads(state["session"])["kind"] == "ArqonSearch"
    assert state["searcher"]["counts"] == {k: a.stats[k] for k in ("suggested", "completed", "failed")}
    assert not any(k.startswith("_") for k in state["searcher"])
    with pytest.raises(ValueError, match=r"missing fields \['live'\]"):  # refused, not half restored
        b.set_state({**state, "searcher": {k: v for k, v in state["searcher"].items() if k != "live"}})
    with pytest.raises(ValueError, match=r"missing fields \['session'\]"):
        b.set_state({k: v for k, v in state.items() if k != "session"})
    with pytest.raises(ValueError, match="'session', JSON text, and 'searcher.cfg' must be given together"):
        b.set_state({**state, "session": None})  # a started searcher without its ledger
    before = b.get_state()
    for bad in (123, '{"format": "garbage"}'):
        with pytest.raises(ValueError):
            b.set_state({**state, "session": bad})
        after = b.get_state()  # a refused state changes nothing
        assert after["session"] == before["session"] and after["searcher"]["counts"] == before["searcher"]["counts"]
    # A file that is not a pickle, or a truncated checkpoint: named, not pickle's own words.
    for name, data in (("garbage.pkl", b"not a checkpoint"), ("cut.pkl", path.read_bytes()[:100]), ("empty.pkl", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=f"restore: .*{name}.* is not an ArqonSearch checkpoint"):
            b.restore(str(tmp_path / name))
    assert b.get_state()["session"] == before["session"]
    with pytest.raises(FileNotFoundError):
        b.restore(str(tmp_path / "missing.pkl"))


def test_restore_refuses_a_state_of_another_space(tmp_path):
    # A searcher built with a space took the saved one silently and sampled it.
    from ray import tune

    a = make(seed=1)
    for i in range(3):
        a.suggest(f"t{i}")
    path = tmp_path / "a.pkl"
    a.save(str(path))
    other = ArqonSearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min")
    with pytest.raises(ValueError, match=r"another search space \(only in the state: .*only in this searcher: \['x'\]"):
        other.restore(str(path))
    assert other.suggest("z").keys() == {"x"}  # left as it was
    wider = {**all_domains(), "u": tune.uniform(-2.0, 4.0)}
    with pytest.raises(ValueError, match=r"u: state .*'max': 3.0.*this searcher .*'max': 4.0"):
        ArqonSearch(wider, metric="loss", mode="min").restore(str(path))
    # Differences the converted bounds do not show (choices become indexes there).
    for key, domain in (("act", tune.choice(["gelu", "silu", [1, 2], None])), ("const", 8), ("const", 7.0),
                        ("nested", {"k": "w"})):
        with pytest.raises(ValueError, match=rf"another search space \({key} differs"):
            ArqonSearch({**all_domains(), key: domain}, metric="loss", mode="min").restore(str(path))
    with pytest.raises(ValueError, match=r"saved with metric='loss', this searcher has metric='acc'"):
        ArqonSearch(metric="acc", mode="min").restore(str(path))
    # Without a space of its own, or with the same one, it continues the saved search.
    expected = a.suggest("t3")
    for b in (ArqonSearch(metric="loss", mode="min"), make(seed=9)):
        b.restore(str(path))
        assert b.suggest("t3") == expected


def test_nelder_mead_waits_for_its_batch():
    s = ArqonSearch({"x": tune.uniform(-1, 1), "y": tune.uniform(-1, 1)}, metric="loss", mode="min",
                    budget=40, batch_size=4, method="nelder-mead")
    configs = {}
    for i in range(4):  # the probe (one batch of 4 rows, 2 per dimension): handed out without waiting
        configs[f"t{i}"] = s.suggest(f"t{i}")
        assert configs[f"t{i}"] is not None
    for i in range(4):
        s.on_trial_complete(f"t{i}", {"loss": configs[f"t{i}"]["x"] ** 2 + configs[f"t{i}"]["y"] ** 2})
    for i in range(4, 8):
        configs[f"t{i}"] = s.suggest(f"t{i}")
    s.on_trial_complete("t4", {"loss": 1.0})
    assert s.suggest("t8") is None  # Nelder-Mead needs the whole batch
    for i in (5, 6, 7):
        s.on_trial_complete(f"t{i}", {"loss": 1.0})
    assert s.suggest("t8") is not None


def test_seed_uses_all_64_bits_and_refuses_invalid_seeds():
    low = make(seed=1)
    high = make(seed=2**32 + 1)  # differs from 1 only above bit 32
    first_low = [low.suggest(f"t{i}") for i in range(4)]
    first_high = [high.suggest(f"t{i}") for i in range(4)]
    assert first_low != first_high
    again = make(seed=2**32 + 1)
    assert [again.suggest(f"t{i}") for i in range(4)] == first_high  # still deterministic
    make(seed=2**64 - 1)  # the largest seed
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="seed"):
            ArqonSearch(seed=bad)
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError, match="seed"):
            ArqonSearch(seed=bad)


def test_non_numeric_metrics_are_failures_with_a_warning():
    s = ArqonSearch({"x": tune.uniform(0, 1)}, metric="loss", mode="min", budget=16, batch_size=4)
    bad = [1 + 2j, np.complex128(3.0), "0.5", True, np.bool_(False), [1.0, 2.0], {"v": 1.0}]
    for i, value in enumerate(bad):
        s.suggest(f"b{i}")
        with pytest.warns(UserWarning, match=rf"trial b{i} reported loss=.*not a real number"):
            s.on_trial_complete(f"b{i}", {"loss": value})
    assert s.stats["failed"] == len(bad)
    # The last value reported counts for a trial that completes without one; a
    # non-numeric one is a failure with a warning too.
    s.suggest("r")
    s.on_trial_result("r", {"loss": "nan?"})
    with pytest.warns(UserWarning, match=r"trial r reported loss=str 'nan\?'"):
        s.on_trial_complete("r", None)
    # A result without the metric (a misspelled metric= fails every trial) is a failure
    # with a warning that names the result's keys.
    s.suggest("m")
    with pytest.warns(UserWarning, match=r"result has no 'loss' \(its keys: \['other'\]\).*metric="):
        s.on_trial_complete("m", {"other": 1.0})
    # Real numbers of any numeric type are values; an error, or no result at all, is a
    # failure without a warning.
    good = [np.float32(0.25), np.int64(2), np.array(0.5), 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i, value in enumerate(good):
            s.suggest(f"g{i}")
            s.on_trial_complete(f"g{i}", {"loss": value})
        s.suggest("e")
        s.on_trial_complete("e", error=True)
        s.suggest("n")
        s.on_trial_complete("n", None)
    assert s.stats["failed"] == len(bad) + 1 + 3
    assert s.best[1] == 0.25
    with pytest.raises(TypeError, match="value"):
        s.add_evaluated_point({"x": 0.5}, 1 + 0j)
    with pytest.raises(TypeError, match="value"):
        s.add_evaluated_point({"x": 0.5}, np.complex64(1.0))


# ---------------------------------------------------- conditional spaces (domains inside tune.choice)
def conditional_space():
    return {
        "dropout": tune.choice([0.0, tune.quniform(0.05, 0.4, 0.05)]),
        "optim": tune.choice([
            {"opt": "sgd", "lr": tune.loguniform(1e-4, 1e-1), "nesterov": tune.choice([True, False])},
            {"opt": "adam", "beta": tune.uniform(0.8, 0.99)},
        ]),
        # lists and tuples holding domains, and a choice inside a choice's category
        "arch": tune.choice([[tune.randint(1, 4), 64], ("conv", tune.choice([3, tune.qrandint(4, 10, 2)]))]),
        "layers": [tune.randint(1, 3), 32],
        "fixed": tune.choice(["only"]),  # one category: a constant, but a domain in param_space
        "const": 7,
    }


def domains_in(value):
    """Paths of every Tune Domain left inside a config."""
    if isinstance(value, Domain):
        return [()]
    if isinstance(value, dict):
        return [(k,) + p for k, v in value.items() for p in domains_in(v)]
    if isinstance(value, (list, tuple)):
        return [(i,) + p for i, v in enumerate(value) for p in domains_in(v)]
    return []


def check_conditional(c, full=True):
    """A config of conditional_space(): no domain anywhere, only the chosen category, values in range."""
    assert domains_in(c) == [], c
    d = c["dropout"]
    assert d == 0.0 or (0.05 <= d <= 0.4 and abs(d / 0.05 - round(d / 0.05)) < 1e-9), d
    o = c["optim"]
    if o["opt"] == "sgd":
        assert set(o) == {"opt", "lr", "nesterov"} and 1e-4 <= o["lr"] <= 1e-1 and o["nesterov"] in (True, False)
    else:
        assert o == {"opt": "adam", "beta": o["beta"]} and 0.8 <= o["beta"] <= 0.99
    a = c["arch"]
    if isinstance(a, list):
        assert a[1] == 64 and a[0] in (1, 2, 3) and isinstance(a[0], int)
    else:
        assert isinstance(a, tuple) and a[0] == "conv" and a[1] in (3, 4, 6, 8, 10)
    assert isinstance(c["layers"], list) and c["layers"][0] in (1, 2) and c["layers"][1] == 32
    assert c["fixed"] == "only"
    assert ("const" in c) == full


def conditional_loss(c):
    o = c["optim"]
    base = (math.log10(o["lr"]) + 2) ** 2 if o["opt"] == "sgd" else 1.0 + (o["beta"] - 0.9) ** 2
    return base + abs(c["dropout"] - 0.1) + 0.1 * c["layers"][0]


@pytest.mark.parametrize("space, conditional", [
    (conditional_space(), True),
    ({"c": tune.choice([1, [tune.uniform(0, 1)]]), "x": tune.uniform(0, 1)}, True),
    ({"a": tune.uniform(0, 1), "c": tune.choice(["x", "y"]), "d": {"e": tune.loguniform(1e-3, 1)}}, False),
    # branches without parameters, and a one-category choice (its parameter always used)
    ({"c": tune.choice([{"k": "x"}, {"k": "y"}]), "one": tune.choice([tune.uniform(0, 1)])}, False),
])
def test_auto_refines_conditional_spaces_with_tpe_and_other_mixed_spaces_with_the_gp(space, conditional):
    # Measured (core.solver.make_solver): in a conditional space an unchosen branch's
    # parameters are noise to the GP's kernel, and TPE finds the minimum more often.
    s = ArqonSearch(space, metric="loss", mode="min", budget=100, seed=0)
    assert s.decision == {}  # the solver starts at the first suggest
    assert s.suggest("t0") is not None
    solver = s._session.solver
    assert s._nested.conditional is conditional
    assert solver.strategy_names == (("tpe",) if conditional else ("gp",)), solver.rule
    assert s.decision["rule"] == solver.rule and s.decision["strategy"] is None  # the probe is out
    assert ("not the GP: conditional dimensions" in s.decision["rule"]) is conditional


def test_conditional_space_conversion():
    bounds = convert_search_space(conditional_space())
    assert bounds["dropout"] == {"choices": [0, 1]}
    assert bounds["dropout/1"] == {"min": 1, "max": 8, "scale": "integer"}  # grid index of q=0.05
    assert bounds["optim"] == {"choices": [0, 1]}
    assert bounds["optim/0/lr"] == {"min": 1e-4, "max": 1e-1, "scale": "log"}
    assert bounds["optim/0/nesterov"] == {"choices": [0, 1]}
    assert bounds["optim/1/beta"] == {"min": 0.8, "max": 0.99, "scale": "linear"}
    assert bounds["arch/0/0"] == {"min": 1, "max": 3, "scale": "integer"}
    assert bounds["arch/1/1"] == {"choices": [0, 1]} and bounds["arch/1/1/1"]["scale"] == "integer"
    assert bounds["layers/0"] == {"min": 1, "max": 2, "scale": "integer"}
    assert "fixed" not in bounds and "const" not in bounds and "optim/0/opt" not in bounds
    with pytest.raises(ValueError, match="'c/1'"):  # unsupported domains are named inside categories too
        convert_search_space({"c": tune.choice([1, tune.randn(0, 1)])})
    with pytest.raises(ValueError, match="'c/0/g'"):
        convert_search_space({"c": tune.choice([{"g": tune.grid_search([1, 2])}, 2])})


@pytest.mark.parametrize("from_ctor", [True, False])
def test_conditional_configs_hold_only_sampled_values(from_ctor):
    if from_ctor:
        s = ArqonSearch(conditional_space(), metric="loss", mode="min", budget=48, batch_size=8, seed=2)
    else:  # the space from Tune: Tune merges the plain constants ("const") itself
        s = ArqonSearch(budget=48, batch_size=8, seed=2)
        assert s.set_search_properties("loss", "min", conditional_space()) is True
    configs = []
    while (c := s.suggest(f"t{len(configs)}")) not in (None, Searcher.FINISHED):
        check_conditional(c, full=from_ctor)
        configs.append(c)
        s.on_trial_complete(f"t{len(configs) - 1}", {"loss": conditional_loss(c)})
    assert len(configs) == 48
    # Every category was tried, with its nested domains sampled.
    assert {c["optim"]["opt"] for c in configs} == {"sgd", "adam"}
    assert {type(c["arch"]) for c in configs} == {list, tuple}
    assert {c["dropout"] == 0.0 for c in configs} == {True, False}
    assert len({c["optim"].get("lr") for c in configs if c["optim"]["opt"] == "sgd"}) > 3
    s.flush()
    assert int(s._session.state.history.count) == 48 and s.best[1] == min(conditional_loss(c) for c in configs)


def test_conditional_duplicates_compare_the_chosen_values_only():
    # 0 | 1 | 2: three configs, whatever the value of the inactive dimension "k/1".
    s = ArqonSearch({"k": tune.choice([0, tune.randint(1, 3)])}, metric="loss", mode="min",
                    budget=6, batch_size=2, method="tpe")
    values = []
    for i in range(6):
        c = s.suggest(f"t{i}")
        values.append(c["k"])
        s.on_trial_complete(f"t{i}", {"loss": float(c["k"])})
    assert sorted(values[:3]) == [0, 1, 2]  # no repeat until the space is used up
    assert s.suggest("t6") == Searcher.FINISHED  # and then repeats are handed out, not skipped forever


def test_conditional_points_to_evaluate_and_warm_starts():
    sgd = {"dropout": 0.0, "optim": {"opt": "sgd", "lr": 1e-2, "nesterov": True}, "arch": [2, 64], "layers": [1, 32]}
    adam = {"dropout": 0.15, "optim": {"opt": "adam", "beta": 0.9}, "arch": ("conv", 6), "layers": [2, 32]}
    s = ArqonSearch(conditional_space(), metric="loss", mode="min", budget=48, batch_size=8,
                    points_to_evaluate=[sgd, adam])
    for i, point in enumerate((sgd, adam)):
        c = s.suggest(f"p{i}")
        check_conditional(c)
        assert {k: c[k] for k in point} == point
        s.on_trial_complete(f"p{i}", {"loss": conditional_loss(c)})
    # Flattened keys (as Tune's flatten_dict writes them) work as well.
    flat = {"dropout": 0.4, "optim/opt": "adam", "optim/beta": 0.85, "arch": ("conv", 3), "layers/0": 1}
    s.add_evaluated_point(flat, 0.01)
    config, value = s.best
    assert value == 0.01 and config["optim"] == {"opt": "adam", "beta": 0.85} and config["arch"] == ("conv", 3)
    # A value that no category can produce is refused, naming the choice.
    for bad, name in [
        (dict(sgd, dropout=0.5), "'dropout'"),  # outside the quniform, not the constant 0.0
        (dict(sgd, optim={"opt": "rmsprop", "lr": 1e-2, "nesterov": True}), "'optim'"),
        (dict(sgd, optim={"opt": "adam", "beta": 0.9, "lr": 1e-2}), "'optim'"),  # keys of another category
        (dict(sgd, optim={"opt": "sgd", "lr": 1e-2}), "'optim'"),  # "nesterov" missing
        (dict(sgd, arch=["conv", 3]), "'arch'"),  # a list where the category is a tuple
        (dict(sgd, arch=("conv", 5)), "'arch'"),  # not a multiple of q=2
    ]:
        with pytest.raises(ValueError, match=name):
            s.add_evaluated_point(bad, 1.0)
    with pytest.raises(ValueError, match="misses the parameters"):
        s.add_evaluated_point({k: v for k, v in sgd.items() if k != "optim"}, 1.0)
    c = s.suggest("t0")  # the search goes on from the points
    check_conditional(c)
    assert s.stats["observed"] == 3


def test_conditional_save_restore_continue_identically(tmp_path):
    def make_cond(seed):
        return ArqonSearch(conditional_space(), metric="loss", mode="min", budget=40, batch_size=4, seed=seed,
                           method="tpe")

    a = make_cond(5)
    for i in range(12):
        c = a.suggest(f"t{i}")
        if i % 3 != 2:  # some trials still running at the checkpoint
            a.on_trial_complete(f"t{i}", {"loss": conditional_loss(c)})
    path = tmp_path / "searcher.pkl"
    a.save(str(path))
    b = make_cond(99)
    b.restore(str(path))
    c = pickle.loads(pickle.dumps(a))
    for i in range(12, 30):
        got = [x.suggest(f"t{i}") for x in (a, b, c)]
        assert got[0] == got[1] == got[2]
        check_conditional(got[0])
        for x in (a, b, c):
            x.on_trial_complete(f"t{i}", {"loss": conditional_loss(got[0])})
    assert a.stats == b.stats == c.stats


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
def test_tuner_conditional_space(ray_cluster, tmp_path):
    def trainable(config):
        check_conditional(config)  # no Domain object reaches the trainable
        return {"loss": conditional_loss(config)}

    adam = {"dropout": 0.1, "optim": {"opt": "adam", "beta": 0.9}, "arch": ("conv", 10), "layers": [1, 32]}
    searcher = ArqonSearch(budget=12, batch_size=4, seed=3, points_to_evaluate=[adam])
    results = tune.Tuner(
        trainable,
        param_space=conditional_space(),
        tune_config=tune.TuneConfig(metric="loss", mode="min", search_alg=searcher, num_samples=12,
                                    max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="conditional", verbose=0),
    ).fit()
    assert len(results) == 12 and not results.errors
    assert searcher.stats["completed"] == 12 and searcher.stats["failed"] == 0
    configs = [r.config for r in results]
    assert adam in [{k: c[k] for k in adam} for c in configs]
    assert {c["optim"]["opt"] for c in configs} == {"sgd", "adam"}
    best = results.get_best_result()
    assert best.metrics["loss"] == min(conditional_loss(c) for c in configs)


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
def test_checkpoint_example_restores_the_search(ray_cluster, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("ray_tune_checkpoint", ROOT / "examples" / "ray_tune_checkpoint.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    out = mod.main(["--quick"], storage_path=str(tmp_path / "results"))
    assert not list(temp.glob("arqon_crash_*"))  # its crash markers are removed (a user's /tmp kept them)
    # 1. Each trial crashed at iteration 2 and resumed from its checkpoint at 3.
    assert out["n_trials"] == 4 and out["resumed_at"] == [3, 3, 3, 3]
    # 2. After the driver crash, Tuner.restore finished the run with the restored searcher:
    # a fresh one would have proposed its first points (the centre first) again.
    assert out["n_restored"] == 4 and out["errors_after_restore"] == 0
    assert len(set(out["configs"])) == 4
    assert out["configs"].count((0.0, 0.0, 0.0)) == 1


@pytest.mark.ray
def test_conditional_example_runs(ray_cluster, tmp_path):
    spec = importlib.util.spec_from_file_location("ray_tune_conditional", ROOT / "examples" / "ray_tune_conditional.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--quick"], storage_path=str(tmp_path))
    assert out["n_trials"] == 12
    best = out["best_config"]
    assert domains_in(best) == [] and best["epochs"] == 3
    assert best["optim"]["name"] in ("sgd", "adam") and out["best_loss"] == mod.trainable(best)["loss"]


@pytest.mark.parametrize("domain", [tune.uniform(1e8, 1e8 + 100), tune.uniform(1e-40, 1e-39),
                                    tune.uniform(-1e39, 1e39)])
def test_spaces_float32_cannot_resolve_are_refused_naming_the_parameter(domain):
    with pytest.raises(ValueError, match="'?lr'?.*float32"):
        ArqonSearch(space={"lr": domain, "x": tune.uniform(0, 1)}, metric="loss", mode="min")

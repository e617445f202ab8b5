"""minimize's answers to the kinds of fault found by hostile inputs.

Each test names the kind it covers and tries several inputs of that kind.
"""

from __future__ import annotations

import gc
import math
import os
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import arqon_jax as aj
from arqon_jax.core.space import Space
from arqon_jax.core.strategies import base as base_mod
from arqon_jax.core.strategies import tpe as tpe_mod
from arqon_jax.core.strategies.base import Geometry

F32_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------ values float32 cannot hold or resolve
@pytest.mark.parametrize("value", [1e39, -1e39, 1e300, -F32_MAX * 2])
def test_finite_values_beyond_float32_are_not_failures(value):
    r = aj.minimize(lambda x: np.full(len(x), value), [(0, 1)], budget=20, jit=False)
    assert r.n_failed == 0
    assert r.fun == value


def test_values_clipped_for_a_float32_solver_are_announced():
    # With x64=False the solver ranks values beyond 3.4e38 as equal: the search went
    # blind without a word (relative error 9e-4 instead of 1.5e-13 on this function).
    def f(X):
        return 1e39 * (np.sum((np.asarray(X) - 0.3) ** 2, axis=1) + 1)

    with pytest.warns(UserWarning, match=r"60 values of f lay beyond float32's range .*pass x64=True"):
        r = aj.minimize(f, [(-1, 1)] * 3, budget=60, jit=False, x64=False)
    assert "clipped" in r.info["precision"] and r.fun == f(np.asarray(r.x)[None])[0]
    with warnings.catch_warnings(record=True) as seen:  # the default runs the host path in float64
        warnings.simplefilter("always")
        r = aj.minimize(f, [(-1, 1)] * 3, budget=60, jit=False)
    assert "precision" not in r.info and not [w for w in seen if "float32's range" in str(w.message)]


@pytest.mark.parametrize("vectorized", [True, False])
@pytest.mark.parametrize("offset", [1e7, -1e9, 1e15])
def test_reported_best_is_exactly_what_f_returned(vectorized, offset):
    def f(p):
        return offset + np.asarray(p["x"], np.float64)

    r = aj.minimize(f, {"x": (0.0, 0.5)}, budget=40, vectorized=vectorized, seed=3)
    assert r.fun == offset + r.x["x"]  # exact, in float64
    assert r.best_curve[-1] == r.fun
    assert np.all(np.diff(r.best_curve) <= 0)


def test_best_values_differing_below_float32_resolution_pick_the_smaller():
    # Two far-apart points whose values float32 rounds to the same number.
    def f(x):
        return 1e7 + np.abs(x[:, 0] - 0.3)

    r = aj.minimize(f, [(0.0, 1.0)], budget=60, jit=False, seed=1)
    assert r.fun == 1e7 + abs(r.x[0] - 0.3)
    assert abs(r.x[0] - 0.3) < 0.05


def _float32_warning(x64):
    # Asked for float32 (x64=False) the switch is announced; by default the host path
    # runs in float64 anyway, so there is nothing to warn about.
    if x64 is False:
        return pytest.warns(UserWarning, match=r"x\[0\].*float64|smallest normal")
    return warnings.catch_warnings(record=True)


@pytest.mark.parametrize("x64", [None, False])
@pytest.mark.parametrize("bounds", [[(1e8, 1e8 + 100)], [(-1e8 - 100, -1e8)], [(1e6, 1e6 + 1)]])
def test_unresolvable_range_switches_to_float64_with_a_warning(bounds, x64):
    seen = []

    def f(x):
        seen.extend(x[:, 0].tolist())
        return (x[:, 0] - (bounds[0][0] + 0.37 * (bounds[0][1] - bounds[0][0]))) ** 2

    with _float32_warning(x64) as caught:
        r = aj.minimize(f, bounds, budget=100, jit=False, x64=x64)
    if x64 is None:
        assert not [w for w in caught if issubclass(w.category, UserWarning)]
    assert r.info["x64"].startswith("switched on: x[0]")
    assert len(set(seen)) > 90  # float32 holds ~13 values there
    lo, hi = bounds[0]
    assert all(lo <= v <= hi for v in seen)


@pytest.mark.parametrize("x64", [None, False])
@pytest.mark.parametrize("bounds,scale", [((1e-40, 1e-39), "linear"), ((1e-45, 1e-39), "log"), ((-1e-39, -1e-40), "linear")])
def test_subnormal_bounds_never_leave_the_box(bounds, scale, x64):
    seen = []

    def f(p):
        seen.append(p["x"])
        return abs(p["x"])

    with _float32_warning(x64):
        r = aj.minimize(f, {"x": {"min": bounds[0], "max": bounds[1], "scale": scale}}, budget=30, vectorized=False,
                        x64=x64)
    assert "smallest normal" in r.info["x64"]
    assert all(bounds[0] <= v <= bounds[1] for v in seen)
    assert 0.0 not in seen
    assert bounds[0] <= r.x["x"] <= bounds[1]


def test_make_minimizer_refuses_unresolvable_bounds():
    with pytest.raises(ValueError, match=r"x\[0\].*jax_enable_x64"):
        aj.make_minimizer(lambda x: jnp.sum(x, 1), [(1e8, 1e8 + 100)], budget=20)


def test_resolvable_ranges_do_not_warn(recwarn):
    aj.minimize(lambda x: np.sum(x, 1), [(0, 1), (1000, 1001), (-1e30, 1e30)], budget=20, jit=False)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# ------------------------------------------------------------- work lost at the end
def _counting(calls):
    def f(x):
        calls.append(len(x))
        return np.sum(x**2, axis=1)

    return f


def test_checkpoint_in_missing_folder_fails_before_any_evaluation(tmp_path):
    calls = []
    with pytest.raises(OSError, match="checkpoint"):
        aj.minimize(_counting(calls), [(-1, 1)], budget=50, jit=False, checkpoint=tmp_path / "missing" / "c.json")
    assert calls == []


def test_checkpoint_of_unstorable_choices_fails_before_any_evaluation(tmp_path):
    calls = []

    def f(p):
        calls.append(p)
        return float(p["g"](p["x"]))

    bounds = {"g": {"choices": [np.tanh, np.sin]}, "x": (0.0, 1.0)}
    with pytest.raises(TypeError, match="checkpoint"):
        aj.minimize(f, bounds, budget=30, vectorized=False, checkpoint=tmp_path / "c.json")
    assert calls == []


def test_device_checkpoint_in_missing_folder_fails_before_the_run(tmp_path):
    with pytest.raises(OSError, match="checkpoint"):
        aj.minimize(lambda x: jnp.sum(x**2, 1), [(-1, 1)], budget=50, checkpoint=tmp_path / "nope" / "c.json")


def test_checkpoint_write_failing_later_hands_back_the_run(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()

    def callback(res):
        if res.nfev == 20:
            (folder / "c.json").unlink()
            folder.rmdir()

    with pytest.raises(aj.OptimizationError, match="checkpoint") as info:
        aj.minimize(_counting([]), [(-1, 1)], budget=100, batch_size=10, jit=False, callback=callback,
                    checkpoint=folder / "c.json", checkpoint_every=3)
    partial = info.value.partial_result
    assert partial.nfev == 30 and math.isfinite(partial.fun)
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("where", ["f", "callback"])
def test_keyboard_interrupt_hands_back_the_run(where):
    calls = []

    def f(x):
        calls.append(1)
        if where == "f" and len(calls) == 4:
            raise KeyboardInterrupt
        return np.sum(x**2, axis=1)

    def callback(res):
        if where == "callback" and res.nfev == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        aj.minimize(f, [(-1, 1)] * 2, budget=100, batch_size=10, jit=False, callback=callback)
    assert isinstance(info.value, aj.OptimizationInterrupted)
    partial = info.value.partial_result
    assert partial.nfev == 30 and partial.status == 3
    assert partial.fun == float(np.sum(np.asarray(partial.x) ** 2))


def test_exception_in_callback_hands_back_the_run():
    def callback(res):
        if res.nfev == 20:
            raise ValueError("plotting failed")

    with pytest.raises(aj.OptimizationError, match="plotting failed") as info:
        aj.minimize(_counting([]), [(-1, 1)], budget=100, batch_size=10, jit=False, callback=callback)
    assert info.value.partial_result.nfev == 20
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize("jit", [True, False])
def test_resume_with_another_checkpoint_every_gives_the_same_result(tmp_path, jit):
    f = (lambda x: jnp.sum(x**2, 1)) if jit else (lambda x: np.sum(x**2, 1))
    kw = dict(budget=90, batch_size=10, seed=4, jit=jit, polish=False)
    full = aj.minimize(f, [(-1, 2)] * 2, **kw)
    path = tmp_path / "c.json"
    stop = {"n": 0}

    def cb(res):
        stop["n"] = res.nfev
        return res.nfev >= 40

    if jit:  # the device path has no callback: run a shorter budget's worth through a checkpoint
        aj.minimize(f, [(-1, 2)] * 2, checkpoint=path, checkpoint_every=2, **kw)
        g = f
    else:
        # The callback stops after batch 4, between two periodic checkpoints (every 3):
        # the stop writes one of its own, so the resume evaluates only the 50 points left.
        aj.minimize(f, [(-1, 2)] * 2, checkpoint=path, checkpoint_every=3, callback=cb, **{**kw, "jit": False})
        assert stop["n"] == 40
        rows = []

        def g(x):
            rows.append(len(x))
            return f(x)
    resumed = aj.minimize(g, [(-1, 2)] * 2, checkpoint=path, checkpoint_every=5, resume=True, **kw)
    assert resumed.fun == full.fun
    np.testing.assert_array_equal(np.asarray(resumed.x), np.asarray(full.x))
    if not jit:
        assert sum(rows) == 50 and resumed.nfev == 90


@pytest.mark.parametrize("change,name", [({"budget": 120}, "budget"), ({"method": "random"}, "method"),
                                         ({"batch_size": 20}, "batch_size"), ({"seed": 1}, "seed"),
                                         ({"seed": 2**32}, "seed")])
def test_resume_with_another_configuration_names_the_argument(tmp_path, change, name):
    path = tmp_path / "c.json"
    kw = dict(budget=60, batch_size=10, seed=0, jit=False)
    aj.minimize(lambda x: np.sum(x**2, 1), [(-1, 1)] * 2, checkpoint=path, **kw)
    with pytest.raises(ValueError, match=f"{name}: (checkpoint|the checkpoint)"):
        aj.minimize(lambda x: np.sum(x**2, 1), [(-1, 1)] * 2, checkpoint=path, resume=True, **{**kw, **change})


# ----------------------------------------------- memory that grows with the problem
@pytest.mark.parametrize("bounds", [[(0, 1)] * 6, {"a": (0, 1), "b": {"min": 0, "max": 5, "scale": "integer"},
                                                    "c": {"choices": ["x", "y", "z"]}}])
def test_tpe_scores_in_bounded_blocks_with_the_same_proposals(monkeypatch, bounds):
    from arqon_jax.core.solver import make_solver

    space = Space.from_bounds(bounds)
    solver = make_solver(space, 200, 10, method="tpe", probe_ratio=0.5)
    state = solver.init(jax.random.key(0))
    ask, tell = jax.jit(solver.ask), jax.jit(solver.tell)
    for _ in range(12):
        X, state = ask(state)
        state = tell(state, X, jnp.sum((X - 0.3) ** 2, 1))
    history = state.history
    geom = Geometry.from_space(space)
    whole = tpe_mod.make_tpe(geom, 10, 200, n_candidates=256)
    key = jax.random.key(5)
    s0 = whole.init(key, history)
    # The block size is read when ask is traced: the whole-block run is traced first.
    X1, _ = jax.jit(whole.ask)(s0, key, history)
    monkeypatch.setattr(base_mod, "MAX_BLOCK", space.dim * 200 * 3)  # chunks of 3 rows
    chunked = tpe_mod.make_tpe(geom, 10, 200, n_candidates=256)
    X2, _ = jax.jit(chunked.ask)(s0, key, history)
    np.testing.assert_allclose(np.asarray(X1), np.asarray(X2), rtol=0, atol=1e-6)


def _big_closure(path: str):
    data = np.ones(1_000_000)

    if path == "host":
        def f(x, data=data):
            return np.sum(np.asarray(x) ** 2, 1) + 0 * data[0]
    else:
        def f(x, data=data):
            return jnp.sum(x**2, 1) + 0 * data[0]
    return f


@pytest.mark.parametrize("kw", [dict(), dict(jit=False), dict(budget=1200, batch_size=100), dict(checkpoint=True)])
def test_compile_caches_do_not_keep_the_objective_alive(tmp_path, kw):
    kw = dict(kw)
    if kw.pop("checkpoint", False):
        kw["checkpoint"] = tmp_path / "c.json"
    f = _big_closure("host" if kw.get("jit") is False else "device")
    ref = weakref.ref(f)
    aj.minimize(f, [(-1, 1)] * 2, **{"budget": 40, **kw})
    del f
    gc.collect()
    assert ref() is None


def test_same_objective_reuses_its_compiled_loop():
    f = _big_closure("device")
    aj.minimize(f, [(-1, 1)] * 2, budget=40)
    with jax.log_compiles():
        import logging

        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("jax").addHandler(handler)
        try:
            aj.minimize(f, [(-1, 1)] * 2, budget=40, seed=1)
        finally:
            logging.getLogger("jax").removeHandler(handler)
    assert not [r for r in records if "Compiling" in r.getMessage() and "run" in r.getMessage()]


# ----------------------------------------------------------- identity and consistency
@pytest.mark.parametrize("vectorized", [True, False])
def test_spaces_equal_by_value_but_not_by_type_do_not_share_a_solver(vectorized):
    def run(choices):
        seen = set()

        def f(p):
            vals = p["c"] if vectorized else [p["c"]]
            seen.update(type(v) for v in vals)
            return np.zeros(len(vals)) if vectorized else 0.0

        aj.minimize(f, {"c": {"choices": choices}}, budget=10, vectorized=vectorized, jit=False)
        return seen

    # Pointwise: the choices themselves; vectorized: numpy arrays of their kind.
    assert run([True, False]) == ({np.bool_} if vectorized else {bool})
    assert run([1, 0]) == ({np.int64} if vectorized else {int})
    assert run([1.0, 0.0]) == ({np.float64} if vectorized else {float})


@pytest.mark.parametrize("choices", [["a", "a", "b"], [1, 2, 1], [np.int64(3), np.int64(3)], [(1, 2), (1, 2)]])
def test_duplicate_choices_are_refused(choices):
    with pytest.raises(ValueError, match="duplicate choice"):
        aj.minimize(lambda p: 0.0, {"c": {"choices": choices}}, budget=10, vectorized=False)


def test_distinct_types_are_not_duplicates():
    Space.from_bounds({"c": {"choices": [1, True, 1.5]}})


@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (2**64, ValueError), (True, TypeError), (1.0, TypeError)])
def test_bad_seeds_are_refused(seed, exc):
    with pytest.raises(exc, match="seed"):
        aj.minimize(lambda x: np.sum(x, 1), [(0, 1)], budget=10, seed=seed, jit=False)



@pytest.mark.parametrize("kwargs, exc, message", [
    ({"errors": 1}, TypeError, r"errors: expected 'raise' or 'record', got int 1"),
    ({"errors": "ignore"}, ValueError, r"errors: expected 'raise' or 'record'"),
    ({"progress": 2}, TypeError, r"progress: expected a bool, got int 2"),
    ({"progress": "yes"}, TypeError, r"progress: expected a bool"),
    ({"checkpoint_every": 2.5}, TypeError, r"checkpoint_every: expected an integer, got float 2.5"),
    ({"checkpoint_every": 0}, ValueError, r"checkpoint_every: expected an integer >= 1, got 0"),
])
def test_flags_of_the_wrong_type_or_value_are_refused(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        aj.minimize(lambda x: np.sum(x, 1), [(0, 1)] * 2, budget=10, jit=False, **kwargs)


def test_a_device_shape_error_names_the_batch_the_run_uses():
    # On the CPU the default batch at this budget is 5 (not the wide rule's 10).
    cpu = jax.default_backend() == "cpu"
    batch = aj.default_batch_size(30, 3, wide=not cpu)
    assert batch == (5 if cpu else 10)
    with pytest.raises(ValueError, match=rf"returned shape \(\), expected \({batch},\)"):
        aj.minimize(lambda x: jnp.sum(x), [(-1, 1)] * 3, budget=30)

def test_all_64_seed_bits_count():
    def run(seed):
        return aj.minimize(lambda x: np.sum(x, 1), [(0, 1)] * 3, budget=20, seed=seed, method="random", jit=False).x

    assert not np.array_equal(run(1), run(2**32 + 1))
    assert not np.array_equal(run(2**32 - 1), run(2**64 - 1))
    np.testing.assert_array_equal(run(2**40 + 7), run(2**40 + 7))


@pytest.mark.parametrize("f,kw", [
    (lambda x: np.sum(x, 1) * (1 + 1j), {"jit": False}),
    (lambda x: [complex(v, 1) for v in np.sum(x, 1)], {"jit": False}),
    (lambda x: complex(np.sum(x), 0), {"vectorized": False}),
    (lambda x: np.complex128(1), {"vectorized": False}),
    (lambda x: jnp.sum(x, 1).astype(jnp.complex64), {}),
])
def test_complex_objectives_are_refused(f, kw):
    with pytest.raises(TypeError, match="complex"):
        aj.minimize(f, [(0, 1)] * 2, budget=10, **kw)


# ----------------------------------------------------------- what a new user trips on
def test_numeric_choices_reach_a_jax_objective_as_values():
    r = aj.minimize(lambda p: jnp.where(p["k"] == 10, 0.0, 1.0) + (p["x"] - 0.2) ** 2,
                    {"k": {"choices": [1, 5, 10]}, "x": (0.0, 1.0)}, budget=100)
    assert r.info["path"] == "device"
    assert r.x["k"] == 10 and r.fun < 0.01


@pytest.mark.parametrize("choices", [[1, 5, 10], [0.5, 2.0, 8.0], [True, False], [-3, 7]])
def test_both_paths_see_the_same_choice_values(choices):
    seen = {}

    def host(p):
        seen.setdefault("host", set()).update(np.asarray(p["k"]).tolist())
        return np.asarray(p["x"], np.float64)

    aj.minimize(host, {"k": {"choices": choices}, "x": (0.0, 1.0)}, budget=30, jit=False)
    dev = aj.minimize(lambda p: p["x"] + 0 * p["k"].astype(jnp.float32) + 100.0 * (p["k"] == choices[-1]),
                      {"k": {"choices": choices}, "x": (0.0, 1.0)}, budget=30)
    assert seen["host"] <= set(choices)
    assert dev.x["k"] in choices and dev.x["k"] != choices[-1]  # the device objective saw values


def test_string_choices_run_on_the_host_path_with_the_choices():
    seen = set()

    def f(p):
        seen.update(p["act"].tolist())
        return jnp.asarray(p["x"])

    r = aj.minimize(f, {"act": {"choices": ["relu", "tanh"]}, "x": (0.0, 1.0)}, budget=20)
    assert r.info["path"] == "host"
    assert seen == {"relu", "tanh"}


def test_string_choices_with_jit_true_give_indexes_as_documented():
    r = aj.minimize(lambda p: p["x"] + 10.0 * (p["act"] == 0), {"act": {"choices": ["relu", "tanh"]}, "x": (0.0, 1.0)},
                    budget=30, jit=True)
    assert r.info["path"] == "device" and r.x["act"] == "tanh"


def test_no_persistent_cache_warning_on_import_and_run(tmp_path):
    import subprocess
    import sys

    code = ("import arqon_jax as aj, numpy as np; "
            "aj.minimize(lambda x: np.sum(x, 1), [(0, 1)], budget=10, jit=False)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "filelock" not in out.stderr and "Error reading" not in out.stderr


# ------------------------------------------------- found by a fresh user's trial
@pytest.mark.parametrize("bounds", [[(-1e300, 1e300)], [(0.0, 1e300)] * 2, [(-3e38, 3e38)]])
def test_bounds_beyond_float32_run_in_float64_without_numpy_warnings(bounds):
    # Casting them to float32 constants printed numpy's "overflow encountered in cast".
    # Recorded, not raised: code that catches exceptions would take another path.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = aj.minimize(lambda X: np.sum((np.asarray(X) / 1e160) ** 2, axis=1), bounds, budget=20, seed=0)
    assert [str(w.message) for w in seen if issubclass(w.category, RuntimeWarning)] == []
    assert r.nfev == 20 and "float32" in r.info["x64"] and np.isfinite(r.fun)


def test_make_minimizers_run_names_a_bad_key():
    # JAX's own "invalid PRNG key data ... ndim=0" did not name the argument.
    run = aj.make_minimizer(lambda X: jnp.sum((X - 0.3) ** 2, 1), [(-1, 1)] * 2, budget=20, batch_size=10)
    for bad in (3, "k", jnp.zeros(3, jnp.uint32)):
        with pytest.raises(TypeError, match="key: expected a JAX PRNG key"):
            run(bad)
    for keys in (jax.random.split(jax.random.key(0), 2), jax.random.split(jax.random.PRNGKey(0), 4)):
        with pytest.raises(TypeError, match=r"batch of keys .* jax.vmap\(run\)\(keys\)"):
            run(keys)
    x, y, _ = run(jax.random.PRNGKey(1))  # a raw key, as jax.random.split of one gives
    x2, y2, _ = jax.jit(run)(jax.random.PRNGKey(1))
    assert float(y) == pytest.approx(float(y2), rel=1e-5, abs=1e-7)


def test_make_minimizer_keeps_its_objective_alive():
    run = aj.make_minimizer(lambda X: jnp.sum((X - 0.3) ** 2, 1), [(-1, 1)] * 2, budget=50)
    gc.collect()
    x, fun, curve = run(jax.random.key(1))
    assert float(fun) == pytest.approx(float(jnp.sum((x - 0.3) ** 2)), rel=1e-5)
    # One entry per batch: 50 // the CPU's small-budget batch of 5.
    assert curve.shape == (50 // aj.default_batch_size(50, 2, wide=jax.default_backend() != "cpu"),)


@pytest.mark.parametrize("dim", [10, 4])
def test_function_of_one_point_is_refused_when_the_batch_equals_the_dimension(dim):
    def f(x):  # scipy style: one point, but iterating a (dim, dim) batch gives (dim,) values
        return sum((xi - 0.3) ** 2 for xi in x)

    with pytest.raises(ValueError, match="vectorized=False"):
        aj.minimize(f, [(-1, 1)] * dim, budget=100, batch_size=dim)
    r = aj.minimize(f, [(-1, 1)] * dim, budget=40, batch_size=dim, vectorized=False)
    assert r.fun == pytest.approx(float(f(np.asarray(r.x))))


def test_float_choices_float32_rounds_still_reach_a_jax_objective_as_values():
    r = aj.minimize(lambda p: jnp.abs(p["lr"] - 0.01) + p["x"] ** 2,
                    {"lr": {"choices": [0.1, 0.01, 0.001]}, "x": (-1, 1)}, budget=50)
    assert r.info["path"] == "device" and r.x["lr"] == 0.01


@pytest.mark.parametrize("choices,dtype", [([0.1, 0.01], np.float64), ([1, 5], np.int64), ([True, False], np.bool_),
                                           (["a", "b"], object), ([1, "a"], object)])
def test_host_objectives_get_numeric_arrays_for_numeric_choices(choices, dtype):
    seen = []

    def f(p):
        seen.append(p["c"].dtype)
        return np.asarray(p["x"], np.float64)

    aj.minimize(f, {"c": {"choices": choices}, "x": (0.0, 1.0)}, budget=20, jit=False)
    assert set(seen) == {np.dtype(dtype)}


@pytest.mark.parametrize("stop", [RuntimeError("boom"), KeyboardInterrupt()])
def test_points_finished_before_a_pointwise_failure_are_kept(stop):
    calls = []

    def f(x):
        calls.append(1)
        if len(calls) == 37:
            raise stop
        return float(np.sum(x**2))

    with pytest.raises((aj.OptimizationError, aj.OptimizationInterrupted)) as info:
        aj.minimize(f, [(-1, 1)] * 2, budget=100, batch_size=10, vectorized=False)
    assert info.value.partial_result.nfev == 36


def test_device_run_decided_by_float32_resolution_warns_and_x64_fixes_it():
    f = lambda X: 1e7 + jnp.sum((X - 1.2345) ** 2, 1)  # noqa: E731
    with pytest.warns(UserWarning, match="x64=True"):
        r = aj.minimize(f, [(-5, 5)] * 2, budget=200)
    assert "x64" in r.info["precision"]
    exact = aj.minimize(f, [(-5, 5)] * 2, budget=200, x64=True)
    assert "precision" not in exact.info
    assert np.allclose(exact.x, 1.2345, atol=0.05)


def test_device_values_beyond_float32_say_how_to_get_them(recwarn):
    r = aj.minimize(lambda X: 1e39 + jnp.sum(X, 1), [(-5, 5)] * 2, budget=40)
    assert not r.success and "x64=True" in r.message


def test_small_plateaus_do_not_warn(recwarn):
    r = aj.minimize(lambda X: jnp.floor(jnp.sum(X**2, 1)), [(-5, 5)] * 2, budget=100)
    assert "precision" not in r.info
    assert not [w for w in recwarn if "x64" in str(w.message)]


@pytest.mark.parametrize("f, vectorized, says", [
    (lambda x: float(x[0] ** 2 + x[1] ** 2), True, "function of one point: pass vectorized=False"),
    (lambda x: 1.0 if x[0] > 0 else 0.0, True, "function of one point: pass vectorized=False"),
    (lambda X: X[:, 0] ** 2, False, "function of a batch: pass vectorized=True"),
    (lambda p: float(sum(range(p["layers"]))) + p["lr"], True, "function of one point: pass vectorized=False"),
    (lambda p: {"relu": 1.0, "gelu": 2.0}[p["act"]] + p["lr"], True, "function of one point"),
    (lambda p: float(f"{p['lr']:.4f}"), True, "function of one point"),
])
def test_an_objective_of_the_other_form_is_named_in_the_error(f, vectorized, says):
    bounds = {"lr": (0.0, 1.0), "layers": {"min": 1, "max": 4, "scale": "integer"},
              "act": {"choices": ["relu", "gelu"]}}
    if f.__code__.co_varnames[0] != "p":
        bounds = [(-1, 1), (-1, 1)]
    with pytest.raises(aj.OptimizationError) as info:
        aj.minimize(f, bounds, budget=20, vectorized=vectorized, jit=False, polish=False)
    assert says in str(info.value)
    assert info.value.partial_result.nfev == 0


@pytest.mark.parametrize("f, vectorized", [
    # Bugs inside f that raise the messages of a mix-up: the other form fails too, so no hint.
    (lambda x: float(np.arange(5.0)[int(abs(x[0])), 0]), False),
    (lambda X: np.sum(X**2, axis=1) * float(np.array([0.1, 0.2])), True),
])
def test_a_bug_that_looks_like_a_mix_up_gets_no_hint(f, vectorized):
    with pytest.raises(aj.OptimizationError) as info:
        aj.minimize(f, [(-1, 1), (-1, 1)], budget=20, vectorized=vectorized, jit=False, polish=False)
    assert "vectorized=" not in str(info.value)


@pytest.mark.parametrize("f", [lambda x: jnp.sum(x**2), lambda x: x[0] ** 2 + x[1] ** 2,
                               lambda x: jnp.linalg.norm(x)])
def test_a_traceable_function_of_one_point_is_named_on_the_device_path(f):
    with pytest.raises(ValueError, match="function of one point: pass vectorized=False"):
        aj.minimize(f, [(-5, 5)] * 3, budget=30)


def _three_values_on_the_third_call(X, calls):
    return np.zeros(3) if len(calls) == 3 else np.sum(X**2, axis=1)


def _always_ten_values(X, calls):  # wrong on the last batch of a budget of 45: it has 5 rows
    return np.sum(np.resize(X, (10, X.shape[1])) ** 2, axis=1)


@pytest.mark.parametrize("budget, output", [(40, _three_values_on_the_third_call), (45, _always_ten_values)])
def test_a_wrong_output_after_good_batches_hands_back_the_run(budget, output):
    calls, points = [], []

    def f(X):
        if np.ndim(X) == 1:  # the advice's check: f on one point (the other form)
            points.append(X)
            return np.sum(X**2, axis=1)  # fails: no advice
        calls.append(len(X))
        return output(X, calls)

    with pytest.raises(aj.OptimizationError, match="wrong output after") as info:
        aj.minimize(f, [(-1, 1), (-1, 1)], budget=budget, batch_size=10, jit=False, polish=False)
    partial = info.value.partial_result
    assert partial.nfev == 10 * (len(calls) - 1) and partial.nfev > 0 and len(points) == 1
    assert np.isfinite(partial.fun) and "vectorized=" not in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_an_objective_that_fails_for_another_reason_gets_no_form_hint():
    def f(X):
        raise RuntimeError("the simulator is down")

    with pytest.raises(aj.OptimizationError) as info:
        aj.minimize(f, [(-1, 1), (-1, 1)], budget=20, jit=False, polish=False)
    assert "the simulator is down" in str(info.value) and "vectorized" not in str(info.value)


@pytest.mark.parametrize("exc", [StopIteration(), KeyError(), RuntimeError("")])
def test_an_exception_without_a_message_is_named_by_its_type(exc):
    def callback(res):
        raise exc

    with pytest.raises(aj.OptimizationError) as info:
        aj.minimize(lambda X: np.sum(X**2, axis=1), [(-1, 1)], budget=40, batch_size=10, jit=False, callback=callback)
    assert f"callback raised {type(exc).__name__} (after 10 evaluations)" in str(info.value)


@pytest.mark.parametrize("extra", [{"errors": "record"}, {"callback": lambda r: None}])
def test_jit_true_with_a_host_only_option_is_refused(extra):
    with pytest.raises(ValueError, match="jit: .* runs on the host path"):
        aj.minimize(lambda X: jnp.sum(X**2, axis=1), [(-1, 1)], budget=20, jit=True, **extra)


@pytest.mark.parametrize("f, jit", [
    (lambda x: jnp.sum(x**2, axis=1)[1:], None),  # batch functions with a bug: no advice
    (lambda x: jnp.mean(jnp.sum(x**2, axis=1)), None),
    (lambda x: np.sum(np.asarray(x) ** 2, axis=1)[1:], False),
    (lambda x: np.array([float(np.sum(np.asarray(x) ** 2)), 0.9]), False),  # one point, two values: neither form
])
def test_a_wrong_shape_gets_advice_only_when_the_other_form_works(f, jit):
    with pytest.raises(ValueError, match="returned shape") as info:
        aj.minimize(f, [(-5, 5)] * 3, budget=30, jit=jit, polish=False)
    assert "vectorized" not in str(info.value)


@pytest.mark.parametrize("f", [
    lambda x: np.asarray(x)[0] ** 2 + np.asarray(x)[1] ** 2,  # adds rows 0 and 1 of a batch: (dim,) values
    lambda x: np.sum(np.asarray(x) ** 2),
    lambda x: sum(float(v) ** 2 for v in np.asarray(x)),
])
@pytest.mark.parametrize("dim, budget", [(10, 1100), (5, 100)])
@pytest.mark.parametrize("errors", ["raise", "record"])
def test_a_function_of_one_point_is_caught_on_the_host_path_when_the_batch_equals_the_dimension(f, dim, budget, errors):
    # The default batch equals the dimension here, so a (dim, dim) batch fits a function of
    # one point; with errors="record" its first batch, split in two calls, raises on every
    # row, which must not be recorded as failures (the later batches would run, wrongly).
    assert aj.default_batch_size(budget, dim, wide=False) == dim
    with pytest.raises((ValueError, TypeError, aj.OptimizationError), match="pass vectorized=False"):
        aj.minimize(f, [(-5, 5)] * dim, budget=budget, jit=False, polish=False, errors=errors)


def test_a_shape_error_of_the_split_first_batch_says_why_its_row_count_differs():
    # "expected (2,)" for a run whose batch is 3 rows named a size the user never chose.
    with pytest.raises(ValueError, match=r"expected \(2,\).*first batch of 3 rows goes to f in calls of 1 and 2 rows"):
        aj.minimize(lambda X: np.asarray(X)[:1, 0], [(-5, 5)] * 3, budget=3, jit=False)
    with pytest.raises(ValueError, match=r"expected \(10,\)") as info:  # no split: no note
        aj.minimize(lambda X: np.asarray(X)[:1, 0], [(-5, 5)] * 3, budget=300, batch_size=10, jit=False)
    assert "calls of 1" not in str(info.value)


@pytest.mark.parametrize("errors", ["raise", "record"])
def test_a_function_of_one_point_first_seen_on_a_later_batch_gets_the_advice(errors):
    # 2-D in batches of 2: the split first batch is two calls of one row, which this
    # function answers right; the second batch was refused without the advice.
    with pytest.raises(aj.OptimizationError, match=r"after 2 evaluations.*pass vectorized=False"):
        aj.minimize(lambda x: float(np.sum((np.asarray(x) - 0.3) ** 2)), [(-1, 1)] * 2, budget=10, batch_size=2,
                    jit=False, errors=errors)


def _rosenbrock_of_one_point(x):
    x = np.asarray(x)
    return sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)  # (1, dim): sums nothing, 0


@pytest.mark.parametrize("errors", ["raise", "record"])
@pytest.mark.parametrize("dim, budget", [(5, 1), (3, 1), (2, 2)])
def test_a_function_of_one_point_is_caught_in_batches_of_one_row(dim, budget, errors):
    # Budget 1 (or the split first batch of 2-D at budget 2) hands f a (1, dim) batch,
    # which this function answers with a number without an error: 0 instead of f(x).
    # The same error in both modes: the objective's form is an argument mistake.
    with pytest.raises(ValueError, match=r"for a batch of one row but .* for that row alone.*vectorized=False"):
        aj.minimize(_rosenbrock_of_one_point, [(-2, 3)] * dim, budget=budget, seed=0, errors=errors)
    # A bare number that agrees with f of the row is kept (and costs one more call only then).
    r = aj.minimize(lambda X: float(np.sum(np.asarray(X) ** 2)), [(-2, 3)] * dim, budget=budget, seed=0, jit=False,
                    errors=errors)
    assert r.nfev == budget and r.fun == float(np.sum(np.asarray(r.x) ** 2))


def test_errors_record_still_records_a_first_batch_that_fails_in_both_forms():
    calls = []

    def f(X):
        calls.append(len(X))
        if len(calls) <= 20:
            raise RuntimeError("not ready")
        return np.sum((np.asarray(X) - 0.3) ** 2, axis=1)

    r = aj.minimize(f, [(-1, 1)] * 5, budget=30, jit=False, polish=False, errors="record")
    assert r.info["batch_size"] == 5 and r.nfev == 30 and r.n_failed >= 5 and np.isfinite(r.fun)


def test_a_batch_function_runs_as_before_when_the_batch_equals_the_dimension():
    calls = []

    def f(X):
        calls.append(len(X))
        return np.sum(np.asarray(X) ** 2, axis=1)

    r = aj.minimize(f, [(-5, 5)] * 5, budget=100, jit=False, polish=False)
    assert r.info["batch_size"] == 5  # the default here, equal to the dimension
    assert calls[:3] == [1, 4, 5] and sum(calls) == r.nfev == 100  # the first batch in two calls, no extra row
    assert r.fun == float(f(r.x[None, :])[0])
    g = aj.minimize(lambda X: np.sum(np.asarray(X) ** 2, axis=1), [(-5, 5)] * 10, budget=100, jit=False,
                    polish=False, batch_size=20)
    assert g.nfev == 100  # other batch sizes are evaluated whole


W10 = np.arange(1.0, 11.0)
DICT10 = {f"x{i}": (-5.0, 5.0) for i in range(10)}


@pytest.mark.parametrize("f, bounds, extra", [
    (lambda x: jnp.dot(jnp.asarray(W10), x), [(-5, 5)] * 10, {}),  # traces only when batch == dim
    (lambda p: np.array([p[k] for k in DICT10]) @ W10, DICT10, {}),  # dict columns: sums over the batch
    (lambda p: np.sum(np.array([p[k] for k in DICT10]) ** 2, axis=-1), DICT10, {}),
    (lambda x: np.asarray(x)[0] ** 2 + np.asarray(x)[1] ** 2, [(-5, 5)] * 10, {"errors": "record"}),
])
def test_a_function_of_one_point_never_runs_silently_when_the_batch_equals_the_dimension(f, bounds, extra):
    assert aj.default_batch_size(1100, 10, wide=False) == 10  # the batch equals the dimension
    with pytest.raises((ValueError, TypeError, aj.OptimizationError)) as info:
        aj.minimize(f, bounds, budget=1100, polish=False, **extra)
    assert "returned shape" in str(info.value) or "vectorized=False" in str(info.value)

"""The Gaussian-process strategy: model, acquisition, proposals, and the front door."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import arqon_jax
from arqon_jax.core.history import history_init, history_insert
from arqon_jax.core.space import Space
from arqon_jax.core.strategies import make_strategy
from arqon_jax.core.strategies.base import Geometry
from arqon_jax.core.strategies.gp import fit_predict, log_h


def _history(X, y, capacity=64):
    h = history_init(capacity, X.shape[1], jnp.float32)
    return history_insert(h, jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32), jnp.ones(len(y), bool))


def test_posterior_interpolates_training_points():
    rng = np.random.default_rng(0)
    X = rng.random((30, 3))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 - X[:, 2]
    h = _history(X, y)
    # The training points and one far from the data, in one (compiled) call.
    C = jnp.concatenate([h.X[:30], jnp.full((1, 3), 5.0, h.X.dtype)])
    mu, var, z, mask = jax.jit(lambda h, C: fit_predict(Geometry.continuous(3), h, C, warp=False))(h, C)
    np.testing.assert_allclose(np.asarray(mu[:30]), np.asarray(z[:30]), atol=0.05)
    assert np.all(np.asarray(var[:30]) < 0.01)
    # Far from the data the posterior falls back to the prior: larger variance.
    assert float(var[30]) > 10 * float(np.max(var[:30]))


def test_outputs_are_warped_by_the_upper_quartile_then_standardized():
    # The upper quartile, not the median, sets the warp's scale (measured: gp.py's docstring).
    rng = np.random.default_rng(2)
    X = rng.random((40, 2))
    y = np.concatenate([rng.random(30), 1e6 * rng.random(10)])  # a heavy tail
    y[5] = np.nan  # a failure: the worst value
    h = _history(X, y)
    _, _, z, mask = jax.jit(lambda h: fit_predict(Geometry.continuous(2), h, h.X[:1], fit_steps=1))(h)
    ok = np.sort(y[np.isfinite(y)])
    ok = np.append(ok, ok[-1])
    assert int(np.sum(np.asarray(mask))) == 40
    w = np.log1p((ok - ok[0]) / (ok[3 * len(ok) // 4] - ok[0]))
    np.testing.assert_allclose(np.asarray(z)[np.asarray(mask)], (w - w.mean()) / w.std(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("best", [0.36, -2.5e4, 0.0, 1e-30, -1e38, float(np.finfo(np.float32).max)])
def test_failures_beside_a_single_success_are_modelled_worse_than_it(best):
    # With one finite value the worst equals the best: failures imputed there made the
    # model flat, and method="gp" failed 63 of 64 evaluations where TPE failed 32.
    rng = np.random.default_rng(3)
    X = rng.random((12, 2))
    y = np.full(12, np.nan)
    y[4] = best
    h = _history(X, y)
    mu, _, z, mask = jax.jit(lambda h: fit_predict(Geometry.continuous(2), h, h.X[:12]))(h)
    z = np.asarray(z)[np.asarray(mask)]
    assert int(np.sum(np.asarray(mask))) == 12
    assert z[0] < 0 and np.all(z[1:] > 0) and np.all(np.isfinite(z))
    mu = np.asarray(mu)
    assert mu[0] < np.min(mu[1:])  # h.X[0] is the success (rows sort ok first)


def _targets(y):
    X = np.random.default_rng(4).random((len(y), 2))
    h = _history(X, y)
    _, _, z, mask = jax.jit(lambda h: fit_predict(Geometry.continuous(2), h, h.X[:1], fit_steps=1))(h)
    return np.asarray(z)[np.asarray(mask)]


@pytest.mark.parametrize("scale", [1e-20, 1e30, 8e37])
def test_the_warped_targets_do_not_depend_on_the_scale_of_the_values(scale):
    # Values 1e-20 apart beside failures were flattened by an absolute floor on the warp's
    # scale, and a scale beyond ~8.5e37 by XLA's flushed reciprocal (z all 0).
    y = np.full(12, np.nan)
    y[:5] = [0.0, 0.5, 1.0, 2.0, 3.5]
    np.testing.assert_allclose(_targets(scale * y), _targets(y), rtol=1e-4, atol=1e-4)
    assert np.ptp(_targets(scale * y)) > 1.0


def test_log_h_is_finite_and_matches_the_direct_form():
    log_h_jit = jax.jit(log_h)  # eager, its branches run op by op: 10x slower
    z = jnp.linspace(-40.0, 5.0, 1000)
    v = np.asarray(log_h_jit(z))
    assert np.all(np.isfinite(v)) and np.all(np.diff(v) > 0)  # finite and increasing
    zz = np.linspace(-4.5, 5.0, 50)
    from scipy.stats import norm

    np.testing.assert_allclose(np.asarray(log_h_jit(jnp.asarray(zz, jnp.float32))),
                               np.log(norm.pdf(zz) + zz * norm.cdf(zz)), rtol=1e-3, atol=1e-4)
    z64 = np.array([-6.0, -10.0, -30.0])
    exact = np.log(norm.pdf(z64)) + np.log1p(z64 * norm.cdf(z64) / norm.pdf(z64))
    np.testing.assert_allclose(np.asarray(log_h_jit(jnp.asarray(z64, jnp.float32))), exact, rtol=2e-3)
    g = np.asarray(jax.jit(jax.vmap(jax.grad(log_h)))(z))
    assert np.all(np.isfinite(g))


def _run(method, f, dim, budget, seed):
    return arqon_jax.minimize(f, [(-5.0, 5.0)] * dim, budget=budget, method=method, seed=seed)


def test_gp_beats_random_on_a_5d_sphere():
    shift = np.array([1.3, -2.1, 0.7, 2.9, -0.4])

    def sphere(X):
        return np.sum((np.asarray(X) - shift) ** 2, axis=1)

    gp = _run("gp", sphere, 5, 60, 0).fun
    rnd = _run("random", sphere, 5, 60, 0).fun
    assert gp < 0.01 * rnd, (gp, rnd)  # measured: 1e-28 against 9


def test_integer_and_categorical_dimensions_give_valid_values():
    space = Space.from_bounds({
        "a": (0.0, 1.0),
        "n": {"min": 1, "max": 5, "scale": "integer"},
        "c": {"choices": ["x", "y", "z"]},
        "p": {"min": 0, "max": 6.28, "scale": "periodic"},
    })
    geometry = Geometry.from_space(space)
    st = make_strategy("gp", geometry, 8, 64, jnp.float32)
    rng = np.random.default_rng(1)
    X0 = jnp.asarray(rng.random((16, space.dim)), jnp.float32)

    def f(X):
        return jnp.sum((X - 0.3) ** 2, axis=1)

    h = _history(X0, f(X0))
    s = st.init(jax.random.key(0), h)
    ask = jax.jit(st.ask)
    seen = set()
    for i in range(4):
        X, s = ask(s, jax.random.key(i), h)
        X = np.asarray(X)
        assert X.shape == (8, space.dim) and np.all(np.isfinite(X))
        for j, lv in enumerate(space.levels):
            if lv:  # snapped to bin centres
                np.testing.assert_allclose(X[:, j] * lv % 1.0, 0.5, atol=1e-5)
        values = space.to_records(space.from_unit(jnp.asarray(X)))
        for rec in values:
            assert rec["c"] in ("x", "y", "z") and float(rec["n"]).is_integer() and 1 <= rec["n"] <= 5
        rows = {tuple(np.round(r, 5)) for r in X}
        assert len(rows) == len(X)  # a batch holds no copies
        seen |= rows
        h = history_insert(h, jnp.asarray(X), f(jnp.asarray(X)), jnp.ones(8, bool))


@pytest.mark.parametrize("geometry", [Geometry.continuous(3), Geometry(3, (0, 3, 0), (False, False, True), (False, True, False))],
                         ids=["continuous", "categorical-periodic"])
def test_fit_on_the_smallest_model_that_holds_the_history_matches_the_full_model(geometry, monkeypatch):
    # An ask fits on the first 32/64/96/128 rows, the fewest that hold every stored row
    # (ok rows sort first, failed ones next); a size one short would leave a point out.
    import arqon_jax.core.strategies.gp as gp_module

    assert gp_module.model_sizes(128) == (32, 64, 96, 128)
    sized = make_strategy("gp", geometry, 4, 128, jnp.float32)
    monkeypatch.setattr(gp_module, "model_sizes", lambda n: (n,))
    full = make_strategy("gp", geometry, 4, 128, jnp.float32)
    rng = np.random.default_rng(3)
    X = rng.random((97, 3))
    y = np.sin(4 * X[:, 0]) + (X[:, 1] > 0.5) + np.cos(6.3 * X[:, 2])
    fails = y.copy()
    fails[::9] = np.nan  # 11 failed rows of 97: they are in the model too (at the worst value)
    for size, values in [(32, y), (33, y), (64, y), (65, y), (96, y), (97, y), (97, fails)]:
        h = _history(X[:size], values[:size], capacity=128)
        assert int(h.size) == size
        thetas = []
        for st in (sized, full):
            s = st.init(jax.random.key(0), h)
            _, s = jax.jit(st.ask)(s, jax.random.key(1), h)
            thetas.append(np.asarray(s.theta))
        np.testing.assert_allclose(thetas[0], thetas[1], rtol=2e-3, atol=2e-3, err_msg=f"{size} rows")


def test_under_vmap_the_ask_fits_once_on_all_rows_instead_of_every_size(monkeypatch):
    # Under vmap the size switch would become a select running all four fits, whose
    # batched Choleskys XLA's CPU pool runs side by side and can deadlock on (3 of 6
    # vmapped test runs hung on a loaded 2-core machine): the batching rule fits once.
    import arqon_jax.core.strategies.gp as gp_module

    geometry = Geometry.continuous(3)
    X = jnp.asarray(np.random.default_rng(0).random((70, 3)), jnp.float32)

    def program(strategy, batched):
        def one(k):
            h = history_init(128, 3, jnp.float32)
            h = history_insert(h, X, jnp.sum(X**2, 1) + jax.random.uniform(k, (70,)), jnp.ones(70, bool))
            return strategy.ask(strategy.init(k, h), k, h)[0]

        keys = jax.random.split(jax.random.key(1), 3)
        return str(jax.make_jaxpr(jax.vmap(one))(keys) if batched else jax.make_jaxpr(one)(keys[0]))

    sized = make_strategy("gp", geometry, 4, 128, jnp.float32)
    monkeypatch.setattr(gp_module, "model_sizes", lambda n: (n,))
    single = make_strategy("gp", geometry, 4, 128, jnp.float32)
    once = program(single, True).count("cholesky")
    assert program(sized, False).count("cholesky") > program(single, False).count("cholesky")  # a branch per size
    assert program(sized, True).count("cholesky") == once


@pytest.mark.parametrize("dim", [2, 7])
def test_minimize_method_gp_runs_in_other_dimensions_and_reports_the_strategy(dim):
    r = arqon_jax.minimize(lambda X: np.sum(np.asarray(X) ** 2, axis=1), [(-1, 2)] * dim, budget=50, method="gp")
    assert r.nfev == 50 and np.isfinite(r.fun)
    assert r.decision["strategy"] == "gp"


_MIXED = {"a": (-1.0, 1.0), "lr": {"min": 1e-4, "max": 1.0, "scale": "log"}, "c": {"choices": ["x", "y", "z"]}}


@pytest.mark.parametrize("bounds, budget, capacity, picked", [
    (_MIXED, 100, None, ("gp",)),
    (_MIXED, 256, None, ("gp",)),  # the GP's n_model rows hold the whole history
    (_MIXED, 257, None, ("tpe",)),
    (_MIXED, 100, 128, ("gp",)),  # a GP solver's own default capacity, passed back (a checkpoint)
    (_MIXED, 100, 1024, ("tpe",)),  # a larger history (an open-ended Tune search's)
    ({"a": (-1.0, 1.0), "b": (0.0, 1.0)}, 100, None, ("tpe",)),  # no categorical dimension
    ({"n": {"min": 0, "max": 99, "scale": "integer"}, "c": {"choices": [1, 2, 3]}}, 100, None, ("tpe",)),  # finite
])
def test_auto_refines_mixed_categorical_spaces_with_the_gp_at_small_budgets(bounds, budget, capacity, picked):
    solver = arqon_jax.make_solver(arqon_jax.Space.from_bounds(bounds), budget, 5, capacity=capacity)
    assert solver.strategy_names == picked, solver.rule
    assert solver.rule.startswith("gp: categorical and continuous dimensions") == (picked == ("gp",))


def test_auto_keeps_tpe_when_the_space_is_conditional():
    space = arqon_jax.Space.from_bounds(_MIXED)
    solver = arqon_jax.make_solver(space, 100, 5, conditional=True)
    assert solver.strategy_names == ("tpe",) and "not the GP: conditional dimensions" in solver.rule
    assert arqon_jax.make_solver(space, 100, 5, method="gp", conditional=True).strategy_names == ("gp",)  # forced
    with pytest.raises(TypeError, match="conditional: expected a bool"):
        arqon_jax.make_solver(space, 100, 5, conditional="yes")

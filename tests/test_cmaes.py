"""Tests for the batched CMA-ES portfolio (arqon_jax.core.strategies.cmaes).

Each optimization run is one jitted ``lax.scan`` (ask -> evaluate -> history_insert ->
tell), so every test costs one compilation. Convergence tests run in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arqon_jax import functions as F
from arqon_jax.core.history import history_init, history_insert
from arqon_jax.core.strategies.base import Geometry
from arqon_jax.core.strategies.cmaes import CHOLESKY_GAP, CMAState, _params, make_cmaes, portfolio_lambdas

LO, HI = -5.0, 5.0


def _shift(dim):
    # Optimum moved away from the centre of [-5, 5] (and within [-4, 4]).
    return jnp.linspace(-2.0, 2.5, dim) + 0.123


def _to_x(u):
    return LO + (HI - LO) * u


# Objectives on the unit cube, optimum value 0.
def _sphere(u):
    return F.sphere(_to_x(u) - _shift(u.shape[1]))


def _ellipsoid(u):
    return F.ellipsoid(_to_x(u) - _shift(u.shape[1]))


def _rosenbrock(u):
    return F.rosenbrock(_to_x(u) - _shift(u.shape[1]) + 1.0)


def _rastrigin(u):
    return F.rastrigin(_to_x(u) - _shift(u.shape[1]))


def _corner_sphere(u):
    # Optimum on the faces of the cube: u = 1 in the first half, u = 0 in the rest.
    dim = u.shape[1]
    target = (jnp.arange(dim) < dim // 2).astype(u.dtype)
    return F.sphere(10.0 * (u - target))


FUNCS = (_sphere, _ellipsoid, _rosenbrock, _corner_sphere, _rastrigin)
SPHERE, ELLIPSOID, ROSENBROCK, CORNER, RASTRIGIN = range(len(FUNCS))


def make_runner(strategy, dim, batch, gens, funcs=FUNCS, capacity=64, dtype=None,
                failures=False, counter=None):
    """A jitted ``run(key, fidx)``: ``gens`` generations of ``funcs[fidx]`` from scratch.

    Returns the final state and history and, per generation, the best stored value, the
    total restarts and the min/max of the proposals.
    """

    def evaluate(fidx, X):
        y = jax.lax.switch(fidx, funcs, X)
        if failures:
            # A failing region (NaN) and the last rows cut by the "budget".
            y = jnp.where(X[:, 0] > 0.9, jnp.nan, y)
            valid = jnp.arange(batch) < batch - 3
        else:
            valid = jnp.ones((batch,), bool)
        return y, valid

    def run(key, fidx):
        if counter is not None:
            counter.append(1)  # Python side effect: runs once per trace
        dt = dtype or jnp.zeros(()).dtype
        h = history_init(capacity, dim, dt)
        k0, k1 = jax.random.split(key)
        s = strategy.init(k0, h)

        def step(carry, k):
            s, h = carry
            X, s = strategy.ask(s, k, h)
            y, valid = evaluate(fidx, X)
            h = history_insert(h, X, y, valid)
            s = strategy.tell(s, k, X, y, valid, h)
            return (s, h), (h.y[0], s.n_restarts, jnp.min(X), jnp.max(X))

        (s, h), trace = jax.lax.scan(step, (s, h), jax.random.split(k1, gens))
        return s, h, trace

    return jax.jit(run)


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def test_portfolio_lambdas():
    assert portfolio_lambdas(10, 64) == (10, 54)
    assert portfolio_lambdas(10, 128) == (10, 20, 98)
    assert portfolio_lambdas(10, 5) == (5,)
    assert portfolio_lambdas(10, 64, n_instances=3) == (21, 21, 22)
    assert portfolio_lambdas(2, 4096) == (6, 12, 24, 4054)
    for dim in (1, 2, 10, 50, 1000):
        for batch in (1, 7, 32, 64, 256, 1000):
            lams = portfolio_lambdas(dim, batch)
            assert sum(lams) == batch and min(lams) >= 1


def test_converges_10d_float64_and_stays_in_bounds():
    dim, batch, gens = 10, 128, 600
    budget = 10**4 * dim
    assert batch * gens <= budget
    counter = []
    strat = make_cmaes(Geometry.continuous(dim), batch)
    with jax.enable_x64(True):
        run = make_runner(strat, dim, batch, gens, counter=counter)
        results = {}
        for fidx in (SPHERE, ELLIPSOID, ROSENBROCK, CORNER):
            s, h, (best, nr, lo, hi) = _np(run(jax.random.PRNGKey(fidx), fidx))
            assert s.C.dtype == np.float64
            hit = np.nonzero(best < 1e-8)[0]
            assert hit.size, (FUNCS[fidx].__name__, best[-1])
            results[fidx] = (hit[0] + 1) * batch
            assert results[fidx] <= budget
            assert lo.min() >= 0.0 and hi.max() <= 1.0
            assert np.all(np.isfinite(s.sigma)) and np.all(np.isfinite(s.C))
        # Several functions and keys, and restarts inside the runs: one trace.
        assert len(counter) == 1
        # Determinism: the same key gives the same run.
        again = _np(run(jax.random.PRNGKey(SPHERE), SPHERE))
        first = _np(run(jax.random.PRNGKey(SPHERE), SPHERE))
    np.testing.assert_array_equal(again[2][0], first[2][0])
    np.testing.assert_array_equal(again[0].mean, first[0].mean)
    assert len(counter) == 1
    # The corner optimum (on the faces) is reached without clipping artefacts.
    assert results[CORNER] <= budget


def test_restarts_help_on_rastrigin():
    # One small-population instance: it gets stuck in local minima, so only its
    # restarts can improve on the value it had when it first restarted. Whether one
    # run improves is luck; over four runs (vmapped keys) restarts must help.
    dim, batch, gens, runs = 10, 16, 2500, 4
    strat = make_cmaes(Geometry.continuous(dim), batch, n_instances=1)
    with jax.enable_x64(True):
        run = make_runner(strat, dim, batch, gens)
        keys = jax.random.split(jax.random.PRNGKey(0), runs)
        s, h, (best, nr, lo, hi) = _np(jax.jit(jax.vmap(run, in_axes=(0, None)))(keys, RASTRIGIN))
    assert np.all(nr[:, -1] > 1)
    np.testing.assert_array_equal(s.n_restarts, s.restarts.sum(axis=1))
    np.testing.assert_array_equal(s.n_restarts, nr[:, -1])
    first = np.argmax(nr > 0, axis=1)
    at_first = best[np.arange(runs), first]
    assert np.all(best[:, -1] <= at_first)
    assert np.mean(best[:, -1]) < np.mean(at_first) - 1.0, (at_first, best[:, -1])
    assert np.sum(best[:, -1] < at_first - 0.5) >= runs // 2, (at_first, best[:, -1])
    assert lo.min() >= 0.0 and hi.max() <= 1.0


def test_no_recompilation_across_restarts_stepwise():
    # A small problem told step by step from Python: restarts happen between calls of
    # the same compiled functions.
    dim, batch = 2, 18
    traces = []
    strat = make_cmaes(Geometry.continuous(dim), batch)

    @jax.jit
    def step(s, h, k):
        traces.append(1)
        X, s = strat.ask(s, k, h)
        y = _rastrigin(X)
        valid = jnp.ones((batch,), bool)
        h = history_insert(h, X, y, valid)
        return strat.tell(s, jax.random.fold_in(k, 1), X, y, valid, h), h, X

    h = history_init(32, dim, jnp.float32)
    s = jax.jit(strat.init)(jax.random.PRNGKey(0), h)
    keys = jax.random.split(jax.random.PRNGKey(1), 200)
    for k in keys:
        s, h, X = step(s, h, k)
    assert len(traces) == 1
    assert int(s.n_restarts) > 0
    assert s.mean.dtype == jnp.float32 and X.dtype == jnp.float32


def test_separable_selection_and_run():
    n_big, n_small = 150, 20
    h_big = history_init(8, n_big, jnp.float32)
    h_small = history_init(8, n_small, jnp.float32)
    key = jax.random.PRNGKey(0)

    def shapes(strat, h):
        return jax.eval_shape(strat.init, key, h)

    auto_big = shapes(make_cmaes(Geometry.continuous(n_big), 64), h_big)
    assert auto_big.C.ndim == 2 and auto_big.C.shape[1] == n_big  # diagonal
    auto_small = shapes(make_cmaes(Geometry.continuous(n_small), 64), h_small)
    assert auto_small.C.shape[1:] == (n_small, n_small)  # full
    forced = shapes(make_cmaes(Geometry.continuous(n_small), 64, separable=True), h_small)
    assert forced.C.ndim == 2
    full_big = shapes(make_cmaes(Geometry.continuous(n_big), 64, separable=False), h_big)
    assert full_big.C.shape[1:] == (n_big, n_big)

    # The diagonal variant optimizes a large sphere (float32).
    strat = make_cmaes(Geometry.continuous(n_big), 64)
    run = make_runner(strat, n_big, 64, 250, funcs=(_sphere,))
    s, h, (best, nr, lo, hi) = _np(run(key, 0))
    assert best[-1] < 1e-3 * best[0]
    assert lo.min() >= 0.0 and hi.max() <= 1.0


def test_failures_invalid_rows_and_vmap():
    # NaN values in a region and rows cut by the budget: the update ignores them.
    dim, batch = 4, 24
    strat = make_cmaes(Geometry.continuous(dim), batch)
    run = make_runner(strat, dim, batch, 150, funcs=(_sphere,), failures=True)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    both = jax.jit(jax.vmap(run, in_axes=(0, None)))
    s, h, (best, nr, lo, hi) = _np(both(jnp.stack([keys[0], keys[0]]), 0))
    for part in (s.mean, s.sigma, s.C, best):
        np.testing.assert_array_equal(part[0], part[1])  # same key, same result
    assert np.all(np.isfinite(s.sigma)) and np.all(np.isfinite(s.C))
    assert best[0, -1] < 1e-6
    assert h.n_failed[0] > 0
    assert lo.min() >= 0.0 and hi.max() <= 1.0


def test_init_from_history_and_ask_shapes():
    dim, batch = 3, 32
    strat = make_cmaes(Geometry((dim), (0,) * dim, (False, True, False), (False,) * dim),
                       batch, sigma0=0.2)
    h = history_init(16, dim, jnp.float32)
    X0 = jnp.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7], [0.5, 0.5, 0.5]], jnp.float32)
    h = history_insert(h, X0, jnp.array([3.0, 1.0, 2.0]), jnp.ones(3, bool))
    init = jax.jit(strat.init)  # eager, init runs op by op: several times slower
    s = init(jax.random.PRNGKey(0), h)
    assert isinstance(s, CMAState)
    np.testing.assert_allclose(s.mean[0], X0[1])  # the best stored point
    np.testing.assert_allclose(s.mean[1], X0[2])  # the second best
    np.testing.assert_allclose(s.sigma, 0.2)
    X, s2 = jax.jit(strat.ask)(s, jax.random.PRNGKey(1), h)
    assert X.shape == (batch, dim) and X.dtype == jnp.float32
    assert float(X.min()) >= 0.0 and float(X.max()) <= 1.0
    # Empty history: uniform starting means inside the cube.
    s3 = init(jax.random.PRNGKey(0), history_init(16, dim, jnp.float32))
    assert float(s3.mean.min()) >= 0.0 and float(s3.mean.max()) <= 1.0
    assert int(s3.n_restarts) == 0 and bool(jnp.all(jnp.isinf(s3.best)))


def test_lazy_factorization_keeps_the_factor_between_due_generations():
    # 40-D, default population 15: purecma's gap 0.5 / (n (c1 + cmu)) is 2.9 generations
    # (c1 = 2 / ((n + 1.3)^2 + mueff), cmu = 2 (mueff - 2 + 1 / mueff) / ((n + 2)^2 + mueff)),
    # so C is factored every 3rd tell, once more than 2.9 have passed, and A, A^-1, D are
    # kept in between.
    dim, lam = 40, 15
    p = _params(dim, lam, False)
    c1 = 2 / ((dim + 1.3) ** 2 + p["mueff"])
    cmu = 2 * (p["mueff"] - 2 + 1 / p["mueff"]) / ((dim + 2) ** 2 + p["mueff"])
    assert 2 < 0.5 / (dim * (c1 + cmu)) < 3
    gap = p["eig_gap"]
    assert gap == 3
    strat = make_cmaes(Geometry.continuous(dim), lam, separable=False)
    h = history_init(8, dim, jnp.float32)
    s = jax.jit(strat.init)(jax.random.PRNGKey(0), h)
    step = jax.jit(lambda s, k: strat.tell(s, k, *(lambda X: (X, _sphere(X), jnp.ones(lam, bool), h))(
        strat.ask(s, k, h)[0])))
    for g in range(1, 7):
        prev = s
        s = step(s, jax.random.PRNGKey(g))
        assert not np.array_equal(np.asarray(s.C), np.asarray(prev.C))  # C learns every generation
        due = g % gap == 0
        assert int(s.eig_age[0]) == (0 if due else g % gap)
        assert np.array_equal(np.asarray(s.A), np.asarray(prev.A)) != due
        assert np.array_equal(np.asarray(s.Ainv), np.asarray(prev.Ainv)) != due
        if due:  # A = B D from the eigendecomposition of the C it was computed from
            A, D = np.asarray(s.A[0], np.float64), np.asarray(s.D[0], np.float64)
            np.testing.assert_allclose(A @ A.T, np.asarray(s.C[0]), atol=1e-5)
            np.testing.assert_allclose(np.asarray(s.Ainv[0]) @ A, np.eye(dim), atol=1e-4)
            np.testing.assert_allclose(np.sort(D ** 2), np.linalg.eigvalsh(np.asarray(s.C[0], np.float64)),
                                       rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(A.T @ A, np.diag(D ** 2), atol=1e-5)  # orthogonal columns


def test_an_instance_refactored_every_generation_uses_the_cholesky_factor():
    # 8-D, population 512: purecma's gap 0.5 / (n (c1 + cmu)) is below CHOLESKY_GAP, so
    # C is refactored every generation, as the Cholesky factor A (lower triangular, C = A
    # A^T) with its inverse; the step-size path reads A^{-1} y_w (Krause et al. 2016),
    # which an eigendecomposition's B D^{-1} B^T y_w would differ from.
    with jax.enable_x64(True):
        dim, lam = 8, 512
        assert _params(dim, lam, False)["lazy_gap"] < CHOLESKY_GAP
        strat = make_cmaes(Geometry.continuous(dim), lam, n_instances=1, population_levels=0)
        h = history_init(8, dim, jnp.float64)
        s = jax.jit(strat.init)(jax.random.PRNGKey(0), h)
        def f(X):  # a rotated valley, so that A differs from the symmetric root
            return _sphere(X) + 50 * (X[:, 0] - X[:, 1]) ** 2

        @jax.jit
        def step(s, k):
            X = strat.ask(s, k, h)[0]
            return strat.tell(s, k, X, f(X), jnp.ones(lam, bool), h)

        for g in range(1, 4):
            prev = s
            s = step(s, jax.random.PRNGKey(g))
            A, C = np.asarray(s.A[0]), np.asarray(s.C[0])
            assert int(s.eig_age[0]) == 0
            assert np.array_equal(A, np.tril(A)) and np.all(np.diagonal(A) > 0)
            np.testing.assert_allclose(A @ A.T, C, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(np.asarray(s.Ainv[0]) @ A, np.eye(dim), atol=1e-12)
            np.testing.assert_array_equal(np.asarray(s.D[0]), np.diagonal(A))
        # The path of the last tell, from the previous factor: ps = (1 - cs) ps_prev +
        # sqrt(cs (2 - cs) mueff) A_prev^{-1} (m - m_prev) / sigma_prev.
        p = _params(dim, lam, False)
        yw = (np.asarray(s.mean[0]) - np.asarray(prev.mean[0])) / float(prev.sigma[0])
        expect = ((1 - p["cs"]) * np.asarray(prev.ps[0])
                  + np.sqrt(p["cs"] * (2 - p["cs"]) * p["mueff"]) * np.asarray(prev.Ainv[0]) @ yw)
        np.testing.assert_allclose(np.asarray(s.ps[0]), expect, rtol=1e-9, atol=1e-12)
        ev, B = np.linalg.eigh(np.asarray(prev.C[0]))  # the symmetric root's path differs
        sym = (B / np.sqrt(ev)) @ B.T @ yw
        assert np.max(np.abs(sym - np.asarray(prev.Ainv[0]) @ yw)) > 1e-3 * np.max(np.abs(sym))


def test_host_batch_instances_keep_the_eigendecomposition():
    # 10-D, the host path's batch of 200: populations 10, 20, 40, 130, gaps 1.4 to 0.13
    # generations. The last three are refactored every generation but stay above
    # CHOLESKY_GAP: their factor is B D (orthogonal columns), not a triangular one.
    dim, batch = 10, 200
    lams = portfolio_lambdas(dim, batch)
    gaps = [_params(dim, lam, False)["lazy_gap"] for lam in lams]
    assert min(gaps) > CHOLESKY_GAP and sum(g < 1 for g in gaps) == 3
    strat = make_cmaes(Geometry.continuous(dim), batch, population_levels=0)
    h = history_init(8, dim, jnp.float32)
    s = jax.jit(strat.init)(jax.random.PRNGKey(0), h)
    X = jax.jit(strat.ask)(s, jax.random.PRNGKey(1), h)[0]
    s = jax.jit(strat.tell)(s, jax.random.PRNGKey(2), X, _sphere(X) + 30 * (X[:, 0] - X[:, 1]) ** 2,
                            jnp.ones(batch, bool), h)
    for k, gap in enumerate(gaps):
        A = np.asarray(s.A[k], np.float64)
        assert int(s.eig_age[k]) == (0 if gap < 1 else 1)
        if gap < 1:
            assert not np.allclose(A, np.tril(A))
            np.testing.assert_allclose(A.T @ A, np.diag(np.asarray(s.D[k], np.float64) ** 2), atol=1e-5)
            np.testing.assert_allclose(A @ A.T, np.asarray(s.C[k]), atol=1e-5)


def test_pooled_generation_equals_one_generation_of_the_whole_population():
    # IPOP by pooling: at level 1 a population of 2 lam is gathered over two batches of
    # lam rows and updated once, exactly as an instance of population 2 lam updates
    # from one batch holding the same rows.
    with jax.enable_x64(True):
        dim, lam = 4, 8
        geo = Geometry.continuous(dim)
        pooled = make_cmaes(geo, lam, n_instances=1, population_levels=1)
        whole = make_cmaes(geo, 2 * lam, n_instances=1, population_levels=0)
        h = history_init(16, dim, jnp.float64)
        s = pooled.init(jax.random.PRNGKey(0), h)._replace(level=jnp.int32(1), large_level=jnp.int32(1))
        ref = whole.init(jax.random.PRNGKey(0), h)
        X = jax.random.uniform(jax.random.PRNGKey(1), (2 * lam, dim), jnp.float64)
        y = jnp.sum((X - 0.3) ** 2 * jnp.arange(1.0, dim + 1), 1).at[3].set(jnp.nan)
        ok = jnp.ones(lam, bool)
        key = jax.random.PRNGKey(2)
        # Jitted: these updates run op by op otherwise, several times slower.
        pooled_tell, whole_tell = jax.jit(pooled.tell), jax.jit(whole.tell)
        half = pooled_tell(s, key, X[:lam], y[:lam], ok, h)
        for name in ("mean", "sigma", "C", "ps", "pc", "gen", "best"):  # half a generation: no update
            np.testing.assert_array_equal(getattr(half, name), getattr(s, name))
        assert int(half.pool_n) == lam
        full = pooled_tell(half, key, X[lam:], y[lam:], ok, h)
        one = whole_tell(ref, key, X, y, jnp.ones(2 * lam, bool), h)
        assert int(full.pool_n) == 0 and int(full.gen[0]) == 1
        for name in ("mean", "sigma", "C", "ps", "pc", "best"):
            np.testing.assert_allclose(getattr(full, name), getattr(one, name), rtol=1e-10, atol=1e-14)


def _forced_restarts(local_restart_prob, tells):
    # max_condition below 1 makes every completed generation restart.
    dim, lam = 3, 6
    strat = make_cmaes(Geometry.continuous(dim), lam, n_instances=1, population_levels=2,
                       max_condition=0.5, local_restart_prob=local_restart_prob)
    h = history_init(16, dim, jnp.float32)
    h = history_insert(h, jnp.full((1, dim), 0.5, jnp.float32), jnp.ones(1), jnp.ones(1, bool))
    s = jax.jit(strat.init)(jax.random.PRNGKey(0), h)
    tell = jax.jit(lambda s, k: strat.tell(s, k, *(lambda X: (X, jnp.sum(X, 1), jnp.ones(lam, bool), h))(
        strat.ask(s, k, h)[0])))
    levels, restarts = [], []
    for t in range(tells):
        s = tell(s, jax.random.PRNGKey(t + 1))
        levels.append(int(s.level))
        restarts.append(int(s.n_restarts))
    return levels, restarts, s


def test_global_restarts_double_the_largest_population_up_to_its_cap():
    levels, restarts, s = _forced_restarts(0.0, 11)
    # Generations of 1, 2, 4, 4 batches: a restart at the end of each, none inside.
    assert levels == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    assert restarts == [1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4]
    assert int(s.large_level) == 2


def test_local_restarts_start_the_population_again_from_one_slice():
    levels, restarts, s = _forced_restarts(1.0, 4)
    assert levels == [0, 0, 0, 0] and restarts == [1, 2, 3, 4]
    assert int(s.large_level) == 0


def test_default_population_levels_follow_the_pool_size_limit():
    h10 = history_init(8, 10, jnp.float32)
    s = jax.eval_shape(make_cmaes(Geometry.continuous(10), 200).init, jax.random.PRNGKey(0), h10)
    assert s.pool_X.shape == (130 * 16, 10)  # lambdas (10, 20, 40, 130), 2**4 slices
    h100 = history_init(8, 100, jnp.float32)
    s = jax.eval_shape(make_cmaes(Geometry.continuous(100), 4096).init, jax.random.PRNGKey(0), h100)
    assert s.pool_X.shape == (0, 100)  # a 3977-row slice leaves no room to grow
    for bad, err in ((True, TypeError), (1.5, TypeError), (-1, ValueError), (17, ValueError)):
        with pytest.raises(err, match="population_levels"):
            make_cmaes(Geometry.continuous(3), 10, population_levels=bad)
    # An explicit level is bounded by the pool's memory: 130 rows x 10 dims x 2**13 fits
    # 2**24 numbers, 2**14 does not.
    assert make_cmaes(Geometry.continuous(10), 200, population_levels=13) is not None
    with pytest.raises(ValueError, match="population_levels: 14 needs a pool.*largest that fits is 13"):
        make_cmaes(Geometry.continuous(10), 200, population_levels=14)

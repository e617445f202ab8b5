"""The local quadratic model step and how TPE and the GP hand proposals to it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import arqon_jax
from arqon_jax.core.history import history_init, history_insert
from arqon_jax.core.strategies import make_strategy
from arqon_jax.core.strategies.base import Geometry
from arqon_jax.core.strategies.quadratic import (
    EXPAND, MAX_DIM, RADIUS0, RADIUS_MAX, RADIUS_MIN, SHRINK, admissible, make_quadratic_rows, make_quadratic_step,
    n_coefficients, schedule, trust_region_step,
)

DIM = 3
# A rotated, scaled quadratic with its minimum inside the cube.
_R = np.linalg.qr(np.random.default_rng(3).normal(size=(DIM, DIM)))[0]
_H = _R @ np.diag([1.0, 10.0, 100.0]) @ _R.T
X_MIN = np.array([0.42, 0.57, 0.38])


def quad(X):
    D = np.asarray(X, np.float64) - X_MIN
    return 0.5 * np.einsum("ij,jk,ik->i", D, _H, D) + 3.0


_insert = jax.jit(history_insert)  # one compile: every history below is 64 rows with a mask


def _stored(X, y):
    n = len(y)
    Xp = np.zeros((64, DIM), np.float32)
    yp = np.zeros(64, np.float32)
    Xp[:n], yp[:n] = X, y
    return _insert(history_init(64, DIM, jnp.float32), jnp.asarray(Xp), jnp.asarray(yp), jnp.arange(64) < n)


def _history(n, seed=0, centre=0.5, width=0.3):
    X = centre + width * (np.random.default_rng(seed).random((n, DIM)) - 0.5)
    return _stored(X, quad(X))


def test_step_lands_on_the_minimum_of_an_exact_quadratic():
    step = jax.jit(make_quadratic_step(Geometry.continuous(DIM), 64, 3))
    X, ok = step(_history(2 * n_coefficients(DIM)))
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(X[0]), X_MIN, atol=2e-3)
    # The other proposals are half and twice the same step from the best point.
    h = _history(2 * n_coefficients(DIM))
    best = np.asarray(h.X[0])
    np.testing.assert_allclose(np.asarray(X[1]), best + 0.5 * (X_MIN - best), atol=2e-3)
    np.testing.assert_allclose(np.asarray(X[2]), np.clip(best + 2.0 * (X_MIN - best), 0, 1), atol=4e-3)


def test_step_waits_for_min_points_and_caps_its_length():
    geo = Geometry.continuous(DIM)
    need = 2 * DIM + 1
    step = jax.jit(make_quadratic_step(geo, 64, 1))
    assert not bool(step(_history(need - 1))[1])
    assert bool(step(_history(need))[1])
    # Points spread 0.02 wide near a corner, minimum far away: the step stops at
    # max_step spreads from the best point instead of jumping across the cube.
    capped = jax.jit(make_quadratic_step(geo, 64, 1, max_step=1.0, min_points=15))
    assert not bool(capped(_history(14, centre=0.1, width=0.02))[1])
    h = _history(15, centre=0.1, width=0.02)
    X, ok = capped(h)
    D = np.asarray(h.X[:15]) - np.asarray(h.X[0])
    spread = np.sqrt(np.mean(D**2, 0))
    assert bool(ok)
    assert np.linalg.norm((np.asarray(X[0]) - np.asarray(h.X[0])) / spread) <= 1.0 + 1e-3


@pytest.mark.parametrize("share, batch, expected", [
    (0.3, 10, (3, 1)), (0.3, 100, (3, 1)), (0.3, 5, (2, 1)), (0.3, 4, (1, 1)), (0.3, 3, (1, 1)),
    (0.3, 2, (1, 2)), (0.3, 1, (1, 3)), (0.0, 10, (0, 1)), (1.0, 1, (1, 1)), (1.0, 10, (3, 1)),
])
def test_schedule_gives_a_share_of_the_proposals(share, batch, expected):
    assert schedule(share, batch, Geometry.continuous(5), 512) == expected


def test_schedule_period_fits_int32():
    # A share of 1e-11 of a batch of 10 would be one row every 10**10 batches: beyond an int32 step counter.
    n, period = schedule(1e-11, 10, Geometry.continuous(5), 512)
    assert n == 1 and 2**29 < period < 2**31


def test_schedule_is_off_where_a_quadratic_does_not_apply():
    cat = Geometry(dim=3, levels=(0, 0, 3), periodic=(False,) * 3, categorical=(False, False, True))
    assert schedule(0.3, 10, cat, 512) == (0, 1)
    assert schedule(0.3, 10, Geometry.continuous(MAX_DIM + 1), 2048) == (0, 1)
    assert schedule(0.3, 10, Geometry.continuous(5), n_coefficients(5)) == (0, 1)
    with pytest.raises(ValueError, match="quadratic"):
        schedule(1.5, 10, Geometry.continuous(5), 512)


@pytest.mark.parametrize("name", ["tpe", "gp"])
def test_strategies_put_the_step_in_their_last_rows(name):
    geo = Geometry.continuous(DIM)
    h = _history(2 * n_coefficients(DIM))
    # TPE's step starts inside its trust region; the GP's keeps the spread-based cap only.
    radius = jnp.float32(RADIUS0) if name == "tpe" else None
    xq, _ = jax.jit(make_quadratic_step(geo, 64, 3))(h, radius)
    s = make_strategy(name, geo, 10, 64, jnp.float32)
    X, _ = jax.jit(s.ask)(s.init(jax.random.PRNGKey(0), h), jax.random.PRNGKey(1), h)
    # Two compilations of the same float32 least squares: equal up to rounding, which
    # differs by CPU (1.3e-6 on an AMD EPYC, exact on an Intel Xeon); the rows without
    # the step lie more than 1e-4 away.
    np.testing.assert_allclose(np.asarray(X[7:]), np.asarray(xq), atol=1e-5)
    if name == "gp":  # another GP compile (seconds) to show what TPE's case shows
        return
    off = make_strategy(name, geo, 10, 64, jnp.float32, {"quadratic": 0.0})
    X0, _ = jax.jit(off.ask)(off.init(jax.random.PRNGKey(0), h), jax.random.PRNGKey(1), h)
    assert np.min(np.abs(np.asarray(X0[7:])[:, None, :] - np.asarray(xq)[None]).max(-1)) > 1e-4


def test_one_point_asks_take_the_step_every_third_ask_alternating_trust_region_and_free():
    geo = Geometry.continuous(DIM)
    h = _history(2 * n_coefficients(DIM))
    step = jax.jit(make_quadratic_step(geo, 64, 1))
    inside, _ = step(h, jnp.float32(RADIUS0))
    free, _ = step(h, jnp.float32(RADIUS0), True)
    assert np.abs(np.asarray(inside) - np.asarray(free)).max() > 1e-3
    s = make_strategy("tpe", geo, 1, 64, jnp.float32)
    ask = jax.jit(s.ask)
    st = s.init(jax.random.PRNGKey(0), h)
    hits = []
    for i in range(12):
        X, st = ask(st, jax.random.PRNGKey(i), h)
        hits.append("inside" if np.allclose(np.asarray(X[0]), np.asarray(inside[0]), atol=1e-6)
                    else "free" if np.allclose(np.asarray(X[0]), np.asarray(free[0]), atol=1e-6) else "tpe")
    # Every third ask is a step; the steps alternate between the trust region and free.
    assert hits == ["tpe", "tpe", "inside", "tpe", "tpe", "free"] * 2


def test_default_minimize_solves_a_shifted_5d_sphere_in_100_evaluations():
    shift = np.array([1.3, -2.1, 0.7, 2.9, -0.4])

    def sphere(X):
        return np.sum((np.asarray(X) - shift) ** 2, axis=1)

    r = arqon_jax.minimize(sphere, [(-5.0, 5.0)] * 5, budget=100, seed=0)
    assert r.decision["strategy"] == "tpe"
    assert r.fun < 1e-6
    np.testing.assert_allclose(r.x, shift, atol=1e-3)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_the_fit_is_the_rank_weighted_least_squares_quadratic(seed):
    # Reference: the weighted least squares in x itself (the step's per-dimension
    # scaling and centring change the basis, not the fitted quadratic), weights
    # exp(-8 i / n) by rank i, then the fitted quadratic's minimizer.
    rng = np.random.default_rng(seed)
    n = 2 * n_coefficients(DIM)
    X = 0.5 + 0.3 * (rng.random((n, DIM)) - 0.5)
    y = quad(X) + 20.0 * np.sum((X - X_MIN) ** 3, 1)  # not a quadratic: weights change the fit
    h = _stored(X, y)
    Xs, ys = np.asarray(h.X[:n], np.float64), np.asarray(h.y[:n], np.float64)
    iu, ju = np.triu_indices(DIM)

    def minimizer(w):
        Phi = np.concatenate([np.ones((n, 1)), Xs, Xs[:, iu] * Xs[:, ju]], 1)
        c = np.linalg.lstsq(Phi * w[:, None], ys * w, rcond=None)[0]
        H = np.zeros((DIM, DIM))
        H[iu, ju] += c[DIM + 1:]
        H[ju, iu] += c[DIM + 1:]
        assert np.all(np.linalg.eigvalsh(H) > 0)
        return np.linalg.solve(H, -c[1:DIM + 1])

    geo = Geometry.continuous(DIM)
    got = np.asarray(jax.jit(make_quadratic_step(geo, 64, 1, rank_weight=8.0))(h)[0][0])
    flat = np.asarray(jax.jit(make_quadratic_step(geo, 64, 1))(h)[0][0])
    want, want_flat = minimizer(np.exp(-8.0 * np.arange(n) / n)), minimizer(np.ones(n))
    np.testing.assert_allclose(got, want, atol=2e-3)
    np.testing.assert_allclose(flat, want_flat, atol=2e-3)
    assert np.linalg.norm(want - want_flat) > 1e-2


def test_admissible_refuses_repeats_and_points_next_to_failures():
    geo = Geometry.continuous(2)
    X = np.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9], [0.3, 0.7]], np.float32)
    y = np.array([1.0, 2.0, np.nan, 3.0], np.float32)
    h = _insert(history_init(8, 2, jnp.float32), jnp.asarray(np.pad(X, ((0, 4), (0, 0)))),
                jnp.asarray(np.pad(y, (0, 4))), jnp.arange(8) < 4)
    cand = jnp.asarray([[0.5, 0.5],     # stored
                        [0.85, 0.88],   # nearest stored point failed
                        [0.2, 0.4],     # fine
                        [0.2, 0.4],     # repeats the row above
                        [0.6, 0.2]],    # in the rest of the batch
                       jnp.float32)
    others = jnp.asarray([[0.6, 0.2]], jnp.float32)
    ok = np.asarray(jax.jit(admissible, static_argnums=0)(geo, cand, h, others))
    assert ok.tolist() == [False, False, True, False, False]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_admissible_takes_a_last_bit_difference_for_a_repeat(dtype):
    # XLA's fusion at its default optimisation level can round a snapped point one ulp
    # away from its stored copy (float32 GP batches repeated points that way); 1e-10 of
    # the cube's side in float64 still tells close points apart.
    with jax.enable_x64(dtype == jnp.float64):
        geo = Geometry.continuous(2)
        X = np.array([[0.3, 0.7], [0.1, 0.1]], dtype)
        h = _insert(history_init(4, 2, dtype), jnp.asarray(np.pad(X, ((0, 2), (0, 0)))),
                    jnp.asarray([1.0, 2.0, 0.0, 0.0], dtype), jnp.arange(4) < 2)
        assert h.X.dtype == dtype
        ulp = np.nextafter(X[0], np.ones_like(X[0]))  # one ulp above the stored point
        apart = X[0] + (1e-6 if dtype == jnp.float32 else 1e-9)  # not a repeat
        cand = jnp.asarray(np.stack([ulp, apart]), dtype)
        ok = np.asarray(jax.jit(admissible, static_argnums=0)(geo, cand, h, jnp.zeros((0, 2), dtype)))
    assert ok.tolist() == [False, True]


@pytest.mark.parametrize("name, f", [
    ("constant", lambda X: np.zeros(len(X))),
    ("linear", lambda X: np.asarray(X).sum(1)),  # the step always aims at the same corner
])
def test_minimize_never_evaluates_a_point_twice(name, f):
    seen = []

    def recorded(X):
        seen.extend(map(tuple, np.asarray(X)))
        return f(X)

    arqon_jax.minimize(recorded, [(-5.0, 5.0)] * 3, budget=60, seed=0, jit=False)
    assert len(seen) == 60 and len(set(seen)) == 60


def test_step_survives_values_whose_squares_overflow_float32():
    X = 0.5 + 0.3 * (np.random.default_rng(0).random((2 * n_coefficients(DIM), DIM)) - 0.5)
    step = jax.jit(make_quadratic_step(Geometry.continuous(DIM), 64, 3))
    for scale in (1.0, 1e15, 1e30):  # float32: squares overflow above ~1.8e19
        xq, ok = step(_stored(X, scale * quad(X)))
        assert bool(ok)
        np.testing.assert_allclose(np.asarray(xq[0]), X_MIN, atol=2e-3)


def test_step_rows_inside_the_trust_region():
    geo = Geometry.continuous(DIM)
    h = _history(2 * n_coefficients(DIM))
    step = jax.jit(make_quadratic_step(geo, 64, 3))
    free, _ = step(h)
    best = np.asarray(h.X[0])
    newton = np.asarray(free[0]) - best
    far = float(np.linalg.norm(newton))
    for radius in (far / 4, far / 40):
        x, ok = step(h, jnp.float32(radius))
        assert bool(ok)
        # The half row is the Newton step capped at half the radius: shortened, not turned.
        d = np.asarray(x[1]) - best
        np.testing.assert_allclose(np.linalg.norm(d), radius / 2, rtol=1e-4)
        np.testing.assert_allclose(d / np.linalg.norm(d), newton / far, atol=1e-4)
        # The first row is the model's minimum within the radius: on this exact
        # quadratic (condition 100) on the boundary, and lower than the Newton step
        # capped at the same length, since it turns from the Newton direction.
        t = np.asarray(x[0]) - best
        np.testing.assert_allclose(np.linalg.norm(t), radius, rtol=1e-4)
        f0, capped = quad(best[None])[0], quad((best + newton * radius / far)[None])[0]
        assert f0 - quad(np.asarray(x[0])[None])[0] > 1.2 * (f0 - capped)  # measured: 1.4x and 2.1x
        # The third row stays free.
        np.testing.assert_allclose(np.asarray(x[2]), np.asarray(free[0]), atol=1e-6)


def _tr_cases():
    rng = np.random.default_rng(7)
    A = rng.normal(size=(5, 5))
    R = np.linalg.qr(A)[0]
    g = rng.normal(size=5)
    scale = rng.uniform(0.3, 3.0, 5)
    pd = A @ A.T + 0.5 * np.eye(5)
    return [
        ("newton inside", pd, g, scale, 1e3),
        ("radius binds", pd, g, scale, 0.05),
        ("indefinite", pd - 4.0 * np.eye(5), g, scale, 0.3),
        ("condition 1e6", R @ np.diag([1e-3, 1.0, 10.0, 1e2, 1e3]) @ R.T, g, scale, 0.2),
        ("negative definite", -pd, g, scale, 1.0),
    ]


@pytest.mark.parametrize("case", _tr_cases(), ids=lambda c: c[0])
def test_trust_region_step_meets_the_optimality_conditions(case):
    # More & Sorensen 1983: u solves min g.u + u^T H u / 2 over |u| <= r exactly when
    # (H + mu I) u = -g for some mu >= 0 with H + mu I positive semidefinite and
    # mu (r - |u|) = 0. Checked in cube units u = scale * z.
    _, H, g, scale, r = case
    with jax.enable_x64(True):
        u = np.asarray(trust_region_step(jnp.asarray(g), jnp.asarray(H), jnp.asarray(scale), jnp.float64(r)))
    gu, Hu = g / scale, H / np.outer(scale, scale)
    assert np.linalg.norm(u) <= r * (1 + 1e-9)
    newton_inside = np.linalg.eigvalsh(Hu)[0] > 0 and np.linalg.norm(np.linalg.solve(Hu, gu)) <= r
    if newton_inside:
        np.testing.assert_allclose(u, -np.linalg.solve(Hu, gu), rtol=1e-9)
        return
    np.testing.assert_allclose(np.linalg.norm(u), r, rtol=1e-9)
    # mu from the stationarity condition along u, then the whole condition and PSD-ness.
    mu = -(gu + Hu @ u) @ u / (u @ u)
    assert mu >= 0
    np.testing.assert_allclose((Hu + mu * np.eye(5)) @ u, -gu, atol=1e-7 * (1 + np.abs(gu).max()))
    assert np.linalg.eigvalsh(Hu + mu * np.eye(5))[0] >= -1e-7 * (1 + abs(mu))
    # And no sample of the ball does better.
    S = np.random.default_rng(0).normal(size=(20000, 5))
    S = S / np.linalg.norm(S, axis=1, keepdims=True) * r * np.random.default_rng(1).random((20000, 1)) ** 0.2

    def q(v):
        return v @ gu + 0.5 * np.einsum("...i,ij,...j->...", v, Hu, v)

    assert q(u) <= q(S).min() + 1e-12


_DEGENERATE = [
    # (name, g, H, radius, expected step or None where only descent within the radius is asked)
    ("hard case at the boundary", [1.0, 0.0], [[1.0, 0.0], [0.0, -1.0]], 0.5, [-0.5, 0.0]),
    ("hard case inside", [1.0, 0.0], [[2.0, 0.0], [0.0, -1.0]], 1.0, None),
    ("flat model", [0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], 0.5, [0.0, 0.0]),
    ("linear model", [3.0, -4.0], [[0.0, 0.0], [0.0, 0.0]], 0.5, [-0.3, 0.4]),
    ("gradient 1e30", [1e30, 1.0], [[1.0, 0.0], [0.0, 1.0]], 0.5, [-0.5, 0.0]),
    ("model 1e-30", [1e-30, 0.0], [[1e-30, 0.0], [0.0, 1e-30]], 0.5, [-0.5, 0.0]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", _DEGENERATE, ids=lambda c: c[0])
def test_trust_region_step_is_finite_on_degenerate_models(case, dtype):
    # Fits on plateaus, along ridges and at saddles give such models; a step that is not
    # finite throws away the batch's step rows. In float32 the hard case's mu rounded
    # onto -lambda_min (0/0), a flat model underflowed (0/0) and a gradient of 1e30
    # overflowed its square (a zero step).
    _, g, H, r, expected = case
    with jax.enable_x64(dtype == "float64"):
        u = np.asarray(trust_region_step(jnp.asarray(g, dtype), jnp.asarray(H, dtype),
                                         jnp.ones(2, dtype), jnp.asarray(r, dtype)))
    assert u.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(u))
    assert np.linalg.norm(u) <= r * (1 + 1e-6)
    if expected is not None:
        np.testing.assert_allclose(u, expected, atol=1e-6)
    else:  # the true hard case: the documented shorter step, still a descent step of the model
        g64, H64 = np.asarray(g), np.asarray(H)
        assert u @ g64 + 0.5 * u @ H64 @ u < 0


def test_trust_region_grows_after_a_new_best_and_shrinks_otherwise():
    geo = Geometry.continuous(DIM)
    q = make_quadratic_rows(geo, 64, 10, 0.3)
    qs = q.init(jnp.float32)._replace(ref=jnp.float32(1.0), used=jnp.array([True, True, False]))
    y = jnp.full((10,), 5.0)
    valid = jnp.ones((10,), bool)
    # A step row below the reference value: x EXPAND; a TPE row below it does not count.
    assert float(q.tell(qs, y.at[8].set(0.5), valid).radius) == pytest.approx(RADIUS0 * EXPAND)
    assert float(q.tell(qs, y.at[3].set(0.5).at[9].set(0.5), valid).radius) == pytest.approx(RADIUS0 * SHRINK)
    # A step row whose value is not valid, or NaN, is no success.
    assert float(q.tell(qs, y.at[7].set(0.5), valid.at[7].set(False)).radius) == pytest.approx(RADIUS0 * SHRINK)
    assert float(q.tell(qs, y.at[7].set(jnp.nan), valid).radius) == pytest.approx(RADIUS0 * SHRINK)
    # No step rows in the batch: unchanged; and the radius stays within its bounds.
    assert float(q.tell(qs._replace(used=jnp.zeros(3, bool)), y, valid).radius) == pytest.approx(RADIUS0)
    assert float(q.tell(qs._replace(radius=jnp.float32(RADIUS_MAX)), y.at[7].set(0.0), valid).radius) == RADIUS_MAX
    assert float(q.tell(qs._replace(radius=jnp.float32(RADIUS_MIN)), y, valid).radius) == pytest.approx(RADIUS_MIN)
    # Without a trust region nothing changes.
    off = make_quadratic_rows(geo, 64, 10, 0.3, trust_region=False)
    assert float(off.tell(qs, y.at[8].set(0.5), valid).radius) == pytest.approx(RADIUS0)


def test_tpe_carries_its_trust_region_through_ask_and_tell():
    geo = Geometry.continuous(DIM)
    h = _history(2 * n_coefficients(DIM))
    s = make_strategy("tpe", geo, 10, 64, jnp.float32)
    st = s.init(jax.random.PRNGKey(0), h)
    X, st = jax.jit(s.ask)(st, jax.random.PRNGKey(1), h)
    assert bool(np.all(np.asarray(st.quad.used))) and float(st.quad.ref) == float(h.y[0])
    better = jnp.full((10,), 1e9).at[9].set(float(h.y[0]) - 1.0)
    st2 = jax.jit(s.tell)(st, jax.random.PRNGKey(2), X, better, jnp.ones(10, bool), h)
    assert float(st2.quad.radius) == pytest.approx(RADIUS0 * EXPAND)


def test_three_step_rows_are_two_inside_the_trust_region_and_one_free():
    geo = Geometry.continuous(DIM)
    h = _history(2 * n_coefficients(DIM))
    step = jax.jit(make_quadratic_step(geo, 64, 3))
    free, _ = step(h)
    full = np.asarray(free[0]) - np.asarray(h.X[0])
    radius = float(np.linalg.norm(full)) / 10
    x, _ = step(h, jnp.float32(radius))
    d = np.asarray(x) - np.asarray(h.X[0])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1)[:2], [radius, radius / 2], rtol=1e-4)
    np.testing.assert_allclose(d[2], full, atol=1e-6)


def test_screened_rows_sample_the_trust_region_where_the_model_is_low():
    geo = Geometry.continuous(DIM)
    h = _history(2 * n_coefficients(DIM))
    radius = 0.05
    q = make_quadratic_rows(geo, 64, 10, 0.3, screened=0.3)
    qs = q.init(jnp.float32)._replace(radius=jnp.float32(radius))
    X0 = jnp.full((10, DIM), 0.9)  # the strategy's own rows: far from everything
    X, qs = jax.jit(q.rows)(X0, h, jnp.int32(0), qs, jax.random.PRNGKey(4))
    assert qs.used.shape == (6,) and bool(np.all(np.asarray(qs.used)))
    np.testing.assert_array_equal(np.asarray(X[:4]), np.asarray(X0[:4]))
    scr = np.asarray(X[4:7], np.float64)
    best = np.asarray(h.X[0], np.float64)
    # Within a few radii of the best point, at least radius / 2 apart from each other...
    assert np.all(np.linalg.norm(scr - best, axis=1) < 4 * radius)
    gaps = [np.linalg.norm(scr[i] - scr[j]) for i in range(3) for j in range(i)]
    assert min(gaps) >= radius / 2 - 1e-6
    # ...and lower on f than the unscreened samples they were picked from.
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (512, DIM))) * radius / np.sqrt(DIM)
    assert quad(scr).max() < np.median(quad(np.clip(best + z, 0, 1)))


def test_a_win_in_a_screened_row_grows_the_trust_region():
    q = make_quadratic_rows(Geometry.continuous(DIM), 64, 10, 0.3, screened=0.3)
    qs = q.init(jnp.float32)._replace(ref=jnp.float32(1.0), used=jnp.ones(6, bool))
    y, valid = jnp.full((10,), 5.0), jnp.ones((10,), bool)
    assert float(q.tell(qs, y.at[4].set(0.5), valid).radius) == pytest.approx(RADIUS0 * EXPAND)
    assert float(q.tell(qs, y.at[3].set(0.5), valid).radius) == pytest.approx(RADIUS0 * SHRINK)


@pytest.mark.parametrize("batch, expected", [(10, 6), (20, 9), (4, 2), (2, 1), (1, 1)])
def test_screened_rows_only_where_every_batch_takes_step_rows(batch, expected):
    q = make_quadratic_rows(Geometry.continuous(DIM), 64, batch, 0.3, screened=0.3)
    assert q.init(jnp.float32).used.shape == (expected,)
    # Never the whole batch: the strategy keeps at least one row of its own.
    assert expected < batch or batch == 1


def test_the_fit_width_weighs_the_points_near_the_best_one():
    # A bowl at C near the best points; far away the values follow another bowl. Reading
    # all 60 points, the unweighted fit mixes both, the fit weighted within 2 trust radii
    # finds C.
    geo = Geometry.continuous(DIM)
    C = np.array([0.3, 0.3, 0.3])
    rng = np.random.default_rng(5)
    near = C + 0.03 + 0.06 * (rng.random((30, DIM)) - 0.5)
    far = 0.75 + 0.4 * (rng.random((30, DIM)) - 0.5)
    X = np.concatenate([near, far])
    y = np.concatenate([np.sum((near - C) ** 2, 1), 0.2 + 5.0 * np.sum((far - 0.9) ** 2, 1)])
    h = _stored(X, y)
    radius = jnp.float32(0.05)
    plain = jax.jit(make_quadratic_step(geo, 64, 3, fit_points=60))(h, radius)[0]
    local = jax.jit(make_quadratic_step(geo, 64, 3, fit_points=60, fit_width=2.0))(h, radius)[0]
    # The free (last) step: where each fit puts the minimum.
    err_local = np.linalg.norm(np.asarray(local[2]) - C)
    err_plain = np.linalg.norm(np.asarray(plain[2]) - C)
    assert err_local < 0.02 and err_plain > 5 * err_local, (err_local, err_plain)


@pytest.mark.parametrize("kwargs, match", [
    ({"screened": 1.5}, "screened share"), ({"screened": -0.1}, "screened share"), ({"n_screen": 0}, "n_screen"),
    ({"fit_width": -1.0}, "fit_width"), ({"fit_width": float("inf")}, "fit_width")])
def test_quadratic_rows_refuse_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_quadratic_rows(Geometry.continuous(DIM), 64, 10, 0.3, **kwargs)

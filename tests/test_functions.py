"""Tests for arqon_jax.functions: values, optima, transforms, validation."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arqon_jax import functions as F

NAMES = sorted(F.FUNCTIONS)

# ---------------------------------------------------------------------------
# Independent float64 reference formulas (plain math, one point at a time).
# ---------------------------------------------------------------------------


def ref_sphere(x):
    return sum(v * v for v in x)


def ref_rastrigin(x):
    return 10 * len(x) + sum(v * v - 10 * math.cos(2 * math.pi * v) for v in x)


def ref_rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ref_ackley(x):
    d = len(x)
    s1 = sum(v * v for v in x) / d
    s2 = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e


def ref_griewank(x):
    prod = 1.0
    for i, v in enumerate(x, start=1):
        prod *= math.cos(v / math.sqrt(i))
    return 1 + sum(v * v for v in x) / 4000 - prod


def ref_schwefel(x):
    # The module uses the full-precision constant; 418.9829 is its 4-decimal rounding.
    return 418.98288727243374 * len(x) - sum(v * math.sin(math.sqrt(abs(v))) for v in x)


def ref_levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    total = math.sin(math.pi * w[0]) ** 2
    for wi in w[:-1]:
        total += (wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2)
    total += (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return total


def ref_styblinski_tang(x):
    return sum(v**4 - 16 * v**2 + 5 * v for v in x) / 2


def ref_ellipsoid(x):
    d = len(x)
    return sum((10 ** (6 * i / (d - 1)) if d > 1 else 1.0) * v * v for i, v in enumerate(x))


REFERENCE = {
    "sphere": ref_sphere,
    "rastrigin": ref_rastrigin,
    "rosenbrock": ref_rosenbrock,
    "ackley": ref_ackley,
    "griewank": ref_griewank,
    "schwefel": ref_schwefel,
    "levy": ref_levy,
    "styblinski_tang": ref_styblinski_tang,
    "ellipsoid": ref_ellipsoid,
}

DOMAINS = {
    "sphere": (-5.12, 5.12),
    "rastrigin": (-5.12, 5.12),
    "rosenbrock": (-5.0, 10.0),
    "ackley": (-32.768, 32.768),
    "griewank": (-600.0, 600.0),
    "schwefel": (-500.0, 500.0),
    "levy": (-10.0, 10.0),
    "styblinski_tang": (-5.0, 5.0),
    "ellipsoid": (-5.0, 5.0),
}


def _points(name):
    """Two non-trivial points (3-D and 4-D) inside the usual domain."""
    lo, hi = DOMAINS[name]
    p1 = [lo + (hi - lo) * t for t in (0.3, 0.55, 0.8)]
    p2 = [lo + (hi - lo) * t for t in (0.9, 0.15, 0.62, 0.41)]
    return p1, p2


def _f32(x):
    return jnp.asarray(np.asarray(x, dtype=np.float64), dtype=jnp.float32)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_value_at_optimum_float32(name):
    tf = F.FUNCTIONS[name]
    for dim in sorted({tf.min_dim, 2, 3, 10}):
        x = _f32(np.tile(tf.x_opt(dim), (2, 1)))
        out = tf(x)
        assert out.shape == (2,) and out.dtype == jnp.float32
        # 1e-4, plus float32 rounding of O(|x_opt|) terms: Schwefel's terms are ~419 - 419,
        # so its float32 value at the optimum is off by up to ~1.5e-5 per coordinate.
        atol = 1e-4 + dim * np.finfo(np.float32).eps * abs(tf.x_opt_value)
        np.testing.assert_allclose(np.asarray(out), tf.f_opt(dim), rtol=1e-6, atol=atol)


def test_value_at_optimum_float64():
    with jax.enable_x64(True):
        for name in NAMES:
            tf = F.FUNCTIONS[name]
            x = jnp.asarray(tf.x_opt(6)[None], dtype=jnp.float64)
            out = tf(x)
            assert out.dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(out), tf.f_opt(6), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_reference_values(name):
    tf = F.FUNCTIONS[name]
    for p in _points(name):
        expected = REFERENCE[name](p)
        got = float(tf(_f32([p]))[0])
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-4)
        assert abs(expected - tf.f_opt(len(p))) > 1e-2  # really non-trivial
    with jax.enable_x64(True):
        p1, p2 = _points(name)
        got = F.FUNCTIONS[name](jnp.asarray([p2], dtype=jnp.float64))
        np.testing.assert_allclose(float(got[0]), REFERENCE[name](p2), rtol=1e-12, atol=1e-10)


def test_literal_values():
    f = lambda fn, p: float(fn(_f32([p]))[0])  # noqa: E731
    assert f(F.sphere, [1, 2, 3]) == pytest.approx(14.0)
    assert f(F.rastrigin, [1, 1]) == pytest.approx(2.0, abs=1e-5)
    assert f(F.rosenbrock, [0, 0]) == pytest.approx(1.0)
    assert f(F.rosenbrock, [-1, 1]) == pytest.approx(4.0)
    assert f(F.ackley, [1, 1]) == pytest.approx(20 * (1 - math.exp(-0.2)), rel=1e-5)
    assert f(F.schwefel, [0, 0, 0]) == pytest.approx(3 * 418.9829, rel=1e-6)
    assert f(F.styblinski_tang, [0, 0]) == 0.0
    assert f(F.styblinski_tang, [1, -1]) == pytest.approx(((1 - 16 + 5) + (1 - 16 - 5)) / 2)
    assert f(F.ellipsoid, [1, 1, 1]) == pytest.approx(1 + 1e3 + 1e6, rel=1e-6)
    assert f(F.ellipsoid, [2.0]) == pytest.approx(4.0)
    assert f(F.levy, [1.0]) == pytest.approx(0.0, abs=1e-6)


def test_dtype_follows_input():
    x = np.array([[0.5, -1.0, 2.0]])
    for name in NAMES:
        assert F.FUNCTIONS[name](jnp.asarray(x, jnp.float32)).dtype == jnp.float32
        assert F.FUNCTIONS[name](np.array([[1, 2, 3]])).dtype == jnp.float32  # ints promoted
    with jax.enable_x64(True):
        for name in NAMES:
            assert F.FUNCTIONS[name](jnp.asarray(x, jnp.float64)).dtype == jnp.float64


def test_optimum_is_minimum_on_random_points():
    rng = np.random.default_rng(0)
    for name in NAMES:
        tf = F.FUNCTIONS[name]
        b = tf.bounds(4)
        x = b[:, 0] + rng.uniform(size=(256, 4)) * (b[:, 1] - b[:, 0])
        assert np.all(np.asarray(tf(_f32(x))) >= tf.f_opt(4) - 1e-4), name


# ---------------------------------------------------------------------------
# Comparison with the `surfaces` package
# ---------------------------------------------------------------------------


def test_against_surfaces():
    alg = pytest.importorskip("surfaces.test_functions.algebraic")
    # Same definitions as ours (surfaces defaults: rastrigin A=10, angle=2*pi; rosenbrock
    # A=1, B=100; sphere A=1). Differences: surfaces' *default bounds* differ (rastrigin
    # and sphere [-5, 5], rosenbrock [-5, 5], griewank [-100, 100]); its AckleyFunction is
    # 2-D only (same formula as ours at d=2); its StyblinskiTang f_global is rounded
    # (-39.16617 d). Not compared: surfaces has no plain Levy (LeviFunctionN13 is a
    # different 2-D function), no plain Schwefel 2.26 (only CEC shifted/rotated variants)
    # and no plain ellipsoid (BBOB f2 adds a shift, offset and oscillation transform).
    pairs = {
        "sphere": lambda d: alg.SphereFunction(n_dim=d),
        "rastrigin": lambda d: alg.RastriginFunction(n_dim=d),
        "rosenbrock": lambda d: alg.RosenbrockFunction(n_dim=d),
        "griewank": lambda d: alg.GriewankFunction(n_dim=d),
        "styblinski_tang": lambda d: alg.StyblinskiTangFunction(n_dim=d),
        "ackley": lambda d: alg.AckleyFunction(),
    }
    rng = np.random.default_rng(1)
    for name, make in pairs.items():
        dim = 2 if name == "ackley" else 5
        ref = make(dim)
        b = F.FUNCTIONS[name].bounds(dim)
        x = b[:, 0] + rng.uniform(size=(16, dim)) * (b[:, 1] - b[:, 0])
        expected = np.asarray(ref.batch(x), dtype=np.float64)
        with jax.enable_x64(True):
            got = np.asarray(F.FUNCTIONS[name](jnp.asarray(x, jnp.float64)))
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9, err_msg=name)
        got32 = np.asarray(F.FUNCTIONS[name](_f32(x)))
        np.testing.assert_allclose(got32, expected, rtol=2e-5, atol=2e-4, err_msg=name)
        assert float(ref.f_global) == pytest.approx(F.FUNCTIONS[name].f_opt(dim), abs=1e-4 * dim)


# ---------------------------------------------------------------------------
# Transformations: jit, vmap, grad
# ---------------------------------------------------------------------------


def test_jit_vmap_grad():
    rng = np.random.default_rng(2)
    for name in NAMES:
        tf = F.FUNCTIONS[name]
        b = tf.bounds(3)
        x = _f32(b[:, 0] + rng.uniform(size=(4, 2, 3)) * (b[:, 1] - b[:, 0]))  # (runs, batch, dim)
        eager = tf(x.reshape(8, 3))
        np.testing.assert_allclose(np.asarray(jax.jit(tf.fn)(x[0])), np.asarray(eager[:2]), rtol=1e-5, atol=1e-4)
        mapped = jax.jit(jax.vmap(tf.fn))(x)
        assert mapped.shape == (4, 2)
        np.testing.assert_allclose(np.asarray(mapped).ravel(), np.asarray(eager), rtol=1e-5, atol=1e-4)
        g = jax.grad(lambda z: jnp.sum(tf(z)))(x[0])
        assert g.shape == (2, 3) and bool(jnp.all(jnp.isfinite(g))), name
        # Gradient is finite (no NaN from sqrt) and ~0 at the optimum.
        g0 = jax.jit(jax.grad(lambda z: jnp.sum(tf(z))))(_f32(tf.x_opt(3)[None]))
        assert bool(jnp.all(jnp.isfinite(g0))), name
        assert float(jnp.max(jnp.abs(g0))) < 1e-2, name
    x = _f32([[1.0, -2.0, 3.0], [0.5, 0.0, -0.25]])
    np.testing.assert_allclose(np.asarray(jax.grad(lambda z: F.sphere(z).sum())(x)), 2 * np.asarray(x))
    # grad of schwefel / ackley at exactly 0 is finite
    for fn in (F.schwefel, F.ackley):
        assert bool(jnp.all(jnp.isfinite(jax.grad(lambda z: fn(z).sum())(jnp.zeros((1, 3))))))


# ---------------------------------------------------------------------------
# Registry and records
# ---------------------------------------------------------------------------


def test_registry_and_records():
    assert set(NAMES) == set(DOMAINS)
    for name in NAMES:
        tf = F.get_function(name)
        assert tf is F.FUNCTIONS[name] and tf.name == name
        assert tf.fn is getattr(F, name)
        b = tf.bounds(4)
        assert b.shape == (4, 2) and b.dtype == np.float64
        np.testing.assert_array_equal(b, np.tile(DOMAINS[name], (4, 1)))
        xo = tf.x_opt(4)
        assert xo.shape == (4,) and np.all((xo >= b[:, 0]) & (xo <= b[:, 1]))
        assert isinstance(tf.f_opt(4), float)
    assert F.get_function("Styblinski-Tang") is F.FUNCTIONS["styblinski_tang"]
    assert F.get_function(F.FUNCTIONS["levy"]) is F.FUNCTIONS["levy"]
    assert F.FUNCTIONS["styblinski_tang"].f_opt(3) == pytest.approx(-39.16616570377142 * 3)
    assert F.FUNCTIONS["styblinski_tang"].x_opt(2)[0] == pytest.approx(-2.903534027771177)
    assert F.FUNCTIONS["schwefel"].x_opt(1)[0] == pytest.approx(420.9687, abs=1e-4)
    with pytest.raises(ValueError, match="rastrigin"):
        F.get_function("nope")
    with pytest.raises(TypeError):
        F.get_function(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        F.FUNCTIONS["sphere"].name = "x"


# ---------------------------------------------------------------------------
# Shifted / rotated problems
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("rotate", [False, True])
def test_make_problem(rotate):
    rng = np.random.default_rng(3)
    for name in NAMES:
        dim = 5
        p = F.make_problem(name, dim, rotate=rotate, seed=7)
        assert p.bounds.shape == (dim, 2) and p.x_opt.shape == (dim,) and p.dim == dim
        lo, hi = p.bounds[:, 0], p.bounds[:, 1]
        assert np.all(p.x_opt >= lo + 0.1 * (hi - lo) - 1e-12) and np.all(p.x_opt <= lo + 0.9 * (hi - lo) + 1e-12)
        assert not np.allclose(p.x_opt, (lo + hi) / 2, atol=0.02 * (hi - lo)[0])  # not at the centre
        assert not np.allclose(p.x_opt, F.FUNCTIONS[name].x_opt(dim))  # actually moved
        assert p.f_opt == F.FUNCTIONS[name].f_opt(dim)
        val = p.f(_f32(p.x_opt[None]))
        np.testing.assert_allclose(np.asarray(val), p.f_opt, rtol=1e-6, atol=1e-4)
        with jax.enable_x64(True):
            v64 = p(jnp.asarray(p.x_opt[None], jnp.float64))
            assert v64.dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(v64), p.f_opt, rtol=1e-12, atol=1e-9)
        # f_opt is the minimum over the box (Schwefel needs its fold-back for this).
        x = lo + rng.uniform(size=(512, dim)) * (hi - lo)
        vals = np.asarray(jax.jit(p.f)(_f32(x)))
        assert vals.shape == (512,) and np.all(vals >= p.f_opt - 1e-4), name
    p = F.make_problem("rastrigin", 4, rotate=rotate, seed=0)
    assert np.array_equal(F.make_problem("rastrigin", 4, rotate=rotate, seed=0).x_opt, p.x_opt)
    assert not np.array_equal(F.make_problem("rastrigin", 4, rotate=rotate, seed=1).x_opt, p.x_opt)
    if rotate:
        R = p.rotation
        np.testing.assert_allclose(R @ R.T, np.eye(4), atol=1e-12)
        q = F.make_problem("rastrigin", 4, rotate=False, seed=0)
        x = _f32(p.x_opt[None] + 0.3)
        assert abs(float(p(x)[0]) - float(q(x)[0])) > 1e-3  # rotation changes the landscape
    else:
        assert p.rotation is None


def test_make_problem_identity_and_errors():
    p = F.make_problem("rosenbrock", 3, shift=False, rotate=False)
    x = _f32([[0.1, 0.2, 0.3], [2.0, -1.0, 0.5]])
    np.testing.assert_allclose(np.asarray(p(x)), np.asarray(F.rosenbrock(x)), rtol=1e-6)
    np.testing.assert_array_equal(p.x_opt, np.ones(3))
    with pytest.raises(ValueError):
        p(_f32([[0.1, 0.2]]))  # wrong dim
    with pytest.raises(ValueError, match=r"dim: expected an integer in \[2, 2147483647\], got 1"):
        F.make_problem("rosenbrock", 1)
    with pytest.raises(ValueError, match="valid names"):
        F.make_problem("bogus", 3)
    with pytest.raises(TypeError, match="dim: expected an integer"):
        F.make_problem("sphere", 2.0)
    with pytest.raises(TypeError, match="seed: expected an integer"):
        F.make_problem("sphere", 2, seed=True)
    q = F.make_problem("rosenbrock", jnp.int32(3), seed=np.array(7))  # 0-d arrays as numbers
    np.testing.assert_array_equal(q.x_opt, F.make_problem("rosenbrock", 3, seed=7).x_opt)
    with pytest.raises(ValueError, match=r"seed: expected an integer in \[0, 2\*\*64\), got -1"):
        F.make_problem("sphere", 2, seed=-1)
    with pytest.raises(ValueError, match=r"seed: expected an integer in \[0, 2\*\*64\)"):
        F.make_problem("sphere", 2, seed=2**64)  # minimize's seeds end there too


@pytest.mark.parametrize("call", [lambda d: F.make_problem("sphere", d), lambda d: F.SPHERE.f_opt(d),
                                  lambda d: F.ROSENBROCK.bounds(d), lambda d: F.STYBLINSKI_TANG.x_opt(d)])
@pytest.mark.parametrize("dim", [2**31, 2**63, 2**70])
def test_dims_beyond_an_array_axis_are_refused_by_name(call, dim):
    # numpy's OverflowError / "maximum allowed dimension" did not say which argument, and
    # f_opt answered -4.6e22 for Styblinski-Tang at 2**70 dimensions.
    with pytest.raises(ValueError, match=r"^dim: expected an integer in \[\d, 2147483647\]"):
        call(dim)


def test_the_shift_does_not_depend_on_rotate():
    plain, rotated = F.make_problem("rastrigin", 6, seed=3), F.make_problem("rastrigin", 6, seed=3, rotate=True)
    np.testing.assert_array_equal(plain.x_opt, rotated.x_opt)
    assert plain.rotation is None and rotated.rotation.shape == (6, 6)
    np.testing.assert_array_equal(rotated.rotation, F.random_rotation(6, _after_shift(3, 6)))


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (2**64, ValueError), (True, TypeError), (1.0, TypeError)])
def test_random_rotation_checks_its_seed(seed, exc):
    with pytest.raises(exc, match="^seed: "):  # numpy's "expected non-negative integer" named nothing
        F.random_rotation(3, seed)


def _after_shift(seed, dim):
    rng = np.random.default_rng(seed)
    rng.uniform(size=dim)
    return rng


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bad_input(name):
    tf = F.FUNCTIONS[name]
    with pytest.raises(ValueError):
        tf(jnp.ones(3))  # 1-D
    with pytest.raises(ValueError):
        tf(jnp.ones((2, 2, 3)))  # 3-D
    with pytest.raises(ValueError):
        jax.jit(tf.fn)(jnp.ones(3))  # static check also fires while tracing
    with pytest.raises(TypeError):
        tf("abc")
    with pytest.raises(ValueError):
        tf.bounds(0)
    with pytest.raises(TypeError):
        tf.x_opt(2.5)
    with pytest.raises(TypeError):
        tf.f_opt(True)


def test_rosenbrock_needs_two_dims():
    with pytest.raises(ValueError, match="dim >= 2"):
        F.rosenbrock(jnp.ones((3, 1)))
    with pytest.raises(ValueError):
        F.FUNCTIONS["rosenbrock"].bounds(1)
    with pytest.raises(ValueError):
        F.sphere(jnp.ones((3, 0)))

"""Tests for arqon_jax.core.space: accepted bounds forms, the unit maps, jit behaviour and input validation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arqon_jax.core.space import CATEGORICAL, INTEGER, LINEAR, LOG, PERIODIC, Space, _from_unit, _to_unit

# Unit inputs that every map must survive: the corners, values a hair outside [0, 1]
# (strategies may step over), far outside (periodic wraps, others clip) and float32 1 - ulp.
EDGE_U = np.array([0.0, 1.0, -1e-9, 1.0 + 1e-7, -0.25, 1.25, 3.7, -2.2, 0.5, np.float32(1) - np.float32(2**-24)])


def _unit_batch(dim: int, n: int = 512, seed: int = 0) -> jax.Array:
    rng = np.random.default_rng(seed)
    u = rng.random((n, dim))
    u[: len(EDGE_U)] = EDGE_U[:, None]
    return jnp.asarray(u, jnp.float32)


def _assert_in_space(space: Space, x) -> None:
    x = np.asarray(x, np.float64)
    assert np.all(np.isfinite(x))
    lo, hi = np.asarray(space.low), np.asarray(space.high)
    assert np.all(x >= lo), (x.min(axis=0), lo)
    assert np.all(x <= hi), (x.max(axis=0), hi)
    assert space.contains(x).all()


# ----------------------------------------------------------------------------- bounds forms


def test_pairs_array_and_dict_forms_agree():
    pairs = [(-5.0, 5.0), (0, 1), (2.5, 7)]
    a = Space.from_bounds(pairs)
    b = Space.from_bounds(np.array(pairs))
    c = Space.from_bounds(jnp.array(pairs))
    assert a == b == c
    assert a.dim == 3 and a.names is None and a.scales == (LINEAR,) * 3
    assert a.low == (-5.0, 0.0, 2.5) and a.high == (5.0, 1.0, 7.0)
    d = Space.from_bounds({"x2": (2.5, 7), "x0": [-5, 5], "x1": np.array([0, 1])})
    assert d.names == ("x0", "x1", "x2")  # sorted, like ArqonHPO
    assert d.low == a.low and d.high == a.high
    assert Space.from_bounds(a) is a


@pytest.mark.parametrize("scale", ["Log", "log", "LOG", " log ", "loguniform"])
def test_arqonhpo_schema_scale_case_insensitive(scale):
    s = Space.from_bounds(
        {
            "lr": {"min": 1e-5, "max": 0.1, "scale": scale},
            "dropout": {"min": 0.0, "max": 0.5, "scale": "Linear"},
            "angle": {"min": 0.0, "max": 2 * math.pi, "scale": "PERIODIC"},
            "layers": {"min": 1, "max": 8, "scale": "Integer"},
            "width": {"low": 0.0, "high": 3.0},  # default scale is linear
        }
    )
    assert s.names == ("angle", "dropout", "layers", "lr", "width")
    assert s.scales == (PERIODIC, LINEAR, INTEGER, LOG, LINEAR)
    assert s.levels == (0, 0, 8, 0, 0)


def test_array_bounds_with_scale_argument():
    s = Space.from_bounds([(1e-3, 1e3), (0, 10), (0, 360)], scale=["LOG", "integer", "Periodic"])
    assert s.scales == (LOG, INTEGER, PERIODIC)
    assert Space.from_bounds([(1, 2), (3, 4)], scale="log").scales == (LOG, LOG)


def test_choices():
    s = Space.from_bounds({"act": {"choices": ["relu", "tanh", "gelu"]}, "sizes": {"choices": [[64], [64, 64]]}, "x": (0, 1)})
    assert s.scales[:2] == (CATEGORICAL, CATEGORICAL)
    assert s.levels[:2] == (3, 2)
    u = jnp.array([[0.0, 0.0, 0.5], [0.5, 0.99, 0.5], [0.999, 0.6, 0.5]], jnp.float32)
    recs = s.to_records(np.asarray(s.from_unit(u)))  # unhashable choices (lists) must work under jit
    assert [r["act"] for r in recs] == ["relu", "tanh", "gelu"]
    assert [r["sizes"] for r in recs] == [[64], [64, 64], [64, 64]]
    np.testing.assert_array_equal(
        Space.from_bounds({"act": {"choices": ["relu", "tanh", "gelu"]}, "x": (0, 1)}).from_user({"act": ["gelu", "relu"], "x": [0.25, 1.0]}),
        [[2.0, 0.25], [0.0, 1.0]],
    )


# ----------------------------------------------------------------------------- maps


MIXED = Space.from_bounds(
    {
        "lin": (-3.0, 0.1),
        "tiny": (1e-9, 2e-9),
        "log": {"min": 1e-8, "max": 0.3, "scale": "log"},
        "per": {"min": -0.3, "max": 0.7, "scale": "periodic"},
        "int": {"min": -3, "max": 4, "scale": "integer"},
        "big": (-1.5e38, 1.5e38),  # the span 3e38 still fits in float32
    }
)


def test_every_scale_maps_inside_bounds_float32():
    x = MIXED.from_unit(_unit_batch(MIXED.dim))
    assert x.dtype == jnp.float32
    _assert_in_space(MIXED, x)


def test_every_scale_maps_inside_bounds_float64():
    with jax.enable_x64(True):
        x = MIXED.from_unit(jnp.asarray(np.asarray(_unit_batch(MIXED.dim)), jnp.float64))
        assert x.dtype == jnp.float64
        _assert_in_space(MIXED, x)


def test_clip_and_wrap_semantics():
    s = Space.from_bounds({"a": (0.0, 10.0), "p": {"min": 0.0, "max": 10.0, "scale": "periodic"}})
    u = jnp.array([[-0.25, -0.25], [1.25, 1.25], [0.25, 2.25]], jnp.float32)
    x = np.asarray(s.from_unit(u))
    np.testing.assert_allclose(x[:, 0], [0.0, 10.0, 2.5], atol=1e-6)  # clipped
    np.testing.assert_allclose(x[:, 1], [7.5, 2.5, 2.5], atol=1e-5)  # wrapped
    np.testing.assert_allclose(np.asarray(s.to_unit(jnp.array([[2.5, 12.5]])))[0], [0.25, 0.25], atol=1e-6)


def test_tiny_and_subnormal_bounds_stay_inside():
    # float32(1e-40) is subnormal and XLA on CPU flushes subnormals to zero: a naive clip
    # would return 0 (below the bound, and not > 0 for the log scale).
    s = Space.from_bounds({"a": (1e-40, 1.0), "b": {"min": 1e-40, "max": 1e-30, "scale": "log"}, "c": (-1.0, -1e-75)})
    _assert_in_space(s, s.from_unit(_unit_batch(3)))


def test_log_scale_is_geometric_and_extreme_range_is_finite():
    s = Space.from_bounds([(1e-12, 1e12)], scale="log")
    u = _unit_batch(1, n=2000)
    x = np.asarray(s.from_unit(u), np.float64)
    _assert_in_space(s, x)
    assert x.min() > 0
    np.testing.assert_allclose(np.asarray(s.from_unit(jnp.array([[0.5]])))[0, 0], 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(s.from_unit(jnp.array([[0.25]])))[0, 0], 1e-6, rtol=1e-4)
    # Both ends are reached (after the clip), not overshot.
    assert np.isclose(x.min(), 1e-12, rtol=1e-6) and np.isclose(x.max(), 1e12, rtol=1e-6)


def test_integer_values_exact_inclusive_and_equal_share():
    s = Space.from_bounds({"n": {"min": -3, "max": 4, "scale": "integer"}})
    n_levels, per = 8, 1000
    u = (np.arange(n_levels * per) + 0.5) / (n_levels * per)  # a uniform grid over [0, 1)
    x = np.asarray(s.from_unit(jnp.asarray(u[:, None], jnp.float32)))[:, 0]
    assert np.array_equal(x, np.round(x))
    values, counts = np.unique(x, return_counts=True)
    np.testing.assert_array_equal(values, np.arange(-3, 5))  # bounds inclusive
    np.testing.assert_array_equal(counts, np.full(n_levels, per))  # equal share
    ends = np.asarray(s.from_unit(jnp.array([[0.0], [1.0], [-0.5], [1.5]])))[:, 0]
    np.testing.assert_array_equal(ends, [-3, 4, -3, 4])
    # Random unit inputs: every value appears with about the same share.
    xr = np.asarray(s.from_unit(jnp.asarray(np.random.default_rng(1).random((80_000, 1)), jnp.float32)))[:, 0]
    share = np.unique(xr, return_counts=True)[1] / len(xr)
    assert share.size == n_levels and np.all(np.abs(share - 1 / n_levels) < 0.01)
    assert s.to_records(x[:3, None]) == [{"n": -3}, {"n": -3}, {"n": -3}]
    assert type(s.to_records(x[:1, None])[0]["n"]) is int


def test_round_trip():
    cont = Space.from_bounds(
        {
            "lin": (-5.0, 5.0),
            "log": {"min": 1e-4, "max": 1e2, "scale": "log"},
            "per": {"min": 0.0, "max": 360.0, "scale": "periodic"},
        }
    )
    u = jnp.asarray(np.random.default_rng(2).random((1000, 3)))
    np.testing.assert_allclose(np.asarray(cont.to_unit(cont.from_unit(u))), np.asarray(u), atol=2e-6)
    with jax.enable_x64(True):
        u64 = jnp.asarray(np.random.default_rng(2).random((1000, 3)), jnp.float64)
        np.testing.assert_allclose(np.asarray(cont.to_unit(cont.from_unit(u64))), np.asarray(u64), atol=1e-12)
    # Integer dimensions: values survive the trip exactly, unit points land on bin centres.
    disc = Space.from_bounds({"n": {"min": 0, "max": 9, "scale": "integer"}})
    x = jnp.arange(10.0)[:, None]
    np.testing.assert_array_equal(np.asarray(disc.from_unit(disc.to_unit(x))), np.asarray(x))
    np.testing.assert_allclose(np.asarray(disc.to_unit(x))[:, 0], (np.arange(10) + 0.5) / 10, atol=1e-7)


def test_maps_compile_once_per_space_and_shape():
    s = Space.from_bounds({"a": (0.0, 1.0), "b": {"min": 1e-3, "max": 1.0, "scale": "log"}, "c": (3.25, 4.75)})
    u1 = jnp.asarray(np.random.default_rng(3).random((17, 3)), jnp.float32)
    u2 = jnp.asarray(np.random.default_rng(4).random((17, 3)), jnp.float32)
    s.from_unit(u1).block_until_ready()
    s.to_unit(s.from_unit(u1)).block_until_ready()
    n_from, n_to = _from_unit._cache_size(), _to_unit._cache_size()
    s.from_unit(u2).block_until_ready()
    s.to_unit(s.from_unit(u2)).block_until_ready()
    # An equal space built again (a new object) hits the same compiled map.
    s2 = Space.from_bounds({"c": (3.25, 4.75), "b": {"min": 1e-3, "max": 1.0, "scale": "LOG"}, "a": (0, 1)})
    s2.from_unit(u2).block_until_ready()
    # So does a space of other bound values with the same scales: the bounds are data.
    s3 = Space.from_bounds({"a": (-7.0, 2.0), "b": {"min": 0.5, "max": 9.0, "scale": "log"}, "c": (0.0, 1e3)})
    x3 = s3.from_unit(u2)
    np.testing.assert_allclose(np.asarray(s3.to_unit(x3)), np.asarray(u2), atol=1e-5)
    assert np.all((np.asarray(x3) >= [-7.0, 0.5, 0.0]) & (np.asarray(x3) <= [2.0, 9.0, 1e3]))
    assert _from_unit._cache_size() == n_from
    assert _to_unit._cache_size() == n_to
    # Sanity: the counter does move for a new shape.
    s.from_unit(u1[:5]).block_until_ready()
    assert _from_unit._cache_size() == n_from + 1


def test_vectorized_over_batch_and_1d_input():
    s = Space.from_bounds([(0, 2), (10, 20)])
    np.testing.assert_allclose(np.asarray(s.from_unit(jnp.array([0.5, 0.5]))), [1.0, 15.0])
    assert s.from_unit(jnp.zeros((7, 2))).shape == (7, 2)


# ----------------------------------------------------------------------------- validation

BAD_BOUNDS = [
    # (bounds, scale, error type, text the message must contain)
    ([(1.0, 1.0)], None, ValueError, "bounds[0]"),
    ([(0, 1), (2.0, 1.0)], None, ValueError, "bounds[1]"),
    ({"lr": (0.2, 0.1)}, None, ValueError, "lr"),
    ({"lr": {"min": 1, "max": 1, "scale": "log"}}, None, ValueError, "lr"),
    ([(0.0, math.inf)], None, ValueError, "bounds[0]"),
    ([(math.nan, 1.0)], None, ValueError, "bounds[0]"),
    (np.array([[0.0, 1.0], [-np.inf, 0.0]]), None, ValueError, "bounds[1]"),
    ({"x": {"min": 0.0, "max": float("inf")}}, None, ValueError, "x"),
    ({"x": (-1e309, 1e39)}, None, ValueError, "x"),  # -inf
    ({"x": (-1e308, 1e308)}, None, ValueError, "x"),  # high - low overflows float64
    ({"lr": {"min": 0.0, "max": 1.0, "scale": "log"}}, None, ValueError, "lr"),
    ({"lr": {"min": -1.0, "max": 1.0, "scale": "Log"}}, None, ValueError, "lr"),
    ([(0.0, 1.0)], "log", ValueError, "bounds[0]"),
    ({"x": {"min": 0, "max": 1, "scale": "cubic"}}, None, ValueError, "cubic"),
    ({"x": {"min": 0, "max": 1, "scale": 3}}, None, TypeError, "x"),
    ([(0, 1)], "quadratic", ValueError, "quadratic"),
    ([(0, 1), (0, 1)], ["linear"], ValueError, "scale"),
    ([(0, 1), (0, 1)], ["linear", "bogus"], ValueError, "scale[1]"),
    ([], None, ValueError, "empty"),
    ({}, None, ValueError, "empty"),
    (np.zeros((0, 2)), None, ValueError, "empty"),
    (np.zeros((3, 3)), None, ValueError, "(dim, 2)"),
    (np.zeros(4), None, ValueError, "(dim, 2)"),
    ([(0.0, 1.0, 2.0)], None, ValueError, "bounds[0]"),
    ({"x": (0.0,)}, None, ValueError, "x"),
    ([("0", 1.0)], None, TypeError, "bounds[0]"),
    ({"x": {"min": "0", "max": 1}}, None, TypeError, "x"),
    ({"x": {"min": None, "max": 1}}, None, TypeError, "x"),
    (np.array([["a", "b"]]), None, TypeError, "bounds"),
    ("0,1", None, TypeError, "bounds"),
    ([0.0, 1.0], None, TypeError, "bounds[0]"),
    (42, None, TypeError, "bounds"),
    ([(False, True)], None, TypeError, "bounds[0]"),
    ({"flag": (0, True)}, None, TypeError, "flag"),
    (np.array([[False, True]]), None, TypeError, "bounds"),
    ({"a": (0, 1), "a ": (0, 1)}, None, ValueError, "'a'"),
    ({1: (0, 1)}, None, TypeError, "names"),
    ({"n": {"min": 0.5, "max": 3, "scale": "integer"}}, None, ValueError, "n"),
    ([(0, 2.5)], "int", ValueError, "bounds[0]"),
    ({"n": {"min": 0, "max": 2**60, "scale": "integer"}}, None, ValueError, "n"),
    ([(-1e308, 1e308)], None, ValueError, "bounds[0]"),
    ({"x": {"min": 0, "max": 1, "step": 0.1}}, None, ValueError, "x"),
    ({"x": {"max": 1}}, None, ValueError, "x"),
    ({"c": {"choices": []}}, None, ValueError, "c"),
    ({"c": {"choices": ["only"]}}, None, ValueError, "c"),
    ({"c": {"choices": "abc"}}, None, ValueError, "c"),
    ({"c": {"min": 0, "max": 1, "scale": "categorical"}}, None, ValueError, "c"),
    ([(0, 1)], "categorical", ValueError, "scale"),
]


@pytest.mark.parametrize("bounds, scale, err, text", BAD_BOUNDS, ids=[f"bad{i}" for i in range(len(BAD_BOUNDS))])
def test_invalid_bounds_raise_naming_the_parameter(bounds, scale, err, text):
    with pytest.raises(err) as info:
        Space.from_bounds(bounds, scale=scale)
    assert text in str(info.value), str(info.value)


@pytest.mark.parametrize("bounds,text", [
    ({"x": (-1e39, 1e39)}, "does not fit in float32"),
    ({"x": (-3e38, 3e38)}, "does not fit in float32"),  # high - low overflows float32
    ({"x": {"min": 0, "max": 2**30, "scale": "integer"}}, "not exact in float32"),
    ({"x": (1e8, 1e8 + 100)}, "distinct values"),
    ({"x": (1e-40, 1e-39)}, "smallest normal"),
])
def test_float32_issues_name_the_parameter_and_float64_has_none(bounds, text):
    space = Space.from_bounds(bounds)
    issues = space.float32_issues(np.float32)
    assert len(issues) == 1 and issues[0].startswith("x:") and text in issues[0]
    if "smallest" not in text:
        assert space.float32_issues(np.float64) == []


def test_nothing_is_swapped_or_clipped():
    # Reversed bounds are an error, not silently swapped.
    with pytest.raises(ValueError, match="low must be < high"):
        Space.from_bounds({"x": (1.0, -1.0)})


# ----------------------------------------------------------------------------- property


@st.composite
def _spaces(draw):
    dim = draw(st.integers(1, 6))
    bounds = {}
    for d in range(dim):
        kind = draw(st.sampled_from(["linear", "log", "periodic", "integer"]))
        if kind == "integer":
            lo = draw(st.integers(-10_000, 10_000))
            hi = lo + draw(st.integers(1, 5_000))
            bounds[f"p{d}"] = {"min": lo, "max": hi, "scale": draw(st.sampled_from(["integer", "INTEGER", "Int"]))}
        elif kind == "log":
            lo = 10.0 ** draw(st.floats(-12, 6))
            hi = lo * 10.0 ** draw(st.floats(1e-3, 12))
            bounds[f"p{d}"] = {"min": lo, "max": hi, "scale": draw(st.sampled_from(["log", "Log", "LOG"]))}
        else:
            # Widths of at least ~100 float32 ulps of the bounds: a range holding no float32
            # value at all cannot be honoured in float32 (see Space docs).
            lo = draw(st.floats(-1e6, 1e6))
            hi = lo + max(abs(lo), 1.0) * draw(st.floats(1e-5, 10.0))
            bounds[f"p{d}"] = {"min": lo, "max": hi, "scale": kind.capitalize()}
    return Space.from_bounds(bounds)


@settings(max_examples=50, deadline=None)
@given(space=_spaces(), seed=st.integers(0, 2**32 - 1))
def test_property_from_unit_in_bounds_finite_and_integer(space, seed):
    u = _unit_batch(space.dim, n=64, seed=seed)
    x = np.asarray(space.from_unit(u), np.float64)
    _assert_in_space(space, x)
    is_int = np.asarray(space.scales) == INTEGER
    assert np.array_equal(x[:, is_int], np.round(x[:, is_int]))

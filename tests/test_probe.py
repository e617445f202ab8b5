"""Tests for arqon_jax.core.probe: sharding, seeds, ArqonHPO parity, precision, determinism, space filling."""

from __future__ import annotations

import decimal
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from arqon_jax.core.probe import ProbePlan, _primes, kronecker, probe_points
from arqon_jax.core.space import Space

FIXTURE = Path(__file__).parent / "fixtures" / "arqonhpo_probe_reference.json"
SPLITS = [0, 1, 1000, 3333, 9999, 10000]


def _concat(fn, splits):
    return np.concatenate([np.asarray(fn(a, b - a)) for a, b in zip(splits[:-1], splits[1:])])


# ----------------------------------------------------------------------------- sharding


@pytest.mark.parametrize("dim", [1, 5])
def test_kronecker_shards_bit_for_bit(dim):
    for shift in (True, False):
        full = np.asarray(kronecker(0, 10_000, dim, seed=3, shift=shift))
        assert full.shape == (10_000, dim) and full.dtype == np.float32
        parts = _concat(lambda s, n: kronecker(s, n, dim, seed=3, shift=shift), SPLITS)
        assert np.array_equal(full, parts)
    # A traced start (one compiled kernel for every shard) gives the same bits.
    shard = jax.jit(lambda s: kronecker(s, 1000, dim, seed=3))
    assert np.array_equal(np.asarray(shard(jnp.uint32(3000))), np.asarray(kronecker(0, 10_000, dim, seed=3))[3000:4000])


def test_probe_points_shards_bit_for_bit_with_anchors_and_spice():
    plan = ProbePlan(anchors=("min", "center"), spice=0.1)
    full = np.asarray(probe_points(0, 10_000, 4, seed=11, plan=plan))
    parts = _concat(lambda s, n: probe_points(s, n, 4, seed=11, plan=plan), SPLITS)
    assert np.array_equal(full, parts)
    assert probe_points(5, 0, 4, seed=11, plan=plan).shape == (0, 4)
    assert kronecker(5, 0, 4).shape == (0, 4)


def test_float64_shards_bit_for_bit():
    with jax.enable_x64(True):
        full = np.asarray(kronecker(0, 10_000, 3, seed=5))
        assert full.dtype == np.float64
        assert np.array_equal(full, _concat(lambda s, n: kronecker(s, n, 3, seed=5), SPLITS))


# ----------------------------------------------------------------------------- seeds


def test_seed_changes_points_and_is_reproducible():
    a = np.asarray(kronecker(0, 256, 3, seed=1))
    assert np.array_equal(a, np.asarray(kronecker(0, 256, 3, seed=1)))
    b = np.asarray(kronecker(0, 256, 3, seed=2))
    # The Cranley-Patterson shift moves every coordinate, not just some.
    assert np.all(a != b)
    assert np.all((a >= 0) & (a < 1))
    # shift=False is ArqonHPO's sequence: the seed enters only through frac(seed/pi).
    c = np.asarray(kronecker(0, 256, 3, seed=1, shift=False))
    assert not np.array_equal(a, c)
    assert not np.array_equal(c, np.asarray(kronecker(0, 256, 3, seed=2, shift=False)))


def test_shift_false_reproduces_arqonhpo_fixture():
    """Compares with ArqonHPO 0.3.3's own ``ArqonProbe(config, seed).sample_at(i)`` outputs.

    ArqonHPO computes ``frac((i+1) * sqrt(p) + c + s)`` in float64, where ``(i+1)*sqrt(p)``
    loses about ``i * 1e-16`` (~1e-10 at i = 1e6). Our fraction is exact (64-bit fixed
    point, integer arithmetic) and only the final cast rounds: to 2**-24 in float32 and
    to 2**-53 in float64. So float32 agrees to float32 rounding, float64 to ArqonHPO's error.
    """
    ref = json.loads(FIXTURE.read_text())
    assert ref["provenance"]["arqonhpo_version"] == "0.3.3"
    n_checked = 0
    for case in ref["cases"]:
        space = Space.from_bounds(case["config"]["bounds"])
        names = space.names
        expected = np.array([[row[n] for n in names] for row in case["values"]])
        span = np.asarray(space.high) - np.asarray(space.low)
        for x64, rtol, atol in ((False, 1e-6, 1e-6), (True, 1e-12, 1e-9)):
            with jax.enable_x64(x64):
                u = jnp.concatenate([kronecker(i, 1, space.dim, seed=case["seed"], shift=False) for i in case["indexes"]])
                got = np.asarray(space.from_unit(u), np.float64)
            small = np.asarray(case["indexes"]) < 1000
            # Small indexes: relative agreement (plus a float32 ulp of the range for values near 0).
            np.testing.assert_allclose(got[small], expected[small], rtol=rtol, atol=atol * span.max(), err_msg=case["label"])
            # Large indexes carry ArqonHPO's own float64 error (~1e-10 of the range at 1e6).
            np.testing.assert_allclose(got, expected, rtol=max(rtol, 1e-8), atol=max(atol, 1e-8) * span.max(), err_msg=case["label"])
            n_checked += got.size
    assert n_checked > 500


# ----------------------------------------------------------------------------- precision


_CTX = decimal.Context(prec=60)


def _frac_decimal(v: decimal.Decimal) -> float:
    return float(v - v.to_integral_value(rounding=decimal.ROUND_FLOOR))


def _reference(i: int, dim: int, seed: int) -> list[float]:
    """frac((i+1) sqrt(p[50+d]) + offset_d) with 60 significant digits (shift=False).

    The offset frac(frac(p[200+d](sqrt2 - 1)) + frac(seed/pi)) is defined by ArqonHPO as a
    float64 computation; we take that float64 value exactly.
    """
    primes = _primes(200 + dim)
    s = math.fmod(seed * (1.0 / math.pi), 1.0)
    out = []
    for d in range(dim):
        c = math.fmod(math.fmod(primes[200 + d] * (math.sqrt(2.0) - 1.0), 1.0) + s, 1.0)
        slope_term = _CTX.multiply(decimal.Decimal(i + 1), _CTX.sqrt(decimal.Decimal(primes[50 + d])))
        out.append(_frac_decimal(_CTX.add(slope_term, decimal.Decimal(c))))
    return out


def _circular_error(a, b) -> float:
    e = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(np.max(np.minimum(e, 1.0 - e)))


@pytest.mark.parametrize("seed", [0, 42])
def test_exact_at_large_indexes(seed):
    dim = 6
    primes = _primes(200 + dim)
    for i in (10**6, 2**31, 2**32 - 2):
        ref = _reference(i, dim, seed)
        got32 = np.asarray(kronecker(i, 1, dim, seed=seed, shift=False))[0]
        assert got32.dtype == np.float32
        assert _circular_error(got32, ref) < 1e-7, i
        with jax.enable_x64(True):
            got64 = np.asarray(kronecker(i, 1, dim, seed=seed, shift=False))[0]
        assert got64.dtype == np.float64
        assert _circular_error(got64, ref) < 1e-9, i
        # The test has teeth: the naive frac((i+1) sqrt(p)) fails at these indexes, in float32
        # always and in float64 too near 2**31 (one ulp of (i+1) sqrt(p) ~ 1e-5 there).
        exact = [_frac_decimal(_CTX.multiply(decimal.Decimal(i + 1), _CTX.sqrt(decimal.Decimal(primes[50 + d])))) for d in range(dim)]
        sq32 = np.sqrt(np.asarray(primes[50 : 50 + dim], np.float32))
        assert _circular_error(np.mod(np.float32(i + 1) * sq32, np.float32(1.0)), exact) > 1e-3
        if i >= 2**31:
            naive64 = np.mod(float(i + 1) * np.sqrt(np.asarray(primes[50 : 50 + dim], np.float64)), 1.0)
            assert _circular_error(naive64, exact) > 1e-9


def test_last_valid_index_and_range_checks():
    assert kronecker(2**32 - 2, 1, 2).shape == (1, 2)
    with pytest.raises(ValueError, match="start"):
        kronecker(2**32 - 2, 2, 2)
    with pytest.raises(ValueError, match="start"):
        kronecker(-1, 2, 2)


# ----------------------------------------------------------------------------- determinism


_CHILD = r"""
import hashlib, jax
from arqon_jax.core.probe import ProbePlan, kronecker, probe_points
out = []
for x64 in (False, True):
    with jax.enable_x64(x64):
        for pts in (kronecker(0, 2000, 7, seed=9), kronecker(2**31, 100, 3, seed=0, shift=False),
                    probe_points(0, 2000, 5, seed=4, plan=ProbePlan(anchors=("min", "center"), spice=0.1))):
            out.append(hashlib.sha256(jax.numpy.asarray(pts).tobytes()).hexdigest())
print(",".join(out))
"""


def test_deterministic_across_processes():
    expected = []
    for x64 in (False, True):
        with jax.enable_x64(x64):
            for pts in (
                kronecker(0, 2000, 7, seed=9),
                kronecker(2**31, 100, 3, seed=0, shift=False),
                probe_points(0, 2000, 5, seed=4, plan=ProbePlan(anchors=("min", "center"), spice=0.1)),
            ):
                expected.append(hashlib.sha256(np.asarray(pts).tobytes()).hexdigest())
    env = dict(os.environ, PYTHONHASHSEED="12345", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1].split(",") == expected


# ----------------------------------------------------------------------------- space filling


@pytest.mark.parametrize("dim", [2, 5])
def test_space_filling_beats_uniform_random(dim):
    n = 256
    kron = np.median([pdist(np.asarray(kronecker(0, n, dim, seed=s))).min() for s in range(3)])
    rand = np.median([pdist(np.random.default_rng(s).random((n, dim))).min() for s in range(9)])
    assert kron > 1.5 * rand, (kron, rand)


# ----------------------------------------------------------------------------- plan


def test_anchors_come_first_then_kronecker():
    plan = ProbePlan(anchors=("min", "center"))
    pts = np.asarray(probe_points(0, 50, 3, seed=7, plan=plan))
    np.testing.assert_array_equal(pts[0], np.zeros(3))
    np.testing.assert_array_equal(pts[1], np.full(3, 0.5))
    assert np.array_equal(pts[2:], np.asarray(kronecker(0, 48, 3, seed=7)))
    only_center = np.asarray(probe_points(0, 1, 2, plan=ProbePlan(anchors=("center",))))
    np.testing.assert_array_equal(only_center, [[0.5, 0.5]])
    # No plan: plain (shifted) Kronecker points.
    assert np.array_equal(np.asarray(probe_points(0, 20, 3, seed=7)), np.asarray(kronecker(0, 20, 3, seed=7)))


def test_spice_fraction_and_determinism():
    n, dim = 2000, 4
    plan = ProbePlan(anchors=("min",), spice=0.1)
    pts = np.asarray(probe_points(0, n + 1, dim, seed=3, plan=plan))
    kron = np.asarray(kronecker(0, n, dim, seed=3))
    differ = np.any(pts[1:] != kron, axis=1)
    assert 0.08 <= differ.mean() <= 0.12
    assert np.all((pts >= 0) & (pts < 1))
    assert np.array_equal(pts, np.asarray(probe_points(0, n + 1, dim, seed=3, plan=plan)))
    other = np.asarray(probe_points(0, n + 1, dim, seed=4, plan=plan))[1:]
    # Another seed: new spice points in the same slots (and shifted Kronecker points elsewhere).
    assert np.array_equal(differ, np.any(other != np.asarray(kronecker(0, n, dim, seed=4)), axis=1))
    assert np.all(other[differ] != pts[1:][differ])
    # shift=False keeps ArqonHPO's Kronecker points between the spice.
    flat = np.asarray(probe_points(0, 100, dim, seed=3, plan=ProbePlan(spice=0.1, shift=False)))
    ref = np.asarray(kronecker(0, 100, dim, seed=3, shift=False))
    assert np.sum(np.any(flat != ref, axis=1)) == 10


@pytest.mark.parametrize("spice", [1e-10, 5e-324])
def test_tiny_spice_is_no_spice_in_any_probe(spice):
    # Its period (1e10 points, or 1/5e-324 = inf) overflowed the uint32 index compare.
    plan = ProbePlan(anchors=("min",), spice=spice)
    pts = np.asarray(probe_points(0, 1001, 3, seed=3, plan=plan))
    assert np.array_equal(pts[1:], np.asarray(kronecker(0, 1000, 3, seed=3)))


def test_integer_seeds_of_every_kind_give_the_same_points():
    want = np.asarray(kronecker(0, 4, 3, seed=5))
    for seed in (np.int64(5), np.uint64(5), np.array(5), jnp.int32(5), jnp.uint32(5)):
        np.testing.assert_array_equal(np.asarray(kronecker(0, 4, 3, seed=seed)), want)
    with pytest.raises(TypeError, match="seed: expected a concrete integer"):
        jax.jit(lambda s: kronecker(0, 4, 3, seed=s))(jnp.int32(5))


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda: kronecker(0, -1, 2), ValueError, "count"),
        (lambda: kronecker(0, 1.5, 2), TypeError, "count"),
        (lambda: kronecker(0, 10, 0), ValueError, "dim"),
        (lambda: kronecker(0, 10, True), TypeError, "dim"),
        (lambda: kronecker(0, 10, 2.0), TypeError, "dim"),
        (lambda: kronecker(0.5, 3, 2), TypeError, "start"),  # would be truncated to index 0
        (lambda: kronecker(True, 3, 2), TypeError, "start"),
        (lambda: kronecker(0, 3, 2, seed=-1), ValueError, "seed"),
        (lambda: kronecker(0, 3, 2, seed=2**64), ValueError, "seed"),  # would equal seed 0
        (lambda: kronecker(0, 3, 2, seed=1.5), TypeError, "seed"),
        (lambda: kronecker(0, 3, 2, seed="a"), TypeError, "seed"),
        (lambda: probe_points(0, -3, 2), ValueError, "count"),
        (lambda: probe_points(0, 3, 0), ValueError, "dim"),
        (lambda: probe_points(0.5, 3, 2), TypeError, "start"),
        (lambda: probe_points(0, 3, 2, seed=-1), ValueError, "seed"),
        (lambda: probe_points(0, 3, 2, seed=True), TypeError, "seed"),
        (lambda: ProbePlan(anchors=("max",)), ValueError, "anchors"),
        (lambda: ProbePlan(anchors=("MIN",)), ValueError, "anchors"),
        (lambda: ProbePlan(spice=0.6), ValueError, "spice"),
        (lambda: ProbePlan(spice=-0.1), ValueError, "spice"),
        (lambda: ProbePlan(spice="0.1"), TypeError, "spice"),
        (lambda: ProbePlan(spice=float("nan")), ValueError, "spice"),
        (lambda: ProbePlan(spice=True), TypeError, "spice"),
        (lambda: ProbePlan(anchors="min"), TypeError, "anchors"),  # read letter by letter, 'm' unknown
        (lambda: ProbePlan(shift="no"), TypeError, "shift"),  # a non-empty string is truthy
        (lambda: kronecker(0, 3, 2, shift=None), TypeError, "shift"),
        (lambda: kronecker(0, 3, 2, dtype=jnp.int32), TypeError, "dtype"),  # integer points are all 0
        (lambda: kronecker(0, 3, 2, dtype=jnp.complex64), TypeError, "dtype"),
        (lambda: kronecker(0, 3, 2, dtype="x"), TypeError, "dtype"),
        (lambda: probe_points(0, 3, 2, dtype=jnp.uint8), TypeError, "dtype"),
        (lambda: probe_points(0, 3, 2, plan="center"), TypeError, "plan"),
        (lambda: kronecker(0, 3, 2, seed=jax.random.key(0)), TypeError, "seed: .*got a JAX PRNG key"),  # numpy's words
        (lambda: kronecker(0, 3, 2, seed=jax.random.PRNGKey(0)), TypeError, "seed: .*form of a raw JAX PRNG key"),
        (lambda: kronecker(0, 3, 2, seed=np.zeros(2, np.uint32)), TypeError, "seed: .*form of a raw JAX PRNG key"),
        (lambda: ProbePlan(anchors=[1]), TypeError, "anchors"),
        (lambda: ProbePlan(anchors=[b"min"]), TypeError, "anchors"),
    ],
)
def test_bad_arguments_raise(call, exc, text):
    with pytest.raises(exc, match=text):
        call()

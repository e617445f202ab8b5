"""The probe kernel: a Kronecker (Weyl) low-discrepancy sequence, stateless and shardable.

Point ``i`` of the sequence, in dimension ``d``, is::

    u[i, d] = frac((i + 1) * sqrt(p[50 + d]) + frac(p[200 + d] * (sqrt(2) - 1)) + s + delta[d])

with ``p[k]`` the k-th prime (``p[0] = 2``), ``s = frac(seed / pi)`` as in ArqonHPO, and
``delta`` an optional Cranley-Patterson shift derived from the seed (``shift=True``).
With ``shift=False`` the formula is ArqonHPO's.

Precision: ``frac((i + 1) * alpha)`` in float32 loses every digit past ``i ~ 10**6``, and
even float64 loses most of them near ``2**31``. Here the slope and the offset are held
as 64-bit fixed-point fractions (two uint32 limbs) and the product is taken modulo
``2**64`` with integer arithmetic, so the fractional part is within ``(i + 1) * 2**-64
< 2**-32`` of the exact value for every index below ``2**32`` (the slope is truncated
to 64 bits) and the final conversion truncates (to ``2**-24`` in float32, ``2**-53``
in float64).

Every point depends on its index alone: the points for ``[0, n)`` equal the
concatenation of those for any split of the range, bit for bit.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .validate import check_int, check_real, check_seed

__all__ = ["kronecker", "probe_points", "ProbePlan", "kronecker_core", "probe_core", "kronecker_offsets_from_key",
           "MAX_INDEX", "check_index_range"]

MAX_INDEX = 2**32 - 1  # probe indexes lie below it

_MASK32 = (1 << 32) - 1
_MASK64 = (1 << 64) - 1
_PRIME_OFFSET_SLOPE = 50
_PRIME_OFFSET_SHIFT = 200


@lru_cache(maxsize=None)
def _primes(count: int) -> tuple[int, ...]:
    """The first ``count`` primes."""
    limit = max(16, int(count * (math.log(count + 2) + math.log(math.log(count + 3)) + 3)))
    while True:
        sieve = np.ones(limit + 1, dtype=bool)
        sieve[:2] = False
        for k in range(2, int(limit**0.5) + 1):
            if sieve[k]:
                sieve[k * k :: k] = False
        found = np.flatnonzero(sieve)
        if len(found) >= count:
            return tuple(int(v) for v in found[:count])
        limit *= 2


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


@lru_cache(maxsize=256)
def _fixed_point_params(dim: int, seed: int, shift: bool) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and offsets as 64-bit fixed-point fractions, split into uint32 limbs.

    Returns:
        Two uint32 arrays of shape ``(2, dim)``: ``[hi, lo]`` limbs of the slope and of
        the offset.
    """
    primes = _primes(_PRIME_OFFSET_SHIFT + dim)
    # The offset is computed in float64 exactly as ArqonHPO does, so that shift=False
    # reproduces its points; only the slope needs (and gets) exact integer arithmetic.
    s = math.fmod(seed * (1.0 / math.pi), 1.0)  # ArqonHPO multiplies by 1/pi
    if s < 0:
        s += 1.0
    slopes, offsets = [], []
    for d in range(dim):
        p = primes[_PRIME_OFFSET_SLOPE + d]
        slopes.append(math.isqrt(p << 128) & _MASK64)  # frac(sqrt(p)) * 2**64, exact
        c = math.fmod(primes[_PRIME_OFFSET_SHIFT + d] * (math.sqrt(2.0) - 1.0), 1.0)
        c = math.fmod(c + s, 1.0)
        off = int(c * 2.0**64) & _MASK64  # exact: c has 53 bits
        if shift:
            off = (off + _splitmix64((seed & _MASK64) * 0x100000001B3 + d)) & _MASK64
        offsets.append(off)
    split = lambda vals: np.array([[v >> 32 for v in vals], [v & _MASK32 for v in vals]], dtype=np.uint32)
    return split(slopes), split(offsets)


def _mul32(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Full 64-bit product of uint32 arrays, as (hi, lo) uint32 limbs."""
    m16 = jnp.uint32(0xFFFF)
    a0, a1 = a & m16, a >> 16
    b0, b1 = b & m16, b >> 16
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> 16) + (p01 & m16) + (p10 & m16)
    lo = (p00 & m16) | (mid << 16)
    hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16)
    return hi, lo


def _frac_from_limbs(hi: jax.Array, lo: jax.Array, dtype) -> jax.Array:
    """A 64-bit fraction to floating point in ``[0, 1)``, truncated (never rounds up to 1)."""
    if jnp.finfo(dtype).bits >= 64:
        return hi.astype(dtype) * 2.0**-32 + (lo >> 11).astype(dtype) * 2.0**-53
    return (hi >> 8).astype(dtype) * jnp.asarray(2.0**-24, dtype)


def kronecker_offsets_from_key(key: jax.Array, dim: int) -> jax.Array:
    """Seed-free ArqonHPO offsets plus a random 64-bit Cranley-Patterson shift from ``key``.

    Traceable, so the seed is data rather than a compile-time constant: one compiled
    solver serves every seed, and ``jax.vmap`` over keys works.

    Returns:
        uint32 limbs ``[hi, lo]`` of shape ``(2, dim)``.
    """
    _, base = _fixed_point_params(dim, 0, False)
    # seed 0 gives s = frac(0 / pi) = 0, so ``base`` holds only frac(p (sqrt(2) - 1)).
    rnd = jax.random.bits(key, (2, dim), jnp.uint32)
    lo = jnp.asarray(base[1]) + rnd[1]
    carry = (lo < rnd[1]).astype(jnp.uint32)
    hi = jnp.asarray(base[0]) + rnd[0] + carry
    return jnp.stack([hi, lo])


def kronecker_core(start: jax.Array, count: int, dim: int, offsets: jax.Array, dtype) -> jax.Array:
    """Traceable kernel: Kronecker points for ``[start, start + count)`` with given offsets.

    Args:
        start: uint32 scalar, first index.
        count: Number of points (static).
        dim: Number of dimensions (static).
        offsets: uint32 ``(2, dim)`` offset limbs (from ``_fixed_point_params`` or
            :func:`kronecker_offsets_from_key`).
        dtype: Result dtype.

    Returns:
        ``(count, dim)`` points in ``[0, 1)``.
    """
    slope, _ = _fixed_point_params(dim, 0, False)
    n = (jnp.asarray(start, jnp.uint32) + jnp.arange(count, dtype=jnp.uint32) + jnp.uint32(1))[:, None]
    hi1, lo = _mul32(n, jnp.asarray(slope[1]))
    hi = hi1 + n * jnp.asarray(slope[0])  # the high limb's product only matters mod 2**32
    lo2 = lo + offsets[1]
    carry = (lo2 < lo).astype(jnp.uint32)
    hi2 = hi + offsets[0] + carry
    return _frac_from_limbs(hi2, lo2, dtype)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _kronecker(start: jax.Array, count: int, dim: int, seed: int, shift: bool, dtype) -> jax.Array:
    _, offset = _fixed_point_params(dim, seed, shift)
    return kronecker_core(start, count, dim, jnp.asarray(offset), dtype)


def _default_dtype():
    # canonicalize_dtype follows jax.enable_x64 without creating a device array (which
    # costs more than the whole kernel at small counts).
    return jax.dtypes.canonicalize_dtype(float)


def _start_arg(start):
    """``start`` for the jitted kernels: a checked Python int goes in as a NumPy scalar
    (``jnp.asarray`` would first place it on the device, ~50 us a call)."""
    if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
        return np.uint32(start)
    return jnp.asarray(start, jnp.uint32)


def _dtype_arg(dtype):
    """The result dtype of the public kernels: JAX's default float for ``None``, else a floating dtype."""
    if dtype is None:
        return _default_dtype()
    try:
        floating = jnp.issubdtype(np.dtype(dtype), jnp.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"dtype: expected a floating dtype (e.g. jnp.float32) or None, got {dtype!r}")
    return dtype


def _check_args(start, count: int, dim: int, seed: int, shift=True) -> int:
    """Validates the arguments of the public kernels; returns the seed as an int."""
    if not isinstance(shift, (bool, np.bool_)):
        raise TypeError(f"shift: expected a bool, got {type(shift).__name__} {shift!r}")
    check_int("count", count, 0)
    check_int("dim", dim, 1)
    if isinstance(start, (int, np.integer)) and not isinstance(start, (bool, np.bool_)):
        check_index_range(start, count)
    elif not (isinstance(start, (jax.Array, np.ndarray)) and start.shape == ()
              and jnp.issubdtype(start.dtype, jnp.integer)):
        # A float start would be truncated to another index without a word.
        raise TypeError(f"start: expected an integer or an integer JAX scalar, got {type(start).__name__} {start!r}")
    return check_seed(seed)


def check_index_range(start: int, count: int) -> None:
    """Refuses indexes ``[start, start + count)`` outside ``[0, MAX_INDEX)``, where the points are exact.

    Raises:
        ValueError: Naming ``start``.
    """
    if start < 0 or start + count > MAX_INDEX:
        raise ValueError(f"start: indexes must lie in [0, 2**32 - 1), got [{start}, {start + count})")


def kronecker(start, count: int, dim: int, *, seed: int = 0, shift: bool = True, dtype=None) -> jax.Array:
    """Kronecker points for indexes ``[start, start + count)``.

    Args:
        start: First index, a Python int or a traced int32/uint32 scalar (so that shards
            with different starts share one compiled kernel).
        count: Number of points (static).
        dim: Number of dimensions (static).
        seed: Integer seed: enters as ArqonHPO's ``frac(seed / pi)`` and, with
            ``shift=True``, as a Cranley-Patterson shift per dimension.
        shift: Adds the seed-derived shift. ``False`` gives ArqonHPO's sequence.
        dtype: Floating dtype of the result; defaults to JAX's default float.

    Returns:
        Unit-cube points of shape ``(count, dim)``, each coordinate in ``[0, 1)``.

    Raises:
        TypeError: A non-integer ``start``, ``count``, ``dim`` or ``seed`` (bools refused),
            a ``shift`` that is not a bool, a ``dtype`` that is not a floating dtype.
        ValueError: ``count < 0``, ``dim < 1``, indexes outside ``[0, 2**32 - 1)``, or a
            seed outside ``[0, 2**64)``.
    """
    seed = _check_args(start, count, dim, seed, shift)
    return _kronecker(_start_arg(start), int(count), int(dim), seed, bool(shift), _dtype_arg(dtype))


class ProbePlan:
    """What the probe sequence holds: optional anchors first, then Kronecker points with spice.

    Index ``i < len(anchors)`` is an anchor (``"min"``: the all-low corner, ``"center"``:
    the centre). Later indexes ``j = i - len(anchors)`` are Kronecker point ``j``, except
    that every ``round(1 / spice)``-th one is replaced by a uniform random point drawn
    from ``fold_in(key(seed), i)``: stateless, so shards agree.

    Args:
        anchors: Any of ``"min"``, ``"center"``, in order.
        spice: Fraction of uniform random points, in ``[0, 0.5]``.
        shift: See :func:`kronecker`.

    Raises:
        TypeError: ``anchors`` not a sequence of names (a bare string included), a
            ``spice`` that is not a real number, a ``shift`` that is not a bool.
        ValueError: An unknown anchor, ``spice`` outside ``[0, 0.5]``.
    """

    def __init__(self, anchors: Sequence[str] = (), spice: float = 0.0, shift: bool = True):
        valid = {"min": 0.0, "center": 0.5, "centre": 0.5}
        if isinstance(anchors, str) or not isinstance(anchors, Sequence):
            # A bare "min" would be read letter by letter.
            raise TypeError(f"anchors: expected a sequence of anchor names, e.g. ('center',), got "
                            f"{type(anchors).__name__} {anchors!r}")
        for a in anchors:
            if not isinstance(a, str):
                raise TypeError(f"anchors: expected anchor names ('min', 'center'), got {type(a).__name__} {a!r}")
            if a not in valid:
                raise ValueError(f"anchors: unknown anchor {a!r}; expected 'min' or 'center'")
        spice = check_real("spice", spice, 0.0, 0.5)
        if not isinstance(shift, (bool, np.bool_)):
            raise TypeError(f"shift: expected a bool, got {type(shift).__name__} {shift!r}")
        self.anchor_values = tuple(valid[a] for a in anchors)
        self.anchors = tuple(anchors)
        self.spice = float(spice)
        # Capped: a period beyond 2**31 points (spice below 5e-10) never comes, and must fit uint32.
        self.spice_every = 0 if spice == 0 else max(2, int(round(min(1.0 / spice, 2.0**31))))
        self.shift = bool(shift)

    def key(self) -> tuple:
        return (self.anchor_values, self.spice_every, self.shift)

    def __repr__(self) -> str:
        return f"ProbePlan(anchors={self.anchors}, spice={self.spice}, shift={self.shift})"


def probe_core(start, count: int, dim: int, offsets: jax.Array, spice_key: jax.Array, plan_key: tuple, dtype) -> jax.Array:
    """Traceable probe kernel: anchors, Kronecker points and spice for ``[start, start + count)``.

    Args:
        start: uint32 scalar, first index.
        count: Number of points (static).
        dim: Number of dimensions (static).
        offsets: uint32 ``(2, dim)`` Kronecker offset limbs.
        spice_key: PRNG key for the spice points (folded with each index).
        plan_key: ``ProbePlan.key()`` (static).
        dtype: Result dtype.

    Returns:
        ``(count, dim)`` points in ``[0, 1)``.
    """
    anchor_values, spice_every, _ = plan_key
    n_anchor = len(anchor_values)
    idx = jnp.asarray(start, jnp.uint32) + jnp.arange(count, dtype=jnp.uint32)
    j = idx - jnp.uint32(n_anchor)  # wraps for anchors; those rows are replaced below
    # First Kronecker index, computed from ``start`` so that count == 0 works too.
    points = kronecker_core(jnp.asarray(start, jnp.uint32) - jnp.uint32(n_anchor), count, dim, offsets, dtype)
    if spice_every:
        rand = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(spice_key, i), (dim,), dtype))(idx)
        is_spice = (idx >= n_anchor) & ((j % jnp.uint32(spice_every)) == jnp.uint32(spice_every - 1))
        points = jnp.where(is_spice[:, None], rand, points)
    for a, value in enumerate(anchor_values):
        points = jnp.where((idx == a)[:, None], jnp.asarray(value, dtype), points)
    return points


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _probe_points(start, count: int, dim: int, seed: int, plan_key: tuple, dtype) -> jax.Array:
    _, offset = _fixed_point_params(dim, seed, plan_key[2])
    spice_key = jax.random.key(seed & 0x7FFFFFFF)
    return probe_core(start, count, dim, jnp.asarray(offset), spice_key, plan_key, dtype)


def probe_points(start, count: int, dim: int, *, seed: int = 0, plan: ProbePlan | None = None, dtype=None) -> jax.Array:
    """Probe points for indexes ``[start, start + count)`` under a :class:`ProbePlan`.

    Returns:
        Unit-cube points of shape ``(count, dim)``.

    Raises:
        TypeError, ValueError: As :func:`kronecker`; TypeError for a ``plan`` that is not
            a :class:`ProbePlan`.
    """
    seed = _check_args(start, count, dim, seed)
    if plan is not None and not isinstance(plan, ProbePlan):
        raise TypeError(f"plan: expected a ProbePlan or None, got {type(plan).__name__} {plan!r}")
    plan = plan or ProbePlan()
    return _probe_points(_start_arg(start), int(count), int(dim), int(seed), plan.key(), _dtype_arg(dtype))

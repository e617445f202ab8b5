"""The interface every refine strategy implements.

A strategy is three pure functions over its own NamedTuple state, built by a factory
``make_<name>(geometry, batch_size, **options) -> Strategy`` that fixes every static
size (batch, dimension, number of instances) at build time:

* ``init(key, history) -> state``: start from what is known (the probe results; the
  history is sorted best first, see :mod:`arqon_jax.core.history`).
* ``ask(state, key, history) -> (X, state)``: propose ``X`` of shape
  ``(batch_size, dim)`` in the unit cube ``[0, 1]`` (periodic dimensions may wrap).
* ``tell(state, key, X, y, valid, history) -> state``: learn from the values ``y``
  ``(batch_size,)`` of the rows of ``X`` that were asked last; ``y`` has non-finite
  values replaced by ``+inf`` (failures) and ``valid`` ``(batch_size,)`` marks the rows
  that were actually evaluated (the budget may cut the last batch). ``history``
  already contains this batch. ``key`` serves any randomness of the update (e.g.
  restarts): a strategy keeps no key of its own and never derives one from a
  constant, so its randomness follows the user's seed.

No Python control flow on traced values: the functions are traced once and run under
``jit``, ``vmap``, ``lax.scan``/``while_loop`` and ``lax.switch`` (the solver switches
between strategies on the classifier's decision, so a state's structure must not
depend on values).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Geometry", "Strategy", "InitFn", "AskFn", "TellFn", "project", "reflect", "snap", "spread_picks",
           "wrap_diff", "repeats", "repeat_tol", "finite_reserve", "by_rows"]


class Geometry(NamedTuple):
    """Static facts about the unit cube a strategy works in (hashable).

    Attributes:
        dim: Number of dimensions.
        levels: Per dimension, the number of discrete values (0: continuous).
        periodic: Per dimension, whether it wraps around.
        categorical: Per dimension, whether it is unordered.
    """

    dim: int
    levels: tuple[int, ...]
    periodic: tuple[bool, ...]
    categorical: tuple[bool, ...]

    @classmethod
    def from_space(cls, space) -> "Geometry":
        return cls(space.dim, space.levels, space.periodic, space.categorical)

    @classmethod
    def continuous(cls, dim: int) -> "Geometry":
        return cls(dim, (0,) * dim, (False,) * dim, (False,) * dim)


class InitFn(Protocol):
    """``init(key, history) -> state``."""

    def __call__(self, key: jax.Array, history: Any) -> Any: ...


class AskFn(Protocol):
    """``ask(state, key, history) -> (X (batch, dim), state)``."""

    def __call__(self, state: Any, key: jax.Array, history: Any) -> tuple[jax.Array, Any]: ...


class TellFn(Protocol):
    """``tell(state, key, X (batch, dim), y (batch,), valid (batch,), history) -> state``."""

    def __call__(self, state: Any, key: jax.Array, X: jax.Array, y: jax.Array, valid: jax.Array,
                 history: Any) -> Any: ...


class Strategy(NamedTuple):
    """A refine strategy: ``init``, ``ask`` and ``tell`` (see the module docstring).

    ``whole_batch`` declares that ``tell`` must see every row of the batch it asked
    (a simplex or population update loses information on a partial batch): drivers
    that receive results one by one wait for the batch before the next ``ask``.
    """

    name: str
    init: InitFn
    ask: AskFn
    tell: TellFn
    whole_batch: bool = False


def finite_reserve(geometry: Geometry, at_least: int = 0) -> int:
    """Uniform candidates a model-based strategy adds in a finite space, else 0.

    4 per point of the space (each point not yet evaluated is among them with
    probability ``1 - e^-4 = 0.98``), at least ``at_least``, at most 8192. A finite
    space is one whose every dimension is integer or categorical.
    """
    levels = np.asarray(geometry.levels)
    if not bool((levels > 0).all()):
        return 0
    return int(min(8192, max(at_least, 4 * math.prod(int(v) for v in levels))))


def repeat_tol(dtype: Any) -> float:
    """Largest max-abs difference in the unit cube at which two points are one point.

    ``1e-10`` of the cube's side in float64; a few float32 ulps in float32, where a
    stored point and a snapped repeat of it can differ in the last bit depending on
    how XLA fuses the snap (seen at its default optimisation level, not at level 0).
    """
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 4 * float(jnp.finfo(dtype).eps)


# Largest (rows x stored points x dim) block that a scoring or repeat pass forms at
# once: 2**24 elements, 64 MiB in float32.
MAX_BLOCK = 2**24


def by_rows(fn: Any, x: jax.Array, width: int) -> jax.Array:
    """``fn`` over the rows of ``x (rows, dim)``, ``(rows,)``, in chunks of rows whose block
    against ``width`` stored points stays within :data:`MAX_BLOCK` elements (bounded
    memory; the last chunk is padded with copies of the first row)."""
    rows, dim = x.shape
    size = int(max(1, min(rows, MAX_BLOCK // max(1, width * dim))))
    count = -(-rows // size)
    if count == 1:
        return fn(x)
    pad = count * size - rows
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, dim))]) if pad else x
    return jax.lax.map(fn, xp.reshape(count, size, dim)).reshape(count * size)[:rows]


def repeats(geometry: Geometry, a: jax.Array, b: jax.Array, valid: jax.Array, tol: float) -> jax.Array:
    """Which rows of ``a (m, dim)`` repeat a valid row of ``b (n, dim)``: ``(m,)`` bool.

    Two points are one where their max-abs difference is at most ``tol`` (periodic
    dimensions the short way round): not a squared distance's expanded form
    ``|a|^2 - 2ab + |b|^2``, whose float32 rounding (~1e-7) hides exact repeats.
    ``valid (n,)`` masks the rows of ``b`` that hold points. The ``(rows, n, dim)``
    differences are formed in blocks (:func:`by_rows`), so a finite space's check
    against a history of 2048 rows stays within 64 MiB.
    """

    def block(rows):
        close = jnp.max(jnp.abs(wrap_diff(geometry, rows[:, None, :], b[None, :, :])), -1) <= tol
        return jnp.any(close & valid[None, :], axis=1)

    return by_rows(block, a, b.shape[0])


def project(geometry: Geometry, u: jax.Array) -> jax.Array:
    """Brings points ``(..., dim)`` back into the cube: periodic ones wrap, others clip."""
    # The geometry is static: a space without periodic dimensions (the common case)
    # does not pay for the wrapped branch, which XLA would compute and then discard.
    if not any(geometry.periodic):
        return jnp.clip(u, 0.0, 1.0)
    per = jnp.asarray(geometry.periodic)
    return jnp.where(per, u - jnp.floor(u), jnp.clip(u, 0.0, 1.0))


def snap(geometry: Geometry, u: jax.Array) -> jax.Array:
    """Moves discrete dimensions of points ``(..., dim)`` to their bin centres (others
    unchanged), so that two points of one parameter value are one point (exact repeats)."""
    levels = np.asarray(geometry.levels)
    if not (levels > 0).any():
        return u
    k = jnp.asarray(np.maximum(levels, 1), u.dtype)
    return jnp.where(jnp.asarray(levels > 0), (jnp.clip(jnp.floor(u * k), 0, k - 1) + 0.5) / k, u)


def reflect(geometry: Geometry, u: jax.Array) -> jax.Array:
    """Reflects points ``(..., dim)`` at the faces of the cube (wraps periodic ones).

    Unlike clipping, reflection keeps a distribution's spread near the bounds.
    """
    # u mod 2 through floor: XLA's remainder costs ~3x as much on a CPU (0.25 against
    # 0.08 ms for a (4096, 100) batch), and CMA-ES reflects every sample.
    m = u - 2.0 * jnp.floor(0.5 * u)
    refl = jnp.clip(jnp.where(m > 1.0, 2.0 - m, m), 0.0, 1.0)
    if not any(geometry.periodic):
        return refl
    per = jnp.asarray(geometry.periodic)
    return jnp.where(per, u - jnp.floor(u), refl)


def wrap_diff(geometry: Geometry, a: jax.Array, b: jax.Array) -> jax.Array:
    """``a - b`` per dimension, taking the short way round on periodic dimensions."""
    d = a - b
    if not any(geometry.periodic):
        return d
    per = jnp.asarray(geometry.periodic)
    return jnp.where(per, d - jnp.round(d), d)


def spread_picks(geometry: Geometry, cand: jax.Array, score: jax.Array, k: int, *, scale: Any, limit: Any,
                 penalty: float) -> jax.Array:
    """The ``k`` best rows of ``cand (m, dim)`` by ``score (m,)`` (highest first), not copies.

    Greedy: after each pick, the candidates whose squared distance from it, per
    dimension divided by ``scale`` (a scalar or ``(dim,)``, wrapped on periodic
    dimensions), is below ``limit`` lose ``penalty``, and the pick itself and its exact
    copies drop out; so a batch spreads over several good regions before it repeats one.

    Returns:
        ``(k, dim)``, in the order picked.
    """

    def pick(pen, _):
        i = jnp.argmax(pen)
        x = cand[i]
        d2 = jnp.sum((wrap_diff(geometry, cand, x[None, :]) / scale) ** 2, -1)
        pen = jnp.where(d2 < limit, pen - penalty, pen)
        # An exact copy (discrete spaces draw them) would evaluate the pick twice.
        return jnp.where(d2 <= 0, -jnp.inf, pen), x

    return jax.lax.scan(pick, score, None, length=k)[1]

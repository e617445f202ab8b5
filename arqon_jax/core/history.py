"""A fixed-capacity evaluation history, kept sorted best first.

Memory never grows with the budget: the buffer holds ``capacity`` rows. While it has
room every evaluation is kept; once full, a new evaluation replaces the worst stored
one only if it is better, so the buffer always holds the ``capacity`` best points seen
(failed evaluations are dropped first). Counts are exact whatever the capacity.

Rows are kept sorted by status (ok, failed, empty) then value, so ``X[0]`` is the best
stored point and ``X[:k]`` the ``k`` best: strategies read their "good" sets directly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["History", "history_init", "history_insert", "sanitize", "OK", "FAILED", "EMPTY"]

OK, FAILED, EMPTY = 0, 1, 2


class History(NamedTuple):
    """Evaluations in the unit cube.

    Attributes:
        X: Points, ``(capacity, dim)``.
        y: Values, ``(capacity,)``; ``+inf`` for failed and empty rows.
        status: ``(capacity,)`` int32: ``OK``, ``FAILED`` or ``EMPTY``.
        count: Total number of evaluations told (int32 scalar), including dropped ones.
        n_failed: Total number of failed evaluations told (int32 scalar).
    """

    X: jax.Array
    y: jax.Array
    status: jax.Array
    count: jax.Array
    n_failed: jax.Array

    @property
    def size(self) -> jax.Array:
        """Number of stored rows."""
        return jnp.sum(self.status != EMPTY)


def history_init(capacity: int, dim: int, dtype) -> History:
    """An empty history of ``capacity`` rows."""
    return History(
        X=jnp.zeros((capacity, dim), dtype),
        y=jnp.full((capacity,), jnp.inf, dtype),
        status=jnp.full((capacity,), EMPTY, jnp.int32),
        count=jnp.zeros((), jnp.int32),
        n_failed=jnp.zeros((), jnp.int32),
    )


def sanitize(y: jax.Array, dtype) -> tuple[jax.Array, jax.Array]:
    """Objective values to ``(values, failed)``: non-finite values become ``+inf``.

    NaN, ``+inf`` and ``-inf`` all count as failures: a ``-inf`` is almost always a
    numerical accident, and treating it as the best value would end the search.
    """
    y = jnp.asarray(y, dtype)
    failed = ~jnp.isfinite(y)
    return jnp.where(failed, jnp.inf, y), failed


def history_insert(h: History, X: jax.Array, y: jax.Array, valid: jax.Array) -> History:
    """Adds a batch.

    Args:
        h: The history.
        X: Points ``(batch, dim)``.
        y: Raw values ``(batch,)`` (non-finite ones are failures).
        valid: ``(batch,)`` bool; rows that were not evaluated are ignored entirely.

    Returns:
        The updated history, still sorted best first.
    """
    cap = h.y.shape[0]
    batch = y.shape[0]
    vals, failed = sanitize(y, h.y.dtype)
    vals = jnp.where(valid, vals, jnp.inf)  # rows that were not evaluated carry no value
    status = jnp.where(valid, jnp.where(failed, FAILED, OK), EMPTY).astype(jnp.int32)
    key_old = _order_key(h.status, h.y)
    key_new = _order_key(status, vals)
    # Only the ``cap`` best rows of the batch can enter: take them in order (``top_k`` is
    # stable, lower rows first on ties), then merge the two sorted lists by rank, which
    # avoids sorting ``capacity + batch`` rows at every tell.
    m = min(cap, batch)
    neg, order = jax.lax.top_k(-key_new, m)
    key_new = -neg
    # Old rows win ties (they came first), as with a stable sort of old then new rows.
    rank_old = jnp.arange(cap) + jnp.searchsorted(key_new, key_old, side="left", method=_SEARCH)
    rank_new = jnp.arange(m) + jnp.searchsorted(key_old, key_new, side="right", method=_SEARCH)
    X_new = X.astype(h.X.dtype)[order]
    out_X = jnp.zeros_like(h.X).at[rank_old].set(h.X, mode="drop").at[rank_new].set(X_new, mode="drop")
    out_y = jnp.zeros_like(h.y).at[rank_old].set(h.y, mode="drop").at[rank_new].set(vals[order], mode="drop")
    out_s = (jnp.zeros_like(h.status).at[rank_old].set(h.status, mode="drop")
             .at[rank_new].set(status[order], mode="drop"))
    return History(
        X=out_X,
        y=out_y,
        status=out_s,
        count=h.count + jnp.sum(valid).astype(jnp.int32),
        n_failed=h.n_failed + jnp.sum(valid & failed).astype(jnp.int32),
    )


# Binary search (log steps of vectorized compares): O((capacity + batch) log) for the merge.
_SEARCH = "scan"


def _order_key(status: jax.Array, y: jax.Array) -> jax.Array:
    """One sortable key for (status, value): ok rows by value, then failed, then empty."""
    big = jnp.finfo(y.dtype).max
    # -0.0 == 0.0, but top_k orders by the bits (-0.0 first): one zero keeps ties in told order.
    y = jnp.where(y == 0, jnp.zeros_like(y), y)
    # An ok value at the largest float sorts before the failures (a tie let a failed row lead).
    ok_key = jnp.minimum(y, jnp.nextafter(big, jnp.zeros_like(big)))
    return jnp.where(status == OK, ok_key, jnp.where(status == FAILED, big, jnp.inf))

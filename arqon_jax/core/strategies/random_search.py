"""Uniform random search: the baseline every other strategy must beat."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .base import Geometry, Strategy

__all__ = ["make_random"]


class RandomState(NamedTuple):
    """Random search keeps nothing but a step counter."""

    steps: jax.Array


def make_random(geometry: Geometry, batch_size: int, dtype=None) -> Strategy:
    """Uniform sampling in the unit cube.

    Args:
        geometry: The unit cube's static facts.
        batch_size: Rows per ``ask``.
        dtype: Floating dtype of proposals (defaults to JAX's default float).

    Returns:
        A :class:`Strategy` proposing ``(batch_size, dim)`` uniform points.

    Memory: a counter in the state, ``O(batch dim)`` per ``ask``.
    """
    dim = geometry.dim

    def init(key, history):
        del key, history
        return RandomState(jnp.zeros((), jnp.int32))

    def ask(state, key, history):
        X = jax.random.uniform(key, (batch_size, dim), dtype or history.X.dtype)
        return X, state._replace(steps=state.steps + 1)

    def tell(state, key, X, y, valid, history):
        del key, X, y, valid, history
        return state

    return Strategy("random", init, ask, tell)

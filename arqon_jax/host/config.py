"""One rule for user settings shared by every front door."""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np

__all__ = ["MAX_SEED", "check_int", "check_seed", "seed_key", "missing_extra"]

MAX_SEED = 2**64


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Validates an integer setting in ``[low, high]`` (``high=None``: no upper bound).

    Raises:
        TypeError: If ``value`` is not an integer (bools are refused).
        ValueError: If it is out of range; the message names ``name``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}: expected an integer {rng}, got {value}")
    return value


def missing_extra(exc: ImportError, module: str, what: str, extra: str) -> ImportError:
    """The error for an optional dependency that failed to import: which extra to install.

    Returns a ``ModuleNotFoundError`` when ``exc`` is one (so ``except
    ModuleNotFoundError`` still works), else an ``ImportError``; raise it ``from exc``.
    """
    cls = ModuleNotFoundError if isinstance(exc, ModuleNotFoundError) else ImportError
    return cls(f'{module} needs {what}, which could not be imported ({exc}). '
               f'Install it with: pip install "arqon_jax[{extra}]"', name=exc.name)


def check_seed(seed: Any, where: str = "seed") -> int:
    """Validates a user seed: an integer in ``[0, 2**64)``.

    Raises:
        TypeError: If ``seed`` is not an integer (bools are refused).
        ValueError: If it is negative or does not fit in 64 bits.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"{where}: expected an integer in [0, 2**64), got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"{where}: expected an integer in [0, 2**64), got {seed}")
    return seed


def seed_key(seed: Any, where: str = "seed") -> jax.Array:
    """A PRNG key from a seed in ``[0, 2**64)``; all 64 bits count.

    Seeds below ``2**32`` give ``jax.random.key(seed)`` exactly; the high 32 bits are
    folded in, so seeds that differ only there give different keys (``jax.random.key``
    alone drops them when x64 is off).

    Raises:
        TypeError, ValueError: See :func:`check_seed`.
    """
    seed = check_seed(seed, where)
    key = jax.random.key(seed & 0xFFFFFFFF)
    if seed >> 32:
        key = jax.random.fold_in(key, seed >> 32)
    return key

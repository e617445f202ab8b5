"""Checks of static settings shared by the core and the layers above it."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["MAX_SEED", "as_scalar", "check_int", "check_seed", "check_fraction", "check_real"]

MAX_SEED = 2**64


def as_scalar(value: Any) -> Any:
    """The Python number in a concrete 0-d NumPy or JAX array (``jnp.float32(0.1)``); anything else as is.

    A traced value has no concrete number and stays as it is, to be refused by the check.
    """
    if getattr(value, "shape", None) == () and hasattr(value, "dtype") and not isinstance(value, np.generic):
        try:
            return value.item()
        except Exception:  # noqa: BLE001 - JAX's concretization errors for traced values
            return value
    return value


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Validates an integer setting in ``[low, high]`` (``high=None``: no upper bound).

    Concrete 0-d integer arrays count as integers.

    Raises:
        TypeError: If ``value`` is not an integer (bools are refused).
        ValueError: If it is out of range; the message names ``name``.
    """
    value = as_scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}: expected an integer {rng}, got {value}")
    return value


def check_seed(seed: Any, where: str = "seed") -> int:
    """Validates a user seed: an integer in ``[0, 2**64)``.

    Raises:
        TypeError: If ``seed`` is not an integer (bools are refused).
        ValueError: If it is negative or does not fit in 64 bits.
    """
    dtype = getattr(seed, "dtype", None)
    try:
        integer = dtype is not None and np.issubdtype(dtype, np.integer)
    except TypeError:  # numpy does not know JAX's key<fry> dtype
        if "key<" in str(dtype):
            raise TypeError(f"{where}: expected an integer in [0, 2**64), got a JAX PRNG key (minimize and "
                            "make_minimizer's run take one as key)") from None
        integer = False
    if getattr(seed, "shape", None) == () and integer:
        try:  # a 0-d integer array (jnp.int32(5)); a traced one cannot be a seed
            seed = int(seed)
        except Exception:  # noqa: BLE001 - jax's concretization errors
            raise TypeError(f"{where}: expected a concrete integer, got a traced value {seed!r}") from None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        if integer and getattr(seed, "shape", None) == (2,) and np.dtype(dtype) == np.uint32:
            raise TypeError(f"{where}: expected an integer in [0, 2**64), got a uint32 array of shape (2,), the "
                            "form of a raw JAX PRNG key (minimize and make_minimizer's run take one as key)")
        raise TypeError(f"{where}: expected an integer in [0, 2**64), got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"{where}: expected an integer in [0, 2**64), got {seed}")
    return seed


def check_fraction(name: str, value: Any) -> float:
    """Validates a share in ``(0, 1]`` (bools refused) and returns it as a float.

    Raises:
        TypeError: For a bool or a value that is not a real number.
        ValueError: For a number outside ``(0, 1]`` (NaN included); the messages name ``name``.
    """
    value = as_scalar(value)
    _check_real_type(name, value, "a number in (0, 1]")
    if not 0 < float(value) <= 1:
        raise ValueError(f"{name}: expected a number in (0, 1], got {value!r}")
    return float(value)


def check_real(name: str, value: Any, low: float = -np.inf, high: float = np.inf) -> float:
    """Validates a real number in ``[low, high]`` (bools refused, NaN out of range) and returns it as a float.

    Raises:
        TypeError: For a bool or a value that is not a real number.
        ValueError: For NaN or a number outside ``[low, high]``; the messages name ``name``.
    """
    value = as_scalar(value)
    _check_real_type(name, value, "a real number")
    if not low <= float(value) <= high:
        wanted = "a number, not NaN" if np.isinf(low) and np.isinf(high) else f"a number in [{low}, {high}]"
        raise ValueError(f"{name}: expected {wanted}, got {value!r}")
    return float(value)


def _check_real_type(name: str, value: Any, expected: str) -> None:
    """TypeError for a bool or a value that is not a real number, naming ``name`` and ``expected``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__} {value!r}")

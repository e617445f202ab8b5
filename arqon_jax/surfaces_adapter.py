"""Adapter for ``surfaces`` test functions (``pip install surfaces``).

``minimize(RastriginFunction(n_dim=5), budget=2000)`` works without bounds:
:func:`from_surfaces` reads the function's parameter names and bounds and returns a
vectorized objective over a dict :class:`~arqon_jax.Space`, so ``result.x`` is a
dict that the surfaces function accepts directly (``func(result.x)``).

* Names and their order: the keys of ``func.search_space`` (``x0 .. x{n-1}`` for
  algebraic functions, e.g. ``"Ts", "Th", "R", "L"`` for engineering ones).
* Bounds: ``variable_bounds`` (engineering functions), else ``spec.default_bounds``,
  else the range of the ``search_space`` grid. surfaces' grids stop one step before
  the upper bound, so the default bounds are the better source.
* Dimensions whose grid is exactly the integers ``lo..hi`` (OneMax, Knapsack, ...)
  get integer scale; grids of non-numbers become categorical.
* Evaluation: the function's vectorized ``batch(X)`` (columns in ``search_space``
  order). It is written against the array API, so JAX arrays trace through it and
  ``minimize`` runs the whole search on the device. Functions with modifiers (noise,
  ...) or without a batch implementation are called point by point, because
  ``batch`` skips modifiers.
"""

from __future__ import annotations

import numbers
import weakref
from typing import Any, Callable

import numpy as np

from .core.space import Space

__all__ = ["from_surfaces", "is_surfaces_function"]

_CACHE: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def is_surfaces_function(obj: Any) -> bool:
    """Whether ``obj`` is a surfaces test function (surfaces is imported only if it may be)."""
    if not any((getattr(c, "__module__", "") or "").startswith("surfaces.") for c in type(obj).__mro__):
        return False
    try:
        from surfaces.test_functions._base_test_function import BaseTestFunction
    except ImportError:  # surfaces changed its layout: treat it as a plain callable
        return False
    return isinstance(obj, BaseTestFunction)


def _bounds_of(func: Any, names: list[str], grid: dict) -> dict[str, Any]:
    per_name = None
    var_names = getattr(func, "variable_names", None)
    var_bounds = getattr(func, "variable_bounds", None)
    if var_names and var_bounds and len(var_names) == len(var_bounds):
        per_name = {n: tuple(b) for n, b in zip(var_names, var_bounds)}
    default = None
    try:
        default = func.spec.default_bounds
    except Exception:  # an accessor that fails means: no default bounds
        default = None
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        values = list(np.asarray(grid[name], dtype=object).ravel())
        numeric = all(isinstance(v, (numbers.Real, np.number)) and not isinstance(v, bool) for v in values)
        if not numeric:
            out[name] = {"choices": values}
            continue
        if per_name is not None and name in per_name:
            lo, hi = per_name[name]
        elif default is not None and len(default) == 2 and all(isinstance(b, numbers.Real) for b in default):
            lo, hi = default
        elif default is not None and len(default) == len(names):
            lo, hi = default[i]
        else:
            lo, hi = float(min(values)), float(max(values))
        arr = np.asarray(values, dtype=np.float64)
        if (
            len(arr) > 1
            and np.all(arr == np.round(arr))
            and float(lo) == float(arr.min())
            and float(hi) == float(arr.max())
            and len(np.unique(arr)) == int(hi - lo) + 1
        ):
            out[name] = {"min": int(lo), "max": int(hi), "scale": "integer"}
        else:
            out[name] = {"min": float(lo), "max": float(hi)}
    return out


def from_surfaces(func: Any) -> tuple[Callable, Space] | None:
    """A surfaces test function -> ``(f_vectorized, Space)``, or ``None`` for other objects.

    Args:
        func: Any object. Only instances of surfaces' ``BaseTestFunction`` are adapted.

    Returns:
        ``(f, space)``: ``f`` takes a dict ``{name: (batch,) array}`` (numpy or JAX) and
        returns ``(batch,)`` values (surfaces' ``objective="maximize"`` negates them, so
        minimizing ``f`` maximizes the function); ``space`` is a dict Space. ``None`` if
        ``func`` is not a surfaces function.

    Raises:
        ValueError: For surfaces functions that cannot be minimized (multi-objective).
    """
    if not is_surfaces_function(func):
        return None
    from surfaces.test_functions._base_single_objective import BaseSingleObjectiveTestFunction

    if not isinstance(func, BaseSingleObjectiveTestFunction):
        raise ValueError(
            f"f: {type(func).__name__} is a multi-objective surfaces function; minimize needs one objective"
        )
    grid = func.search_space
    names = list(grid)
    bounds = _bounds_of(func, names, grid)
    key = (tuple(names), repr(sorted(bounds.items())))
    try:
        cached = _CACHE.get(func)
    except TypeError:  # unhashable or not weak-referenceable: no caching
        cached = None
    if cached is not None and cached[0] == key:
        return cached[1]
    space = Space.from_bounds(bounds)
    categorical = any(isinstance(b, dict) and "choices" in b for b in bounds.values())
    use_batch = not categorical and not getattr(func, "_modifiers", None)
    pointwise_cache: dict = {}

    def pointwise(params: dict) -> np.ndarray:
        cols = {n: np.asarray(params[n], dtype=object) for n in names}
        m = len(cols[names[0]])
        out = np.empty(m, np.float64)
        for r in range(m):
            point = {}
            for n in names:
                v = cols[n][r]
                point[n] = float(v) if isinstance(v, (numbers.Real, np.number)) and not isinstance(v, bool) else v
            value = func(point)
            out[r] = np.nan if value is None else float(value)
        return out

    def f(params: dict):
        if use_batch and not pointwise_cache.get("no_batch"):
            first = params[names[0]]
            if type(first).__module__.split(".")[0] in ("jax", "jaxlib"):
                import jax.numpy as jnp

                X = jnp.stack([jnp.asarray(params[n]) for n in names], axis=-1)
            else:
                X = np.stack([np.asarray(params[n], dtype=np.float64) for n in names], axis=-1)
            try:
                return func.batch(X)
            except NotImplementedError:  # no vectorized form: evaluate point by point from now on
                pointwise_cache["no_batch"] = True
        return pointwise(params)

    f.__name__ = f"surfaces_{type(func).__name__}"
    f.__doc__ = f"Vectorized {type(func).__name__} over {names} (via surfaces' batch)."
    try:
        _CACHE[func] = (key, (f, space))
    except TypeError:
        pass
    return f, space

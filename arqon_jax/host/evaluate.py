"""Calling user objectives on the host and checking what they return.

Every front door that evaluates a user function on the host (``minimize``'s host
path, ``RayPool`` workers, the CLI) goes through these functions, so an objective sees
the same arguments and its output is judged by the same rules everywhere:

* Values are float64; ``None``, NaN and +-inf are failed evaluations (NaN here).
* Complex values are refused (``TypeError``): dropping the imaginary part would
  silently optimize another function.
* Strings, dicts and other non-numbers are refused with a ``TypeError``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Mapping

import numpy as np

import jax
import jax.numpy as jnp

from ..core.probe import probe_core, probe_points
from ..core.space import CATEGORICAL, Space, host_table
from .jsonio import F64_MAX

__all__ = ["user_args_host", "as_values", "scalar", "refuse_non_numbers", "call_host", "point_args", "check_host",
           "solver_values", "told_value", "error_text", "BadOutput", "checked", "evaluate_rows", "RecordingEvaluator", "BatchEvaluator",
           "pool_objective"]


def user_args_host(space: Space, values: np.ndarray) -> Any:
    """``(batch, dim)`` float64 values in the user's form for a vectorized objective.

    Array bounds give the array; dict bounds give ``{name: (batch,) array}`` with each
    categorical column holding the choices themselves: a bool, int64 or float64 array
    for numeric choices, an object array otherwise (:func:`arqon_jax.core.space.host_table`).
    """
    if space.names is None:
        return values
    out = {}
    for i, name in enumerate(space.names):
        col = values[:, i]
        if space.scales[i] == CATEGORICAL:
            col = host_table(space.choices[i])[np.rint(col).astype(np.int64)]
        out[name] = col
    return out


def _refuse_complex(arr: Any, where: str) -> None:
    if np.iscomplexobj(arr):
        raise TypeError(f"{where}: got complex values; the objective must return real numbers (e.g. abs(z) or z.real)")


def as_values(y: Any, n: int, where: str) -> np.ndarray:
    """Objective output to a float64 ``(n,)`` array; None counts as a failure (NaN).

    Raises:
        TypeError: For non-numeric, boolean or complex output, or None for the whole
            batch.
        ValueError: For output of the wrong shape.
    """
    if y is None:
        raise TypeError(f"{where}: returned None instead of {n} values, one per row of the batch "
                        "(a missing return statement?)")
    if isinstance(y, Mapping) or isinstance(y, (str, bytes)):
        raise TypeError(f"{where}: must return numbers, got {type(y).__name__}")
    refuse_non_numbers(y, where)
    _refuse_complex(y, where)
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: must return numbers, got {type(y).__name__} ({exc})") from None
    if arr.ndim == 0 and n == 1:
        arr = arr.reshape(1)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"{where}: returned shape {arr.shape}, expected ({n},) (one value per row of the batch)")
    return arr


def refuse_non_numbers(y: Any, where: str) -> None:
    """Booleans and strings are not objective values, though numpy would convert them
    (True -> 1.0, "1.0" -> 1.0): the same refusal as for told values (Tune, ask/tell).
    ``y`` may be a host value or a traced output (anything with a numpy ``dtype``).

    Raises:
        TypeError: For booleans or strings, naming ``where``.
    """
    kind = getattr(getattr(y, "dtype", None), "kind", None)
    if isinstance(y, (bool, np.bool_)) or kind == "b":
        raise TypeError(f"{where}: returned booleans; return numbers (e.g. y.astype(float))")
    if kind in ("U", "S"):
        raise TypeError(f"{where}: returned strings (dtype {y.dtype}); return numbers")


def scalar(v: Any, where: str) -> float:
    """One objective value as a float; None is a failure (NaN).

    Raises:
        TypeError: For non-numeric, boolean or complex values.
        ValueError: For more than one value.
    """
    if v is None:
        return math.nan
    if isinstance(v, (str, bytes, Mapping)):
        raise TypeError(f"{where}: must return a number, got {type(v).__name__} {v!r}")
    refuse_non_numbers(v, where)
    _refuse_complex(v, where)
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: must return a number, got {type(v).__name__} {v!r}") from None
    if arr.size != 1:
        raise ValueError(f"{where}: returned shape {arr.shape} for one point, expected a scalar")
    return float(arr.reshape(()))


def call_host(f: Callable, space: Space, values: np.ndarray, vectorized: bool) -> Any:
    """Calls ``f`` on ``(n, dim)`` values; check what it returns with :func:`check_host`.

    Vectorized: one call with the whole batch. Pointwise: one call per row, with a
    ``(dim,)`` array (array bounds) or a dict of Python scalars (dict bounds).
    """
    if vectorized:
        return f(user_args_host(space, values))
    return [f(arg) for arg in point_args(space, values)]


def point_args(space: Space, values: np.ndarray) -> Any:
    """What a pointwise objective gets for each row of ``(n, dim)`` values: a ``(dim,)``
    array (array bounds) or a dict of Python scalars (dict bounds)."""
    return values if space.names is None else space.to_records(values)


def check_host(raw: Any, n: int, vectorized: bool) -> np.ndarray:
    """What :func:`call_host` got back, as float64 ``(n,)`` values."""
    if vectorized:
        return as_values(raw, n, "f")
    return np.array([scalar(v, "f") for v in raw], dtype=np.float64)


def solver_values(y: np.ndarray, dtype) -> np.ndarray:
    """Host values ``(n,)`` as the solver sees them, in its ``dtype``.

    A finite value beyond the dtype's range is still a finite (very bad or very good)
    value, not a failure: it is clipped to the largest finite value. NaN and +-inf stay
    failures (NaN). The host keeps the values themselves, in float64.
    """
    y = np.asarray(y, np.float64)
    top = float(np.finfo(dtype).max)
    return np.where(np.isfinite(y), np.clip(y, -top, top), np.nan).astype(dtype)


def told_value(v: Any, where: str) -> float:
    """A told value (ask/tell results, Tune metrics) as float64: None, NaN and +-inf are failures (NaN).

    A finite value beyond float64 (a huge int, a longdouble) is clipped to its largest
    finite value rather than becoming a failure. Complex values are refused: keeping the
    real part would optimize another function without a word.
    """
    if type(v) is float:
        return v
    if v is None:
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{where}: expected a number or None, got {v!r}")
    if isinstance(v, (complex, np.complexfloating)) or (hasattr(v, "__array__") and np.iscomplexobj(v)):
        raise TypeError(f"{where}: got the complex value {v!r}; tell a real number (e.g. abs(z) or z.real)")
    if isinstance(v, numbers.Real) and not isinstance(v, np.generic):
        try:
            return float(v)
        except OverflowError:  # 10**400, Fraction(10**400): finite, beyond float64
            return F64_MAX if v > 0 else -F64_MAX
    if isinstance(v, np.generic) or hasattr(v, "__array__"):
        try:
            arr = np.asarray(v)
        except Exception:  # noqa: BLE001 - an object whose __array__ fails is not a number
            arr = None
        if arr is None or arr.size != 1 or arr.dtype.kind not in "iuf":
            kind = "" if arr is None else f" of dtype {arr.dtype} and shape {arr.shape}"
            raise TypeError(f"{where}: expected a number or None (a failed evaluation), got {type(v).__name__}{kind}")
        item = arr.reshape(())
        with np.errstate(over="ignore"):
            out = float(item)
        if math.isinf(out) and bool(np.isfinite(item)):  # a longdouble beyond float64
            return math.copysign(F64_MAX, out)
        return out
    raise TypeError(f"{where}: expected a number or None (a failed evaluation), got {type(v).__name__} {v!r}")


def error_text(exc: BaseException, limit: int | None = 500) -> str:
    """``Type: message`` of an exception on one line, ``Type`` alone if it has no message.

    Cut to ``limit`` characters (``None``: whole).
    """
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def pool_objective(pool: Any, f: Callable | None, bounds: Any, jit: bool | None) -> Callable:
    """The objective a ``pool`` evaluates (``pool.f``), checked against ``minimize``'s other arguments.

    A pool is any object with ``evaluate(values, *, space, vectorized) -> (y, errors)``;
    it carries its own objective, so ``f`` must be None or ``pool.f``.

    Raises:
        TypeError: For an object without ``evaluate``, or ``f=None`` with a pool
            without ``f``.
        ValueError: For another ``f``, missing ``bounds`` or ``jit=True``.
    """
    if not callable(getattr(pool, "evaluate", None)):
        raise TypeError(f"pool: expected an object with evaluate(values, *, space, vectorized), got {type(pool).__name__}")
    pool_f = getattr(pool, "f", None)
    if f is None:
        f = pool_f
        if f is None:
            raise TypeError("f: None needs a pool that carries its objective (pool.f)")
    elif pool_f is not None and f is not pool_f:
        raise ValueError("f: the pool evaluates pool.f, which is not this f; pass f=None (or pool.f)")
    if bounds is None:
        raise ValueError("bounds: required when evaluating on a pool")
    if jit:
        raise ValueError("jit: a pool evaluates on the host path; jit=True cannot be combined with pool")
    return f


class BadOutput(Exception):
    """The objective returned the wrong shape or type: a bug, fatal for the run (``cause`` says what)."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause

    def __reduce__(self):
        return (BadOutput, (self.cause,))


def checked(fn: Callable[[], np.ndarray]) -> np.ndarray:
    """``fn()``, an output check, with its TypeError/ValueError raised as :class:`BadOutput`."""
    try:
        return fn()
    except (TypeError, ValueError) as exc:
        raise BadOutput(exc) from None


def evaluate_rows(run: Callable[[int, int], np.ndarray], n: int, pointwise: bool) -> tuple[np.ndarray, dict]:
    """Evaluates rows ``0..n-1``, recording the rows that raise instead of stopping.

    Args:
        run: ``run(a, b)`` evaluates rows ``a:b`` and returns their float64 values; it
            raises :class:`BadOutput` for a wrong output (re-raised here) and whatever
            the objective raises.
        n: Number of rows.
        pointwise: Evaluate row by row. Otherwise the batch runs whole first and, if it
            raised, again row by row, so that only the rows that raise fail.

    Returns:
        ``y`` float64 ``(n,)`` (NaN where a row raised) and ``{row: message}``.
    """
    y, errors = np.full(n, np.nan, np.float64), {}
    if not pointwise:
        try:
            return run(0, n), errors
        except BadOutput:
            raise
        except Exception as exc:  # noqa: BLE001 - any exception of f is a failed evaluation here
            if n == 1:
                return y, {0: error_text(exc)}
    for i in range(n):
        try:
            y[i] = run(i, i + 1)[0]
        except BadOutput:
            raise
        except Exception as exc:  # noqa: BLE001
            errors[i] = error_text(exc)
    return y, errors


class BatchEvaluator:
    """Evaluates chunks of rows of ``f`` in one process, as a :class:`~arqon_jax.distributed.RayPool` worker does.

    A JAX-traceable ``f`` is compiled once per chunk width (the last chunk is padded to
    it); any other ``f`` is called on the host. Rows that raise fail (NaN) with their
    message (:func:`evaluate_rows`); a wrong output shape or type raises
    :class:`BadOutput`.

    Args:
        f: The objective, vectorized or pointwise (as for :func:`arqon_jax.minimize`).
        jit: ``None`` compiles ``f`` when it traces (and the space has no categorical
            dimension), ``False`` never does, ``True`` requires it.
    """

    def __init__(self, f: Callable, jit: bool | None):
        self.f = f
        self.jit = jit
        self._fns: dict = {}
        self._probe_fns: dict = {}

    def _compiled(self, space: Space | None, width: int, dim: int, x64: bool):
        """A jitted ``(width, dim) -> (width,)`` objective, or None if f is not traceable."""
        key = (space, width, dim, x64)
        if key in self._fns:
            return self._fns[key]
        fn = None
        has_categorical = space is not None and CATEGORICAL in space.scales
        if self.jit is not False and not has_categorical:
            dtype = jnp.float64 if x64 else jnp.float32
            f = self.f

            def g(V):
                return f(V if space is None else space.to_user(V))

            try:
                out = jax.eval_shape(g, jax.ShapeDtypeStruct((width, dim), dtype))
                shape = tuple(getattr(out, "shape", ()))
                if shape not in ((width,), (width, 1)):
                    raise ValueError(f"traced output shape {shape}")
                fn = jax.jit(g)
            except Exception as exc:  # not traceable: evaluate f as a host function
                if self.jit:  # a configuration error, fatal for the run
                    raise BadOutput(TypeError(f"f: jit=True needs a JAX-traceable objective ({error_text(exc)})")) from None
                fn = None
        self._fns[key] = fn
        return fn

    def _call(self, values: np.ndarray, space: Space | None, x64: bool, width: int) -> np.ndarray:
        """One vectorized call; raises whatever f raises. Output checks raise BadOutput."""
        n = len(values)
        fn = self._compiled(space, width, values.shape[1], x64)
        if fn is not None:
            pad = np.concatenate([values, np.repeat(values[-1:], width - n, axis=0)]) if width > n else values
            raw = np.asarray(fn(jnp.asarray(pad, jnp.float64 if x64 else jnp.float32)))
            return checked(lambda: as_values(raw, width, "f"))[:n]
        if space is None:
            raw = self.f(values)
        else:
            raw = call_host(self.f, space, values, True)
        self.bare = np.ndim(raw) == 0  # a bare number, not (n,) values (see run_host's one_point_form)
        return checked(lambda: as_values(raw, n, "f"))

    def _evaluate(self, values: np.ndarray, space, vectorized: bool, x64: bool, width: int):
        def run(a: int, b: int) -> np.ndarray:
            if vectorized:
                return self._call(values[a:b], space, x64, width if b - a == len(values) else 1)
            raw = [self.f(values[a])] if space is None else call_host(self.f, space, values[a:b], False)
            return checked(lambda: check_host(raw, 1, False))

        with jax.enable_x64(x64):
            return evaluate_rows(run, len(values), not vectorized)

    def evaluate(self, values: np.ndarray, space, vectorized: bool, x64: bool, width: int):
        """Evaluates a chunk ``(n, dim)``; returns ``(y (n,), {row: message})``."""
        return self._evaluate(np.asarray(values), space, vectorized, x64, width)

    def evaluate_probe(self, start: int, count: int, space: Space, gen: tuple, vectorized: bool, x64: bool,
                       width: int, return_points: bool):
        """Generates probe points ``[start, start + count)`` here, then evaluates them."""
        with jax.enable_x64(x64):
            dtype = jnp.float64 if x64 else jnp.float32
            if gen[0] == "seed":
                _, seed, plan = gen
                U = probe_points(start, width, space.dim, seed=seed, plan=plan, dtype=dtype)
            else:
                _, offsets, key_data, plan_key = gen
                fkey = (space.dim, width, plan_key, x64)
                if fkey not in self._probe_fns:
                    self._probe_fns[fkey] = jax.jit(
                        lambda s, o, k: probe_core(s, width, space.dim, o, jax.random.wrap_key_data(k), plan_key, dtype)
                    )
                U = self._probe_fns[fkey](jnp.uint32(start), jnp.asarray(offsets), jnp.asarray(key_data))
            # Index-only: points beyond ``count`` (padding to one compiled width) are dropped.
            U = U[:count]
            values = np.asarray(space.from_unit(U), dtype=np.float64)
        y, errors = self._evaluate(values, space, vectorized, x64, width)
        return (y, errors, np.asarray(U)) if return_points else (y, errors)


class RecordingEvaluator(BatchEvaluator):
    """``minimize(errors="record")``: evaluates ``f`` on the host and records the rows it raises on, as a pool does."""

    def __init__(self, f: Callable):
        super().__init__(f, jit=False)

    def evaluate(self, values: np.ndarray, *, space: Space, vectorized: bool) -> tuple[np.ndarray, dict]:
        try:
            return self._evaluate(values, space, vectorized, bool(jax.config.jax_enable_x64), len(values))
        except BadOutput as exc:
            raise exc.cause from None

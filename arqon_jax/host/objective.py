"""What kind of objective the user gave: JAX-traceable or not, a batch or one point.

``minimize`` and ``make_minimizer`` decide the path from :func:`traceable` and check a
traced objective's output before compiling it (tracing uses ``jax.eval_shape``: nothing
is evaluated); the host loop explains a batch/one-point mix-up with :func:`form_mistake`;
the CLI loads ``--objective`` specs with :func:`load_objective`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp

from ..core.space import Space
from .evaluate import error_text, refuse_non_numbers

__all__ = ["ADVICE", "traceable", "traced_output", "one_point_traces", "check_device_objective", "check_batch_form",
           "load_objective", "ObjectiveImportError", "form_mistake"]


def traced_output(f: Callable, space: Space, rows: int, dtype) -> Any:
    """The shape and dtype ``f`` returns for ``rows`` points ``(rows, dim)``, traced without evaluating."""
    return jax.eval_shape(lambda U: f(space.to_user(space.from_unit(U))), jax.ShapeDtypeStruct((rows, space.dim), dtype))


def traceable(f: Callable, space: Space, batch: int, dtype, *, indexes: bool = False) -> tuple[bool, Any]:
    """Whether ``f`` traces on a ``(batch, dim)`` batch, and its traced output if it does.

    A space with string or object choices is not traceable unless ``indexes`` (then
    ``f`` sees choice indexes): a JAX objective could only see indexes, not the choices a
    host objective gets, so such a space is evaluated on the host and both paths see
    the same values.
    """
    if not indexes and not space.device_choices:
        return False, None
    try:
        return True, traced_output(f, space, batch, dtype)
    except Exception:  # any failure to trace means: not a device objective
        return False, None


def one_point_traces(f: Callable, space: Space, dtype) -> bool:
    """Whether ``f`` traces on one point (a ``(dim,)`` array, or a dict of scalars) to one number."""
    def one(U):
        values = space.to_user(space.from_unit(U))
        point = values[0] if space.names is None else {k: v[0] for k, v in values.items()}
        return f(point)

    try:
        out = jax.eval_shape(one, jax.ShapeDtypeStruct((1, space.dim), dtype))
    except Exception:  # noqa: BLE001 - f does not take one point
        return False
    return tuple(getattr(out, "shape", (None,))) in ((), (1,))


# The advice of a confirmed mix-up, keyed by the vectorized= to pass (the CLI words it as --pointwise).
ADVICE = {False: "it looks like a function of one point: pass vectorized=False",
          True: "it looks like a function of a batch: pass vectorized=True"}


def check_device_objective(f: Callable, space: Space, out: Any, batch: int, dtype) -> None:
    """Refuses a traced objective that does not map a batch to one real number per row.

    Args:
        f: The objective.
        space: Its search space.
        out: ``f``'s traced output for a ``(batch, dim)`` batch (:func:`traceable`).
        batch: Rows of the batch.
        dtype: The solver's dtype.

    A wrong shape says to pass ``vectorized=False`` when ``f`` traces as a function of
    one point (:func:`one_point_traces`); :func:`check_batch_form` then catches a
    function of one point whose output happens to fit the batch.

    Raises:
        TypeError: For a non-numeric or complex output.
        ValueError: For another shape.
    """
    shape = getattr(out, "shape", None)
    dtype = getattr(out, "dtype", None)
    refuse_non_numbers(out, "f")
    if shape is None or not jnp.issubdtype(dtype, jnp.number):
        raise TypeError(f"f: must return a numeric array of shape ({batch},), got {out!r}")
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError("f: returned complex values; return real numbers (e.g. jnp.abs(z) or z.real)")
    if tuple(shape) not in ((batch,), (batch, 1)):
        raise ValueError(f"f: returned shape {tuple(shape)}, expected ({batch},) (one value per row of the batch)"
                         + (f"; {ADVICE[False]}" if one_point_traces(f, space, dtype) else ""))
    check_batch_form(f, space, batch, dtype)


def check_batch_form(f: Callable, space: Space, batch: int, dtype) -> None:
    """Refuses an objective of one point that happens to fit the batch's shape.

    With ``batch == dim``, a function of one point (``sum(... for xi in x)``) maps a
    ``(batch, dim)`` array to ``(dim,)`` values, which pass the shape check and are
    silently wrong. Tracing it at another batch size (no evaluation) tells them apart.

    Raises:
        ValueError: If ``f`` gives the wrong shape at ``batch + 1`` rows.
    """
    other = batch + 1
    try:
        shape = tuple(getattr(traced_output(f, space, other, dtype), "shape", ()))
    except Exception:  # noqa: BLE001 - it traces at one batch size only
        # w @ x with a (dim,) w traces only when batch == dim; a function of one point
        # (one number for one point) is refused, anything else is judged by that size.
        if one_point_traces(f, space, dtype):
            raise ValueError(f"f: does not trace on a batch of {other} rows, only on {batch} rows (the "
                             f"dimension); {ADVICE[False]}") from None
        return
    if shape not in ((other,), (other, 1)):
        raise ValueError(f"f: returned shape {shape} for a batch of {other} rows (and the right shape for {batch} "
                         "rows)" + (f"; {ADVICE[False]}" if one_point_traces(f, space, dtype) else ""))


class ObjectiveImportError(Exception):
    """The user's module raised while it was imported (the original exception is ``__cause__``)."""


def load_objective(spec: str, where: str = "--objective") -> Callable:
    """The callable named by ``module:function`` (importable from the current folder) or ``file.py:function``.

    ``function`` may be dotted (``module:Class.method``). A file's folder is put on
    ``sys.path`` so that it can import its neighbours.

    Raises:
        ValueError: For a malformed spec, a missing module, file or attribute, or an
            object that is not callable (messages start with ``where``).
        ObjectiveImportError: If importing the user's module raised (also
            ``SystemExit``, e.g. a script that parses its arguments at import, and a
            ``ModuleNotFoundError`` for a package the module imports).
    """
    mod_name, sep, attr = spec.rpartition(":")
    if not sep or not mod_name or not attr:
        raise ValueError(f"{where}: expected MODULE:FUNCTION or FILE.py:FUNCTION, got {spec!r}")
    is_file = mod_name.endswith(".py") or os.sep in mod_name or "/" in mod_name
    if is_file and not Path(mod_name).is_file():
        raise ValueError(f"{where}: no such file: {mod_name}")
    try:
        if is_file:
            path = Path(mod_name)
            mspec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(mspec)
            sys.path.insert(0, str(path.resolve().parent))
            mspec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not is_file and (mod_name == missing or mod_name.startswith(missing + ".")):
            raise ValueError(f"{where}: cannot import {mod_name!r} ({exc})") from None
        # The module exists and imports something that does not: the user's code raised.
        raise ObjectiveImportError(f"{where}: importing {mod_name!r} raised {error_text(exc, None)}") from exc
    except (Exception, SystemExit) as exc:  # the user's module raised (or exited, e.g. a script's argparse)
        raise ObjectiveImportError(f"{where}: importing {mod_name!r} raised {error_text(exc, None)}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{where}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{where}: {spec} is not callable ({type(obj).__name__})")
    return obj


# A vectorized objective gets a (batch, dim) array; code written for one point fails on
# it in these ways (numpy's conversions and comparisons, arqon_jax's shape check, JAX's
# concretization errors when traced).
_ONE_POINT_SIGNS = (
    "only 0-dimensional arrays can be converted",
    "only length-1 arrays can be converted",
    "only size-1 arrays can be converted",
    "truth value of an array with more than one element is ambiguous",
    "only integer scalar arrays can be converted to a scalar index",  # range(p["layers"]), lst[p["k"]]
    "unhashable type: 'numpy.ndarray'",  # table[p["act"]]
    "unsupported format string passed to numpy.ndarray.__format__",  # f"{p['lr']:.4f}"
    "Pred must be a scalar",  # lax.cond(x[0] > 0, ...)
    "is out of bounds for axis 0 with size 1",  # x[1] of a batch of one row
    "matmul: Input operand 1 has a mismatch in its core dimension",  # x @ x
    "dot_general requires contracting dimensions to have the same shape",  # jnp.dot(x, x)
    "not aligned",  # x.dot(x) of a batch of rows
)
_ONE_POINT_ERRORS = {"ConcretizationTypeError", "TracerBoolConversionError", "TracerIntegerConversionError"}
# ... and a batch objective given one point fails in these.
_BATCH_SIGNS = (
    "out of bounds for array of dimension 1",
    "too many indices for array",
)


def form_mistake(exc: BaseException, vectorized: bool) -> str | None:
    """Whether ``exc`` looks like the error of an objective of the other form.

    Only a hint: a bug inside ``f`` can raise the same messages, so callers confirm it
    by calling ``f`` in the other form before they say so.

    Args:
        exc: What the first evaluation raised (its ``__cause__``/``__context__`` chain
            is searched too).
        vectorized: Whether ``f`` was called with a batch.

    Returns:
        ``"looks like it takes one point, not a batch"`` (or the reverse), or None.
    """
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen and len(seen) < 8:
        seen.append(e)
        msg, kind = str(e), type(e).__name__
        if vectorized and (any(s in msg for s in _ONE_POINT_SIGNS) or kind in _ONE_POINT_ERRORS):
            return "looks like it takes one point, not a batch"
        if not vectorized and (any(s in msg for s in _BATCH_SIGNS) or kind == "AxisError"):
            return "looks like it takes a batch, not one point"
        e = e.__cause__ or e.__context__
    return None

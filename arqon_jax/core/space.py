"""Search spaces: the one place that maps user parameters to and from the unit cube.

Every strategy in arqon_jax works in ``[0, 1)^dim``. A :class:`Space` owns the
bounds, the scale of each dimension and the two jit-compiled maps
``to_unit`` / ``from_unit`` over arrays of shape ``(batch, dim)``. Input is
validated here, in Python, before anything is traced.

Scales (names are case-insensitive):

* ``linear``: ``x = low + u (high - low)``.
* ``log``: geometric, ``x = exp(ln low + u (ln high - ln low))``; needs ``low > 0``.
* ``periodic``: like linear but ``u`` wraps around (``u`` and ``u + 1`` are the
  same point), for angles and phases. ``high`` is the same point as ``low``.
* ``integer``: ``high - low + 1`` equal-width bins, bounds inclusive; values are
  exact integers (stored in the floating dtype).
* ``categorical``: ``k`` unordered choices given as ``{"choices": [...]}``; the
  numeric value is the choice index ``0..k-1``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .validate import as_scalar

__all__ = ["Space", "as_space", "from_unit_with", "snap_with", "SCALES"]

LINEAR, LOG, PERIODIC, INTEGER, CATEGORICAL = 0, 1, 2, 3, 4
SCALES = {"linear": LINEAR, "log": LOG, "periodic": PERIODIC, "integer": INTEGER, "categorical": CATEGORICAL}
_SCALE_ALIASES = {"lin": "linear", "uniform": "linear", "int": "integer", "loguniform": "log"}
_SCALE_NAMES = {v: k for k, v in SCALES.items()}
# Every integer in +-2**24 is exact in float32, the default dtype on device, and every
# integer in +-2**53 in float64: larger integer bounds need float64 (see float32_issues),
# and bounds no float64 integer can hold exactly are refused.
_MAX_EXACT_INT = 2**24
_MAX_EXACT_INT64 = 2**53
_F32_MAX = float(np.finfo(np.float32).max)


def _scale_code(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise TypeError(f"{where}: scale must be a string such as 'linear' or 'log', got {value!r}")
    key = value.strip().lower()
    key = _SCALE_ALIASES.get(key, key)
    if key not in SCALES:
        raise ValueError(f"{where}: unknown scale {value!r}; expected one of {sorted(SCALES)} (case-insensitive)")
    return SCALES[key]


def _number(value: Any, where: str) -> float:
    value = as_scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{where}: expected a real number, got {type(value).__name__} {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{where}: bounds must be finite, got {value!r}")
    return out


def _check_pair(low: float, high: float, scale: int, where: str) -> tuple[float, float]:
    if not low < high:
        raise ValueError(f"{where}: low must be < high, got low={low!r}, high={high!r}")
    if not math.isfinite(high - low):
        raise ValueError(f"{where}: range [{low!r}, {high!r}] does not fit in float64 (|high - low| must be < 1.8e308)")
    if scale == LOG and low <= 0:
        raise ValueError(f"{where}: log scale needs low > 0, got low={low!r}")
    if scale == INTEGER:
        if low != int(low) or high != int(high):
            raise ValueError(f"{where}: integer scale needs integer bounds, got [{low!r}, {high!r}]")
        if max(abs(low), abs(high)) > _MAX_EXACT_INT64:
            raise ValueError(f"{where}: integer bounds must lie within +-2**53 to stay exact in float64")
    return low, high


def _same_choice(a: Any, b: Any) -> bool:
    """Whether two choices are the same option: equal and of the same type (1 is not True)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd objects: equal only when identical
        return False


def _equal_value(a: Any, b: Any) -> bool:
    """Numbers equal by value (bools excluded), strings equal as text."""
    if isinstance(a, str) and isinstance(b, str):
        return str(a) == str(b)
    num = (numbers.Real, np.number)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, (bool, np.bool_)) \
            and not isinstance(b, (bool, np.bool_)):
        return float(a) == float(b)
    return False


def _check_distinct(choices: Sequence, where: str) -> None:
    # Two equal choices would decode to one value but be two arms of the model, and a
    # told value could not say which arm it belongs to.
    for j, b in enumerate(choices):
        for a in choices[:j]:
            if _same_choice(a, b):
                raise ValueError(f"{where}: duplicate choice {b!r} in {list(choices)!r}; each option must appear once")


def _parse_entry(spec: Any, where: str) -> tuple[float, float, int, tuple | None]:
    """One parameter: ``(low, high)`` or ``{"min", "max", "scale"}`` or ``{"choices": [...]}``."""
    if isinstance(spec, Mapping):
        keys = set(spec)
        if "choices" in keys:
            extra = keys - {"choices", "scale"}
            if extra:
                raise ValueError(f"{where}: unexpected keys {sorted(extra)} next to 'choices'")
            choices = spec["choices"]
            if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or len(choices) < 1:
                raise ValueError(f"{where}: 'choices' must be a non-empty list, got {choices!r}")
            if len(choices) == 1:
                raise ValueError(f"{where}: 'choices' needs at least 2 options; pass a constant instead")
            _check_distinct(choices, where)
            return 0.0, float(len(choices) - 1), CATEGORICAL, tuple(choices)
        allowed = {"min", "max", "scale", "low", "high"}
        extra = keys - allowed
        if extra:
            raise ValueError(f"{where}: unexpected keys {sorted(extra)}; expected 'min', 'max' and optional 'scale'")
        lo_key = "min" if "min" in keys else "low"
        hi_key = "max" if "max" in keys else "high"
        if lo_key not in keys or hi_key not in keys:
            raise ValueError(f"{where}: needs both 'min' and 'max', got keys {sorted(keys)}")
        scale = _scale_code(spec.get("scale", "linear"), where)
        if scale == CATEGORICAL:
            raise ValueError(f"{where}: categorical scale needs {{'choices': [...]}} instead of min/max")
        low = _number(spec[lo_key], f"{where}['{lo_key}']")
        high = _number(spec[hi_key], f"{where}['{hi_key}']")
        return (*_check_pair(low, high, scale, where), scale, None)
    if isinstance(spec, (str, bytes)) or not isinstance(spec, (Sequence, np.ndarray)):
        raise TypeError(f"{where}: expected a (low, high) pair or a dict with 'min'/'max', got {spec!r}")
    if len(spec) != 2:
        raise ValueError(f"{where}: expected a (low, high) pair, got {len(spec)} values: {spec!r}")
    low = _number(spec[0], f"{where}[0] (low)")
    high = _number(spec[1], f"{where}[1] (high)")
    return (*_check_pair(low, high, LINEAR, where), LINEAR, None)


@dataclass(frozen=True)
class Space:
    """A box of named or positional parameters, each with a scale.

    Hashable and immutable, so it can be a static argument of jitted functions.

    Attributes:
        low: Lower bound per dimension, ``(dim,)`` as a tuple of floats.
        high: Upper bound per dimension (inclusive for integer scale).
        scales: Scale code per dimension (see ``SCALES``).
        names: Parameter names in sorted order for dict bounds, else ``None``.
        choices: Per dimension, the tuple of choices for categorical dimensions, else ``None``.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    scales: tuple[int, ...]
    names: tuple[str, ...] | None = None
    choices: tuple[tuple | None, ...] | None = None

    # ----------------------------------------------------------------- building
    @classmethod
    def from_bounds(cls, bounds: Any, scale: str | Sequence[str] | None = None) -> "Space":
        """Builds a space from user bounds.

        Args:
            bounds: A sequence of ``(low, high)`` pairs, an array of shape ``(dim, 2)``,
                a dict ``name -> (low, high)``, a dict ``name -> {"min", "max", "scale"}``
                (ArqonHPO's schema) or ``name -> {"choices": [...]}``, or a ``Space``.
            scale: For sequence/array bounds only: one scale name for every dimension
                or one per dimension. Defaults to linear.

        Raises:
            TypeError: If a value has the wrong type.
            ValueError: If a bound is invalid (named in the message).
        """
        if isinstance(bounds, Space):
            if scale is not None:
                raise ValueError("scale: cannot be given together with a Space")
            return bounds
        if isinstance(bounds, Mapping):
            if scale is not None:
                raise ValueError("scale: give scales per parameter inside dict bounds ({'min', 'max', 'scale'})")
            if len(bounds) == 0:
                raise ValueError("bounds: the search space is empty; give at least one parameter")
            for name in bounds:
                if not isinstance(name, str):
                    raise TypeError(f"bounds: parameter names must be strings, got {name!r}")
            stripped: dict[str, list[str]] = {}
            for name in bounds:
                stripped.setdefault(name.strip(), []).append(name)
            dups = [group for group in stripped.values() if len(group) > 1]
            if dups:
                raise ValueError(f"bounds: duplicate parameter names (after stripping whitespace): {dups}")
            names = tuple(sorted(bounds))
            entries = [_parse_entry(bounds[n], f"bounds[{n!r}]") for n in names]
            choices = tuple(e[3] for e in entries)
            return cls(
                low=tuple(e[0] for e in entries),
                high=tuple(e[1] for e in entries),
                scales=tuple(e[2] for e in entries),
                names=names,
                choices=choices if any(c is not None for c in choices) else None,
            )
        if isinstance(bounds, (str, bytes)):
            raise TypeError(f"bounds: expected (low, high) pairs or a dict, got a string {bounds!r}")
        if isinstance(bounds, np.ndarray) or hasattr(bounds, "__array__") and not isinstance(bounds, Sequence):
            arr = np.asarray(bounds)
            if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
                raise TypeError(f"bounds: expected a numeric array of shape (dim, 2), got dtype {arr.dtype}")
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(f"bounds: expected an array of shape (dim, 2), got shape {arr.shape}")
            bounds = arr.tolist()
        if not isinstance(bounds, Sequence):
            raise TypeError(f"bounds: expected (low, high) pairs, an array (dim, 2) or a dict, got {type(bounds).__name__}")
        if len(bounds) == 0:
            raise ValueError("bounds: the search space is empty; give at least one (low, high) pair")
        dim = len(bounds)
        if scale is None:
            codes = [LINEAR] * dim
        elif isinstance(scale, str):
            codes = [_scale_code(scale, "scale")] * dim
        else:
            if len(scale) != dim:
                raise ValueError(f"scale: expected {dim} scale names (one per dimension), got {len(scale)}")
            codes = [_scale_code(s, f"scale[{i}]") for i, s in enumerate(scale)]
        if CATEGORICAL in codes:
            raise ValueError("scale: categorical dimensions need dict bounds with {'choices': [...]}")
        low, high = [], []
        for i, (pair, code) in enumerate(zip(bounds, codes)):
            lo, hi, _, _ = _parse_entry(pair, f"bounds[{i}]")
            lo, hi = _check_pair(lo, hi, code, f"bounds[{i}]")
            low.append(lo)
            high.append(hi)
        return cls(low=tuple(low), high=tuple(high), scales=tuple(codes))

    def __eq__(self, other: Any) -> bool:
        # Dataclass equality says (True, False) == (1, 0); two such spaces would share
        # compiled code and cached solvers, and the second would see the first's choices.
        if not isinstance(other, Space):
            return NotImplemented
        if (self.low, self.high, self.scales, self.names) != (other.low, other.high, other.scales, other.names):
            return False
        if self.choices is None or other.choices is None:
            return self.choices is other.choices
        return all(
            (a is None and b is None) or (a is not None and b is not None and len(a) == len(b)
                                          and all(_same_choice(u, v) for u, v in zip(a, b)))
            for a, b in zip(self.choices, other.choices)
        )

    def __hash__(self) -> int:
        # Choices may be unhashable (e.g. lists of layer sizes); equal spaces have
        # choices of equal lengths, so hashing the lengths keeps hash consistent with ==.
        sizes = None if self.choices is None else tuple(None if c is None else len(c) for c in self.choices)
        return hash((self.low, self.high, self.scales, self.names, sizes))

    # --------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.low)

    @property
    def is_dict(self) -> bool:
        """Whether the user-facing form is a dict of named parameters."""
        return self.names is not None

    @property
    def levels(self) -> tuple[int, ...]:
        """Number of discrete values per dimension, 0 for continuous ones."""
        return tuple(
            int(h - l) + 1 if s in (INTEGER, CATEGORICAL) else 0 for l, h, s in zip(self.low, self.high, self.scales)
        )

    @property
    def n_points(self) -> int | None:
        """Number of points of a finite space (every dimension integer or categorical), else ``None``."""
        levels = self.levels
        return math.prod(levels) if all(levels) else None

    @property
    def periodic(self) -> tuple[bool, ...]:
        """Whether each dimension wraps around."""
        return tuple(s == PERIODIC for s in self.scales)

    @property
    def categorical(self) -> tuple[bool, ...]:
        """Whether each dimension is unordered."""
        return tuple(s == CATEGORICAL for s in self.scales)

    def scale_name(self, i: int) -> str:
        """The scale name of dimension ``i``."""
        return _SCALE_NAMES[self.scales[i]]

    def param_name(self, i: int) -> str:
        """A readable name for dimension ``i``."""
        return self.names[i] if self.names is not None else f"x[{i}]"

    def bounds_array(self) -> np.ndarray:
        """Bounds as a float64 array of shape ``(dim, 2)``."""
        return np.stack([np.asarray(self.low, np.float64), np.asarray(self.high, np.float64)], axis=1)

    def fingerprint(self) -> dict:
        """A JSON-able description, used to refuse checkpoints of another problem."""
        return {
            "names": list(self.names) if self.names is not None else None,
            "low": list(self.low),
            "high": list(self.high),
            "scales": [_SCALE_NAMES[s] for s in self.scales],
            "choices": [list(c) if c is not None else None for c in self.choices] if self.choices else None,
        }

    # ------------------------------------------------------------------- maps
    def from_unit(self, u: jax.Array) -> jax.Array:
        """Maps unit-cube points to parameter values.

        Args:
            u: Points of shape ``(batch, dim)`` (or ``(dim,)``); periodic dimensions
                wrap, others are clipped into ``[0, 1]``.

        Returns:
            Values of the same shape, always inside the bounds.
        """
        u = jnp.asarray(u)
        u = u.astype(_float_dtype(u))
        return _from_unit(self.scales, _consts(self, u.dtype), u)

    def unit_constants(self, dtype: Any) -> dict[str, np.ndarray]:
        """The bounds as ``(dim,)`` arrays of ``dtype`` for :func:`from_unit_with`."""
        return _consts(self, dtype)

    def to_unit(self, x: jax.Array) -> jax.Array:
        """Maps parameter values of shape ``(batch, dim)`` to the unit cube."""
        x = jnp.asarray(x)
        x = x.astype(_float_dtype(x))
        return _to_unit(self.scales, _consts(self, x.dtype), x)

    def snap(self, u: jax.Array) -> jax.Array:
        """Moves unit points of discrete dimensions to the centre of their bin.

        Two unit points that decode to the same parameters snap to the same point,
        which lets strategies detect duplicates in the unit cube.
        """
        u = jnp.asarray(u)
        return _snap(self.scales, _consts(self, u.dtype), u)

    # ------------------------------------------------------ user-facing forms
    @property
    def device_choices(self) -> bool:
        """Whether every categorical dimension's choices are numbers JAX can hold.

        True when each choice list is all bools or all real numbers (no bools among
        them) that fit the default integer/float types. Then :meth:`to_user` hands a
        JAX objective the choices themselves, as the host path does; otherwise (strings,
        objects, mixed bools and numbers) a JAX objective could only see choice indexes.
        """
        if self.choices is None:
            return True
        return all(c is None or _numeric_table(c) is not None for c in self.choices)

    def to_user(self, values: Any) -> Any:
        """Turns a ``(batch, dim)`` JAX array of values into the user form.

        Array bounds give the array back; dict bounds give ``{name: (batch,) array}``.
        Categorical dimensions with numeric choices (see :attr:`device_choices`) give
        the chosen values, the same values a host objective receives; other categorical
        dimensions give the choice index ``0..k-1``.
        """
        if self.names is None:
            return values
        out = {}
        for i, name in enumerate(self.names):
            col = values[..., i]
            table = None if self.choices is None or self.choices[i] is None else _numeric_table(self.choices[i])
            if table is not None:
                idx = jnp.clip(jnp.round(col), 0, len(table) - 1).astype(jnp.int32)
                col = jnp.asarray(table)[idx]
            out[name] = col
        return out

    def float32_issues(self, dtype: Any = np.float32) -> list[str]:
        """Dimensions whose bounds ``dtype`` cannot represent or resolve, as messages.

        A dimension is flagged when a nonzero bound is below the smallest normal number
        of ``dtype`` (XLA on CPU flushes subnormals to zero, so such a bound decodes to
        0, outside the box), or when ``dtype`` holds fewer than 4096 distinct values in
        ``[low, high]`` (e.g. ``(1e8, 1e8 + 100)`` in float32: 13 values).
        Also flagged: bounds or a range beyond ``dtype``'s largest number, and integer
        bounds beyond the integers ``dtype`` holds exactly (+-2**24 in float32).
        Categorical dimensions are indexes and never flagged. Empty for float64 unless
        the bounds are subnormal.
        """
        info = np.finfo(np.dtype(dtype))
        exact = 2 ** (info.nmant + 1)
        out = []
        for i, (lo, hi, sc) in enumerate(zip(self.low, self.high, self.scales)):
            if sc == CATEGORICAL:
                continue
            name = self.param_name(i)
            with np.errstate(over="ignore"):
                span = float(np.asarray(hi, info.dtype) - np.asarray(lo, info.dtype))
            if max(abs(lo), abs(hi)) > float(info.max) or not math.isfinite(span):
                out.append(f"{name}: range [{lo!r}, {hi!r}] does not fit in {info.dtype} (|high - low| must be "
                           f"< {float(info.max):.2g})")
                continue
            if sc == INTEGER:
                if max(abs(lo), abs(hi)) > exact:
                    out.append(f"{name}: integer bounds beyond +-2**{info.nmant + 1} are not exact in {info.dtype}")
                continue
            tiny = [b for b in (lo, hi) if b != 0 and abs(b) < info.tiny]
            if tiny:
                out.append(f"{name}: bound {tiny[0]!r} is below {info.dtype}'s smallest normal number {info.tiny:.3g}")
                continue
            step = float(np.spacing(np.asarray(max(abs(lo), abs(hi)), info.dtype)))
            distinct = (hi - lo) / step
            if distinct < _MIN_DISTINCT:
                out.append(f"{name}: {info.dtype} holds only ~{max(int(distinct), 1)} distinct values in [{lo!r}, {hi!r}]")
        return out

    def from_user(self, params: Any) -> np.ndarray:
        """Turns user parameters (array ``(batch, dim)`` or dict of ``(batch,)``) into values."""
        if self.names is None:
            arr = np.asarray(params, dtype=np.float64)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != self.dim:
                raise ValueError(f"params: expected shape (batch, {self.dim}), got {arr.shape}")
            return arr
        if not isinstance(params, Mapping):
            raise TypeError(f"params: expected a dict with keys {list(self.names)}, got {type(params).__name__}")
        missing = [n for n in self.names if n not in params]
        extra = [n for n in params if n not in self.names]
        if missing or extra:
            raise ValueError(f"params: missing {missing}, unexpected {extra}; expected keys {list(self.names)}")
        cols = []
        for i, n in enumerate(self.names):
            col = params[n]
            if self.choices is not None and self.choices[i] is not None:
                col = [self._choice_index(i, v) for v in np.atleast_1d(np.asarray(col, dtype=object))]
            cols.append(np.atleast_1d(np.asarray(col, dtype=np.float64)))
        return np.stack(cols, axis=-1)

    def _choice_index(self, i: int, value: Any) -> int:
        opts = self.choices[i]
        for k, opt in enumerate(opts):
            if _same_choice(opt, value):
                return k
        # A value of another type that equals exactly one choice: numpy's np.int64(5) or
        # np.str_("tanh") (pandas, arrays), JSON's 5.0 for 5. Never a bool for a number.
        loose = [k for k, opt in enumerate(opts) if _equal_value(opt, value)]
        if len(loose) == 1:
            return loose[0]
        raise ValueError(f"params[{self.names[i]!r}]: {value!r} is not one of the choices {list(opts)}")

    def to_records(self, values: np.ndarray) -> list[dict[str, Any]]:
        """Turns ``(batch, dim)`` values into one dict per point (dict bounds only).

        Integer dimensions become Python ints, categorical ones their choice.
        """
        if self.names is None:
            raise TypeError("to_records needs dict bounds")
        values = np.asarray(values, dtype=np.float64)
        out = []
        for row in values:
            rec = {}
            for i, n in enumerate(self.names):
                v = float(row[i])
                s = self.scales[i]
                if s == CATEGORICAL:
                    rec[n] = self.choices[i][int(round(v))]
                elif s == INTEGER:
                    rec[n] = int(round(v))
                else:
                    rec[n] = v
            out.append(rec)
        return out

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Whether each row of ``(batch, dim)`` values lies in the space (host-side check)."""
        v = np.asarray(values, dtype=np.float64)
        lo = np.asarray(self.low)
        hi = np.asarray(self.high)
        ok = np.isfinite(v) & (v >= lo) & (v <= hi)
        discrete = np.isin(np.asarray(self.scales), (INTEGER, CATEGORICAL))
        ok &= ~discrete | (v == np.round(v))
        return ok.all(axis=-1)

    def outside(self, row: np.ndarray, where: str) -> str:
        """Why the values ``row`` ``(dim,)`` are not in the space, naming the parameter (``where[name]``)."""
        for i, n in enumerate(self.names):
            v, lo, hi = float(row[i]), self.low[i], self.high[i]
            if not (math.isfinite(v) and lo <= v <= hi):
                return f"{where}[{n!r}]: {v!r} is outside the bounds [{lo!r}, {hi!r}]"
            if self.scales[i] in (INTEGER, CATEGORICAL) and v != round(v):
                what = "an integer (scale 'integer')" if self.scales[i] == INTEGER else "a choice index"
                return f"{where}[{n!r}]: {v!r} is not {what}"
        return f"{where}: outside the space"


_MIN_DISTINCT = 4096


def host_table(choices: tuple) -> np.ndarray:
    """The choices as a numpy array for a vectorized host objective.

    All bools: a bool array; all real numbers (no bools among them): int64 or float64;
    anything else (strings, objects, mixes): an object array of the choices themselves.
    """
    if all(isinstance(c, (bool, np.bool_)) for c in choices):
        return np.asarray(choices, dtype=bool)
    if not any(isinstance(c, (bool, np.bool_)) or not isinstance(c, (numbers.Real, np.integer, np.floating))
               for c in choices):
        if all(isinstance(c, (numbers.Integral, np.integer)) for c in choices):
            if all(-(2**63) <= int(c) < 2**63 for c in choices):
                return np.asarray([int(c) for c in choices], dtype=np.int64)
        else:
            return np.asarray([float(c) for c in choices], dtype=np.float64)
    table = np.empty(len(choices), dtype=object)
    table[:] = list(choices)
    return table


def _numeric_table(choices: tuple) -> np.ndarray | None:
    """The choices as a numpy array JAX can hold, or None (strings, objects, mixes).

    Integers must fit JAX's default integer type; floats are rounded to its default
    float type (0.1 becomes float32's 0.1, as any float a JAX objective computes with)
    and must not overflow it.
    """
    table = host_table(choices)
    if table.dtype == bool:
        return table
    if table.dtype == np.int64:
        info = np.iinfo(np.dtype(jnp.zeros((), int).dtype))
        return table.astype(info.dtype) if table.min() >= info.min and table.max() <= info.max else None
    if table.dtype == np.float64:
        ftype = np.dtype(jnp.zeros((), float).dtype)
        finite = np.isfinite(table)
        if np.any(np.abs(table[finite]) > np.finfo(ftype).max):
            return None
        return table.astype(ftype)
    return None


def _inward(lo: np.ndarray, hi: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The bounds rounded inwards to ``dtype``, for the final clip.

    ``float32(0.1) > 0.1`` and ``float32(1e-8) < 1e-8``: clipping to the nearest
    float32 bound could return a value a hair outside the user's (float64) bounds.
    Subnormal bounds move inwards to the smallest normal number, since XLA on CPU
    flushes subnormals to zero (a bound of 1e-40 would clip to 0, below it).
    Where no ``dtype`` value lies inside ``[lo, hi]`` the nearest values are kept.
    """
    np_dtype = np.dtype(dtype)
    tiny = np_dtype.type(jnp.finfo(dtype).tiny)
    lo_c, hi_c = lo.astype(np_dtype), hi.astype(np_dtype)
    lo_c = np.where(lo_c.astype(np.float64) < lo, np.nextafter(lo_c, np_dtype.type(np.inf)), lo_c)
    hi_c = np.where(hi_c.astype(np.float64) > hi, np.nextafter(hi_c, np_dtype.type(-np.inf)), hi_c)
    lo_c = np.where((lo_c > 0) & (lo_c < tiny), tiny, lo_c)
    hi_c = np.where((hi_c < 0) & (hi_c > -tiny), -tiny, hi_c)
    empty = lo_c > hi_c
    return np.where(empty, lo.astype(np_dtype), lo_c), np.where(empty, hi.astype(np_dtype), hi_c)


@lru_cache(maxsize=256)
def _consts(space: Space, dtype) -> dict[str, np.ndarray]:
    """Per-dimension constants, computed in float64 on the host then cast once.

    Numpy arrays, passed to the compiled maps as arguments: data, so one compiled
    program serves every bound value.
    """
    lo = np.asarray(space.low, np.float64)
    hi = np.asarray(space.high, np.float64)
    sc = np.asarray(space.scales)
    is_log = sc == LOG
    safe_lo = np.where(is_log, lo, 1.0)
    safe_hi = np.where(is_log, hi, 2.0)
    dt = np.dtype(dtype)
    # Bounds beyond dtype's range (1e300 in float32) cast to inf here without numpy's
    # warning: Space.float32_issues names them, and minimize runs such spaces in float64.
    with np.errstate(over="ignore"):
        clip_lo, clip_hi = _inward(lo, hi, dtype)
        return {
            "lo": lo.astype(dt),
            "hi": hi.astype(dt),
            "loglo": np.log(safe_lo).astype(dt),
            "loghi": np.log(safe_hi).astype(dt),
            "span": (hi - lo).astype(dt),
            "k": np.maximum(hi - lo + 1, 1).astype(dt),
            "clip_lo": clip_lo.astype(dt),
            "clip_hi": clip_hi.astype(dt),
        }


def _masks(scales: tuple[int, ...]):
    sc = np.asarray(scales)
    return sc == LOG, sc == PERIODIC, np.isin(sc, (INTEGER, CATEGORICAL))


def _float_dtype(x: jax.Array):
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.zeros((), float).dtype


def from_unit_with(scales: tuple[int, ...], consts: dict, u: jax.Array) -> jax.Array:
    """:meth:`Space.from_unit` with the bounds as data: ``consts`` from
    :meth:`Space.unit_constants`, ``scales`` static. Traceable; for compiled programs
    that serve every bound value of one shape of space.
    """
    c = consts
    is_log, is_per, is_disc = _masks(scales)
    # Periodic dimensions wrap; the others are clipped (strategies already stay inside).
    u_c = jnp.where(is_per, u - jnp.floor(u), jnp.clip(u, 0.0, 1.0))
    # (1-u) lo + u hi cannot overflow even when hi - lo is near the float maximum.
    lin = (1.0 - u_c) * c["lo"] + u_c * c["hi"]
    logv = jnp.exp((1.0 - u_c) * c["loglo"] + u_c * c["loghi"])
    disc = c["lo"] + jnp.clip(jnp.floor(u_c * c["k"]), 0.0, c["k"] - 1.0)
    x = jnp.where(is_log, logv, jnp.where(is_disc, disc, lin))
    # Rounding in exp, the affine map or the bounds themselves may step a hair outside:
    # pull it back in (to the bounds rounded inwards).
    return jnp.clip(x, c["clip_lo"], c["clip_hi"])


@partial(jax.jit, static_argnums=0)
def _to_unit(scales: tuple[int, ...], c: dict, x: jax.Array) -> jax.Array:
    is_log, is_per, is_disc = _masks(scales)
    lin = (x - c["lo"]) / c["span"]
    safe_x = jnp.where(is_log, jnp.maximum(x, c["lo"]), 1.0)
    logu = (jnp.log(safe_x) - c["loglo"]) / (c["loghi"] - c["loglo"])
    disc = (jnp.round(x) - c["lo"] + 0.5) / c["k"]
    u = jnp.where(is_log, logu, jnp.where(is_disc, disc, lin))
    return jnp.where(is_per, u - jnp.floor(u), jnp.clip(u, 0.0, 1.0))


def snap_with(scales: tuple[int, ...], consts: dict, u: jax.Array) -> jax.Array:
    """:meth:`Space.snap` with the bounds as data (see :func:`from_unit_with`)."""
    k = consts["k"]
    _, is_per, is_disc = _masks(scales)
    u_c = jnp.where(is_per, u - jnp.floor(u), jnp.clip(u, 0.0, 1.0))
    centre = (jnp.clip(jnp.floor(u_c * k), 0.0, k - 1.0) + 0.5) / k
    return jnp.where(is_disc, centre, u_c)


# The maps compile once per scales and shape: the bounds come in as data, so another
# space of the same shape reuses them.
_from_unit = jax.jit(from_unit_with, static_argnums=0)
_snap = jax.jit(snap_with, static_argnums=0)


def as_space(bounds: Any) -> Space:
    """Returns ``bounds`` as a :class:`Space` (see :meth:`Space.from_bounds`)."""
    return Space.from_bounds(bounds)

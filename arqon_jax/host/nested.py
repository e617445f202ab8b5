"""Search spaces with nested and conditional parameters over a flat :class:`Space`.

A config may be a nested dict (with lists and tuples) whose leaves are parameters or
constants, and a choice may pick between sub-spaces, each with parameters of its own.
The solver searches a flat :class:`Space` with one dimension per parameter, named by
its path (``"model/lr"``; a category's parameters through the category index,
``"optim/1/beta"``). A front door parses its own space format into a template tree
whose nodes are tuples:

* ``("param", name)``: a dimension of the Space.
* ``("cat", name, branches)``: a choice between sub-spaces: a categorical dimension
  (``name`` None if it has one category), each category a branch parsed like the space.
* ``("dict", ((key, node), ...))``, ``("seq", "list" | "tuple", (node, ...))``.
* ``("fixed", value)``: a parameter with one value; ``("const", value)``: a plain value.

Only the chosen branch of a ``"cat"`` node is decoded, so the dimensions of the other
branches are inactive for that config: they never reach the user, and two rows that
differ only there are one config (:meth:`NestedSpace.key`).
"""

from __future__ import annotations

import copy
import math
import numbers
from functools import cached_property
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..core.space import Space
from ..core.validate import as_scalar

__all__ = ["NestedSpace", "path_name", "same", "qround", "decode_value", "encode_value"]


def path_name(path: tuple) -> str:
    """A dimension's name: its path through the config, joined by ``/``."""
    return "/".join(str(p) for p in path)


def _required(node: tuple) -> list[str]:
    """Names a point must give for a subtree (a choice's branches are checked when matched)."""
    kind = node[0]
    if kind == "param" or (kind == "cat" and node[1] is not None):
        return [node[1]]
    if kind == "cat":
        return _required(node[2][0])
    if kind == "dict":
        return [n for _, c in node[1] for n in _required(c)]
    if kind == "seq":
        return [n for c in node[2] for n in _required(c)]
    return []


def same(a: Any, b: Any) -> bool:
    """Equality for matching user values to choices: numbers by value, other values by type and ``==``."""
    if a is b:
        return True
    real = (numbers.Real,)
    if (isinstance(a, real) and isinstance(b, real)
            and not isinstance(a, (bool, np.bool_)) and not isinstance(b, (bool, np.bool_))):
        return float(a) == float(b)
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


def qround(x: float, q: float) -> float:
    """``x`` rounded to the decimals of ``q`` so that ``3 * 0.1`` prints as ``0.3``."""
    decimals = max(0, 12 - int(math.floor(math.log10(abs(q)))) if q else 12)
    return float(round(x, min(decimals, 15)))


def decode_value(rec: dict, x: float) -> Any:
    """The Space value ``x`` of a ``"param"`` dimension -> its config value.

    ``rec["kind"]`` says how: ``"float"`` (clipped to ``[lo, hi]``), ``"cat"`` (index
    into ``categories``), ``"int"``, ``"qint"``/``"qfloat"`` (the Space holds the grid
    index, the value is ``index * q``), ``"qfloat_round"``/``"int_round"`` (rounded to a
    multiple of ``q`` in ``[lo, hi]``: grids too fine for exact float32 indexes, log
    scales), ``"logint"`` (floored into ``[lo, hi]``, as Tune samples ``lograndint``).
    """
    kind = rec["kind"]
    if kind == "float":
        return float(min(max(x, rec["lo"]), rec["hi"]))
    if kind == "cat":
        return rec["categories"][int(round(x))]
    if kind == "int":
        return int(round(x))
    if kind == "qint":
        return int(round(x)) * rec["q"]
    if kind == "qfloat":
        return qround(int(round(x)) * rec["q"], rec["q"])
    if kind == "qfloat_round":
        q = rec["q"]
        return qround(min(max(round(x / q) * q, rec["lo"]), rec["hi"]), q)
    if kind == "logint":
        return int(min(max(math.floor(x), rec["lo"]), rec["hi"]))
    if kind == "int_round":
        q = rec["q"]
        v = min(max(round(x / q) * q, rec["lo"]), rec["hi"])
        return int(round(v)) if float(q).is_integer() else v
    raise AssertionError(kind)  # unreachable: the front door makes only these kinds


def encode_value(rec: dict, value: Any, where: str) -> float:
    """A config value -> the Space value of its dimension (for warm starts); raises naming ``where``."""
    name, kind = rec["name"], rec["kind"]
    if kind == "cat":
        for k, cat in enumerate(rec["categories"]):
            if same(cat, value):
                return float(k)
        raise ValueError(f"{where}[{name!r}]: {value!r} is not one of {rec['categories']}")
    value = as_scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}[{name!r}]: expected a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    tol = 1e-9 * max(1.0, abs(rec["lo"]), abs(rec["hi"]))
    if not (rec["lo"] - tol <= v <= rec["hi"] + tol):
        raise ValueError(f"{where}[{name!r}]: {value!r} is outside [{rec['lo']}, {rec['hi']}]")
    # Integer and quantized parameters only produce integers and multiples of q: a
    # value off that grid could not have come from the domain, and recording it at the
    # nearest grid point would give the solver a value for another config.
    if kind in ("int", "logint") and not v.is_integer():
        raise ValueError(f"{where}[{name!r}]: {value!r} is not an integer")
    if "q" in rec:
        steps = v / rec["q"]
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"{where}[{name!r}]: {value!r} is not a multiple of q={rec['q']}")
    if kind in ("qfloat", "qint"):
        return float(round(v / rec["q"]))
    if kind == "logint":
        return float(math.floor(v)) + 0.5  # middle of the bin that floors to v
    return v


_MISSING = object()


def _lookup(value: Any, key: Any) -> Any:
    """``value[key]`` of a point, also from flattened ``"key/rest"`` entries."""
    if not isinstance(value, Mapping):
        return _MISSING
    if key in value:
        return value[key]
    skey = str(key)
    if skey in value:
        return value[skey]
    prefix = skey + "/"
    sub = {k[len(prefix):]: v for k, v in value.items() if isinstance(k, str) and k.startswith(prefix)}
    return sub if sub else _MISSING


def _extra_keys(value: Mapping, keys: Sequence) -> list:
    """Keys of a point's dict that no template key (nor its flattened form) accounts for."""
    known = {str(k) for k in keys}
    out = []
    for k in value:
        if k in keys or str(k) in known:
            continue
        if isinstance(k, str) and k.split("/", 1)[0] in known:
            continue
        out.append(k)
    return out


class NestedSpace:
    """A nested, conditional search space: configs <-> rows of parameter values.

    Args:
        tree: The template tree (see the module docstring).
        params: One record per dimension, sorted by name: ``name``, ``bound`` (as
            :meth:`Space.from_bounds` takes it), ``categories`` for a conditional choice,
            and the ``kind`` of value coding with its fields (:func:`decode_value`).
        full: Whether configs hold the plain constants of dicts (see :meth:`decode`).
        show: Writes a choice's categories in messages.
    """

    def __init__(self, tree: tuple, params: list[dict], *, full: bool = True, show: Callable[[Any], str] = repr):
        self.tree, self.params, self.full = tree, params, full
        self._show = show
        self.space = Space.from_bounds({p["name"]: p["bound"] for p in params})
        self.index = {rec["name"]: i for i, rec in enumerate(params)}

    @cached_property
    def inactive_values(self) -> np.ndarray:
        """What a point gives the dimensions of unchosen branches: the (snapped) centre of the cube."""
        centre = np.asarray(self.space.snap(np.full((1, self.space.dim), 0.5)), np.float64)
        return np.asarray(self.space.from_unit(centre), np.float64)[0]

    @cached_property
    def conditional(self) -> bool:
        """Whether some dimensions are parameters of a choice's branches (unused when another is chosen)."""

        def walk(node: tuple, in_branch: bool) -> bool:
            kind = node[0]
            if kind == "param":
                return in_branch
            if kind == "cat":
                return any(walk(b, in_branch or node[1] is not None) for b in node[2])
            if kind == "dict":
                return any(walk(child, in_branch) for _, child in node[1])
            if kind == "seq":
                return any(walk(child, in_branch) for child in node[2])
            return False

        return walk(self.tree, False)

    def _build(self, node: tuple, values: np.ndarray, active: np.ndarray, full: bool) -> Any:
        """The config value of a template node for one row of Space values; marks the active dimensions.

        ``full=False`` leaves out plain constants of dicts (a caller that merges them in
        itself, as Tune does). Inside lists and choice categories everything is given, as
        such values are replaced whole.
        """
        kind = node[0]
        if kind == "param":
            i = self.index[node[1]]
            active[i] = True
            return decode_value(self.params[i], float(values[i]))
        if kind == "cat":
            k = 0
            if node[1] is not None:
                i = self.index[node[1]]
                active[i] = True
                k = min(max(int(round(float(values[i]))), 0), len(node[2]) - 1)
            return self._build(node[2][k], values, active, True)
        if kind == "dict":
            return {key: self._build(child, values, active, full)
                    for key, child in node[1] if full or child[0] != "const"}
        if kind == "seq":
            items = [self._build(child, values, active, True) for child in node[2]]
            return tuple(items) if node[1] == "tuple" else items
        return copy.deepcopy(node[1])  # "const", "fixed"

    def decode(self, values: np.ndarray) -> tuple[dict, np.ndarray]:
        """Space values ``(dim,)`` -> (the config, which dimensions it uses)."""
        active = np.zeros(len(self.params), bool)
        return self._build(self.tree, values, active, self.full), active

    def config(self, values: np.ndarray) -> dict:
        """Parameter values ``(dim,)`` -> the config."""
        return self.decode(values)[0]

    def key(self, values: np.ndarray) -> tuple:
        """Identity of a config: its active values (rows differing only in unused dimensions are one config)."""
        active = self.decode(values)[1]
        return tuple(np.where(active, np.asarray(values, np.float64), self.inactive_values).tolist())

    def _match(self, node: tuple, value: Any, path: tuple, strict: bool, full: bool, enc: dict,
               missing: list, where: str) -> Any:
        """Matches a user value to a template node: records Space values in ``enc``, returns the config value.

        ``strict`` (inside a choice category): every value must be given and constants must
        match, so that a value picks the category that can produce it. Raises
        ``ValueError``/``TypeError`` naming the parameter when the value cannot be encoded.
        """
        kind = node[0]
        name = path_name(path)
        if kind == "param":
            enc[node[1]] = encode_value(self.params[self.index[node[1]]], value, where)
            return value
        if kind in ("const", "fixed"):
            if strict and not same(node[1], value):
                raise ValueError(f"{where}[{name!r}]: expected {node[1]!r}, got {value!r}")
            return copy.deepcopy(node[1])
        if kind == "cat":
            if node[1] is None:
                return self._match(node[2][0], value, path + (0,), strict, True, enc, missing, where)
            reasons = []
            for k, branch in enumerate(node[2]):
                sub: dict = {}
                try:
                    out = self._match(branch, value, path + (k,), True, True, sub, [], where)
                except (TypeError, ValueError) as exc:
                    reasons.append(f"{k}: {exc}")
                    continue
                enc.update(sub)
                enc[node[1]] = float(k)
                return out
            rec = self.params[self.index[node[1]]]
            raise ValueError(f"{where}[{name!r}]: {value!r} matches none of the categories "
                             f"{self._show(rec['categories'])} ({'; '.join(reasons)})")
        if kind == "dict":
            if not isinstance(value, Mapping):
                raise TypeError(f"{where}[{name!r}]: expected a dict, got {type(value).__name__} {value!r}")
            keys = [key for key, _ in node[1]]
            if strict:
                extra = _extra_keys(value, keys)
                if extra:
                    raise ValueError(f"{where}[{name!r}]: unexpected keys {extra}")
            out = {}
            for key, child in node[1]:
                sub_value = _lookup(value, key)
                if sub_value is _MISSING:
                    if strict and child[0] != "fixed":
                        raise ValueError(f"{where}[{path_name(path + (key,))!r}]: missing")
                    missing.extend(_required(child))
                    if child[0] in ("const", "fixed") and (full or child[0] == "fixed"):
                        out[key] = copy.deepcopy(child[1])
                    continue
                if full or child[0] != "const":
                    out[key] = self._match(child, sub_value, path + (key,), strict, full, enc, missing, where)
            return out
        # "seq"
        n = len(node[2])
        if isinstance(value, Mapping):  # flattened form: "name/0", "name/1", ...
            items = [_lookup(value, i) for i in range(n)]
            if _extra_keys(value, list(range(n))):
                raise ValueError(f"{where}[{name!r}]: expected {n} values, got {value!r}")
        elif (isinstance(value, (list, tuple)) and len(value) == n
              and (not strict or isinstance(value, tuple) == (node[1] == "tuple"))):
            # Inside a category, a list and a tuple are different configs (Tune keeps the type).
            items = list(value)
        else:
            raise ValueError(f"{where}[{name!r}]: expected a {node[1]} of {n} values, got {value!r}")
        out = []
        for i, (child, item) in enumerate(zip(node[2], items)):
            if item is _MISSING:
                if strict and child[0] != "fixed":
                    raise ValueError(f"{where}[{path_name(path + (i,))!r}]: missing")
                missing.extend(_required(child))
                out.append(copy.deepcopy(child[1]) if child[0] in ("const", "fixed") else None)
                continue
            out.append(self._match(child, item, path + (i,), strict, True, enc, missing, where))
        return tuple(out) if node[1] == "tuple" else out

    def encode(self, point: Mapping, where: str) -> tuple[np.ndarray, dict]:
        """A user config (nested, or with ``"a/b"`` keys) -> (its parameter values ``(dim,)``, the config
        as :meth:`config` writes it).

        Every parameter must be given; for a conditional choice, the chosen category's
        value, matched to the first category that can produce it. Dimensions the config
        does not use (other categories) get the centre of the cube.

        Raises:
            TypeError, ValueError: When the point cannot be encoded, naming the parameter
                after ``where``.
        """
        if not isinstance(point, Mapping):
            raise TypeError(f"{where}: expected a dict, got {type(point).__name__}")
        enc: dict[str, float] = {}
        missing: list[str] = []
        config = self._match(self.tree, point, (), False, self.full, enc, missing, where)
        if missing:
            raise ValueError(f"{where}: point {point!r} misses the parameters {missing}")
        values = self.inactive_values.copy()
        for name, v in enc.items():
            values[self.index[name]] = v
        return values, config

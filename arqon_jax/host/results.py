"""Results told to an ask/tell run (``ArqonSolver.tell``/``seed``, the CLI's ``tell``): parsed, checked, matched.

A result finds its proposal through the session's ledger (:meth:`Session.match`): by
its ``params`` first, else by its ``eval_id``; an entry with neither match is a warm
start. Every entry is checked and matched before anything is recorded.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np

from ..core.space import CATEGORICAL, Space
from .evaluate import told_value
from .jsonio import parse_json
from .session import Session

__all__ = ["record_results"]


def _load_results(data: Any, where: str) -> list:
    """Told results as a list: JSON text parsed, one dict wrapped."""
    if isinstance(data, (str, bytes, bytearray)):
        data = parse_json(data, where, huge=True)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, (list, tuple)):
        raise TypeError(f"{where}: expected a list of dicts (or its JSON text), got {type(data).__name__}")
    return list(data)


def _params_row(space: Space, cat: list[int], p: Any, where: str) -> list[float]:
    """One told ``params`` dict as a row of parameter values (choices as their index)."""
    if type(p) is not dict and not isinstance(p, Mapping):
        raise TypeError(f"{where}: expected a dict {{name: value}}, got {type(p).__name__}")
    names = space.names
    if len(p) != space.dim or any(n not in p for n in names):
        missing = [n for n in names if n not in p]
        extra = [str(k) for k in p if k not in names]
        raise ValueError(f"{where}: missing {missing}, unexpected {extra}; expected keys {list(names)}")
    row = []
    for i, n in enumerate(names):
        v = p[n]
        if getattr(v, "shape", None) == () and callable(getattr(v, "item", None)):
            v = v.item()  # a 0-d numpy or JAX array (a value computed with them) as the scalar it holds
        if i in cat:
            try:
                row.append(float(space._choice_index(i, v)))
            except ValueError:
                raise ValueError(f"{where}[{n!r}]: {v!r} is not one of {list(space.choices[i])}") from None
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number)):
            raise TypeError(f"{where}[{n!r}]: expected a number, got {type(v).__name__} {v!r}")
        row.append(float(v))
    return row


def record_results(session: Session, data: Any, where: str, allow_eval_id: bool) -> None:
    """Records told results in ``session``: all of them, or none if one is invalid.

    Args:
        session: The run's :class:`~arqon_jax.host.session.Session`.
        data: A list of ``{"eval_id", "params", "value"}`` dicts, one dict, or their
            JSON text (bytes too). ``value`` None, NaN or +-inf is a failed evaluation.
        where: The argument's name in messages (``"results"``, ``"points"``).
        allow_eval_id: Whether entries may name their proposal by ``eval_id`` (``tell``)
            or only by ``params`` (``seed``).

    Raises:
        TypeError, ValueError: For malformed entries, parameters outside the space or an
            unknown ``eval_id``, naming the entry.

    Warns:
        UserWarning: When results matched by ``params`` carry another proposal's ``eval_id``.
    """
    space = session.space
    cat = [i for i in range(space.dim) if space.scales[i] == CATEGORICAL]
    items = _load_results(data, where)
    n, dim, names = len(items), space.dim, space.names
    ys: list = [0.0] * n
    eids: list = [None] * n
    rows_l: list = [None] * n
    fast = not cat  # no categorical parameter: values are the numbers themselves
    for i, it in enumerate(items):
        if type(it) is not dict and not isinstance(it, Mapping):
            raise TypeError(f"{where}[{i}]: expected a dict with 'params' and 'value', got {type(it).__name__}")
        try:
            v = it["value"]
        except KeyError:
            raise ValueError(f"{where}[{i}]: missing 'value' (use None, NaN or inf for a failed evaluation)") from None
        ys[i] = v if type(v) is float else told_value(v, f"{where}[{i}]['value']")
        if allow_eval_id:
            e = it.get("eval_id")
            if e is not None:
                if type(e) is not int:
                    if isinstance(e, (bool, np.bool_)) or not isinstance(e, (numbers.Integral, np.integer)):
                        raise TypeError(f"{where}[{i}]['eval_id']: expected an integer, got {type(e).__name__} {e!r}")
                    e = int(e)
                eids[i] = e
        p = it.get("params")
        if p is not None:
            if fast and type(p) is dict and len(p) == dim:
                try:
                    rows_l[i] = [p[name] for name in names]
                    continue
                except KeyError:
                    pass
            rows_l[i] = _params_row(space, cat, p, f"{where}[{i}]['params']")
        elif eids[i] is None:
            more = " (or the 'eval_id' of a proposal)" if allow_eval_id else ""
            raise ValueError(f"{where}[{i}]: missing 'params'{more}")
    has = [r is not None for r in rows_l]
    if fast and not set(map(type, chain.from_iterable(r for r in rows_l if r is not None))) <= {float, int}:
        for i, r in enumerate(rows_l):  # a value of another type: let the strict path name it
            if r is not None:
                rows_l[i] = _params_row(space, cat, items[i]["params"], f"{where}[{i}]['params']")
    zero = [0.0] * dim
    rows = np.array([r if r is not None else zero for r in rows_l], np.float64).reshape(n, dim)
    ys = np.asarray(ys, np.float64)
    if any(has):
        bad = np.flatnonzero(np.asarray(has) & ~space.contains(rows))
        if bad.size:
            i = int(bad[0])
            raise ValueError(space.outside(rows[i], f"{where}[{i}]['params']"))
    # Resolve every entry before changing anything, so that a bad entry records nothing.
    actions = []
    used: set[int] = set()
    mismatched = []
    for i in range(n):
        e = eids[i]
        key = tuple(rows_l[i]) if has[i] else None
        try:
            m, moved = session.match(key, e, used)
        except KeyError as exc:
            raise ValueError(f"{where}[{i}]['eval_id']: unknown eval_id {e} ({exc.args[0]})") from None
        if m is not None:
            used.add(m)
            if not moved and e is not None and e != m:
                mismatched.append((e, m))
        actions.append((m, moved, key, float(ys[i])))
    if mismatched:
        warnings.warn(
            f"{where}: {len(mismatched)} result(s) carry an eval_id that is not the one of the proposal with "
            f"the same params (e.g. eval_id {mismatched[0][0]} for proposal {mismatched[0][1]}); matched by "
            "params. Proposals are numbered 0, 1, 2, ... in the order they are handed out.",
            UserWarning,
            stacklevel=3,
        )
    session.record(actions, rows)


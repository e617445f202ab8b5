"""The session: one engine for every front door that hands out proposals and takes results back.

:class:`~arqon_jax.ArqonSolver`, :class:`~arqon_jax.tune.ArqonSearch` and the CLI's
``ask``/``tell`` are translations onto :class:`Session`, so the same solver settings
and seed give the same proposals through each of them. A session owns:

* the solver, its state and the compiled step (:func:`~arqon_jax.host.steps.fused_steps`);
* the ledger: every proposal handed out gets the next ``eval_id`` (0, 1, 2, ...), and a
  result finds its proposal by ``eval_id`` or by its parameters, in any order;
* budget accounting (proposals plus counted warm starts);
* the one versioned JSON state (:mod:`arqon_jax.host.state_io`), checked field by field on
  restore.

How results reach the solver: proposals come in solver batches of ``batch_size`` rows.
A batch is told when the next batch is needed; rows still unreported then are left out
of it (``valid`` false), and their late results are observed on their own, like warm
starts. A driver that can say "not yet" (Tune) passes ``wait=True``: then the next
refine ask waits for the batch when the strategy declares ``whole_batch`` (Nelder-Mead,
CMA-ES) or the classifier is about to read the probe. A proposed row that repeats a
recorded point is not handed out again; the strategy gets that point's known value
instead. When steps keep bringing nothing new (a converged strategy, a nearly exhausted
discrete space) uniform random points are proposed, until none is left.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any, Callable

import jax
import numpy as np

from ..core.solver import PROBE_RATIO, make_solver, pow2
from ..core.space import Space
from .state_io import decode_array, encode_array, state_from_json, state_to_json
from .config import seed_key
from .evaluate import solver_values
from .steps import bound_constants, fused_steps

__all__ = ["Session", "precision", "corrupt"]

# Solver steps in a row that bring no new point before falling back to random points.
_MAX_EMPTY_STEPS = 2
_RANDOM_TRIES = 64
_ENUMERATED_POINTS = 2**16  # finite spaces up to this size are listed when random draws find nothing new


def precision(x64: bool):
    """The context a float64 session is built, compiled and stepped in."""
    return jax.enable_x64(True) if x64 else contextlib.nullcontext()


def _unit_from_values(space: Space, V: np.ndarray, dtype) -> np.ndarray:
    """Parameter values to unit rows of the solver's dtype (padded to a power of two to bound recompiles)."""
    n = V.shape[0]
    pad = np.concatenate([V, np.repeat(V[:1], pow2(n) - n, axis=0)]) if n else V
    with jax.enable_x64(True):
        U = np.asarray(space.to_unit(np.asarray(pad, np.float64)))
    return U[:n].astype(dtype)


# ------------------------------------------------------------------ state checks
def corrupt(where: str, why: str) -> ValueError:
    """The error for a state field that breaks an invariant."""
    return ValueError(f"state: corrupt {where}: {why}")


def _member(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise corrupt(where, f"expected an object, got {type(d).__name__}")
    if key not in d:
        raise corrupt(f"{where}[{key!r}]", "missing")
    return d[key]


def _state_int(d: Any, key: str, where: str, low: int, high: int | None = None) -> int:
    v = _member(d, key, where)
    where = f"{where}[{key!r}]"
    if isinstance(v, bool) or not isinstance(v, int):
        raise corrupt(where, f"expected an integer, got {type(v).__name__} {v!r}")
    if v < low or (high is not None and v > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise corrupt(where, f"expected an integer {rng}, got {v}")
    return v


def _state_array(d: Any, key: str, where: str, dtype: Any, shape: tuple) -> np.ndarray:
    """``d[key]`` decoded; its dtype and shape must be ``dtype`` and ``shape`` (None: any length)."""
    entry = _member(d, key, where)
    where = f"{where}[{key!r}]"
    try:
        arr = decode_array(entry, "array")
    except ValueError as exc:
        raise corrupt(where, str(exc).removeprefix("array: ")) from None
    want = np.dtype(dtype)
    if arr.dtype != want or arr.ndim != len(shape) or any(w is not None and w != n for w, n in zip(shape, arr.shape)):
        shown = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        raise corrupt(where, f"expected {want.name} of shape {shown}, got {arr.dtype.name} of shape {arr.shape}")
    return arr


def _check_finite(X: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(X)):
        raise corrupt(where, "non-finite unit coordinates")


# ------------------------------------------------------------------ ledger records
class _Batch:
    """One solver ``ask`` (or a batch of random fallback points) as seen by the host."""

    __slots__ = ("asked", "X", "V", "keys", "ids", "y", "rep", "moved", "next_row", "n_out", "n_rep")

    def __init__(self, asked: bool, X: np.ndarray, V: np.ndarray, keys: list[tuple]):
        n = X.shape[0]
        self.asked = asked  # from solver.ask (told back with tell) or random (observed)
        self.X = X  # unit rows, solver dtype
        self.V = V  # parameter values, float64
        self.keys = keys  # identity of each row's point (Session.key_of)
        self.ids = np.full(n, -1, np.int64)  # eval_id of handed-out rows
        self.y = np.full(n, np.nan, np.float64)
        self.rep = np.zeros(n, bool)  # reported (told with the batch)
        self.moved = np.zeros(n, bool)  # reported at other parameters (recorded on their own)
        self.next_row = 0
        self.n_out = 0
        self.n_rep = 0

    @property
    def complete(self) -> bool:
        return self.next_row == self.X.shape[0] and self.n_rep == self.n_out

    def to_json(self) -> dict:
        return {
            "asked": self.asked, "X": encode_array(self.X), "V": encode_array(self.V), "ids": encode_array(self.ids),
            "y": encode_array(self.y), "rep": encode_array(self.rep), "moved": encode_array(self.moved),
            "next_row": self.next_row,
        }


class _Pending:
    """A proposal handed out and waiting for its value."""

    __slots__ = ("key", "batch", "row", "u")

    def __init__(self, key: tuple, batch: _Batch | None, row: int, u: np.ndarray | None = None):
        self.key, self.batch, self.row, self.u = key, batch, row, u


# ------------------------------------------------------------------------ session
class Session:
    """Drives a solver for proposals handed out one by one and results coming back in any order.

    Args:
        space: The search space.
        seed: Seed of the solver's key, already checked (:func:`~arqon_jax.host.config.check_seed`).
        budget: The solver's budget (its probe and strategy sizes follow from it).
        batch_size: Rows per solver step.
        method, probe_ratio, capacity, conditional: As for :func:`arqon_jax.make_solver`.
        x64: Run the solver in float64.
        solver_options: Further keyword arguments of :func:`arqon_jax.make_solver`.
        limited: Whether proposals stop at ``budget`` (``False``: the solver keeps
            refining past its nominal budget, as Tune's ``num_samples`` decides).
        key_of: Maps a row of parameter values ``(dim,)`` (float64) to the identity of
            its point (default: the tuple of its values). Tune passes one that ignores
            the dimensions of unchosen conditional branches.

    The session does no user-input parsing: front doors hand it parameter rows and
    float64 values (NaN for failures).
    """

    def __init__(self, space: Space, *, seed: int, budget: int, batch_size: int, method: str = "auto",
                 probe_ratio: float = PROBE_RATIO, capacity: int | None = None, x64: bool = False,
                 solver_options: Mapping | None = None, limited: bool = True,
                 key_of: Callable[[np.ndarray], tuple] | None = None, conditional: bool = False,
                 _restoring: bool = False):
        self.space = space
        self.seed, self.budget, self.limited, self.x64 = seed, budget, limited, x64
        self._key_of = key_of
        with precision(x64):
            self.solver = make_solver(space, budget, batch_size, method=method, probe_ratio=probe_ratio,
                                      capacity=capacity, conditional=conditional, **dict(solver_options or {}))
            self.steps = fused_steps(self.solver)
            self.consts = bound_constants(space, self.solver.dtype)
            self.state = None if _restoring else self.steps.init(seed_key(seed), self.solver.probe_count)
        self.dim = space.dim
        self.dtype = np.dtype(self.solver.dtype)
        self._reset()

    def _reset(self) -> None:
        self._batches: list[_Batch] = []
        self._pending: dict[int, _Pending] = {}
        self._by_key: dict[tuple, int] = {}
        self._seen: dict[tuple, None] = {}  # every point handed out or recorded (ordered set)
        self._known: dict[tuple, float] = {}  # last value seen at each recorded point
        self._extra_X: list[np.ndarray] = []  # evaluations to observe at the next solver step
        self._extra_y: list[float] = []
        self.n_handed = 0
        self.n_extra = 0  # warm starts counted against the budget
        self.n_free = 0  # warm starts not counted (Tune's add_evaluated_point)
        self.n_results = 0
        self._serial = 0  # solver asks so far
        self.counts = {"asks": 0, "tells": 0, "observed": 0, "skipped": 0}
        # (value, key, eval_id) of the best finite result, in float64: the solver's own
        # best is in its dtype, which may round or clip what was told.
        self.best: tuple[float, tuple, int | None] | None = None

    # ------------------------------------------------------------ inspection
    @property
    def remaining(self) -> float:
        """Proposals left in the budget (``inf`` for an unlimited session)."""
        if not self.limited:
            return math.inf
        return self.budget - self.n_handed - self.n_extra

    @property
    def decision(self) -> dict:
        """The solver's strategy choice and its rule (:meth:`~arqon_jax.core.solver.Solver.decision`);
        ``strategy`` is ``None`` until a ``propose`` has taken the probe's results."""
        return {} if self.state is None else self.solver.decision(self.state)

    def key_of(self, row: np.ndarray) -> tuple:
        """The identity of the point with parameter values ``row``."""
        if self._key_of is None:
            return tuple(float(v) for v in row)
        return self._key_of(row)

    def _keys(self, V: np.ndarray) -> list[tuple]:
        if self._key_of is None:
            return [tuple(r) for r in V.tolist()]
        return [self._key_of(r) for r in V]

    def pending_ids(self) -> list[int]:
        """``eval_id`` of every proposal still waiting for its value."""
        return list(self._pending)

    # ------------------------------------------------------------ proposals
    def _take(self, n_max: int, repeats: bool = False) -> list[tuple[int, np.ndarray]]:
        """Hands out up to ``n_max`` new rows of the open batches, in order."""
        out: list[tuple[int, np.ndarray]] = []
        for b in self._batches:
            n_rows = b.X.shape[0]
            while b.next_row < n_rows and len(out) < n_max:
                r = b.next_row
                key = b.keys[r]
                if key in (self._by_key if repeats else self._seen):  # never propose a point twice
                    b.next_row += 1
                    self.counts["skipped"] += 1
                    continue
                b.next_row += 1
                eid = self.n_handed
                self.n_handed += 1
                b.ids[r] = eid
                b.n_out += 1
                self._pending[eid] = _Pending(key, b, r)
                self._by_key[key] = eid
                self._seen[key] = None
                out.append((eid, b.V[r]))
            if len(out) >= n_max:
                break
        return out

    def _close(self, b: _Batch) -> tuple[np.ndarray, np.ndarray]:
        """Values and valid mask to report batch ``b``; its unreported proposals become late."""
        y = np.where(b.rep, b.y, np.nan)
        valid = b.rep.copy()
        for r in np.flatnonzero(b.ids < 0):
            # A row skipped as a repeat of a recorded point gets that point's value, so a
            # strategy waiting for it (a Nelder-Mead step) can go on.
            v = self._known.get(b.keys[r])
            if v is not None and b.asked:
                valid[r], y[r] = True, v
        for r in np.flatnonzero((b.ids >= 0) & ~b.rep & ~b.moved):
            p = self._pending[int(b.ids[r])]
            p.batch, p.row, p.u = None, -1, b.X[r].copy()
        return y, valid

    def _run(self, reports: list, n_ask: int) -> list[tuple]:
        """Observes the buffered extra evaluations, tells ``reports`` and asks ``n_ask`` times.

        Packs the work, in this order, into as few fused ``step`` calls as possible.
        """
        B, dim, dt = self.solver.batch_size, self.dim, self.dtype
        ops: list[tuple[int, Any]] = []
        if self._extra_X:
            X = np.stack(self._extra_X).astype(dt)
            y = solver_values(np.asarray(self._extra_y, np.float64), dt)
            self.counts["observed"] += len(self._extra_X)
            self._extra_X, self._extra_y = [], []
            for s in range(0, X.shape[0], B):
                Xc, yc = X[s : s + B], y[s : s + B]
                n = Xc.shape[0]
                ops.append((0, (
                    np.concatenate([Xc, np.zeros((B - n, dim), dt)]),
                    np.concatenate([yc, np.full(B - n, np.nan, dt)]),
                    np.arange(B) < n,
                )))
        ops += [(1, r) for r in reports] + [(2, None)] * n_ask
        calls: list[dict] = []
        for slot, payload in ops:
            if not calls or max(calls[-1]) >= slot:
                calls.append({})
            calls[-1][slot] = payload
        empty, flag = self.steps.empty, self.steps.flags
        state, out = self.state, []
        with precision(self.x64):
            for c in calls:
                X, V, state = self.steps.step(
                    state, *c.get(0, empty), flag[0 in c], *c.get(1, empty), flag[1 in c], flag[2 in c], self.consts
                )
                if 2 in c:
                    out.append((X, V))
        self.state = state
        self.counts["tells"] += len(reports)
        self.counts["asks"] += n_ask
        return out

    def _report(self, closing: list[_Batch]) -> list:
        reports = []
        for b in closing:
            y, valid = self._close(b)
            if b.asked:
                reports.append((b.X, solver_values(y, self.dtype), valid))
            else:
                self._extra_X.extend(b.X[valid])
                self._extra_y.extend(y[valid].tolist())
        return reports

    def _next_is_probe(self) -> bool:
        return self._serial * self.solver.batch_size < self.solver.probe_count

    def _advance(self, all_probe: bool) -> None:
        """One solver step: report finished batches, then ask for the next batch(es)."""
        B, pc = self.solver.batch_size, self.solver.probe_count
        next_probe = self._next_is_probe()
        k = 0
        if next_probe:
            # Probe asks do not depend on results: keep unfinished probe batches open.
            while k < len(self._batches) and self._batches[k].complete:
                k += 1
        else:
            k = len(self._batches)
        closing, self._batches = self._batches[:k], self._batches[k:]
        reports = self._report(closing)
        n_ask = 1
        if next_probe and all_probe:
            n_ask = max(1, -(-(pc - self._serial * B) // B))
        new = self._run(reports, n_ask)
        self._serial += n_ask
        for X, V in new:
            X, V = np.asarray(X), np.asarray(V).astype(np.float64)
            self._batches.append(_Batch(True, X, V, self._keys(V)))

    def _must_wait(self) -> bool:
        """Whether the next ask should wait for results of the batches handed out.

        Only a refine ask waits: for a strategy that declares ``whole_batch``, or for the
        classifier (``method="auto"``), which reads the probe results at the first one
        (where a ``whole_batch`` strategy also starts from them).
        """
        if self._next_is_probe() or all(b.n_rep == b.n_out for b in self._batches if b.asked):
            return False
        choice = int(self.state.choice)
        if choice < 0:  # the classifier decides, and strategies start from the probe results
            return len(self.solver.strategy_names) > 1 or any(self.solver.whole_batch)
        return bool(self.solver.whole_batch[choice])

    def _random_batch(self) -> bool:
        """Fallback when the solver keeps proposing known points: fresh uniform points, if any."""
        B = self.solver.batch_size
        # SeedSequence takes every bit of the seed (one 32-bit word per 32 bits), so
        # seeds equal in their low 32 bits get different streams.
        rng = np.random.default_rng([self.seed, self.n_handed, self._serial])
        with precision(self.x64):
            for _ in range(_RANDOM_TRIES // B + 1):
                X = rng.random((B, self.dim)).astype(self.dtype)
                X = np.asarray(self.space.snap(X)).astype(self.dtype)
                V = np.asarray(self.space.from_unit(X)).astype(np.float64)
                b = _Batch(False, X, V, self._keys(V))
                if any(k not in self._seen for k in b.keys):
                    self._batches.append(b)
                    return True
            n_points = self.space.n_points
            if n_points is not None and n_points <= _ENUMERATED_POINTS:
                # Random draws miss the last few points of a finite space (1 of 1024
                # left: 64 draws find it with probability 0.06); list the grid instead.
                levels = np.asarray(self.space.levels)
                grid = (np.stack(np.unravel_index(np.arange(n_points), levels), 1) + 0.5) / levels
                X = np.asarray(self.space.snap(rng.permutation(grid).astype(self.dtype))).astype(self.dtype)
                V = np.asarray(self.space.from_unit(X)).astype(np.float64)
                keys = self._keys(V)
                new = np.flatnonzero([k not in self._seen for k in keys])[:B]
                if len(new):
                    rows = np.resize(new, B)  # a batch has B rows; the copies are skipped as known
                    self._batches.append(_Batch(False, X[rows], V[rows], [keys[i] for i in rows]))
                    return True
        return False

    def propose(self, n_max: int, *, all_probe: bool = False, wait: bool = False,
                repeats: bool = False) -> list[tuple[int, np.ndarray]] | None:
        """Hands out up to ``n_max`` proposals ``(eval_id, parameter values (dim,))``.

        Args:
            n_max: Most proposals to hand out (also capped by the remaining budget).
            all_probe: Ask for every remaining probe batch at once.
            wait: Return ``None`` instead of asking a refine batch before the results
                the strategy needs (see the module docstring).
            repeats: Once the space has no new point, hand out points already
                evaluated (else the list is empty).

        Returns:
            The proposals, ``[]`` when the budget is spent or no point is left, ``None``
            when waiting.
        """
        n_max = int(min(n_max, self.remaining))
        if n_max <= 0:
            return []
        out = self._take(n_max)
        for _ in range(_MAX_EMPTY_STEPS):
            if out:
                return out
            if wait and self._must_wait():
                return None
            self._advance(all_probe)
            out = self._take(n_max)
        while not out and self._random_batch():
            out = self._take(n_max)
        if not out and repeats:
            self._advance(all_probe)
            out = self._take(n_max, repeats=True)
        return out

    def hand_out(self, row: np.ndarray) -> int:
        """Hands out a point chosen by the user (Tune's ``points_to_evaluate``); returns its ``eval_id``."""
        row = np.asarray(row, np.float64)
        key = self.key_of(row)
        eid = self.n_handed
        self.n_handed += 1
        u = _unit_from_values(self.space, row[None, :], self.dtype)[0]
        self._pending[eid] = _Pending(key, None, -1, u)
        if key not in self._by_key:
            self._by_key[key] = eid
        self._seen[key] = None
        return eid

    def flush(self) -> None:
        """Reports every result to the solver now (no ask), for an up-to-date solver state.

        Batches with a handed-out row are told as they are and end there: their rows not
        handed out yet are dropped, their rows still running are observed when they finish.
        """
        closing = [b for b in self._batches if b.n_out]
        if not closing and not self._extra_X:
            return
        self._batches = [b for b in self._batches if not b.n_out]
        self._run(self._report(closing), 0)

    # ------------------------------------------------------------- results
    def match(self, key: tuple | None, eid: int | None, used: set) -> tuple[int | None, bool]:
        """The waiting proposal a result belongs to: ``(eval_id or None, at other parameters)``.

        Parameters equal to a waiting proposal identify it; otherwise ``eid`` must name a
        waiting proposal (evaluated at other parameters); a result with neither is a new
        evaluation (``(None, True)``).

        Raises:
            KeyError: With the reason, when ``eid`` names no waiting proposal.
        """
        if key is not None:
            m = self._by_key.get(key)
            if m is not None and m not in used:
                return m, False
            if eid is None:
                return None, True
        if eid not in self._pending or eid in used:
            if eid in used:
                why = "given twice in this call"
            elif 0 <= eid < self.n_handed:
                why = "its result was already recorded"
            else:
                why = f"never proposed; proposals so far have eval_id 0..{self.n_handed - 1}"
            raise KeyError(why)
        return eid, key is not None

    def record(self, actions: list[tuple[int | None, bool, tuple | None, float]], rows: np.ndarray | None = None,
               count: bool = True) -> None:
        """Applies resolved results ``(eval_id, moved, key, y)`` (see :meth:`match`).

        ``rows`` ``(len(actions), dim)``: the parameter values of entries that carry
        them (needed for ``moved`` results and new evaluations). A new evaluation counts
        against the budget if ``count``.
        """
        new = [i for i, (e, moved, _, _) in enumerate(actions) if moved]
        U = _unit_from_values(self.space, rows[new], self.dtype) if new else None
        u_of = {i: U[j] for j, i in enumerate(new)}
        for i, (e, moved, key, y) in enumerate(actions):
            y = float(y)
            if e is not None:
                p = self._pending.pop(e)
                if self._by_key.get(p.key) == e:
                    del self._by_key[p.key]
                if key is None:
                    key = p.key
                if not moved and p.batch is not None:
                    b = p.batch
                    b.y[p.row], b.rep[p.row] = y, True
                    b.n_rep += 1
                else:
                    if p.batch is not None:  # settled, but not at the proposed point
                        p.batch.moved[p.row] = True
                        p.batch.n_rep += 1
                    self._extra_X.append(u_of[i] if moved else p.u)
                    self._extra_y.append(y)
            else:  # a new evaluation (a warm start)
                self._extra_X.append(u_of[i])
                self._extra_y.append(y)
                if count:
                    self.n_extra += 1
                else:
                    self.n_free += 1
            self._seen[key] = None
            self._known[key] = y
            self.n_results += 1
            if math.isfinite(y) and (self.best is None or y < self.best[0]):
                self.best = (y, tuple(float(k) for k in key), e)

    def report(self, eid: int, y: float) -> None:
        """The value of proposal ``eid`` (NaN: a failed evaluation)."""
        self.record([(eid, False, None, y)])

    def observe(self, row: np.ndarray, y: float, count: bool = False) -> None:
        """An evaluation at parameter values ``row`` ``(dim,)`` that no proposal asked for."""
        row = np.asarray(row, np.float64)
        self.record([(None, True, self.key_of(row), y)], row[None, :], count=count)

    # ------------------------------------------------------------------ state
    def to_json(self, kind: str, config: dict, extra: dict | None = None) -> str:
        """The versioned JSON state (:mod:`arqon_jax.host.state_io`); ``extra`` adds the front door's own fields."""
        pend_ids, pend_u, pend_k = [], [], []
        for eid, p in self._pending.items():
            if p.batch is None:
                pend_ids.append(eid)
                pend_u.append(p.u)
                pend_k.append(p.key)
        empty_u = np.zeros((0, self.dim), self.dtype)
        empty_k = np.zeros((0, self.dim), np.float64)
        data = dict(extra or {})
        data.update({
            "counters": {
                "n_handed": self.n_handed, "n_extra": self.n_extra, "n_free": self.n_free,
                "n_results": self.n_results, "serial": self._serial,
            },
            "counts": dict(self.counts),
            "batches": [b.to_json() for b in self._batches],
            "pending_closed": {
                "ids": encode_array(np.asarray(pend_ids, np.int64)),
                "X": encode_array(np.stack(pend_u).astype(self.dtype) if pend_u else empty_u),
                "keys": encode_array(np.asarray(pend_k, np.float64) if pend_k else empty_k),
            },
            "extras": {
                "X": encode_array(np.stack(self._extra_X).astype(self.dtype) if self._extra_X else empty_u),
                "y": encode_array(np.asarray(self._extra_y, np.float64)),
            },
            "seen": encode_array(np.asarray(list(self._seen), np.float64) if self._seen else empty_k),
            "known_keys": encode_array(np.asarray(list(self._known), np.float64) if self._known else empty_k),
            "known_y": encode_array(np.asarray(list(self._known.values()), np.float64)),
            "best": None if self.best is None else {
                "value": self.best[0], "key": list(self.best[1]), "eval_id": self.best[2],
            },
        })
        return state_to_json(kind, config, self.space, self.state, data)

    def load(self, doc: dict, kind: str) -> dict:
        """Restores the state from a parsed document of :meth:`to_json`; returns its ``extra``.

        Every field is checked against the invariants the ledger relies on (counters
        within the budget and above every handed-out ``eval_id``, each ``eval_id``
        waiting once, arrays of the right dtype and shape, points inside the space).

        Raises:
            ValueError: ``state: corrupt <field>: ...``.
        """
        with precision(self.x64):
            template = self.steps.init(seed_key(0), self.solver.probe_count)  # structure, shapes and dtypes only
            _, self.state, extra = state_from_json(doc, kind, template, space=self.space)
        self._reset()
        self._restore(extra)
        return extra

    def _restore(self, extra: Mapping) -> None:
        B, dim = self.solver.batch_size, self.dim
        budget = self.budget if self.limited else None
        cw = "extra['counters']"
        c = _member(extra, "counters", "extra")
        n_handed = _state_int(c, "n_handed", cw, 0, budget)
        # Warm starts may exceed the budget (seed() accepts any number, as ArqonHPO does);
        # proposals never do.
        n_extra = _state_int(c, "n_extra", cw, 0)
        n_results = _state_int(c, "n_results", cw, 0)
        serial = _state_int(c, "serial", cw, 0)
        asked = int(np.asarray(self.state.n_asked)) & 0xFFFFFFFF  # int32 in the solver state
        if (serial * B) & 0xFFFFFFFF != asked:
            raise corrupt(f"{cw}['serial']",
                          f"{serial} solver steps of {B} rows, but the solver state asked {asked} rows")

        owner: dict[int, str] = {}  # every eval_id in the state -> where it is, to refuse repeats
        raw = _member(extra, "batches", "extra")
        if not isinstance(raw, list):
            raise corrupt("extra['batches']", f"expected a list, got {type(raw).__name__}")
        batches = [self._batch_from_state(d, f"extra['batches'][{j}]", owner) for j, d in enumerate(raw)]
        pending: dict[int, _Pending] = {}
        where_of: dict[int, str] = {}
        for j, b in enumerate(batches):
            for r in np.flatnonzero((b.ids >= 0) & ~b.rep & ~b.moved):
                pending[int(b.ids[r])] = _Pending(b.keys[r], b, int(r))
                where_of[int(b.ids[r])] = f"extra['batches'][{j}]['V']"

        pw = "extra['pending_closed']"
        pc = _member(extra, "pending_closed", "extra")
        ids = _state_array(pc, "ids", pw, np.int64, (None,))
        us = _state_array(pc, "X", pw, self.dtype, (len(ids), dim))
        ks = _state_array(pc, "keys", pw, np.float64, (len(ids), dim))
        self._check_ids(ids, f"{pw}['ids']", owner)
        _check_finite(us, f"{pw}['X']")
        self._check_inside(ks, f"{pw}['keys']")
        for eid, u, k in zip(ids.tolist(), us, ks.tolist()):
            pending[eid] = _Pending(tuple(k), None, -1, u)
            where_of[eid] = f"{pw}['keys']"
        if owner and max(owner) >= n_handed:
            top = max(owner)
            raise corrupt(f"{cw}['n_handed']", f"{n_handed} proposals handed out, but eval_id {top} is in "
                          f"{owner[top]} (the next proposal would repeat an eval_id)")
        pending = dict(sorted(pending.items()))
        by_key: dict[tuple, int] = {}
        for eid, p in pending.items():
            if p.key in by_key and p.batch is not None:
                raise corrupt(where_of[eid],
                              f"proposals {by_key[p.key]} and {eid} wait at the same parameters {p.key}")
            by_key.setdefault(p.key, eid)
        n_free = _state_int(c, "n_free", cw, 0) if "n_free" in c else 0
        made = n_handed - len(pending) + n_extra + n_free
        if n_results != made:
            raise corrupt(f"{cw}['n_results']", f"{n_results} results, but {n_handed} proposals ({len(pending)} still "
                          f"waiting) and {n_extra + n_free} warm starts make {made}")

        ew = "extra['extras']"
        ex = _member(extra, "extras", "extra")
        ey = _state_array(ex, "y", ew, np.float64, (None,))
        eX = _state_array(ex, "X", ew, self.dtype, (len(ey), dim))
        if not np.all(np.isfinite(eX) & (eX >= 0) & (eX <= 1)):
            raise corrupt(f"{ew}['X']", "unit coordinates must lie in [0, 1]")

        seen_arr = _state_array(extra, "seen", "extra", np.float64, (None, dim))
        self._check_inside(seen_arr, "extra['seen']")
        seen = dict.fromkeys(tuple(r) for r in seen_arr.tolist())
        if len(seen) != len(seen_arr):
            raise corrupt("extra['seen']", "a point is listed twice")
        kk = _state_array(extra, "known_keys", "extra", np.float64, (None, dim))
        ky = _state_array(extra, "known_y", "extra", np.float64, (len(kk),))
        known = {tuple(k): float(v) for k, v in zip(kk.tolist(), ky.tolist())}
        if len(known) != len(kk):
            raise corrupt("extra['known_keys']", "a point is listed twice")
        # A point missing from seen could be proposed again.
        for what, keys in (("a recorded point", known), ("a waiting proposal", by_key)):
            missing = next((k for k in keys if k not in seen), None)
            if missing is not None:
                raise corrupt("extra['seen']", f"{what} {missing} is missing")

        self._batches, self._pending, self._by_key = batches, pending, by_key
        self._extra_X, self._extra_y = list(eX), ey.tolist()
        self._seen, self._known = seen, known
        self.n_handed, self.n_extra, self.n_free, self.n_results = n_handed, n_extra, n_free, n_results
        self._serial = serial
        counts = extra.get("counts")
        if isinstance(counts, Mapping):
            self.counts.update({k: int(v) for k, v in counts.items() if k in self.counts and isinstance(v, int)})
        self.best = self._best_from_state(extra, pending)

    def _best_from_state(self, extra: Mapping, pending: dict) -> tuple | None:
        finite = [(v, k) for k, v in self._known.items() if math.isfinite(v)]
        if "best" not in extra:  # written before the best was stored: the recorded values give it
            if not finite:
                return None
            v, k = min(finite, key=lambda t: t[0])
            return v, tuple(float(x) for x in k), None
        bw = "extra['best']"
        b = extra["best"]
        if b is None:
            if finite:
                raise corrupt(bw, f"null, but the value {finite[0][0]!r} was recorded at {finite[0][1]}")
            return None
        value = _member(b, "value", bw)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise corrupt(f"{bw}['value']", f"expected a finite number, got {type(value).__name__} {value!r}")
        value = float(value)
        key = _member(b, "key", bw)
        if not isinstance(key, list) or len(key) != self.dim or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in key):
            raise corrupt(f"{bw}['key']", f"expected a list of {self.dim} numbers, got {key!r}")
        key = tuple(float(x) for x in key)
        if key not in self._known:
            raise corrupt(f"{bw}['key']", f"{key} is not a recorded point")
        lowest = min((v for v, _ in finite), default=math.inf)
        if value > lowest:
            raise corrupt(f"{bw}['value']", f"{value!r} is worse than the recorded value {lowest!r}")
        eid = _member(b, "eval_id", bw)
        if eid is not None:
            if isinstance(eid, bool) or not isinstance(eid, int) or not 0 <= eid < self.n_handed or eid in pending:
                raise corrupt(f"{bw}['eval_id']", f"expected null or the eval_id of a recorded proposal, got {eid!r}")
        return value, key, eid

    def _batch_from_state(self, d: Any, where: str, owner: dict) -> _Batch:
        B, dim = self.solver.batch_size, self.dim
        asked = _member(d, "asked", where)
        if not isinstance(asked, bool):
            raise corrupt(f"{where}['asked']", f"expected true or false, got {asked!r}")
        X = _state_array(d, "X", where, self.dtype, (B, dim))
        V = _state_array(d, "V", where, np.float64, (B, dim))
        ids = _state_array(d, "ids", where, np.int64, (B,))
        y = _state_array(d, "y", where, np.float64, (B,))
        rep = _state_array(d, "rep", where, np.bool_, (B,))
        moved = _state_array(d, "moved", where, np.bool_, (B,))
        next_row = _state_int(d, "next_row", where, 0, B)
        _check_finite(X, f"{where}['X']")
        self._check_inside(V, f"{where}['V']")
        out = ids >= 0
        self._check_ids(ids[out], f"{where}['ids']", owner)
        if np.any(ids < -1) or np.any(out[next_row:]):
            raise corrupt(f"{where}['ids']", f"expected -1 or an eval_id >= 0 in rows 0..{next_row - 1} only "
                          f"(next_row is {next_row}), got {ids.tolist()}")
        if np.any((rep | moved) & ~out):
            bad = "rep" if np.any(rep & ~out) else "moved"
            raise corrupt(f"{where}[{bad!r}]", "a row never handed out is marked as reported")
        if np.any(rep & moved):
            raise corrupt(f"{where}['moved']", "a row is marked both as reported and as reported elsewhere")
        b = _Batch(asked, X, V, self._keys(V))
        b.ids, b.y, b.rep, b.moved, b.next_row = ids, y, rep, moved, next_row
        b.n_out = int(np.sum(out))
        b.n_rep = int(np.sum(rep | moved))
        return b

    def _check_ids(self, ids: np.ndarray, where: str, owner: dict) -> None:
        for eid in ids.tolist():
            if eid < 0:
                raise corrupt(where, f"negative eval_id {eid}")
            if eid in owner:
                raise corrupt(where, f"eval_id {eid} appears twice (also in {owner[eid]})")
            owner[eid] = where

    def _check_inside(self, V: np.ndarray, where: str) -> None:
        bad = np.flatnonzero(~self.space.contains(V)) if len(V) else ()
        if len(bad):
            raise corrupt(where, f"row {int(bad[0])}: " + self.space.outside(V[bad[0]], "params"))

"""Driving a solver through a whole run of :func:`~arqon_jax.minimize`, host or device.

``minimize`` validates and translates its arguments, then hands the run to one of:

* :func:`run_host`: the host path's Python loop, one fused, jitted ``tell + ask`` per
  batch (:func:`host_steps`) with ``f`` (or a pool) evaluated on the host, the best
  tracked in float64, checkpoints, the callback and the progress line;
* :func:`run_device`: the device path, the whole budget as one compiled program
  (:mod:`.device`), or compiled chunks between checkpoints (:func:`run_device_chunked`),
  then the gradient polish (:mod:`.polish`) and a warning when float32 decided the answer
  (:func:`precision_hint`).

Both build the :class:`~arqon_jax.OptimizeResult` (:mod:`.outcome`), and on a failure
raise :class:`~arqon_jax.OptimizationError` or :class:`~arqon_jax.OptimizationInterrupted`
with the run so far. :class:`Checkpointing` says where checkpoints go and what to
resume from; :func:`step_evaluations` gives the evaluations after each batch (the CLI's
demo uses it too).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any, Callable, NamedTuple, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

from ..core.history import EMPTY, OK
from ..core.solver import Solver
from ..core.validate import check_int
from ..result import (
    STATUS_CALLBACK,
    STATUS_ERROR,
    STATUS_OK,
    OptimizationError,
    OptimizationInterrupted,
    OptimizeResult,
)
from .checkpoint import read_checkpoint, write_checkpoint
from .device import device_chunks, device_runner
from .evaluate import RecordingEvaluator, as_values, call_host, check_host, error_text, point_args, solver_values
from .objective import ADVICE, form_mistake
from .outcome import build_result
from .polish import PolishPlan, run_polish
from .progress import Progress
from .steps import bound_constants, fused_steps

__all__ = ["Checkpointing", "host_steps", "run_host", "run_device", "run_device_chunked", "step_evaluations",
           "precision_hint"]


# ---------------------------------------------------------------- checkpoints
class Checkpointing(NamedTuple):
    """Where to write checkpoints, how often (batches), and what to resume from."""

    path: Any
    every: int
    resume: Any
    run_key: list  # the initial key's data: a resume must use the same seed

    @property
    def active(self) -> bool:
        return self.path is not None or self.resume is not None

    @classmethod
    def from_args(cls, checkpoint: Any, every: Any, resume: Any, key) -> "Checkpointing":
        """``minimize``'s ``checkpoint``, ``checkpoint_every`` and ``resume``, checked; ``key`` is the run's key.

        Raises:
            TypeError, ValueError: For invalid values, naming the argument.
            FileNotFoundError: If ``resume`` names a file that does not exist.
        """
        every = check_int("checkpoint_every", every, 1)
        if resume is True:
            if checkpoint is None:
                raise ValueError("resume: True needs checkpoint=path (resume=path names a file directly)")
            resume = checkpoint if os.path.exists(checkpoint) else None
        elif resume is False:
            resume = None
        elif not isinstance(resume, (str, os.PathLike)):
            raise TypeError(f"resume: expected a bool or a path, got {resume!r}")
        elif not os.path.exists(resume):
            raise FileNotFoundError(f"resume: no checkpoint at {str(resume)!r}")
        return cls(checkpoint, int(every), resume, np.asarray(jax.random.key_data(key)).tolist())


def _write(ckpt: "Checkpointing", solver: Solver, state, X, curve, nfev_curve, kind: str, best=None,
           failures=None, V=None) -> None:
    try:
        write_checkpoint(ckpt.path, solver, state, X, curve, nfev_curve, kind, ckpt.every, best=best,
                         run_key=ckpt.run_key, failures=failures, pending_values=V)
    except (TypeError, ValueError, OSError) as exc:
        # An OSError names the temporary file the write goes through; the user named ckpt.path.
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise type(exc)(f"checkpoint: cannot write {str(ckpt.path)!r}: {detail}") from exc


# ------------------------------------------------------------------ host path
def host_steps(solver: Solver, consts) -> tuple[Callable, Callable, Callable]:
    """``first(key)``, ``step(state, X, y, valid)`` and ``tell(state, X, y, valid)`` of the host path.

    All three run the session's compiled step (:func:`~arqon_jax.host.steps.fused_steps`),
    shared with the ask/tell front doors: the bounds come in as data (``consts``), so new
    bound values reuse it.
    """
    steps = fused_steps(solver)
    empty, (off, on) = steps.empty, steps.flags

    def first(key):
        X, V, state = steps.step(steps.init(key, solver.probe_count), *empty, off, *empty, off, on, consts)
        return state, X, V

    def step(state, X, y, valid):
        X, V, state = steps.step(state, *empty, off, X, y, valid, on, on, consts)
        return state, X, V

    def tell(state, X, y, valid):
        return steps.step(state, *empty, off, X, y, valid, on, off, consts)[2]

    return first, step, tell


class _HostBest:
    """The best evaluation of a host run, in float64 as ``f`` returned it.

    The solver works in its dtype (float32 by default), which can neither hold values
    beyond +-3.4e38 nor tell 1e7 from 1e7 + 0.5; the reported best must be exactly
    what ``f`` returned at the reported point, so it is tracked here.
    """

    def __init__(self, dim: int):
        self.y = math.inf
        self.values = None  # (dim,) float64 once a finite value was seen
        self.dim = dim

    def update(self, values: np.ndarray, y: np.ndarray) -> None:
        finite = np.isfinite(y)
        if finite.any():
            i = int(np.argmin(np.where(finite, y, np.inf)))
            if y[i] < self.y:
                self.y, self.values = float(y[i]), np.array(values[i], np.float64)

    def as_tuple(self):
        return None if self.values is None else (self.y, self.values)

    def to_json(self) -> dict | None:
        return None if self.values is None else {"y": self.y, "values": self.values.tolist()}

    def load(self, d: Any) -> None:
        if isinstance(d, dict) and "y" in d:
            self.y, self.values = float(d["y"]), np.asarray(d["values"], np.float64).reshape(self.dim)


def run_host(f, solver: Solver, key, vectorized: bool, callback, prog: Progress, pool: Any = None,
             ckpt: "Checkpointing | None" = None) -> OptimizeResult:
    """The host path of :func:`~arqon_jax.minimize`: a Python loop of one compiled ``tell + ask`` per batch.

    ``f`` (or ``pool.evaluate``) runs on the host, the best is tracked in float64
    (:class:`_HostBest`), ``ckpt`` (when given) writes checkpoints or resumes, ``prog``
    shows progress and ``callback`` sees an interim result after each batch. An exception
    of ``f``, the pool, the callback or a checkpoint write raises
    :class:`~arqon_jax.OptimizationError`, Ctrl-C :class:`~arqon_jax.OptimizationInterrupted`,
    each with the run so far.
    """
    first, step, tell = host_steps(solver, bound_constants(solver.space, solver.dtype))
    space, batch, budget = solver.space, solver.batch_size, solver.budget
    n_steps = solver.n_batches
    curve = np.empty(n_steps, np.float64)
    nfev_curve = np.empty(n_steps, np.int64)
    info: dict = {"path": "host"}
    if pool is not None:
        info.update(retries=0, n_errors=0, errors={})
        if not isinstance(pool, RecordingEvaluator):
            info["pool"] = type(pool).__name__
        retries0 = getattr(pool, "retries", 0)
    t0 = time.perf_counter()
    nfev, it = 0, 0
    best = _HostBest(space.dim)
    if ckpt is not None and ckpt.resume:
        state, X, done_curve, done_nfev, best_json, failures, V = read_checkpoint(ckpt.resume, solver, "host",
                                                                                  ckpt.every, ckpt.run_key)
        if pool is not None and failures is not None:  # the rows that raised before the interruption
            info.update(failures)
            retries0 -= failures["retries"]
        it = len(done_curve)
        curve[:it], nfev_curve[:it] = done_curve, done_nfev
        nfev = int(done_nfev[-1]) if it else 0
        best.load(best_json)
        if V is None:  # an older checkpoint: the values may differ from the uninterrupted run's in the last bit
            V = space.from_unit(jnp.asarray(X))
        info["resumed_from"] = str(ckpt.resume)
    else:
        state, X, V = first(key)
        if ckpt is not None and ckpt.path is not None:
            # Before the first evaluation: a folder that does not exist or a space JSON
            # cannot store fails now, not after the whole budget was spent.
            _write(ckpt, solver, state, X, curve[:0], nfev_curve[:0], "host", V=V)
    status, message = STATUS_OK, None
    # A finite space that the budget can cover ends the run once every point of it was
    # evaluated: more evaluations could only repeat points (of an expensive objective).
    n_points = space.n_points
    seen = None if n_points is None or n_points > budget else evaluated_points(solver, state)
    if seen is not None and ckpt is not None and ckpt.resume:
        # The checkpoint's own list: a history smaller than the space (a capacity
        # below it, CMA-ES's few rows) has dropped some of the points evaluated.
        seen |= checkpoint_points(best_json, space.dim)
    exhausted = seen is not None and len(seen) >= n_points

    def host_json() -> dict | None:
        """The checkpoint's host record: the float64 best and, in a finite space, the points evaluated."""
        out = best.to_json()
        return out if seen is None else {**(out or {}), "seen": sorted(seen)}

    top = float(np.finfo(solver.dtype).max)
    clipped = [0]  # finite values beyond the solver's dtype, which it sees as its largest value

    def padded(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Host values of the first rows as the solver's ``(batch,)`` values and mask."""
        y = np.asarray(y, np.float64)
        y_full = np.full(batch, np.nan, np.float64)
        y_full[: len(y)] = solver_values(y, solver.dtype)
        clipped[0] += int(np.sum(np.isfinite(y) & (np.abs(y) > top)))
        return y_full, np.arange(batch) < len(y)

    def so_far(msg: str) -> OptimizeResult:
        return build_result(solver, state, curve[:it], nfev_curve[:it], STATUS_ERROR, msg, dict(info), best.as_tuple())

    def other_form(values: np.ndarray) -> str:
        """Advice to pass the other ``vectorized=`` if ``f`` works on one row in that form (one more call).

        A pool's ``f`` may only run on its workers, so the pool is asked for that row (an
        evaluation the run does not count: the caller stops the run)."""
        if pool is not None and not isinstance(pool, RecordingEvaluator):
            try:
                y1, errs = pool.evaluate(values[:1], space=space, vectorized=not vectorized)
                works = not errs and np.shape(y1) == (1,) and bool(np.isfinite(np.asarray(y1, np.float64))[0])
            except Exception:  # noqa: BLE001 - the other form fails too
                works = False
            return f"; {ADVICE[not vectorized]}" if works else ""
        try:
            out = call_host(f, space, values[:1], not vectorized)
            if out is None or (isinstance(out, list) and all(v is None for v in out)):
                return ""  # None in either form: a missing return, not the other form
            check_host(out, 1, not vectorized)
        except Exception:  # noqa: BLE001 - the other form fails too: the mistake is elsewhere
            return ""
        return f"; {ADVICE[not vectorized]}"

    def one_point_form(rows: list[int], values: np.ndarray, y: np.ndarray) -> None:
        """Refuses a first batch where a call of one row returned a bare number (``rows``:
        those rows) that ``f`` of the row itself contradicts: a function of one point given
        a ``(1, dim)`` batch (budget 1, or the split first batch) can return a number without
        an error (Rosenbrock sums an empty array: 0). A vectorized ``f`` returns ``(1,)``
        there, so it costs no call."""
        for a in rows:
            try:
                v = float(check_host([f(next(iter(point_args(space, values[a:a + 1]))))], 1, False)[0])
            except Exception:  # noqa: BLE001 - f does not take one point: the batch value stands
                continue
            if np.isfinite(v) and v != y[a]:
                raise ValueError(f"f: returned {float(y[a])!r} for a batch of one row but {v!r} for that row "
                                 "alone")  # the caller adds the advice

    def save() -> None:
        """Writes the checkpoint of the batches done so far (a failed write ends the run)."""
        try:
            failures = None if pool is None else {k: info[k] for k in ("n_errors", "retries", "errors")}
            _write(ckpt, solver, state, X, curve[:it], nfev_curve[:it], "host", host_json(), failures, V)
        except Exception as exc:
            msg = f"writing the checkpoint failed after {nfev} evaluations: {exc}"
            raise OptimizationError(msg, so_far(msg)) from exc

    # A function of one point maps a (dim, dim) batch to (dim,) values without an error
    # (x[0] + x[1] adds rows; x @ w of dict columns sums over the batch): the first such
    # batch is evaluated in two calls (or pool.evaluate calls), of 1 and dim - 1 rows,
    # which such a function cannot answer with the right shapes.
    split_first = vectorized and min(batch, budget) == space.dim > 1

    def split_note(parts: tuple) -> str:
        """Why a shape error of the split first batch names a row count the run's batch does not have."""
        if len(parts) < 2:
            return ""
        return (f" (the first batch of {parts[-1][1]} rows goes to f in calls of 1 and {parts[-1][1] - 1} rows, "
                "so that a function of one point cannot pass for a batch function)")

    def wrong_output(exc: Exception, values: np.ndarray, parts: tuple, where: str = "") -> NoReturn:
        """Ends the run on a wrong output of ``f`` (``where``: how it was called), with the
        advice when ``f`` works in the other form. On the first batch it is an argument error
        (nothing done yet); later an :class:`OptimizationError` with the run so far: a later
        batch too may be the first to show the form (2-D in batches of 2, whose split first
        batch is two calls of one row that a function of one point answers right)."""
        if nfev == 0:
            raise type(exc)(f"{exc}{where}{split_note(parts)}{other_form(values)}") from None
        msg = f"f returned a wrong output after {nfev} evaluations: {error_text(exc, None)}{other_form(values)}."
        raise OptimizationError(msg, so_far(msg)) from exc

    try:
        while nfev < budget and not exhausted:
            n = min(batch, budget - nfev)
            values = np.asarray(V, dtype=np.float64)[:n]
            parts = ((0, 1), (1, n)) if split_first and nfev == 0 else ((0, n),)  # row ranges, one call each
            raw: Any = []
            try:
                if pool is not None:
                    for a, b in parts:
                        part_y, part_errors = pool.evaluate(values[a:b], space=space, vectorized=vectorized)
                        raw.append((part_y, part_errors, getattr(pool, "bare", False)))
                elif vectorized:
                    raw = [call_host(f, space, values[a:b], True) for a, b in parts]
                else:
                    # One point at a time, so the points done before a failure are kept.
                    for arg in point_args(space, values):
                        raw.append(f(arg))
            except (Exception, KeyboardInterrupt) as exc:
                k = len(raw) if pool is None and not vectorized else 0
                if k:  # an expensive objective's finished points are part of the run
                    y_k = check_host(raw, k, False)
                    nfev += k
                    best.update(values[:k], y_k)
                    state = tell(state, X, *padded(y_k))
                    curve[it], nfev_curve[it] = best.y, nfev
                    it += 1
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info["error"] = f"{type(exc).__name__}: {exc}"
                if pool is not None and isinstance(exc, (TypeError, ValueError)):
                    # A pool records the rows that raise, and raises only for a wrong output
                    # (errors="record" is the in-process pool).
                    wrong_output(exc, values, parts, "" if isinstance(pool, RecordingEvaluator) else
                                 " (the pool calls f on chunks of the batch, one per worker)")
                # A pool records the rows f raises on: what reaches here is the pool's own (closed, no workers).
                who = "f" if pool is None else "the pool"
                msg = f"{who} raised {error_text(exc, None)} (after {nfev} evaluations"
                if nfev == 0 and pool is None and form_mistake(exc, vectorized):
                    msg += other_form(values)
                msg += ")."
                raise OptimizationError(msg, so_far(msg)) from exc
            if pool is None:
                try:
                    y = (np.concatenate([check_host(r, b - a, True) for r, (a, b) in zip(raw, parts)]) if vectorized
                         else check_host(raw, n, False))
                    if vectorized and nfev == 0:
                        one_point_form([a for r, (a, b) in zip(raw, parts) if b - a == 1 and np.ndim(r) == 0], values, y)
                except (TypeError, ValueError) as exc:
                    wrong_output(exc, values, parts)
            else:
                y = np.concatenate([as_values(part_y, b - a, "pool.evaluate")
                                    for (part_y, _, _), (a, b) in zip(raw, parts)])
                errors = {a + int(row): msg for (_, part, _), (a, _) in zip(raw, parts) for row, msg in part.items()}
                if nfev == 0 and vectorized and isinstance(pool, RecordingEvaluator):  # errors="record": f is ours
                    try:
                        one_point_form([a for (_, _, bare), (a, b) in zip(raw, parts)
                                        if b - a == 1 and bare and a not in errors], values, y)
                    except ValueError as exc:  # as with errors="raise": an argument error
                        wrong_output(exc, values, parts)
                # Every row of the first batch raised: an objective of the other form (a
                # function of one point fails on the split (dim, dim) batch and would sum
                # rows of every later one) is a mistake to name, not failures to record.
                advice = other_form(values) if nfev == 0 and len(errors) == n else ""
                if advice:
                    info["error"] = errors[0]
                    msg = f"f raised on every row of the first batch ({errors[0]}){advice}."
                    raise OptimizationError(msg, so_far(msg))
                if errors:
                    y[np.fromiter(errors, np.int64)] = np.nan  # a row that raised is a failure
                    info["n_errors"] += len(errors)
                    for row, msg in sorted(errors.items()):
                        if len(info["errors"]) < 100:
                            info["errors"][nfev + int(row)] = msg
                info["retries"] = getattr(pool, "retries", 0) - retries0
            nfev += n
            best.update(values, y)
            y_full, valid = padded(y)
            if seen is not None:
                seen.update(map(tuple, values.tolist()))
                exhausted = len(seen) >= n_points
            if nfev >= budget or exhausted:
                state = tell(state, X, y_full, valid)
            else:
                state, X, V = step(state, X, y_full, valid)
            curve[it], nfev_curve[it] = best.y, nfev
            it += 1
            if ckpt is not None and ckpt.path is not None and (it % ckpt.every == 0 or nfev >= budget or exhausted):
                save()
            prog.update(nfev, best.y)
            if callback is not None:
                interim = build_result(solver, state, curve[:it], nfev_curve[:it], STATUS_OK, "In progress.", dict(info),
                                        best.as_tuple())
                try:
                    stop = callback(interim)
                except Exception as exc:
                    msg = f"callback raised {error_text(exc, None)} (after {nfev} evaluations)."
                    raise OptimizationError(msg, so_far(msg)) from exc
                if stop is True and nfev < budget and not exhausted:
                    status, message = STATUS_CALLBACK, f"Stopped by the callback after {nfev} evaluations."
                    if ckpt is not None and ckpt.path is not None and it % ckpt.every:
                        # The state already holds the next batch's points: a resume from here
                        # goes on as if the run had not stopped, and evaluates nothing twice.
                        save()
                    break
    except KeyboardInterrupt as exc:
        if isinstance(exc, OptimizationInterrupted):
            raise
        msg = f"Interrupted after {nfev} evaluations."
        raise OptimizationInterrupted(msg, so_far(msg)) from exc
    info["exhausted"] = bool(exhausted)
    if exhausted and nfev < budget and status == STATUS_OK:
        if math.isfinite(best.y):  # else the result says that no value was finite
            message = (f"Every point of the space ({n_points}) was evaluated, after {nfev} of the budget's "
                       f"{budget} evaluations.")
    prog.update(nfev, best.y, final=True)
    info["wall_time_s"] = time.perf_counter() - t0
    if clipped[0]:
        # The reported best is f's own float64 value; the search itself ranked these as equal.
        info["precision"] = (f"{clipped[0]} values of f lay beyond {np.dtype(solver.dtype).name}'s range ({top:.3g}) "
                             "and were clipped to it for the solver, which cannot rank them (the reported fun is f's "
                             "own value); pass x64=True")
        warnings.warn(info["precision"], UserWarning, stacklevel=3)
    return build_result(solver, state, curve[:it], nfev_curve[:it], status, message, info, best.as_tuple())


def checkpoint_points(best_json: Any, dim: int) -> set[tuple[float, ...]]:
    """The points a host checkpoint lists as evaluated (none in one written before the list existed).

    Raises:
        ValueError: For a list that is not of ``dim`` numbers per point.
    """
    if not isinstance(best_json, dict) or "seen" not in best_json:
        return set()
    try:
        rows = np.asarray(best_json["seen"], np.float64).reshape(-1, dim)
    except (TypeError, ValueError):
        raise ValueError(f"resume: corrupt checkpoint: field 'best.seen' must list points of {dim} numbers") from None
    return set(map(tuple, rows.tolist()))


def evaluated_points(solver: Solver, state) -> set[tuple[float, ...]]:
    """The distinct points (user values) of the state's stored history rows."""
    h = state.history
    rows = np.asarray(h.X)[np.asarray(h.status) != EMPTY]
    if not len(rows):
        return set()
    return set(map(tuple, np.asarray(solver.space.from_unit(jnp.asarray(rows)), np.float64).tolist()))


# ---------------------------------------------------------------- device path
def run_device(f: Callable, solver: Solver, key, ckpt: Checkpointing, prog: Progress,
               polish_plan: PolishPlan | None, polish_info: dict) -> OptimizeResult:
    """The device path of :func:`~arqon_jax.minimize`: the budget on the device, the polish, the result.

    The loop is one compiled program (:func:`~arqon_jax.host.device.device_runner`), or
    compiled chunks of ``ckpt.every`` batches when ``ckpt`` is active
    (:func:`run_device_chunked`). ``polish_plan`` (from
    :func:`~arqon_jax.host.polish.decide_polish`; ``None`` for no polish) refines the best
    points after the loop, and ``polish_info`` becomes ``info["polish"]``. Warns, and adds
    ``info["precision"]``, when float32 decided the answer (:func:`precision_hint`).
    """
    t0 = time.perf_counter()
    if ckpt.active:
        state, curve = run_device_chunked(f, solver, key, ckpt)
    else:
        state, curve = device_runner(f, solver)(key, jax.device_put(solver.space.unit_constants(solver.dtype)))
        curve = np.asarray(curve)[: solver.n_batches]  # the buffer's filled entries
    n_steps = len(curve)
    nfev_curve = step_evaluations(n_steps, solver.batch_size, solver.budget)
    if polish_plan is not None:
        state, curve, nfev_curve, polish_info = run_polish(f, solver, polish_plan, state, curve, nfev_curve)
    prog.update(solver.budget, float(state.best_y), final=True)
    info = {"path": "device", "wall_time_s": time.perf_counter() - t0, "polish": polish_info}
    result = build_result(solver, state, curve, nfev_curve, STATUS_OK, None, info)
    hint = precision_hint(state, solver.dtype)
    if hint:
        info["precision"] = hint
        # stacklevel 3: the warning names the line that called minimize, as when this ran inside it.
        warnings.warn(hint, UserWarning, stacklevel=3)
        if not result.success:
            result.message += " " + hint[0].upper() + hint[1:] + ("" if hint.endswith(".") else ".")
    if polish_plan is not None:
        result.trace.append((solver.budget, "polish"))
    return result


def run_device_chunked(f: Callable, solver: Solver, key, ckpt: Checkpointing):
    """The device loop in compiled chunks of ``ckpt.every`` batches, checkpointing between them."""
    space, batch, budget, dtype = solver.space, solver.batch_size, solver.budget, solver.dtype
    n_full, rem = divmod(budget, batch)
    n_steps = solver.n_batches
    chunk = device_chunks(f, solver)
    consts = jax.device_put(space.unit_constants(dtype))
    no_pending = np.zeros((batch, space.dim), np.dtype(dtype))
    if ckpt.resume is not None:
        state, _, done_curve, _, _, _, _ = read_checkpoint(ckpt.resume, solver, "device", ckpt.every, ckpt.run_key)
        curves = [np.asarray(done_curve)]
    else:
        state, curves = jax.jit(solver.init_with)(key, solver.probe_count), []  # the probe length as data
        if ckpt.path is not None:  # fails before the first evaluation if it cannot be written
            _write(ckpt, solver, state, no_pending, np.zeros(0), np.zeros(0, np.int64), "device")
    done = sum(len(c) for c in curves)
    cat = np.concatenate(curves) if curves else np.zeros(0)
    try:
        while done < n_steps:
            n = min(ckpt.every, n_steps - done)
            new_state, c = chunk(state, consts, done, done + n, n_full, rem, ckpt.every)
            curves.append(np.asarray(c)[:n])
            state, done = new_state, done + n
            cat = np.concatenate(curves)
            if ckpt.path is not None:
                _write(ckpt, solver, state, no_pending, cat, step_evaluations(len(cat), batch, budget), "device")
    except BaseException as exc:
        # Chunks already finished are handed back: the state after the last whole chunk.
        if not isinstance(exc, (Exception, KeyboardInterrupt)) or isinstance(exc, (OptimizationError,
                                                                                   OptimizationInterrupted)):
            raise
        nfev_curve = step_evaluations(len(cat), batch, budget)
        nfev = int(nfev_curve[-1]) if len(cat) else 0
        what = "Interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        msg = f"{what} (after {nfev} evaluations)."
        so_far = build_result(solver, state, cat, nfev_curve, STATUS_ERROR, msg, {"path": "device"})
        cls = OptimizationInterrupted if isinstance(exc, KeyboardInterrupt) else OptimizationError
        raise cls(msg, so_far) from exc
    return state, cat


def step_evaluations(n_steps: int, batch: int, budget: int) -> np.ndarray:
    """Evaluations done after each of the first ``n_steps`` batches: ``batch`` a batch, the last cut to ``budget``."""
    return np.minimum((np.arange(n_steps) + 1) * batch, budget)


def precision_hint(state, dtype) -> str | None:
    """A warning when float32 itself decided the device run's answer, else None.

    On the device path ``f`` computes in the solver's dtype: values beyond float32's
    range become inf (failures), and near a large ``|f|`` float32 cannot tell the best
    points apart (1e7 + 0.4 == 1e7). Both show in the history: every value failed, or
    several of the best stored values equal the best exactly at a magnitude where
    float32's spacing is coarse (2**17 and up: spacing 1/64 or more).
    """
    if np.dtype(dtype) != np.float32:
        return None
    h = state.history
    if int(h.count) and int(h.n_failed) == int(h.count):
        return ("every evaluation returned NaN or +-inf; on the device path f computes in float32, where values "
                "beyond 3.4e38 are inf: pass x64=True if f's values are that large")
    best = float(state.best_y)
    top = np.asarray(h.y[:10])[np.asarray(h.status[:10]) == OK]
    if math.isfinite(best) and abs(best) >= 2**17 and int(np.sum(top == best)) >= 3:
        return (f"several of the best points have exactly f = {best:.9g}: at that magnitude float32 cannot tell "
                "values closer than {:.3g} apart, so the answer may be off; pass x64=True".format(
                    float(np.spacing(np.float32(abs(best))))))
    return None


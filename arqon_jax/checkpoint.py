"""Checkpoints of ``minimize`` runs, in the state format shared with ``ArqonSolver`` and Tune.

A checkpoint is :mod:`arqon_jax.state_io`'s versioned JSON with ``kind="minimize"``:
the solver state (a PyTree), the proposals already asked but not yet evaluated, and
the best-so-far curve. Writes are atomic (temporary file in the same folder, fsync,
rename, fsync of the folder), so a crash or ``kill -9`` at any moment leaves either
the previous checkpoint or the new one, never a torn file. Resuming continues exactly
where the checkpoint was taken: the PRNG key is part of the state, so the final result
equals that of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .state_io import state_from_json, state_to_json

__all__ = ["atomic_write_text", "write_checkpoint", "read_checkpoint", "KIND"]

KIND = "minimize"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replaces ``path`` with ``text`` atomically: temp file in the same folder, fsync, ``os.replace``.

    A crash at any point leaves either the old file or the new one, never a mix. The
    file keeps its permissions (new files get the usual umask-based mode).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    mode = (path.stat().st_mode & 0o777) if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the folder is synced (POSIX).
    with contextlib.suppress(OSError, AttributeError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _config(solver, path_kind: str, checkpoint_every: int) -> dict:
    return {
        "budget": solver.budget,
        "batch_size": solver.batch_size,
        "method": solver.method,
        "probe_count": solver.probe_count,
        "capacity": solver.capacity,
        "strategies": list(solver.strategy_names),
        "dtype": str(np.dtype(solver.dtype)),
        "path": path_kind,
        "checkpoint_every": checkpoint_every,
    }


def write_checkpoint(path, solver, state, pending_X, curve, nfev_curve, path_kind: str, checkpoint_every: int) -> None:
    """Writes a checkpoint atomically.

    Args:
        path: Where to write.
        solver: The :class:`~arqon_jax.solver.Solver` of the run.
        state: Its :class:`~arqon_jax.solver.SolverState`.
        pending_X: Unit-cube proposals asked but not yet evaluated, ``(batch, dim)``.
        curve: Best-so-far values so far, ``(nit,)``.
        nfev_curve: Evaluations after each batch so far, ``(nit,)``.
        path_kind: ``"host"`` or ``"device"`` (their states are not interchangeable).
        checkpoint_every: Batches between checkpoints (device runs chunk by it).
    """
    text = state_to_json(
        KIND,
        _config(solver, path_kind, checkpoint_every),
        solver.space,
        (jax.device_get(state), np.asarray(pending_X)),
        extra={"curve": np.asarray(curve, np.float64).tolist(), "nfev_curve": np.asarray(nfev_curve, np.int64).tolist()},
    )
    atomic_write_text(path, text)


def read_checkpoint(path, solver, path_kind: str, checkpoint_every: int) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """Reads a checkpoint written for this very problem.

    Returns:
        ``(state, pending_X, curve, nfev_curve)``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For a corrupt file, a newer format version, another search space or
            another run configuration (the message names the fields that differ).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"resume: no checkpoint at {str(path)!r}") from None
    template = (solver.init(jax.random.key(0)), np.zeros((solver.batch_size, solver.space.dim), np.dtype(solver.dtype)))
    try:
        config, (state, pending), extra = state_from_json(text, KIND, template, space=solver.space)
    except ValueError as exc:
        raise ValueError(f"resume: {exc}") from None
    expected = _config(solver, path_kind, checkpoint_every)
    diff = [f"{k}: checkpoint {config.get(k)!r}, this run {v!r}" for k, v in expected.items() if config.get(k) != v]
    if diff:
        raise ValueError("resume: the checkpoint was written by another run configuration (" + "; ".join(diff) + ")")
    curve = np.asarray(extra.get("curve", []), np.float64)
    nfev_curve = np.asarray(extra.get("nfev_curve", []), np.int64)
    return state, np.asarray(pending), curve, nfev_curve

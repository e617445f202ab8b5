"""Checkpoints of ``minimize`` runs, in the state format shared with ``ArqonSolver`` and Tune.

A checkpoint is :mod:`arqon_jax.host.state_io`'s versioned JSON with ``kind="minimize"``:
the solver state (a PyTree), the proposals already asked but not yet evaluated, and
the best-so-far curve. Writes are atomic (temporary file in the same folder, fsync,
rename, fsync of the folder), so a crash or ``kill -9`` at any moment leaves either
the previous checkpoint or the new one, never a torn file. Resuming continues exactly
where the checkpoint was taken: the PRNG key is part of the state, so the final result
equals that of an uninterrupted run with the same seed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .state_io import check_space, read_state_header, state_from_json, state_to_json

__all__ = ["atomic_write_text", "locked", "write_checkpoint", "read_checkpoint", "KIND"]

KIND = "minimize"


# Temp files are named ".<target name>.<host tag>-<pid>.<random>.tmp", so that a later
# writer can tell a leftover of a killed writer from a write in progress.
_HOST_TAG = hashlib.blake2s(socket.gethostname().encode(), digest_size=4).hexdigest()
_DEAD_WRITER_GRACE_S = 60.0  # a dead writer's temp file younger than this is left alone
_STALE_TEMP_S = 3600.0  # no write takes an hour: older temp files are leftovers, whoever wrote them


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replaces ``path`` with ``text`` atomically: temp file in the same folder, fsync, ``os.replace``.

    A crash at any point leaves either the old file or the new one, never a mix. The
    file keeps its permissions (new files get the usual umask-based mode). A symlink
    is written through: its target is replaced and the link stays. Temp files left
    next to the target by killed writers are removed.

    Raises:
        OSError: If the file cannot be written (also for a symlink loop); the old
            file is then untouched.
    """
    target = _write_target(Path(path))
    folder = target.parent
    _remove_stale_temps(target)
    mode = (target.stat().st_mode & 0o777) if target.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_HOST_TAG}-{os.getpid()}.", suffix=".tmp", dir=folder)
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
        os.replace(tmp, target)
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


@contextlib.contextmanager
def locked(path: str | os.PathLike):
    """Holds an exclusive lock on ``PATH.lock`` (POSIX; elsewhere nothing), so that processes
    reading, changing and rewriting one state file (``arqon-jax tell``) lose nothing."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    # Locked by the file a write replaces, so that a symlink and its target share one lock.
    real = Path(os.path.realpath(path))
    lock_path = real.with_name(real.name + ".lock")
    try:
        fh = open(lock_path, "a")
    except OSError:
        yield  # read-only folder: the state write fails later with its own message
        return
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_target(path: Path) -> Path:
    """The file a write to ``path`` must replace: the final target when ``path`` is a symlink.

    Replacing the link itself would turn it into a regular file, and whoever reads
    through the link would keep seeing the old content.
    """
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath stops at a loop
        raise OSError(errno.ELOOP, "too many levels of symbolic links", str(path))
    return target


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists, owned by someone else
        return True
    return True


def _remove_stale_temps(target: Path) -> None:
    """Removes temp files of earlier writes to ``target`` whose writer is gone.

    A temp file is a leftover when its writer (same host, named by pid) no longer
    runs and the file is over a minute old, or, whoever wrote it, when it is over an
    hour old. Only regular files with the exact temp name pattern are touched.
    """
    pattern = re.compile(re.escape(f".{target.name}.") + r"(?:([0-9a-f]{8})-(\d+)\.)?[a-z0-9_]{8}\.tmp")
    prefix = f".{target.name}."
    now = time.time()
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return  # the write itself reports an unusable folder
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        m = pattern.fullmatch(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        age = now - st.st_mtime
        host, pid = m.group(1), m.group(2)
        # os.kill(pid, 0) only tests for a process on POSIX (on Windows it terminates it).
        dead_writer = (
            os.name == "posix" and host == _HOST_TAG and pid is not None and int(pid) != os.getpid()
            and age > _DEAD_WRITER_GRACE_S and not _pid_alive(int(pid))
        )
        if dead_writer or age > _STALE_TEMP_S:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _config(solver, path_kind: str, checkpoint_every: int, run_key: list | None = None) -> dict:
    cfg = {
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
    if run_key is not None:
        cfg["key"] = run_key
    return cfg


def write_checkpoint(path, solver, state, pending_X, curve, nfev_curve, path_kind: str, checkpoint_every: int,
                     best: dict | None = None, run_key: list | None = None, failures: dict | None = None,
                     pending_values=None) -> None:
    """Writes a checkpoint atomically.

    Args:
        path: Where to write.
        solver: The :class:`~arqon_jax.core.solver.Solver` of the run.
        state: Its :class:`~arqon_jax.core.solver.SolverState`.
        pending_X: Unit-cube proposals asked but not yet evaluated, ``(batch, dim)``.
        curve: Best-so-far values so far, ``(nit,)``.
        nfev_curve: Evaluations after each batch so far, ``(nit,)``.
        path_kind: ``"host"`` or ``"device"`` (their states are not interchangeable).
        checkpoint_every: Batches between checkpoints (device runs chunk by it).
        best: The host path's float64 best, ``{"y": float, "values": [dim floats]}``,
            and in a finite space that the budget covers ``"seen"``, the points
            evaluated (``[[dim floats], ...]``), which a history smaller than the space
            does not all keep.
        run_key: The data of the run's initial PRNG key (from its seed), so that a
            resume with another seed is refused instead of silently ignored.
        failures: The host path's record of rows that raised (a pool, ``errors="record"``):
            ``{"n_errors": int, "retries": int, "errors": {evaluation index: message}}``.
        pending_values: The host path's user values of ``pending_X``, ``(batch, dim)``, as
            the compiled step computed them: recomputing them from ``pending_X`` outside
            that program can round differently in the last bit (XLA fuses the step's
            arithmetic), and the resumed run would then evaluate other points.
    """
    text = state_to_json(
        KIND,
        _config(solver, path_kind, checkpoint_every, run_key),
        solver.space,
        (jax.device_get(state), np.asarray(pending_X)),
        extra={"curve": np.asarray(curve, np.float64).tolist(), "nfev_curve": np.asarray(nfev_curve, np.int64).tolist(),
               "best": best, "failures": None if failures is None else {
                   "n_errors": int(failures["n_errors"]), "retries": int(failures["retries"]),
                   "errors": [[int(k), str(v)] for k, v in failures["errors"].items()]},
               "pending_values": None if pending_values is None else np.asarray(pending_values, np.float64).tolist()},
    )
    atomic_write_text(path, text)


def read_checkpoint(path, solver, path_kind: str, checkpoint_every: int, run_key: list | None = None
                    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict | None, dict | None]:
    """Reads a checkpoint written for this very problem.

    ``checkpoint_every`` may differ from the run that wrote it: it only says when
    checkpoints are written (device runs scan the same steps in other chunk lengths),
    so it does not change the result.

    Returns:
        ``(state, pending_X, curve, nfev_curve, best, failures, pending_values)``; the last
        three as given to :func:`write_checkpoint` (None for device runs, and
        ``pending_values`` None in checkpoints written before it was recorded).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: For a corrupt file, a newer format version, another search space or
            another run configuration (the message names the fields that differ).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"resume: no checkpoint at {str(path)!r}") from None
    except UnicodeDecodeError:
        raise ValueError(f"resume: {str(path)!r} is not a checkpoint (not UTF-8 text)") from None
    except IsADirectoryError:
        raise ValueError(f"resume: {str(path)!r} is a folder; name the checkpoint file") from None
    try:
        doc = read_state_header(text, KIND)
    except ValueError as exc:
        raise ValueError(f"resume: {exc}") from None
    # The space, then the configuration, are compared before the state's structure:
    # another dimension, budget or method changes the structure (and the derived batch
    # size) too, and the message should name what the user changed.
    try:
        check_space(doc, solver.space)
    except ValueError as exc:
        raise ValueError(f"resume: {exc}") from None
    config = doc["config"]
    expected = _config(solver, path_kind, checkpoint_every, run_key)
    expected.pop("checkpoint_every")
    if "key" not in config:  # written before checkpoints recorded the seed
        expected.pop("key", None)
    if config.get("path") != path_kind:
        # The path sets the batch and the budget the solver sees (the device path keeps
        # a reserve for the gradient polish): their differences follow from it.
        advice = {"host": "pass jit=False to resume it",
                  "device": "resume it with the objective that wrote it, one JAX can trace"}.get(config.get("path"))
        raise ValueError(
            f"resume: the checkpoint was written by a run on the {config.get('path')} path, this run takes the "
            f"{path_kind} path (jit=, or without it whether JAX can trace the objective, decides)"
            + (f"; {advice}" if advice else ""))
    diff = [("seed: the checkpoint was started from another seed (or key)" if k == "key" else
             f"{k}: checkpoint {config.get(k)!r}, this run {v!r}"
             + (f" (x64={config.get(k) == 'float64'} resumes it)" if k == "dtype" else "")
             + (" (set by probe_ratio, the budget, the dimension and the batch: core.solver.probe_size)"
                if k == "probe_count" else ""))
            for k, v in expected.items() if config.get(k) != v]
    if diff:
        raise ValueError("resume: the checkpoint was written by another run configuration (" + "; ".join(diff) + ")")
    # Jitted: run op by op, the strategies' init took 1.2-1.7 s (against 0.4-0.7 s to compile it);
    # the probe length as data, so budgets of one size class share the compiled init.
    template = (jax.jit(solver.init_with)(jax.random.key(0), solver.probe_count),
                np.zeros((solver.batch_size, solver.space.dim), np.dtype(solver.dtype)))
    try:
        _, (state, pending), extra = state_from_json(doc, KIND, template)  # the space was checked above
    except ValueError as exc:
        raise ValueError(f"resume: {exc}") from None
    curve = np.asarray(extra.get("curve", []), np.float64)
    nfev_curve = np.asarray(extra.get("nfev_curve", []), np.int64)
    best = extra.get("best")
    if best is not None:
        # 'y' and 'values' once a finite value was seen; 'seen' (a finite space's points
        # evaluated, checked by the host path) from the first checkpoint on.
        try:
            seen = best.get("seen") if isinstance(best, dict) else None
            best = {} if seen is not None and "y" not in best else {
                "y": float(best["y"]), "values": [float(v) for v in best["values"]]}
        except (TypeError, ValueError, KeyError, AttributeError):
            raise ValueError("resume: corrupt checkpoint: field 'best' must hold 'y' and 'values'") from None
        if seen is not None:
            best["seen"] = seen
        if "values" in best and len(best["values"]) != solver.space.dim:
            raise ValueError(f"resume: corrupt checkpoint: 'best' has {len(best['values'])} values, expected {solver.space.dim}")
    failures = extra.get("failures")
    if failures is not None:
        try:
            failures = {"n_errors": int(failures["n_errors"]), "retries": int(failures["retries"]),
                        "errors": {int(k): str(v) for k, v in failures["errors"]}}
        except (TypeError, ValueError, KeyError):
            raise ValueError("resume: corrupt checkpoint: field 'failures' must hold 'n_errors', 'retries' and "
                             "'errors'") from None
    pending_values = extra.get("pending_values")
    if pending_values is not None:
        try:
            pending_values = np.asarray(pending_values, np.float64).reshape(np.shape(pending))
        except (TypeError, ValueError):
            raise ValueError(f"resume: corrupt checkpoint: field 'pending_values' must hold {np.shape(pending)[0]} rows "
                             f"of {solver.space.dim} numbers") from None
    return state, np.asarray(pending), curve, nfev_curve, best, failures, pending_values

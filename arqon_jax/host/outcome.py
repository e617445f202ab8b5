"""Building the user-facing result of a run, shared by ``minimize`` and the CLI's demo."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from ..result import STATUS_NO_FINITE, STATUS_OK, OptimizeResult
from ..core.solver import Solver

__all__ = ["build_result"]


def build_result(solver: Solver, state, curve, nfev_curve, status: int, message: str | None, info: dict,
                  best: tuple[float, np.ndarray] | None = None) -> OptimizeResult:
    """The :class:`~arqon_jax.OptimizeResult` of a run from its final solver state.

    Args:
        solver: The bound solver that ran.
        state: Its final state.
        curve: Best value after each solver step ``(steps,)``.
        nfev_curve: Evaluations after each step ``(steps,)``.
        status: One of the ``STATUS_*`` codes of :mod:`arqon_jax.result`.
        message: The message, or ``None`` for the status's default.
        info: Path-specific details; ``batch_size`` (the solver's) is added.
        best: The host path's float64 ``(f, values (dim,))`` best, which the solver's
            dtype may have rounded; ``None`` to take the state's.
    """
    space = solver.space
    if best is None:
        best_y = float(state.best_y)
        x_unit = np.asarray(state.best_x)
        values = np.asarray(space.from_unit(jnp.asarray(x_unit)[None, :]), dtype=np.float64)
    else:
        best_y, values = best[0], np.asarray(best[1], np.float64)[None, :]
        x_unit = np.asarray(space.to_unit(jnp.asarray(values)))[0]
    x: Any = space.to_records(values)[0] if space.names is not None else values[0]
    nfev = int(state.history.count)
    finite = math.isfinite(best_y)
    if status == STATUS_OK and not finite:
        status = STATUS_NO_FINITE
    if message is None:
        message = {
            STATUS_OK: "Budget used up.",
            STATUS_NO_FINITE: "No evaluation returned a finite value.",
        }.get(status, "")
    choice = int(state.choice)
    info.setdefault("batch_size", solver.batch_size)
    return OptimizeResult(
        x=x,
        fun=best_y,
        nfev=nfev,
        nit=len(curve),
        success=status == STATUS_OK and finite,
        status=status,
        message=message,
        n_failed=int(state.history.n_failed),
        best_curve=np.asarray(curve, dtype=np.float64),
        nfev_curve=np.asarray(nfev_curve, dtype=np.int64),
        trace=solver.phase_trace(choice),
        decision=solver.decision(state),
        method=solver.method,
        x_unit=x_unit,
        info=info,
    )

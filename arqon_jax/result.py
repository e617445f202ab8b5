"""The result of :func:`arqon_jax.minimize`, with scipy / jax.scipy field names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["OptimizeResult", "OptimizationError", "OptimizationInterrupted"]

# status codes, as in scipy: 0 success; others explain why not
STATUS_OK = 0
STATUS_CALLBACK = 1
STATUS_NO_FINITE = 2
STATUS_ERROR = 3


@dataclass
class OptimizeResult:
    """What a run found and how.

    Attributes:
        x: Best parameters: an array ``(dim,)`` for array bounds, a dict for dict bounds.
            When no evaluation was finite (``fun`` is ``inf``, ``status`` 2 or a run
            stopped before one) it is the centre of the box, a placeholder of the right
            type that need not have been evaluated.
        fun: Best finite objective value (``inf`` if every evaluation failed).
        nfev: Number of objective evaluations (never more than the budget).
        nit: Number of batches (ask/tell steps).
        success: Whether a finite best value was found and the run was not cut short.
        status: 0 success, 1 stopped by the callback, 2 no finite value, 3 ``f`` raised.
        message: A sentence saying why the run stopped.
        n_failed: Evaluations that returned NaN/inf or failed.
        best_curve: Best-so-far value after each batch, ``(nit,)``.
        nfev_curve: Evaluations done after each batch, ``(nit,)``.
        trace: Phases as ``[(first evaluation, phase name), ...]``.
        decision: The classifier's decision: strategy, statistic, threshold, rule.
        method: The method that was asked for.
        x_unit: Best point in the unit cube, ``(dim,)``.
        info: Extra facts (e.g. restarts, polish, pool retries, errors).
    """

    x: Any
    fun: float
    nfev: int
    nit: int
    success: bool
    status: int
    message: str
    n_failed: int = 0
    best_curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nfev_curve: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trace: list = field(default_factory=list)
    decision: dict = field(default_factory=dict)
    method: str = "auto"
    x_unit: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        # scipy's OptimizeResult is a dict; allow res["x"] as well as res.x.
        return getattr(self, key)

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)

    def __repr__(self) -> str:
        if isinstance(self.x, dict):
            x = "{" + ", ".join(f"{k!r}: {_fmt(v)}" for k, v in self.x.items()) + "}"
        else:
            x = np.array2string(np.asarray(self.x), precision=6, max_line_width=100, threshold=20)
        lines = [
            f"  message: {self.message}",
            f"  success: {self.success}",
            f"   status: {self.status}",
            f"      fun: {_fmt(self.fun)}",
            f"        x: {x}",
            f"     nfev: {self.nfev}",
            f"      nit: {self.nit}",
            f" n_failed: {self.n_failed}",
            f"   method: {self.method}",
            f"    trace: {self.trace}",
        ]
        if self.decision:
            lines.append(f" decision: {self.decision}")
        if self.info:
            lines.append(f"     info: {self.info}")
        return "OptimizeResult(\n" + "\n".join(lines) + "\n)"

    __str__ = __repr__


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}"
    return repr(v)


class OptimizationError(RuntimeError):
    """A run that stopped on an exception, with what it had done so far.

    Raised from the original exception (``__cause__``), which is left untouched:
    an exception of ``f``, of ``callback`` or of writing a checkpoint.

    Attributes:
        partial_result: The :class:`OptimizeResult` of the evaluations done before the
            exception (status 3); its ``fun`` and ``x`` are the best so far.
    """

    def __init__(self, message: str, partial_result: OptimizeResult):
        super().__init__(f"{message} The run so far is exc.partial_result.")
        self.partial_result = partial_result


class OptimizationInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) during a run, with what it had done so far.

    A subclass of ``KeyboardInterrupt``, so code that catches Ctrl-C still does.

    Attributes:
        partial_result: The :class:`OptimizeResult` of the evaluations done before the
            interruption (status 3).
    """

    def __init__(self, message: str, partial_result: OptimizeResult):
        super().__init__(f"{message} The run so far is exc.partial_result.")
        self.partial_result = partial_result

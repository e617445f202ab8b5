"""ArqonHPO-compatible ask/tell classes: change one import line, keep the code.

``from arqon_jax import ArqonSolver, ArqonProbe`` replaces ``from arqonhpo import ...``:
the constructors take the same JSON (or dict) configuration, the methods have the same
names and return the same kinds of values (lists of parameter dicts, ``None`` when
done). Underneath, :class:`ArqonSolver` is a thin translation layer over the functional
solver (:func:`arqon_jax.make_solver`) and :class:`ArqonProbe` over the probe kernel
(:func:`arqon_jax.kronecker`).

Configuration (ArqonHPO's schema plus optional fields of ours)::

    {
      "seed": 42,                 # int in [0, 2**64), all bits used; optional here (default 0)
      "budget": 100,              # int >= 1: total evaluations (proposals + seeded points)
      "bounds": {                 # name -> {"min", "max", "scale"}; scale is "Linear" (default),
        "lr": {"min": 1e-4, "max": 0.1, "scale": "Log"},     # "Log", "Periodic", or ours:
        "layers": {"min": 1, "max": 8, "scale": "Integer"},  # "Integer" (inclusive bounds)
        "act": {"choices": ["relu", "gelu"]}                  # and categorical choices
      },
      "probe_ratio": 0.05,        # share of the budget spent probing, in (0, 1] (ArqonHPO's default: 0.2)
      "strategy_params": {},      # accepted for compatibility, not used (ArqonHPO ignores it too)
      # ours, all optional:
      "batch_size": 10,           # rows per solver step (default: default_batch_size(budget, dim, wide=False))
      "method": "auto",           # "auto" | "tpe" | "nelder-mead" | "cmaes" | "random" | "gp"
      "capacity": null,           # history rows kept (default: see arqon_jax.make_solver)
      "x64": false                # run the solver in float64 instead of float32
    }

Unknown fields are ignored with a warning (ArqonHPO ignores them silently).

Precision: the solver runs in float32 unless ``"x64": true``; told values stay float64 on
the host, and bounds float32 cannot represent or resolve switch to float64 with a warning
(see :class:`ArqonSolver`).

Differences from ArqonHPO 0.3.3 (see ``shared/reference/arqonhpo.md``), all on purpose:

* Partial tells and warm starts of any size keep working; failed evaluations (``NaN``,
  ``inf`` or ``None`` values) are recorded as failures instead of being rejected.
* The seed changes every proposal, the probe included; runs are reproducible across
  processes for the same seed and the same told values.
* Every proposal lies inside the bounds, for every scale; batches never exceed the
  remaining budget, and a point already evaluated (or handed out) is never proposed again.
* ``ask_one`` works in any phase: it hands out the rows of the solver's current batch one
  at a time, and results given back through ``seed()`` with the same parameters are
  matched to their proposal, so the solver learns from them exactly as from ``tell``.
* ``export()`` / ``ArqonSolver.from_state()`` exist (the integration guide uses them).
* Configurations are validated, with messages naming the field.

How results find their proposal: the ``k``-th proposal handed out (counting from 0
over the solver's lifetime, ``ask`` and ``ask_one`` alike) has ``eval_id == k``, the
convention of ArqonHPO's own examples. A result whose ``params`` equal a proposal still
waiting for its value is that proposal's result (a different ``eval_id`` only draws a
warning, as code written for ArqonHPO may number results its own way). Otherwise its
``eval_id`` must name a waiting proposal (then it was evaluated at other parameters and
is recorded there), else it is an error; a ``seed()`` entry or a result with neither is
a new evaluation (a warm start) and counts against the budget, as in ArqonHPO.

Batching: the solver works in steps of ``batch_size`` rows. The first ``ask()`` returns
the whole probe, like ArqonHPO; later ones return one step (fewer at the end of the
budget). ``ask_one()`` hands out the same rows one at a time. A step's results reach the
solver together when the next step is needed; rows still unreported then are left out
of it, and their late results are recorded in the history on their own. A proposed row
that repeats a recorded point is not handed out again; the strategy gets that point's
known value instead (Nelder-Mead can go on), and when steps keep bringing nothing new
(a converged strategy, a nearly exhausted discrete space) uniform random points are
proposed, until the space has none left (``None``).
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import numpy as np

from .host.config import check_int, check_seed
from .core.solver import pow2
from .host.results import record_results
from .host.session import Session
from .host.settings import SOLVER_FIELDS, config_space, load_config, solver_config, warn_unknown
from .core.probe import MAX_INDEX, check_index_range, kronecker
from .core.space import CATEGORICAL, INTEGER, LOG, Space
from .host.state_io import read_state_header

__all__ = ["ArqonSolver", "ArqonProbe"]


# -------------------------------------------------------------------- ArqonSolver
class ArqonSolver:
    """ArqonHPO's ``ArqonSolver`` API over the functional PCR solver.

    Args:
        config: JSON text or a dict (schema in the module docstring).

    Raises:
        ValueError, TypeError: For an invalid configuration, naming the field.

    Warns:
        UserWarning: When float32 cannot represent or resolve the bounds of a parameter
            (a nonzero bound below float32's smallest normal number, or fewer than 4096
            float32 values between min and max, e.g. ``(1e8, 1e8 + 100)``) and ``"x64"``
            is false: the warning names the parameter and the solver runs in float64, as
            with ``"x64": true`` (which :attr:`config` and ``export()`` then hold).
            Staying in float32 would propose a handful of distinct points, or points
            outside the bounds; refusing would break configurations ArqonHPO accepts.

    Precision: told values are kept in float64 on the host (:attr:`best`, the history
    and ``export()`` hold them as told); the solver sees them in its dtype, finite values
    beyond its range clipped to its largest finite value, never counted as failures.

    Example::

        solver = ArqonSolver(json.dumps({"seed": 0, "budget": 100,
                                         "bounds": {"x": {"min": -5, "max": 5}}}))
        while (batch := solver.ask()) is not None:
            solver.tell([{"eval_id": k, "params": p, "value": f(p)}
                         for k, p in enumerate(batch, start=solver.n_proposed - len(batch))])

    Batching, ``eval_id`` and the differences from ArqonHPO: see the module docstring.
    """

    def __init__(self, config: Any):
        cfg, space = solver_config(config)
        self._setup(cfg, space)

    # ------------------------------------------------------------ internals
    def _setup(self, cfg: dict, space: Space, restoring: bool = False) -> None:
        self._config = cfg
        self._space = space
        self._session = Session(
            space, seed=cfg["seed"], budget=cfg["budget"], batch_size=cfg["batch_size"], method=cfg["method"],
            probe_ratio=cfg["probe_ratio"], capacity=cfg["capacity"], x64=cfg["x64"], _restoring=restoring,
        )
        self._names = space.names
        self._dim = space.dim
        self._plain = not any(sc in (INTEGER, CATEGORICAL) for sc in space.scales)

    @property
    def _remaining(self) -> int:
        return self._session.remaining

    def _records(self, V: np.ndarray) -> list[dict]:
        if self._plain:  # only continuous parameters: values are the floats themselves
            return [dict(zip(self._names, row)) for row in np.asarray(V, np.float64).tolist()]
        return self._space.to_records(V)

    def _next(self, n_max: int, all_probe: bool) -> list[dict]:
        out = self._session.propose(n_max, all_probe=all_probe)
        return self._records(np.stack([v for _, v in out])) if out else []

    # ------------------------------------------------------------ ArqonHPO API
    def ask(self) -> list[dict] | None:
        """The next batch of candidates, or ``None`` when the budget is spent.

        Returns:
            A list of parameter dicts (``{name: value}``; ints for integer parameters,
            the choice itself for categorical ones), never more than the remaining
            budget. The ``k``-th candidate handed out has ``eval_id == k``.
        """
        if self._remaining <= 0:
            return None
        return self._next(self._remaining, all_probe=True) or None

    def ask_one(self) -> dict | None:
        """One candidate, or ``None`` when the budget is spent; works in any phase.

        Report it back with ``tell`` (with its ``eval_id``) or ``seed`` (matched by its
        parameters): either way the solver learns from it like from a batch result.
        """
        if self._remaining <= 0:
            return None
        out = self._next(1, all_probe=False)
        return out[0] if out else None

    def tell(self, results: Any) -> None:
        """Records results: a list (or JSON text) of ``{"eval_id", "params", "value", "cost"}``.

        ``value`` may be ``None``, NaN or infinite: a failed evaluation. A result is
        matched to its proposal by ``params`` or, failing that, by ``eval_id`` (see the
        module docstring); ``cost`` is accepted and ignored. Any subset of a batch may be
        told, in any order, also after later asks. Nothing is recorded if any entry is
        invalid.

        Raises:
            ValueError, TypeError: For an unknown ``eval_id``, parameters outside the
                space, a missing ``value``, or malformed input (naming the entry).
        """
        record_results(self._session, results, "results", allow_eval_id=True)

    def seed(self, points: Any) -> None:
        """Records evaluations given as a list (or JSON text) of ``{"params", "value", "cost"}``.

        An entry whose parameters equal a proposal still waiting for its value is that
        proposal's result (the ``ask_one`` + ``seed`` pattern); any other entry is a warm
        start: recorded in the history and counted against the budget, as in ArqonHPO.
        """
        record_results(self._session, points, "points", allow_eval_id=False)

    def get_history_len(self) -> int:
        """Number of results recorded (told and seeded)."""
        return self._session.n_results

    # ---------------------------------------------------------------- extras
    @property
    def n_proposed(self) -> int:
        """Candidates handed out so far (the next one gets this ``eval_id``)."""
        return self._session.n_handed

    @property
    def budget_left(self) -> int:
        """Evaluations left: budget minus proposals handed out and warm-start points."""
        return max(0, self._remaining)

    @property
    def config(self) -> dict:
        """The normalized configuration (every field filled in)."""
        return copy.deepcopy(self._config)

    @property
    def decision(self) -> dict:
        """The refine strategy chosen from the probe, and why, as ``minimize``'s ``result.decision``.

        A dict with ``strategy`` and ``statistic`` (``None`` until the first ``ask``
        after the probe's points were handed out, which classifies the probe on the
        results told by then: tell them first), ``statistic_name``, ``threshold`` and
        ``rule`` (the configuration rule that picked the candidate strategies, e.g. why
        the GP or TPE); ``{}`` for ``method="random"``, which has no probe.
        """
        return self._session.decision

    @property
    def best(self) -> dict | None:
        """The best result recorded so far, or ``None`` while no finite value was told.

        A dict ``{"params", "value", "eval_id"}``: ``value`` is the float64 value told
        for ``params`` (not the solver's rounded copy; a finite value beyond float64 is
        clipped to its largest finite value); ``eval_id`` is the proposal it answered,
        ``None`` for a warm start. Failed evaluations (``None``, NaN, +-inf) never count;
        on a tie the earlier result stays. It never gets worse.
        """
        if self._session.best is None:
            return None
        value, key, eid = self._session.best
        return {"params": self._records(np.asarray([key], np.float64))[0], "value": value, "eval_id": eid}

    def export(self) -> str:
        """Everything needed to continue, as versioned JSON text.

        ``ArqonSolver.from_state(solver.export())`` continues with exactly the proposals
        this object would make (bit for bit, in any process).
        """
        return self._session.to_json("ArqonSolver", self._config)

    @classmethod
    def from_state(cls, state: str) -> "ArqonSolver":
        """Rebuilds a solver from :meth:`export`'s text.

        Every field is checked against the invariants the solver relies on (counters
        within the budget and above every handed-out ``eval_id``, each ``eval_id``
        waiting once, arrays of the right dtype and shape, points inside the space), so
        a hand-edited state is refused instead of handing out colliding ids or points.

        Raises:
            ValueError: If the text is corrupt (``state: corrupt <field>: ...``), not an
                arqon_jax ArqonSolver state, or written by a newer version.
        """
        doc = read_state_header(state, "ArqonSolver")
        try:
            cfg, space = solver_config(doc["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state: corrupt config: {exc}") from None
        obj = cls.__new__(cls)
        obj._setup(cfg, space, restoring=True)
        obj._session.load(doc, "ArqonSolver")
        return obj

    # ------------------------------------------------------------- recording
    def __reduce__(self):
        # Pickling (Ray Tune pickles searchers, copy.deepcopy) goes through export(), so
        # a copy continues exactly like the original.
        return (ArqonSolver.from_state, (self.export(),))

    def __repr__(self) -> str:
        c = self._config
        return (
            f"ArqonSolver(budget={c['budget']}, dim={self._dim}, batch_size={c['batch_size']}, method={c['method']!r}, "
            f"proposed={self._session.n_handed}, results={self._session.n_results})"
        )


# --------------------------------------------------------------------- ArqonProbe
class ArqonProbe:
    """ArqonHPO's stateless probe: point ``i`` of a Kronecker sequence, from the index alone.

    Args:
        config: JSON text or dict with ``bounds`` (as for :class:`ArqonSolver`); other
            ArqonHPO fields (``seed``, ``budget``, ...) are accepted and ignored, as in
            ArqonHPO, and may be absent.
        seed: The sequence's seed, an integer in ``[0, 2**64)`` (ArqonHPO's
            ``frac(seed / pi)`` offset, computed in float64 as ArqonHPO does, so seeds
            above ``2**53`` that round to the same float share it; ``shift=True`` also
            uses all 64 bits exactly).
        shift: ``False`` (default) gives ArqonHPO 0.3.3's sequence, so a sharded sweep
            started with ``arqonhpo.ArqonProbe`` can be continued with this one.
            ``True`` adds our seed-derived Cranley-Patterson shift per dimension: with
            ArqonHPO's formula alone, seeds only move every dimension by the same
            ``frac(seed / pi)``, so their sequences are translates of each other.

    Values match ArqonHPO's to rounding: ours come from an exact fixed-point product, its
    from float64 arithmetic, which differ by about ``i * 1e-16`` relative (``~1e-10`` at
    ``i = 10**6``). Every call runs one kernel for its whole range.
    """

    def __init__(self, config: Any, seed: int = 42, *, shift: bool = False):
        cfg = load_config(config)
        warn_unknown(cfg, SOLVER_FIELDS, "ArqonProbe")
        self._space = config_space(cfg)
        self.seed = check_seed(seed)
        if not isinstance(shift, bool):
            raise TypeError(f"shift: expected a bool, got {shift!r}")
        self.shift = shift
        sp = self._space
        self._lo = np.asarray(sp.low, np.float64)
        self._hi = np.asarray(sp.high, np.float64)
        sc = np.asarray(sp.scales)
        self._is_log = sc == LOG
        self._is_disc = np.isin(sc, (INTEGER, CATEGORICAL))
        self._loglo = np.log(np.where(self._is_log, self._lo, 1.0))
        self._loghi = np.log(np.where(self._is_log, self._hi, 2.0))

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in sorted order: the columns of :meth:`sample_array`."""
        return self._space.names

    @property
    def space(self) -> Space:
        return self._space

    def _unit(self, start: int, count: int) -> np.ndarray:
        start, count = check_int("start", start, 0), check_int("count", count, 0)
        check_index_range(start, count)
        if count == 0:
            return np.zeros((0, self._space.dim), np.float64)
        # Pad the (static) count to a power of two so that ranges of any length share a
        # few compiled kernels; float64 so that values match ArqonHPO's.
        padded = pow2(count) if start + pow2(count) <= MAX_INDEX else count
        with jax.enable_x64(True):
            U = kronecker(start, padded, self._space.dim, seed=self.seed, shift=self.shift, dtype=np.float64)
            return np.asarray(U)[:count]

    def sample_array(self, start: int, count: int, *, unit: bool = False) -> np.ndarray:
        """Points ``start .. start + count - 1`` as one array, for large ranges.

        Args:
            start: First index (``>= 0``).
            count: Number of points.
            unit: Return unit-cube coordinates instead of parameter values.

        Returns:
            float64 ``(count, dim)``, columns in :attr:`names` order (categorical
            parameters as choice indexes).
        """
        U = self._unit(start, count)
        if unit:
            return U
        # ArqonHPO's own formulas and operation order (not Space.from_unit's), so that
        # the values match its float64 results to the last bit wherever u does.
        lin = self._lo + U * (self._hi - self._lo)
        logv = np.exp(self._loglo + U * (self._loghi - self._loglo))
        k = self._hi - self._lo + 1.0
        disc = self._lo + np.minimum(np.floor(U * k), k - 1.0)
        out = np.where(self._is_log, logv, np.where(self._is_disc, disc, lin))
        # exp may round a hair past a bound; ArqonHPO would return that, we stay inside.
        return np.clip(out, self._lo, self._hi)

    def sample_range(self, start: int, count: int) -> list[dict]:
        """Points ``start .. start + count - 1`` as parameter dicts (``[j] == sample_at(start + j)``)."""
        return self._space.to_records(self.sample_array(start, count))

    def sample_at(self, index: int) -> dict:
        """Point ``index`` as a parameter dict."""
        return self.sample_range(check_int("index", index, 0), 1)[0]

    def __repr__(self) -> str:
        return f"ArqonProbe(names={list(self.names)}, seed={self.seed}, shift={self.shift})"

"""The functional PCR solver: probe, classify, refine, as pure functions over one state.

``make_solver(space, budget, batch_size, ...)`` fixes every static size and returns a
:class:`Solver` of pure functions:

* ``init(key) -> SolverState``
* ``ask(state) -> (X_unit (batch, dim), state)``
* ``tell(state, X_unit, y, valid=None) -> state``: ``y`` are the objective values of
  the rows of the last ``ask`` (non-finite values count as failures), ``valid`` marks
  the rows that were evaluated (the budget may cut the last batch).
* ``observe(state, X_unit, y, valid=None) -> state``: records evaluations that were not
  asked for (warm starts), without advancing a strategy.

Phases:

1. **Probe**: the first ``probe_count`` evaluations (``probe_ratio`` of the budget,
   at least ``PROBE_PER_DIM`` per dimension, in whole batches: :func:`probe_size`)
   are points of the seeded Kronecker sequence.
2. **Classify**: at the first ``ask`` after the probe, the rank fitness-distance
   correlation of the probe values (:mod:`arqon_jax.core.classify`) picks the refine
   strategy (``method="auto"``) or is only recorded (forced methods).
3. **Refine**: the chosen strategy's ``ask``/``tell``, selected with ``lax.switch``.

All functions are traceable: they run under ``jit``, ``vmap`` (e.g. over keys) and
``lax.scan``, and a built solver is cached per geometry (dimension, discrete levels,
periodic and categorical dimensions), so spaces that differ only in bound values share
its functions and compiled code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .classify import STRUCTURED_THRESHOLD, rank_fdc
from .validate import check_fraction, check_int, check_real
from .history import History, history_init, history_insert, sanitize
from .probe import ProbePlan, kronecker_offsets_from_key, probe_core
from .space import Space
from .strategies import check_options, history_rows, make_strategy
from .strategies.base import Geometry, Strategy
from .strategies.cmaes import default_lambda
from .strategies.gp import N_MODEL
from .strategies.quadratic import MAX_DIM as QUAD_MAX_DIM, models

__all__ = ["SolverState", "Solver", "make_solver", "METHODS", "PROBE_RATIO", "PROBE_PER_DIM", "SMALL_BATCH", "probe_size",
           "check_method", "default_batch_size"]

METHODS = ("auto", "tpe", "nelder-mead", "random", "cmaes", "gp")
NM_EVALS_PER_DIM = 100
# default_batch_size's batch below auto's CMA-ES switch (measured there): at every such
# budget up to SMALL_BATCH_MAX_DIM dimensions, above it (to 16-D) up to
# SMALL_BUDGET_PER_DIM evaluations per dimension, the budgets measured there.
SMALL_BATCH = 5
SMALL_BATCH_MAX_DIM = 10
SMALL_BUDGET_PER_DIM = 25
# From this dimension on, auto leaves Nelder-Mead out where TPE has its quadratic rows.
NM_QUAD_MIN_DIM = 5
# auto picks CMA-ES once the refine budget reaches max(CMAES_EVALS_PER_DIM * dim,
# CMAES_MIN_REFINE) (see make_solver and benchmarks/results/auto_cmaes_rule.md).
CMAES_EVALS_PER_DIM = 40
CMAES_MIN_REFINE = 400
# The same for spaces where TPE carries its quadratic rows (strategies.quadratic.models)
# (see make_solver and benchmarks/results/auto_rule_bbob.md).
QUAD_CMAES_EVALS_PER_DIM = 100
QUAD_CMAES_MIN_REFINE = 1000
# auto refines with the GP in spaces with categorical and continuous dimensions and no
# conditional ones up to this budget (see make_solver and
# benchmarks/results/tune_func2c_direct_100.md).
GP_AUTO_MAX_BUDGET = N_MODEL
_PROBE_BUFFER_MAX = 512
#: Default history rows of a solver whose strategies read only the best few (CMA-ES).
SMALL_CAPACITY = 64
#: Default share of the budget for the probe (the initial design), every front door's.
PROBE_RATIO = 0.05
#: Least probe points per dimension (at most half the budget), whatever the ratio.
PROBE_PER_DIM = 2
# ArqonHPO probes 20% of the budget. Measured with auto's other defaults on BBOB
# (benchmarks/results/bbob_small_10inst.md, "the probe's share"; runs compared in
# pairs with the same seed, better / worse): 10-D at budget 200 (24 functions x
# instances 1-30), 2 dim = 20 points (10%) against 40 (20%): 386 / 274; 10 points
# (5%) 369 / 290; 5-D at 100 (instances 1-20), 10 points against 20: 220 / 208.
# TPE's model-screened and quadratic rows explore more usefully than further
# space-filling points, mostly on the smooth functions. On the seed's Tune benchmark
# (Rastrigin 10-D, 100 samples, batches of 4; a Ray-free harness, 20 seeds) the
# share alone went the other way: median best 56.3 with 20 points, 59.6 with 12,
# 66.2 with 8, hence the floor of 2 dim points, which gives 20 there. Large budgets
# take the 5% (budget 10^4 dim, 24 functions x 3 instances, solved to 1e-8: 10-D 50
# of 72 against 49 with 20%, 20-D 43 against 44; large_budget_bbob_d10.md, _d20.md).


def check_method(method: Any, *, any_case: bool = False) -> str:
    """Validates a method name (one of ``METHODS``; ``any_case``: in any case) and returns it.

    Raises:
        TypeError: For a value that is not a string, naming ``method``.
        ValueError: For a string that names no method.
    """
    if not isinstance(method, str):
        raise TypeError(f"method: expected a string, one of {list(METHODS)}; got {type(method).__name__} {method!r}")
    name = method.lower() if any_case else method
    if name not in METHODS:
        hint = f" (names are lower case: {method.lower()!r})" if method.lower() in METHODS else ""
        raise ValueError(f"method: unknown method {method!r}; expected one of {list(METHODS)}{hint}")
    return name


class SolverState(NamedTuple):
    """Everything the solver knows (a PyTree of arrays).

    Attributes:
        key: PRNG key, split at every ask.
        history: Fixed-capacity :class:`~arqon_jax.core.history.History`.
        best_x: Best point so far in the unit cube, ``(dim,)``.
        best_y: Best finite value so far (``+inf`` if none).
        n_asked: Rows proposed so far (int32); drives the probe index.
        last_probe: Whether the last ask was a probe batch.
        choice: Index of the refine strategy in use (-1 before classification).
        statistic: The classifier statistic (NaN before classification).
        probe_X: The first probe points ``(K, dim)``, for the classifier.
        probe_y: Their values ``(K,)``.
        probe_n: How many of them are filled (int32).
        probe_offsets: uint32 ``(2, dim)`` Kronecker offsets derived from the key.
        spice_key: Key for the probe's random points.
        refine: One state per refine strategy, in ``Solver.strategy_names`` order.
        steps: Number of tells (int32).
        probe_count: Rows of the probe (int32): data, not a compiled constant, so
            budgets that share the solver's shapes share its compiled programs.
    """

    key: jax.Array
    history: History
    best_x: jax.Array
    best_y: jax.Array
    n_asked: jax.Array
    last_probe: jax.Array
    choice: jax.Array
    statistic: jax.Array
    probe_X: jax.Array
    probe_y: jax.Array
    probe_n: jax.Array
    probe_offsets: jax.Array
    spice_key: jax.Array
    refine: tuple
    steps: jax.Array
    probe_count: jax.Array


@dataclass(frozen=True)
class Solver:
    """A built solver: static configuration plus pure ``init``/``ask``/``tell``."""

    space: Space
    budget: int
    batch_size: int
    method: str
    probe_count: int
    capacity: int
    threshold: float
    strategy_names: tuple[str, ...]
    dtype: Any
    init: Callable
    ask: Callable
    tell: Callable
    observe: Callable
    whole_batch: tuple[bool, ...] = ()  # per strategy: Strategy.whole_batch
    rule: str = ""  # how the strategy is chosen (see decision)
    init_with: Callable | None = None  # init(key, probe_count): the compiled form shared across budgets

    def decision(self, state: "SolverState") -> dict:
        """The strategy choice of a run as one record: strategy, statistic, threshold, rule.

        Empty when the solver has no probe (``method="random"``): nothing is classified.
        ``strategy`` and ``statistic`` are ``None`` until the probe is classified.
        """
        if not self.probe_count:
            return {}
        choice = int(state.choice)
        return {
            "strategy": self.strategy_names[choice] if choice >= 0 else None,
            "statistic": float(state.statistic) if choice >= 0 else None,  # None, not NaN: JSON
            "statistic_name": "rank fitness-distance correlation of the probe",
            "threshold": self.threshold,
            "rule": self.rule,
        }

    @property
    def n_batches(self) -> int:
        """Batches of the budget, ``ceil(budget / batch_size)`` (the last one cut to the budget)."""
        return -(-self.budget // self.batch_size)

    def phase_trace(self, choice: int) -> list[tuple[int, str]]:
        """Segments ``(first evaluation, phase)`` of a run, for results."""
        trace = []
        if self.probe_count:
            trace.append((0, "probe"))
        if self.probe_count < self.budget and choice >= 0:
            trace.append((self.probe_count, self.strategy_names[choice]))
        return trace


def default_batch_size(budget: int, dim: int | None = None, *, wide: bool = True) -> int:
    """The default batch size of ``minimize``.

    ``wide=True``: ``budget // 50`` within ``[10, 4096]``, for where a wide batch costs
    little more than a narrow one (an accelerator, a pool of workers): the loop runs
    ~50 steps. ``wide=False`` (``dim`` given): where every evaluation costs the same
    in any batch (a host objective, a JAX objective on the CPU), the batch is chosen
    for generations: ``budget // (50 dim)`` within ``[max(10, lambda), 4096]``
    (``lambda = 4 + floor(3 ln dim)``, CMA-ES's default population), about ``40 dim``
    refine steps; below ``auto``'s switch to CMA-ES (a refine budget, with that batch,
    under ``max(100 dim, 1000)``: solver budgets up to 1059 in 2-D to 10-D; ``minimize``
    applies the rule to the budget left after a polish reserve), where ``auto``
    refines with TPE and its quadratic model rows (or Nelder-Mead), 5, so the model and
    its trust region are updated twice as often: up to 10-D at every such budget, in
    11-D to 16-D up to ``25 dim`` (budgets above were not measured there). Measured
    on BBOB with ``auto`` (24
    functions, instances 1-30 paired, 5-D at budget 100 / 10-D at 200; per function
    Wilcoxon p < 0.05): batch 5 against 10 better on 11 / 12 functions (f2, f8-f14,
    f19 among them, medians down 1.4-11x), worse on 0 / 2 (f7, f17 in 10-D); runs
    better / worse 457 / 203 and 434 / 226. Batch 3: 5-D better still, 10-D worse
    than 5 (runs 312 / 348). Forced methods, instances 1-10, batch 5 against 10:
    Nelder-Mead better on 7 / 9 functions, worse on 0 / 0; CMA-ES better on 2 / 4,
    worse on 0 / 1. Larger budgets, ``auto``, instances 1-10 paired, batch 5 against
    the wider rule's 10 (``benchmarks/results/bbob_batch5_300_paired.md``,
    ``bbob_batch5_1000_paired.md``): 5-D / 10-D at budget 300 better on 9 / 9
    functions, worse on 1 / 0 (runs 145 / 75, 138 / 82); at 1000 better on 4 / 6,
    worse on 1 / 2 (runs 119 / 73, 129 / 88), 2-D better on 3, worse on 0, at twice
    the optimizer time per evaluation (10-D at 1000: 4.9 against 2.2 ms). Not
    measured with batch 5: 11-D to 16-D above ``25 dim`` (a 16-D run at 1000 took
    minutes per function), ``method="gp"`` (about 4 minutes per function and 10
    instances here).
    Measured on BBOB 10-D at budget ``10^5`` in float64
    (``benchmarks/results/large_budget_bbob_d10_batches.md``): batch 100 / 200 / 400 /
    2000 solve 46 / 50 / 44 / 13 of 72 problems; 20-D at ``2 10^5``: batch 200 / 400
    solve 16 / 14 of 24.

    Args:
        budget: Total evaluations, ``>= 1``.
        dim: Number of dimensions (required with ``wide=False``).
        wide: Whether wide batches are nearly free.

    Returns:
        The batch size, at most ``budget``.

    Raises:
        TypeError: A non-integer ``budget`` or ``dim``, a non-bool ``wide``, or
            ``wide=False`` without ``dim``.
        ValueError: ``budget`` or ``dim`` below 1.
    """
    budget = check_int("budget", budget, 1)
    if not isinstance(wide, (bool, np.bool_)):
        raise TypeError(f"wide: expected a bool, got {wide!r}")
    if dim is not None:
        dim = check_int("dim", dim, 1)
    if wide:
        return int(min(budget, max(10, min(4096, budget // 50))))
    if dim is None:
        raise TypeError("dim: required with wide=False")
    low = max(10, default_lambda(dim))
    batch = int(min(budget, max(low, min(4096, budget // (50 * dim)))))
    if dim <= QUAD_MAX_DIM:
        # Up to where ``auto`` would switch to CMA-ES with this batch (make_solver's rule for
        # spaces with quadratic rows); a batch of 5 holds no CMA-ES population, so past the
        # switch the batch above stays.
        refine = budget - probe_size(budget, batch, dim)
        below_switch = refine < max(QUAD_CMAES_EVALS_PER_DIM * dim, QUAD_CMAES_MIN_REFINE)
        if below_switch and (dim <= SMALL_BATCH_MAX_DIM or budget <= SMALL_BUDGET_PER_DIM * dim):
            return int(min(budget, SMALL_BATCH))
    return batch


def make_solver(
    space: Space,
    budget: int,
    batch_size: int,
    *,
    method: str = "auto",
    probe_ratio: float = PROBE_RATIO,
    capacity: int | None = None,
    anchors: tuple[str, ...] = ("center",),
    spice: float = 0.1,
    threshold: float = STRUCTURED_THRESHOLD,
    strategy_options: tuple = (),
    conditional: bool = False,
) -> Solver:
    """Builds (or fetches from the cache) a solver for one problem shape.

    Args:
        space: The search space.
        budget: Total evaluations.
        batch_size: Rows per ask.
        method: One of ``METHODS``.
        probe_ratio: Share of the budget for the probe, in ``(0, 1]`` (see
            :func:`probe_size`).
        capacity: History rows; defaults to the power of two ``>= budget`` within
            ``[512, 2048]`` (buckets: nearby budgets share compiled programs), or
            the rows the strategies read when every strategy reads only a bounded
            number of best rows (CMA-ES alone: at least ``SMALL_CAPACITY`` (64); the
            GP: its ``n_model`` rows, or the power of two ``>= budget`` when smaller,
            at most 2048: see :func:`~arqon_jax.core.strategies.history_rows`). A
            larger value than ``max(pow2(budget), 512)`` is reduced to it: the history
            never holds more than the budget.
        anchors: Probe anchors, a sequence of ``"min"`` and ``"center"``.
        spice: Share of uniform random points in the probe, in ``[0, 0.5]``.
        threshold: Rank-FDC threshold above which ``auto`` picks Nelder-Mead.
        strategy_options: Keyword options of the strategies' factories,
            ``{strategy_name: {option: value}}`` or the same as ``(name, value)`` pairs
            (:func:`~arqon_jax.core.strategies.check_options`).
        conditional: Whether some dimensions are the parameters of a choice's
            branches, unused by the points that choose another branch (a Tune space
            with conditional parameters): ``auto`` then refines with TPE, not the GP.

    Raises:
        ValueError, TypeError: For invalid arguments, naming them.
    """
    if not isinstance(space, Space):
        raise TypeError(f"space: expected a Space, got {type(space).__name__}")
    if not isinstance(conditional, (bool, np.bool_)):
        raise TypeError(f"conditional: expected a bool, got {type(conditional).__name__}")
    budget = check_int("budget", budget, 1, 2**31 - 2**25)
    batch_size = check_int("batch_size", batch_size, 1, budget)
    check_method(method)
    probe_ratio, anchors, spice, threshold, strategy_options = check_settings(
        probe_ratio, anchors, spice, threshold, strategy_options, batch_size)
    if method == "nelder-mead" and budget < 4:
        raise ValueError(f"budget: method='nelder-mead' needs budget >= 4 (a batch of 4 rows), got {budget}")
    if method == "nelder-mead" and batch_size < 4:
        raise ValueError(f"batch_size: method='nelder-mead' needs batch_size >= 4, got {batch_size}")
    geometry = Geometry.from_space(space)
    if method == "random":
        probe_count = 0
    else:
        probe_count = probe_size(budget, batch_size, space.dim, probe_ratio)
    refine = budget - probe_count
    # Measured (benchmarks/results/auto_rule.md): up to 50 refine evaluations per dimension
    # TPE beats batched Nelder-Mead on smooth and rugged functions alike, so ``auto`` does
    # not even consider Nelder-Mead below NM_EVALS_PER_DIM per dimension. Those runs
    # predate TPE's quadratic rows; with them (benchmarks/results/auto_rule_bbob.md: the
    # 24 BBOB functions, 5 instances, each strategy forced, default arguments otherwise)
    # TPE alone has the best median on 18 / 20 functions of 24 at budget 500 and 13 / 14
    # at 1000 in 5-D / 10-D, Nelder-Mead on 2-3 (CMA-ES 2-7), so where the rows model a
    # space of NM_QUAD_MIN_DIM or more dimensions ``auto`` does not consider Nelder-Mead.
    # In 2-D the three split (TPE / Nelder-Mead / CMA-ES: 4 / 4 / 2 at budget 1000, 2 / 3
    # / 3 at 2000): there the statistic decides as before.
    quad = models(geometry)
    nm_worth_it = (batch_size >= 4 and refine >= NM_EVALS_PER_DIM * space.dim
                   and not (quad and space.dim >= NM_QUAD_MIN_DIM))
    # Measured (benchmarks/results/auto_cmaes_rule.md: TPE, Nelder-Mead and CMA-ES forced
    # after the same probe, 5 shifted functions, 2/5/10-D, budgets 20 dim .. 10^5, default
    # batch): in 5-D and 10-D CMA-ES wins 4 of 5 functions at budget 500 (refine 400) and
    # 34 of 35 cells from 1000 on; in 2-D it wins everything from 3000 on, while
    # Nelder-Mead is still better on 3 of 5 at 400-1000 (by gaps below 1e-4, which the
    # gradient polish removes on smooth functions); with smaller budgets TPE or
    # Nelder-Mead win. Of the rules "refine >= max(K dim, M)" scanned (K 20-100, M
    # 0-1600) K <= 40, M = 400 agrees best with the winners (120 of 135 cells). Hence:
    # CMA-ES alone (the classifier's statistic is still recorded) once the refine budget
    # reaches max(40 dim, 400) and a batch holds a default population; the per-dimension
    # part is an extrapolation beyond 10-D. Not with categorical dimensions: CMA-ES would
    # treat choice indexes as ordered, TPE models them (a design choice, not measured).
    # Those runs, too, predate the quadratic rows: on BBOB (auto_rule_bbob.md) TPE with
    # them beats CMA-ES on most functions at budgets 500 and 1000 in 5-D and 10-D, so
    # where they model the space the switch moves to max(100 dim, 1000) refine
    # evaluations (budget 1060 in 5-D and 10-D on the host path; a JAX objective's polish
    # reserve comes off the solver's budget first): the measured budgets lie below it,
    # and above it CMA-ES is kept as before (where the two cross is not measured).
    per_dim, least = ((QUAD_CMAES_EVALS_PER_DIM, QUAD_CMAES_MIN_REFINE) if quad
                      else (CMAES_EVALS_PER_DIM, CMAES_MIN_REFINE))
    cmaes_from = max(per_dim * space.dim, least)
    # Finite spaces: Nelder-Mead and CMA-ES snap their continuous steps to the grid and
    # repeat points, while TPE proposes new points only while there are any (its reserve
    # of uniform candidates). A 10 x 10 integer space at budget 300: Nelder-Mead
    # evaluated 34 distinct points and missed the minimum, TPE covered the space in 110
    # evaluations. So Nelder-Mead is left out of every finite space (10 x 31 grid at
    # budget 309, just short of the space: 45-65 distinct points, minimum missed on 2 of
    # 4 seeds), and CMA-ES out of one that the budget covers.
    finite = space.n_points is not None
    covered = finite and space.n_points <= budget
    nm_worth_it = nm_worth_it and not finite
    auto_cmaes = (method == "auto" and batch_size >= default_lambda(space.dim) and not any(geometry.categorical)
                  and refine >= cmaes_from and not covered)
    # Measured (tune_searchers.py --direct, Tune's order with 2 trials live, default
    # arguments otherwise; benchmarks/results/tune_func2c_direct_100.md, _func3c_, _svm_):
    # in spaces that mix categorical and continuous dimensions the GP finds what TPE
    # misses. CoCaBO's Func2C / Func3C (Ru et al. 2020), median best of 10 seeds at 100
    # samples, minima -0.2063 / -0.7221: GP -0.2062 / -0.7218, TPE -0.1212 / 0.0229
    # (Optuna's GP -0.1874 / -0.4848); at 250 samples (5 seeds) -0.2063 / -0.7221
    # against -0.2058 / -0.1394. The SVC task: the 0.02393 plateau on 39 of 40 seeds
    # against 25 (medians tie). TPE's densities are per dimension: a category that is
    # best only in a small region of the continuous dimensions never fills its good set,
    # while the GP's kernel carries the trend across both. Up to GP_AUTO_MAX_BUDGET
    # evaluations, where the GP's n_model rows hold the whole history (measured at 100
    # and 250), and not with a larger history (an open-ended Tune search's), nor in a
    # finite space (not measured). Not in a conditional space either
    # (tune_func2c_cond_direct_100.md: Func2C's first term a choice of branches with
    # their own parameters, 30 seeds): TPE's median -0.0907, within 0.013 of the minimum
    # on 7 seeds, the GP's -0.0019 and none; an unchosen branch's parameters are noise to
    # the GP's kernel (setting them to the cube's centre before the fit: -0.0478 over 10
    # seeds, none near the minimum either).
    cap_arg = None if capacity is None else check_int("capacity", capacity, 1)
    gp_space = (method == "auto" and any(geometry.categorical) and not finite and budget <= GP_AUTO_MAX_BUDGET
                and (cap_arg is None or cap_arg <= GP_AUTO_MAX_BUDGET))
    auto_gp = gp_space and not conditional
    # Measured (benchmarks/results/bbob_small_with_arqonhpo.md: the 24 BBOB functions,
    # default arguments, mean rank of the median f - f* among gp, tpe, NGOpt, Optuna TPE
    # and random): the GP beat TPE without its quadratic step (5-D/100: 2.52 vs 2.77;
    # 10-D/200: 2.52 vs 2.85), mostly on smooth functions, which the quadratic step now
    # gives TPE too (benchmarks/results/bbob_small.md). ``auto`` refines continuous spaces
    # with TPE: the GP's ask compiles for 4-5 s on this CPU against the library's 3 s
    # start-up goal, and costs 10-50x TPE's time per evaluation.
    wanted = []
    if (method == "auto" and nm_worth_it and not auto_cmaes and not auto_gp) or method == "nelder-mead":
        wanted.append("nelder-mead")
    if method == "tpe" or (method == "auto" and not auto_cmaes and not auto_gp):
        wanted.append("tpe")
    if method == "random":
        wanted.append("random")
    if method == "gp" or auto_gp:
        wanted.append("gp")
    if method == "cmaes" or auto_cmaes:
        wanted.append("cmaes")
    if capacity is None:
        opts = dict(strategy_options)
        rows = [history_rows(name, dict(opts.get(name, ()))) for name in wanted]
        if rows and None not in rows:
            # Strategies that read only the best few rows (CMA-ES) do not pay for a full
            # history: merging a batch of 4096 into 2048 rows costs 0.3 ms per batch on this
            # CPU, a sixth of a 10-D CMA-ES step; 64 rows also cover the polish's and the
            # result's reads (at most 10), and keep the same best rows as any larger buffer.
            # The GP's posterior costs O(rows^2) per candidate whether the rows hold
            # points or not (its fit only the quarters that do), so its history is the
            # budget's power of two, from 64 up to its n_model rows (a 5-D GP at budget
            # 100, batch 4, before the fit was sized by the history: 37 ms per evaluation
            # with 128 rows, 160-190 ms with 256), at the cost of a compile per power of two, and never
            # above the 2048 rows of the other strategies' default (a larger n_model
            # would ask for a Cholesky as large as the budget).
            if "gp" in wanted:
                capacity = min(max(SMALL_CAPACITY, pow2(max(rows))), max(pow2(budget), SMALL_CAPACITY), 2048)
            else:
                capacity = min(max(SMALL_CAPACITY, pow2(max(rows))), max(pow2(budget), 512))
        else:
            # Bucketed (512, 1024, 2048) so that every budget up to 512 shares one compiled
            # solver; a mostly empty buffer costs little (masked rows, sorted once per batch).
            capacity = min(max(pow2(budget), 512), 2048)
    else:
        # More rows than the budget can fill only cost memory and time (a capacity of 1e8
        # rows took 19 GB): the power of two >= budget keeps every evaluation. Never below
        # 512, so that every default capacity, passed back explicitly (a restored Tune
        # searcher, a checkpoint), builds the same solver.
        capacity = min(cap_arg, max(pow2(budget), 512))
    if method != "auto":
        rule = f"forced by method={method!r}"
    elif probe_count >= budget:
        rule = f"probe only: the probe takes the whole budget ({budget}), so no strategy refines"
    elif auto_cmaes:
        rule = (f"cmaes: the refine budget ({refine}) reaches max({per_dim} per dimension, "
                f"{least}) = {cmaes_from} and a batch holds a CMA-ES population")
    elif auto_gp:
        rule = (f"gp: categorical and continuous dimensions and a budget ({budget}) of at most "
                f"{GP_AUTO_MAX_BUDGET}; the GP models a category's effect across the continuous dimensions, "
                "TPE's per-dimension densities do not")
    elif covered:
        rule = (f"tpe: a finite space of {space.n_points} points, which the budget ({budget}) covers; TPE "
                "proposes new points only, Nelder-Mead and CMA-ES repeat points of the grid")
    else:
        if any(geometry.categorical):
            no_cmaes = "categorical dimensions rule CMA-ES out"
        elif refine < cmaes_from:
            no_cmaes = f"the refine budget ({refine}) is below max({per_dim} per dimension, {least}) = {cmaes_from}"
        else:
            no_cmaes = f"a batch of {batch_size} rows holds no CMA-ES population ({default_lambda(space.dim)})"
        if len(wanted) > 1:
            rule = f"nelder-mead if statistic > {threshold} else tpe ({no_cmaes})"
        elif finite:
            rule = (f"tpe: {no_cmaes}; Nelder-Mead is not considered in a finite space (its steps snap to the "
                    "grid and repeat points)")
        elif quad and space.dim >= NM_QUAD_MIN_DIM:
            rule = f"tpe: {no_cmaes}; its quadratic rows model the space, so Nelder-Mead is not considered"
        elif batch_size < 4:
            rule = f"tpe: {no_cmaes}; a batch of fewer than 4 rows holds no Nelder-Mead step"
        else:
            rule = (f"tpe: {no_cmaes}; under {NM_EVALS_PER_DIM} refine evaluations per dimension batched "
                    "Nelder-Mead does not pay off")
        if gp_space:
            rule += ("; not the GP: conditional dimensions (a choice's branch parameters, unused by the points "
                     "that choose another branch) would be noise to its kernel")
    # Sizes that follow the budget are bucketed to powers of two, so that nearby budgets
    # share one compiled solver: the probe length itself is data (SolverState.probe_count).
    n_buf = min(max(pow2(probe_count), 128), _PROBE_BUFFER_MAX)
    core = _build(
        geometry, batch_size, method, tuple(wanted), probe_count > 0, probe_count >= budget, n_buf, capacity,
        tuple(anchors), float(spice), float(threshold), tuple(strategy_options), jnp.zeros((), float).dtype,
    )
    return _bind(core, space, budget, probe_count, rule)


def probe_size(budget: int, batch_size: int, dim: int, probe_ratio: float = PROBE_RATIO) -> int:
    """Evaluations of the probe (the initial design).

    Args:
        budget: Total evaluations.
        batch_size: Rows per ask.
        dim: Dimensions of the space.
        probe_ratio: Share of the budget, in ``(0, 1]``.

    Returns:
        ``probe_ratio * budget`` points, at least :data:`PROBE_PER_DIM` per dimension
        (but no more than half the budget for that floor), rounded up to whole
        batches, at least one batch and at most ``budget`` (so a budget of one
        batch is all probe). The reasons and the measurements behind the defaults
        sit beside :data:`PROBE_RATIO`.

    Raises:
        TypeError, ValueError: For a value of the wrong type or out of range, naming it.
    """
    budget = check_int("budget", budget, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    dim = check_int("dim", dim, 1)
    probe_ratio = check_fraction("probe_ratio", probe_ratio)
    points = max(probe_ratio * budget, min(PROBE_PER_DIM * dim, budget / 2))
    # The tolerance keeps a float32 ratio (np.float32(0.1) is 0.10000000149) from adding
    # a batch that the written value does not ask for.
    batches = points / batch_size
    return min(budget, max(batch_size, math.ceil(batches - 1e-6 * max(1.0, batches)) * batch_size))


def check_settings(probe_ratio: Any = PROBE_RATIO, anchors: Any = ("center",), spice: Any = 0.1,
                   threshold: Any = STRUCTURED_THRESHOLD, strategy_options: Any = (),
                   batch_size: int | None = None) -> tuple:
    """Checks :func:`make_solver`'s settings that do not depend on the space.

    Front doors that build their solver later (a Tune searcher waits for its space)
    call it when they take the settings, so that a bad value fails there; with
    ``batch_size`` (rows per ask, where known) the options it bounds are checked too.

    Returns:
        ``(probe_ratio, anchors, spice, threshold, strategy_options)``: floats, a tuple
        of anchor names and the hashable form of :func:`~.strategies.check_options`.

    Raises:
        TypeError, ValueError: Naming the setting, as :func:`make_solver`.
    """
    probe_ratio = check_fraction("probe_ratio", probe_ratio)
    threshold = check_real("threshold", threshold)  # a rank correlation: beyond [-1, 1] means always / never
    spice = check_real("spice", spice)
    if isinstance(anchors, str) or not isinstance(anchors, (tuple, list)):
        raise TypeError(f"anchors: expected a sequence of anchor names such as ('center',), got "
                        f"{type(anchors).__name__} {anchors!r}")
    anchors = tuple(anchors)
    for a in anchors:
        if not isinstance(a, str):
            raise TypeError(f"anchors: expected anchor names ('min', 'center'), got {type(a).__name__} {a!r}")
    twice = sorted({a for a in anchors if anchors.count(a) > 1})
    if twice:  # the same point evaluated again tells the probe nothing new
        raise ValueError(f"anchors: {twice} given more than once; expected distinct anchor names")
    ProbePlan(anchors, spice)  # names a bad anchor or spice value
    return probe_ratio, anchors, spice, threshold, check_options(strategy_options, batch_size)


def pow2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1): padded sizes share compiled programs."""
    return 1 << max(0, (int(n) - 1).bit_length())


@lru_cache(maxsize=64)
def _bind(core: "Solver", space: Space, budget: int, probe_count: int, rule: str) -> "Solver":
    # The solver works in the unit cube: its functions depend on the space's geometry,
    # not on the bound values, so spaces of one shape share them (and their compiled
    # programs, where a caller keys on ``solver.ask``); the budget only sets the probe
    # length, which ``init`` puts in the state.
    return replace(core, space=space, budget=budget, probe_count=probe_count, rule=rule,
                   init=partial(core.init_with, probe_count=probe_count))


@lru_cache(maxsize=64)
def _build(geometry, batch_size, method, wanted, has_probe, probe_only, n_buf, capacity, anchors, spice, threshold,
           strategy_options, dtype):
    dim = geometry.dim
    opts = dict(strategy_options)
    plan = ProbePlan(anchors, spice)
    plan_key = plan.key()
    strategies: list[Strategy] = [
        make_strategy(name, geometry, batch_size, capacity, dtype, dict(opts.get(name, ()))) for name in wanted
    ]
    names = tuple(s.name for s in strategies)

    def _decide(stat):
        if method == "auto" and len(strategies) > 1:
            return jnp.where(stat > threshold, names.index("nelder-mead"), names.index("tpe")).astype(jnp.int32)
        return jnp.zeros((), jnp.int32)

    def init_with(key: jax.Array, probe_count) -> SolverState:
        k_state, k_off, k_spice, k_placeholder = jax.random.split(key, 4)
        history = history_init(capacity, dim, dtype)
        refine = tuple(s.init(k_placeholder, history) for s in strategies)
        no_probe = not has_probe
        return SolverState(
            key=k_state,
            history=history,
            best_x=jnp.full((dim,), 0.5, dtype),
            best_y=jnp.asarray(jnp.inf, dtype),
            n_asked=jnp.zeros((), jnp.int32),
            last_probe=jnp.asarray(False),
            choice=jnp.asarray(0 if no_probe else -1, jnp.int32),
            statistic=jnp.asarray(jnp.nan, dtype),
            probe_X=jnp.zeros((n_buf, dim), dtype),
            probe_y=jnp.full((n_buf,), jnp.inf, dtype),
            probe_n=jnp.zeros((), jnp.int32),
            probe_offsets=kronecker_offsets_from_key(k_off, dim),
            spice_key=k_spice,
            refine=refine,
            steps=jnp.zeros((), jnp.int32),
            probe_count=jnp.asarray(probe_count, jnp.int32),
        )

    def _classify(state: SolverState, key) -> SolverState:
        mask = jnp.arange(n_buf) < state.probe_n
        stat = rank_fdc(geometry, state.probe_X, state.probe_y, mask)
        keys = jax.random.split(key, len(strategies))
        refine = tuple(s.init(k, state.history) for s, k in zip(strategies, keys))
        return state._replace(choice=_decide(stat), statistic=stat.astype(dtype), refine=refine)

    def _refine_ask(state: SolverState, key):
        def branch(i):
            def run(operand):
                st, k = operand
                X, sub = strategies[i].ask(st.refine[i], k, st.history)
                refine = st.refine[:i] + (sub,) + st.refine[i + 1 :]
                return X.astype(dtype), refine

            return run

        X, refine = jax.lax.switch(state.choice, [branch(i) for i in range(len(strategies))], (state, key))
        return X, state._replace(refine=refine)

    def ask(state: SolverState) -> tuple[jax.Array, SolverState]:
        key, k_ask, k_cls = jax.random.split(state.key, 3)
        state = state._replace(key=key)
        in_probe = state.n_asked < state.probe_count
        if has_probe:
            state = jax.lax.cond((~in_probe) & (state.choice < 0), _classify, lambda s, k: s, state, k_cls)

        def probe_branch(st):
            X = probe_core(st.n_asked.astype(jnp.uint32), batch_size, dim, st.probe_offsets, st.spice_key, plan_key, dtype)
            return X, st

        def refine_branch(st):
            return _refine_ask(st, k_ask)

        if not has_probe:
            X, state = refine_branch(state)
        elif probe_only:
            X, state = probe_branch(state)
        else:
            X, state = jax.lax.cond(in_probe, probe_branch, refine_branch, state)
        return X, state._replace(n_asked=state.n_asked + batch_size, last_probe=in_probe)

    def _record(state: SolverState, X, y, valid) -> SolverState:
        X = X.astype(dtype)
        vals, failed = sanitize(y, dtype)
        ok = valid & ~failed
        i = jnp.argmin(jnp.where(ok, vals, jnp.inf))
        better = ok[i] & (vals[i] < state.best_y)
        return state._replace(
            history=history_insert(state.history, X, y, valid),
            best_x=jnp.where(better, X[i], state.best_x),
            best_y=jnp.where(better, vals[i], state.best_y),
        )

    def _valid(valid, n):
        return jnp.ones((n,), bool) if valid is None else jnp.asarray(valid, bool)

    def observe(state: SolverState, X, y, valid=None) -> SolverState:
        return _record(state, X, y, _valid(valid, X.shape[0]))

    def tell(state: SolverState, X, y, valid=None) -> SolverState:
        valid = _valid(valid, X.shape[0])
        state = _record(state, X, y, valid)
        vals, _ = sanitize(y, dtype)

        if has_probe:
            # Keep the probe results in index order for the classifier.
            pos = state.probe_n + jnp.cumsum(valid) - 1
            write = valid & state.last_probe & (pos < n_buf)
            pos = jnp.where(write, pos, n_buf)
            state = state._replace(
                probe_X=state.probe_X.at[pos].set(X.astype(dtype), mode="drop"),
                probe_y=state.probe_y.at[pos].set(vals, mode="drop"),
                probe_n=jnp.minimum(state.probe_n + jnp.where(state.last_probe, jnp.sum(valid), 0), n_buf).astype(jnp.int32),
            )

        # The state's key is split by the next ask; folding in a constant gives the tell
        # a stream of its own from the same seed without changing the asks' stream.
        k_tell = jax.random.fold_in(state.key, 1)

        def branch(i):
            def run(st):
                sub = strategies[i].tell(st.refine[i], k_tell, X.astype(dtype), vals, valid, st.history)
                return st.refine[:i] + (sub,) + st.refine[i + 1 :]

            return run

        def refine_tell(st):
            return st._replace(refine=jax.lax.switch(st.choice, [branch(i) for i in range(len(strategies))], st))

        if not has_probe:
            state = refine_tell(state)
        else:
            state = jax.lax.cond((~state.last_probe) & (state.choice >= 0), refine_tell, lambda s: s, state)
        return state._replace(steps=state.steps + 1)

    return Solver(
        space=None,
        budget=0,
        batch_size=batch_size,
        method=method,
        probe_count=0,
        capacity=capacity,
        threshold=threshold,
        strategy_names=names,
        dtype=dtype,
        init=None,
        ask=ask,
        tell=tell,
        observe=observe,
        whole_batch=tuple(s.whole_batch for s in strategies),
        init_with=init_with,
    )

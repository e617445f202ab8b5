"""The device path's compiled loops: ask, evaluate ``f`` and tell inside one program.

``minimize``'s device path (:func:`~arqon_jax.host.run.run_device`) runs the whole budget
as one compiled loop (:func:`device_runner`), or in chunks between checkpoints
(:func:`device_chunks`, also the CLI demo's moving progress bar);
:func:`~arqon_jax.make_minimizer` returns :func:`build_device_runner`'s loop.
The bounds come in as data (``consts``, :meth:`Space.unit_constants`) and so does the
budget (:func:`loop_plan`: the probe length and the number of batches), so new bound
values of the same shape, and budgets of the same size class, reuse the compiled program.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..core.solver import Solver
from ..core.space import from_unit_with
from .cache import ObjectiveCache

__all__ = ["DEVICE", "device_body", "shape_key", "loop_plan", "curve_slots", "device_runner", "bind_budget",
           "build_device_runner", "device_chunks"]

# Device programs per objective, holding it weakly (see host/cache.py); the host path's
# compiled step is cached per solver shape in host/steps.py.
DEVICE = ObjectiveCache()


def device_body(get_f: Callable[[], Callable], solver: Solver) -> Callable:
    """The device loop: ``advance(state, consts, start, stop, n_full, rem, slots)``.

    Runs batches ``start .. stop - 1`` of a budget of ``n_full`` whole batches and a last
    one cut to ``rem`` rows (all data: every budget shares the program), returning the
    state and a ``(slots,)`` buffer (``slots`` static) whose first ``stop - start``
    entries are the best value after each batch. The whole run and the checkpointed
    chunks loop with this one body, so they compile to the same arithmetic, and the cut
    batch is not a second copy of ask, ``f`` and tell in the program. ``get_f()`` returns
    the objective when tracing; the compiled loop does not hold it.
    """
    space, dtype, scales, batch = solver.space, solver.dtype, solver.space.scales, solver.batch_size

    def evaluate(U, consts):
        y = get_f()(space.to_user(from_unit_with(scales, consts, U)))
        return jnp.reshape(y, (U.shape[0],)).astype(dtype)

    def advance(state, consts, start, stop, n_full, rem, slots):
        def one(i, carry):
            state, curve = carry
            X, state = solver.ask(state)
            # Only the first ``rem`` rows of the last batch are told (the budget is exact);
            # the whole batch is computed (a static shape) and the other rows dropped.
            told = jnp.arange(batch) < jnp.where(i < n_full, batch, rem)
            state = solver.tell(state, X, jnp.where(told, evaluate(X, consts), jnp.nan), told)
            return state, curve.at[i - start].set(state.best_y)

        return jax.lax.fori_loop(start, stop, one, (state, jnp.full((slots,), jnp.inf, state.best_y.dtype)))

    return advance


def shape_key(solver: Solver) -> tuple:
    """What a compiled device loop depends on besides ``f``: the solver's functions and
    the space's shape (scales, names, choices); not its bound values nor the budget,
    which are data."""
    space = solver.space
    choices = None if space.choices is None else tuple(
        None if c is None else tuple((type(v).__qualname__, repr(v)) for v in c) for c in space.choices)
    # solver.ask stands for the solver's compiled core (init_with, ask, tell), which
    # budgets of one size class share (core/solver.py's _build).
    return id(solver.ask), space.scales, space.names, choices


def loop_plan(solver: Solver) -> np.ndarray:
    """The budget as the device loop's data: int32 ``(probe_count, full batches, rows of the last batch)``."""
    n_full, rem = divmod(solver.budget, solver.batch_size)
    return np.asarray([solver.probe_count, n_full, rem], np.int32)


def curve_slots(solver: Solver) -> int:
    """The compiled loop's curve buffer: the batches rounded up to a power of two, at least
    64 (a buffer of 64 values costs nothing), so that nearby budgets share one program."""
    return max(64, 1 << (solver.n_batches - 1).bit_length())


def device_runner(f: Callable, solver: Solver) -> Callable:
    """A pure ``run(key, consts) -> (state, curve)`` doing the whole budget on the device.

    ``consts`` are the bounds as data (:meth:`Space.unit_constants`); the first
    ``solver.n_batches`` entries of ``curve`` (a :func:`curve_slots` buffer) hold
    the best value after each batch. The compiled program (``run.program``) is shared
    by every budget of the same size class and every bound value of the same shape.
    """
    program = DEVICE.get(f, ("run", shape_key(solver), curve_slots(solver)),
                         lambda get_f: build_device_runner(get_f, solver))
    return bind_budget(program, solver)


def bind_budget(program: Callable, solver: Solver) -> Callable:
    """``run(key, consts)`` of a :func:`build_device_runner` program for ``solver``'s budget."""
    plan = loop_plan(solver)

    def run(key, consts):
        return program(key, consts, plan)

    run.program = program
    return run


def build_device_runner(get_f: Callable[[], Callable], solver: Solver) -> Callable:
    """``program(key, consts, plan) -> (state, curve buffer)``, jitted, for an objective
    ``get_f()`` returns when tracing; ``plan`` is :func:`loop_plan`'s, and the buffer
    has :func:`curve_slots` entries, of which the first ``ceil(budget / batch)`` are
    filled."""
    advance, slots, init_with = device_body(get_f, solver), curve_slots(solver), solver.init_with

    def program(key, consts, plan):
        probe_count, n_full, rem = plan[0], plan[1], plan[2]
        state = init_with(key, probe_count)
        return advance(state, consts, 0, n_full + (rem > 0), n_full, rem, slots)

    return jax.jit(program)


def device_chunks(f: Callable, solver: Solver) -> Callable:
    """:func:`device_body`'s ``advance``, jitted (``slots`` static): the checkpointed
    device loop runs the budget in chunks of it, compiled once per chunk size."""
    return DEVICE.get(f, ("chunks", shape_key(solver)),
                      lambda get_f: jax.jit(device_body(get_f, solver), static_argnums=6))

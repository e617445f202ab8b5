"""Large budgets through ``minimize``: CMA-ES, the ``auto`` rule and the gradient polish.

The CMA-ES kernels themselves are tested in tests/test_cmaes.py. Every test here costs
one or two compilations, so the problems are shared and kept small.
"""

from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import arqon_jax as aj
from arqon_jax import functions as F
from arqon_jax.host.polish import GRAD_EVAL_COST, plan_polish, polish_skip_reason
from arqon_jax.core.solver import QUAD_CMAES_EVALS_PER_DIM, QUAD_CMAES_MIN_REFINE
from tests._compiles import count_compiles

SHIFT10 = jnp.linspace(-2.0, 2.5, 10) + 0.123
BOUNDS10 = [(-5.0, 5.0)] * 10


def sphere10(x):
    return F.sphere(x - SHIFT10.astype(x.dtype))


def test_cmaes_converges_on_sphere_10d_float64():
    budget = 20_000  # well within 10^4 * dim
    r = aj.minimize(sphere10, BOUNDS10, budget=budget, batch_size=100, method="cmaes", x64=True, polish=False,
                    seed=0)
    assert r.decision["strategy"] == "cmaes" and r.method == "cmaes"
    assert r.info["path"] == "device" and r.info["polish"] == {"skipped": "polish=False", "evaluations": 0}
    assert r.fun < 1e-8, r.fun  # CMA-ES alone, without the gradient polish
    assert r.nfev == budget and np.asarray(r.x).dtype == np.float64
    assert np.all(np.abs(np.asarray(r.x) - np.asarray(SHIFT10)) < 1e-3)


# One smooth, not separable problem for the auto / polish / budget / recompilation tests.
SHIFT_R = jnp.linspace(-1.5, 1.7, 10)


def rosen10(x):
    return F.rosenbrock(x - SHIFT_R.astype(x.dtype) + 1.0)


def test_auto_picks_cmaes_for_a_large_budget_and_polish_improves_with_exact_budget():
    budget = 5003  # not a multiple of the batch: the last main-loop batch is cut
    assert budget - 0.2 * budget >= max(QUAD_CMAES_EVALS_PER_DIM * 10, QUAD_CMAES_MIN_REFINE)
    r = aj.minimize(rosen10, BOUNDS10, budget=budget, seed=0)
    assert r.decision["strategy"] == "cmaes", r.decision
    assert "cmaes" in r.decision["rule"]
    pol = r.info["polish"]
    plan, _ = plan_polish(budget, 100)
    assert pol["evaluations"] == plan.evaluations == plan.points * plan.steps * GRAD_EVAL_COST > 0
    assert pol["after"] < pol["before"], pol  # the polish improved the best value
    assert r.fun == pol["after"] and r.nfev == budget and r.nfev_curve[-1] == budget
    assert r.trace[-1] == (budget - pol["evaluations"], "polish")
    assert np.all(np.diff(r.best_curve) <= 0) and len(r.best_curve) == len(r.nfev_curve) == r.nit
    assert np.all(np.diff(r.nfev_curve) > 0)
    assert np.all(np.abs(np.asarray(r.x)) <= 5.0)

    # A second and third call with the same shapes compile nothing (main loop and polish
    # are cached), and the same seed gives the same result (the polish is deterministic).
    # Nor does a fourth with other bound values and another budget of the same size
    # class (the loop's length and the polish's steps are data).
    (again, other, moved), n_compiles = count_compiles(lambda: (
        aj.minimize(rosen10, BOUNDS10, budget=budget, seed=0), aj.minimize(rosen10, BOUNDS10, budget=budget, seed=1),
        aj.minimize(rosen10, [(-4.0, 6.0)] * 10, budget=5200, seed=0)))
    assert n_compiles == 0
    assert moved.nfev == 5200 and moved.info["polish"]["steps"] == pol["steps"] + 1
    assert moved.fun == pytest.approx(float(rosen10(jnp.asarray(moved.x)[None])[0]), rel=1e-5, abs=1e-9)
    assert np.all(np.abs(np.asarray(moved.x) - 1.0) <= 5.0)
    _, n_fresh = count_compiles(lambda: jax.jit(lambda v: v * 3.0 + 1.0)(jnp.ones(3)))
    assert n_fresh > 0  # the listener does see compilations
    np.testing.assert_array_equal(again.x, r.x)
    assert again.info["polish"] == pol and again.fun == r.fun
    assert other.nfev == budget and other.info["polish"]["evaluations"] == pol["evaluations"]


def test_auto_does_not_pick_cmaes_for_budget_100():
    r = aj.minimize(lambda x: jnp.sum((x - 0.3) ** 2, axis=-1), [(-2.0, 2.0)] * 2, budget=100, batch_size=10, seed=0)
    assert r.decision["strategy"] in ("tpe", "nelder-mead")
    assert "budget too small" in r.info["polish"]["skipped"] and r.nfev == 100
    space = aj.Space.from_bounds(BOUNDS10)
    assert aj.make_solver(space, 100, 10).strategy_names in (("tpe",), ("nelder-mead", "tpe"))
    assert aj.make_solver(space, 10_000, 200).strategy_names == ("cmaes",)


@pytest.mark.parametrize("dim, budget, batch, picked", [
    (5, 1000, 10, ("tpe",)),  # measured: TPE with its quadratic rows beats CMA-ES and Nelder-Mead here
    (10, 1000, 10, ("tpe",)),
    (6, 1000, 10, ("tpe",)),  # 100 dim would allow Nelder-Mead; the quadratic rows rule it out
    (2, 1000, 10, ("nelder-mead", "tpe")),  # except below NM_QUAD_MIN_DIM, where it won
    (2, 1250, 10, ("cmaes",)),
    (10, 1060, 10, ("cmaes",)),  # refine 1000 = max(100 dim, 1000) after a probe of 60
    (10, 1050, 10, ("tpe",)),  # refine 990
    (10, 5000, 5, ("tpe",)),  # no CMA-ES population (10) in a batch of 5, and no Nelder-Mead
    (20, 1100, 13, ("cmaes",)),  # beyond MAX_DIM no quadratic rows: the switch stays at max(40 dim, 400)
    (20, 4000, 8, ("nelder-mead", "tpe")),  # and Nelder-Mead is still a candidate
])
def test_auto_rule_follows_the_quadratic_rows(dim, budget, batch, picked):
    space = aj.Space.from_bounds([(-1.0, 1.0)] * dim)
    solver = aj.make_solver(space, budget, batch)
    assert solver.strategy_names == picked, solver.rule
    assert solver.rule.startswith(picked[0]) or len(picked) > 1
    # A categorical dimension turns both CMA-ES and the quadratic rows off: TPE, or Nelder-Mead by statistic.
    mixed = {f"x{i}": (-1.0, 1.0) for i in range(dim - 1)} | {"c": {"choices": ["a", "b", "c"]}}
    assert "cmaes" not in aj.make_solver(aj.Space.from_bounds(mixed), budget, batch).strategy_names


@pytest.mark.parametrize("bounds, budget, batch, kwargs, says", [
    ([(0.0, 1.0)] * 17, 1000, 4, {}, "a batch of 4 rows holds no CMA-ES population (12)"),
    ({"a": (0.0, 1.0), "c": {"choices": ["x", "y"]}}, 5000, 10, {}, "categorical dimensions rule CMA-ES out"),
    ([(0.0, 1.0)] * 2, 10, 10, {"probe_ratio": 1.0}, "probe only"),
    ([(0.0, 1.0)] * 20, 500, 10, {}, "the refine budget (460) is below max(40 per dimension, 400) = 800"),
])
def test_auto_rule_names_the_reason_that_applied(bounds, budget, batch, kwargs, says):
    assert says in aj.make_solver(aj.Space.from_bounds(bounds), budget, batch, **kwargs).rule


def test_polish_skipped_for_host_and_non_differentiable_functions():
    def host_abs(x):  # numpy: not traceable, not differentiable
        return np.sum(np.abs(np.asarray(x) - 0.7), axis=1)

    r = aj.minimize(host_abs, [(-2.0, 2.0)] * 2, budget=1000, batch_size=100, method="random", seed=0)
    assert r.info["path"] == "host" and r.nfev == 1000
    assert r.info["polish"]["evaluations"] == 0 and "not JAX-traceable" in r.info["polish"]["skipped"]

    def loop_f(x):  # traceable, but reverse-mode differentiation of a while_loop fails
        def body(c):
            i, v = c
            return i + 1, v * 0.5 + jnp.sum((x - 0.7) ** 2, axis=-1)

        return jax.lax.while_loop(lambda c: c[0] < 3, body, (0, jnp.zeros(x.shape[0], x.dtype)))[1]

    space = aj.Space.from_bounds([(-2.0, 2.0)] * 2)
    plan, _ = plan_polish(1000, 100)
    assert "not differentiable" in polish_skip_reason(loop_f, space, plan, jnp.float32)
    assert "no gradient" in polish_skip_reason(lambda x: jnp.round(x[:, 0]).astype(jnp.int32), space, plan,
                                               jnp.float32)
    assert polish_skip_reason(lambda x: jnp.sum(x**2, axis=1), space, plan, jnp.float32) is None
    ints = aj.Space.from_bounds({"k": {"min": 0, "max": 9, "scale": "integer"}})
    assert "no continuous dimension" in polish_skip_reason(lambda p: p["k"] * 1.0, ints, plan, jnp.float32)


def test_polish_keeps_bounds_and_discrete_dimensions():
    bounds = {"a": (-5.0, 5.0), "lr": {"min": 1e-4, "max": 1.0, "scale": "log"},
              "n": {"min": 1, "max": 5, "scale": "integer"}}

    def f(p):  # optimum of a at 6, outside the box: the best feasible a is the bound 5
        return (p["a"] - 6.0) ** 2 + (jnp.log10(p["lr"]) + 2.5) ** 2 + (p["n"] - 3.3) ** 2

    r = aj.minimize(f, bounds, budget=1200, batch_size=20, seed=0)
    pol = r.info["polish"]
    assert pol["evaluations"] > 0 and pol["after"] <= pol["before"] and r.nfev == 1200
    assert r.x["a"] <= 5.0 and r.x["a"] == pytest.approx(5.0, abs=1e-3)
    assert r.x["lr"] == pytest.approx(10**-2.5, rel=1e-2)
    assert isinstance(r.x["n"], int) and r.x["n"] == 3


def test_polish_argument_is_validated():
    with pytest.raises(TypeError, match="polish"):
        aj.minimize(sphere10, BOUNDS10, budget=100, polish="yes")

"""RayPool: fractional-GPU scheduling, equality with the in-process run, the skipped
polish, sharded probing, faults (raising objective, killed workers, retries given up,
wrong output shape with the sibling chunks collected) and clean shutdown.

Runs on the shared session cluster ``ray_cluster`` (2 CPUs, one logical GPU, JAX on CPU).
About 50-70 s on 2 busy cores, most of it starting JAX in the worker processes.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import arqon_jax as aj
from arqon_jax import OptimizationError, ProbePlan, Space, make_solver, minimize, probe_points
from arqon_jax.host.steps import bound_constants
from arqon_jax.host.run import host_steps
from arqon_jax.host.polish import decide_polish

pytestmark = pytest.mark.ray

DIM = 4
BOUNDS = [(-5.12, 5.12)] * DIM
SHIFT = np.array([1.3, -2.1, 0.7, 2.9])
BUDGET, BATCH = 96, 12
ENV = {"JAX_PLATFORMS": "cpu"}


# Objectives are built by factories: closures travel to the workers by value
# (cloudpickle), so the workers need not import this test module.
def make_rastrigin_jax():
    shift = jnp.asarray(SHIFT, jnp.float32)

    def rastrigin(X):
        Z = X - shift
        return 10.0 * Z.shape[1] + jnp.sum(Z**2 - 10.0 * jnp.cos(2.0 * jnp.pi * Z), axis=1)

    return rastrigin


def make_faulty(flag_dir: str, raising: bool = True):
    """Numpy Rastrigin that raises on rows with x0 > 3 (or returns NaN there, raising=False).

    If ``flag_dir/die_once`` exists, the first worker to claim it dies mid-chunk;
    while ``flag_dir/die_always`` exists, a worker dies on any chunk holding x0 < -4.
    """
    shift = SHIFT.copy()

    def faulty(X):
        X = np.asarray(X, dtype=np.float64)  # not traceable: the worker falls back to the host call
        if os.path.exists(os.path.join(flag_dir, "die_always")) and np.any(X[:, 0] < -4.0):
            os._exit(1)
        try:
            os.rename(os.path.join(flag_dir, "die_once"), os.path.join(flag_dir, "die_once.claimed"))
            os._exit(1)
        except FileNotFoundError:
            pass
        Z = X - shift
        y = 10.0 * X.shape[1] + np.sum(Z**2 - 10.0 * np.cos(2.0 * np.pi * Z), axis=1)
        bad = X[:, 0] > 3.0
        if raising and bad.any():
            raise ValueError(f"bad point x0={X[bad, 0][0]:.3f}")
        return np.where(bad, np.nan, y)

    return faulty


def _states(ids):
    import ray

    table = ray._private.state.actors()
    return {i: table[i]["State"] for i in ids if i in table}


def _assert_same_run(a, b, budget=BUDGET):
    # A pool keeps float32 (its workers compile JAX objectives in it), so the in-process
    # reference runs with x64=False: the same run, bit for bit.
    assert a.nfev == b.nfev == budget
    assert a.n_failed == b.n_failed
    np.testing.assert_array_equal(a.best_curve, b.best_curve)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fun == b.fun


def _assert_close_run(pooled, device, budget=BUDGET):
    """A pooled (host-path) run against the compiled device path: the same run up to
    float32 rounding, since the host path's step is compiled at another XLA
    optimisation level (see arqon_jax.host.steps)."""
    assert pooled.nfev == device.nfev == budget
    assert pooled.n_failed == device.n_failed
    np.testing.assert_allclose(pooled.best_curve, device.best_curve, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pooled.x, device.x, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def gpu_pool(ray_cluster):
    from arqon_jax.distributed import RayPool

    # Default resources: 1 logical GPU / 4 workers and 2 CPUs / 4 workers.
    pool = RayPool(make_rastrigin_jax(), 4, env_vars=ENV)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def flag_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("flags"))


@pytest.fixture(scope="module")
def fault_pool(ray_cluster, flag_dir):
    from arqon_jax.distributed import RayPool

    pool = RayPool(make_faulty(flag_dir), 2, cpus_per_worker=0, gpus_per_worker=0, max_retries=2, env_vars=ENV)
    yield pool
    pool.close()


def test_import_arqon_jax_does_not_import_ray():
    code = "import sys, arqon_jax; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_invalid_arguments(ray_cluster):
    from arqon_jax.distributed import RayPool

    with pytest.raises(ValueError, match="num_workers"):
        RayPool(np.sum, 0)
    with pytest.raises(ValueError, match="gpus_per_worker"):
        RayPool(np.sum, 2, gpus_per_worker=-0.5)
    for name in ("gpus_per_worker", "cpus_per_worker", "startup_timeout"):  # a wrong type is a TypeError
        with pytest.raises(TypeError, match=name):
            RayPool(np.sum, 2, **{name: "a"})
    with pytest.raises(ValueError, match="startup_timeout"):
        RayPool(np.sum, 2, startup_timeout=0)
    with pytest.raises(TypeError, match="env_vars: expected a dict"):
        RayPool(np.sum, 2, env_vars=["A"])
    with pytest.raises(TypeError, match="address: expected None or a Ray address"):
        RayPool(np.sum, 2, address=5)
    # numpy numbers are numbers (one worker of 0.5 CPU here, no GPU).
    with RayPool(np.sum, 1, cpus_per_worker=np.float32(0.5), gpus_per_worker=np.int64(0), env_vars=ENV,
                 startup_timeout=np.float64(120)) as pool:
        assert (pool.cpus_per_worker, pool.gpus_per_worker) == (0.5, 0.0)
    with pytest.raises(TypeError, match="f:"):
        RayPool("not callable", 2)



def test_a_pool_that_does_not_start_says_why(ray_cluster, gpu_pool):
    from arqon_jax.distributed import RayPool

    # More than the cluster has (one logical GPU; no 'special' resource): smaller shares.
    with pytest.raises(RuntimeError, match="only 0 of 3 workers started within 1 s.*cannot hold that many \\(GPU\\)"):
        RayPool(np.sum, 3, gpus_per_worker=1, cpus_per_worker=0, env_vars=ENV, startup_timeout=1)
    with pytest.raises(RuntimeError, match="cannot hold that many \\(special\\)"):
        RayPool(np.sum, 1, cpus_per_worker=0, gpus_per_worker=0, env_vars=ENV, startup_timeout=1,
                actor_options={"resources": {"special": 1}})
    # The cluster has the CPUs, but gpu_pool's four workers hold them all: waiting for them.
    with pytest.raises(RuntimeError, match="free CPU do not cover the workers not started: other work holds"):
        RayPool(np.sum, 1, cpus_per_worker=1, gpus_per_worker=0, env_vars=ENV, startup_timeout=1)
    # Free resources and no worker up yet: only a longer timeout helps.
    with pytest.raises(RuntimeError, match="within 0.001 s.*starting is slow here; pass a larger startup_timeout"):
        RayPool(np.sum, 1, gpus_per_worker=0, cpus_per_worker=0, env_vars=ENV, startup_timeout=0.001)
    with pytest.raises(ValueError, match="actor_options: \\['num_cpus'\\] are the pool's own settings"):
        RayPool(np.sum, 1, actor_options={"num_cpus": 1})


class _LocalPool:
    """The pool protocol in-process: fails the rows with x0 > 3 and pretends one retry per call."""

    def __init__(self, f):
        self.f, self.retries = f, 0

    def evaluate(self, values, *, space=None, vectorized=True):
        self.retries += 1
        y = np.asarray(self.f(values), dtype=np.float64)
        bad = np.flatnonzero(values[:, 0] > 3.0)
        return y, {int(i): "ValueError: bad point" for i in bad}


def test_minimize_pool_protocol_without_ray(tmp_path):
    f_nan = make_faulty(str(tmp_path), raising=False)
    pool = _LocalPool(f_nan)
    res = minimize(None, BOUNDS, budget=BUDGET, batch_size=BATCH, seed=5, pool=pool)
    ref = minimize(f_nan, BOUNDS, budget=BUDGET, batch_size=BATCH, seed=5, x64=False)
    _assert_same_run(res, ref)
    assert res.info["retries"] == BUDGET // BATCH
    assert res.info["n_errors"] == res.n_failed > 0
    assert all(0 <= i < BUDGET and m == "ValueError: bad point" for i, m in res.info["errors"].items())
    with pytest.raises(ValueError, match="f: the pool evaluates pool.f"):
        minimize(np.sum, BOUNDS, budget=BUDGET, pool=pool)
    with pytest.raises(ValueError, match="jit"):
        minimize(None, BOUNDS, budget=BUDGET, pool=pool, jit=True)
    with pytest.raises(TypeError, match="pool"):
        minimize(None, BOUNDS, budget=BUDGET, pool=object())


def test_four_workers_share_one_gpu(gpu_pool):
    assert gpu_pool.gpus_per_worker == 0.25 and gpu_pool.cpus_per_worker == 0.5
    infos = gpu_pool.workers_info()
    assert len({i["pid"] for i in infos}) == 4  # all four scheduled, one process each
    for info in infos:
        assert info["gpu_ids"] == ["0"]
        assert info["cuda_visible_devices"] == "0"
        assert info["jax_platforms"] == "cpu"


def test_pool_run_equals_in_process_run(gpu_pool):
    # A JAX objective is compiled on the workers: the pooled run is the in-process
    # host-path run of the same compiled objective, bit for bit. (Host objectives: the
    # same, tests below.)
    res = minimize(None, BOUNDS, budget=BUDGET, batch_size=BATCH, seed=3, pool=gpu_pool)
    host = minimize(jax.jit(gpu_pool.f), BOUNDS, budget=BUDGET, batch_size=BATCH, seed=3, jit=False, x64=False)
    assert host.info["path"] == "host" and res.info["path"] == "host"
    _assert_same_run(res, host)
    # The device path compiles its step at another optimisation level: it proposes the
    # same probe, and follows the run only until float32 rounding changes a refine
    # proposal (here after 5 batches), so only the probe's best is compared.
    device = minimize(gpu_pool.f, BOUNDS, budget=BUDGET, batch_size=BATCH, seed=3)
    assert device.info["path"] == "device" and device.nfev == res.nfev
    np.testing.assert_allclose(res.best_curve[0], device.best_curve[0], rtol=1e-6)
    assert res.info["retries"] == 0 and res.info["n_errors"] == 0


def test_pool_skips_the_polish_and_says_why(gpu_pool):
    # With a budget of 1000 the in-process device path polishes this differentiable f,
    # so only polish=False in-process equals the pooled run, and the pooled run says why.
    budget, batch = 1000, 100
    space = Space.from_bounds(BOUNDS)
    plan, _ = decide_polish(True, gpu_pool.f, space, budget, make_solver(space, budget, batch), None)
    assert plan is not None and plan.evaluations > 0  # what minimize(f, ...) without the pool would run
    res = minimize(None, BOUNDS, budget=budget, batch_size=batch, seed=3, pool=gpu_pool)
    assert "pool" in res.info["polish"]["skipped"] and res.info["polish"]["evaluations"] == 0
    ref = minimize(gpu_pool.f, BOUNDS, budget=budget, batch_size=batch, seed=3, polish=False)
    assert ref.info["path"] == "device" and ref.info["polish"]["skipped"] == "polish=False"
    _assert_close_run(res, ref, budget)


def test_sharded_probe_equals_driver_points(gpu_pool):
    space = Space.from_bounds(BOUNDS)
    plan = ProbePlan(("center",), 0.1)
    y, errors, U = gpu_pool.evaluate_probe(5, 37, space, seed=11, plan=plan, return_points=True)
    expected = np.asarray(probe_points(5, 37, DIM, seed=11, plan=plan))
    np.testing.assert_array_equal(U, expected)
    f_ref = np.asarray(gpu_pool.f(space.from_unit(jnp.asarray(expected))))
    np.testing.assert_allclose(y, f_ref, rtol=1e-6)
    assert errors == {}

    # From a solver state: the same rows as the solver's own probe batches.
    # minimize's own (cached, compiled) host steps: the batches a pooled run evaluates.
    solver = make_solver(space, BUDGET, BATCH, probe_ratio=2 * BATCH / BUDGET)  # a probe of two batches
    first, step, _ = host_steps(solver, bound_constants(space, solver.dtype))
    state, X0, V0 = first(jax.random.key(2))
    y0 = np.asarray(gpu_pool.f(V0))
    state1, X1, _ = step(state, X0, y0, np.ones(BATCH, bool))
    _, _, U = gpu_pool.evaluate_probe(0, 2 * BATCH, space, plan=plan, offsets=state.probe_offsets,
                                      spice_key=state.spice_key, return_points=True)
    np.testing.assert_array_equal(U, np.concatenate([np.asarray(X0), np.asarray(X1)]))


def test_only_raising_rows_fail(fault_pool):
    space = Space.from_bounds(BOUNDS)
    values = np.asarray(space.from_unit(probe_points(0, 30, DIM, seed=4)), dtype=np.float64)
    bad = set(np.flatnonzero(values[:, 0] > 3.0).tolist())
    assert 0 < len(bad) < 30
    y, errors = fault_pool.evaluate(values, space=space)
    assert set(errors) == bad
    assert all(m.startswith("ValueError: bad point") for m in errors.values())
    ref = make_faulty("/nonexistent", raising=False)(values)
    np.testing.assert_array_equal(y, ref)  # NaN exactly on the raising rows


def test_raising_objective_completes_the_run(fault_pool, flag_dir):
    res = minimize(None, BOUNDS, budget=BUDGET, batch_size=BATCH, seed=7, pool=fault_pool)
    ref = minimize(make_faulty(flag_dir, raising=False), BOUNDS, budget=BUDGET, batch_size=BATCH, seed=7, x64=False)
    _assert_same_run(res, ref)
    assert res.success and res.n_failed == res.info["n_errors"] > 0
    assert set(res.info["errors"]) <= set(range(BUDGET))


def test_worker_killed_mid_run(fault_pool, flag_dir):
    import ray

    from arqon_jax.distributed import _wait_dead

    killed = []

    def kill_after_third_batch(interim):
        if interim.nit == 3:
            victim = fault_pool.actors[0]
            ray.kill(victim)
            assert _wait_dead(victim, time.monotonic() + 30)  # deterministic: dead before the next batch
            killed.append(victim._actor_id.hex())

    retries0, deaths0 = fault_pool.retries, fault_pool.deaths
    res = minimize(None, BOUNDS, budget=BUDGET, batch_size=BATCH, seed=7, pool=fault_pool,
                   callback=kill_after_third_batch)
    ref = minimize(make_faulty(flag_dir, raising=False), BOUNDS, budget=BUDGET, batch_size=BATCH, seed=7, x64=False)
    _assert_same_run(res, ref)  # nothing lost, nothing counted twice
    assert killed and res.info["retries"] == fault_pool.retries - retries0 == 1
    assert fault_pool.deaths - deaths0 == 1
    assert killed[0] not in [a._actor_id.hex() for a in fault_pool.actors]


def test_worker_dying_inside_f_is_replaced(fault_pool, flag_dir):
    space = Space.from_bounds(BOUNDS)
    values = np.asarray(space.from_unit(probe_points(0, 20, DIM, seed=9)), dtype=np.float64)
    open(os.path.join(flag_dir, "die_once"), "w").close()
    retries0 = fault_pool.retries
    y, errors = fault_pool.evaluate(values, space=space)
    assert os.path.exists(os.path.join(flag_dir, "die_once.claimed"))
    assert fault_pool.retries - retries0 == 1
    np.testing.assert_array_equal(y, make_faulty("/nonexistent", raising=False)(values))
    assert all(m.startswith("ValueError") for m in errors.values())


def test_retries_are_bounded(fault_pool, flag_dir):
    space = Space.from_bounds(BOUNDS)
    values = np.asarray(space.from_unit(probe_points(0, 20, DIM, seed=9)), dtype=np.float64)
    values[3, 0] = -4.5  # chunk 0 (rows 0..9) kills its worker every time
    values[10:, 0] = np.clip(values[10:, 0], -3.9, 2.9)  # chunk 1 is healthy
    fault_pool.max_retries = 1
    always = os.path.join(flag_dir, "die_always")
    open(always, "w").close()
    try:
        retries0, deaths0 = fault_pool.retries, fault_pool.deaths
        y, errors = fault_pool.evaluate(values, space=space)
    finally:
        os.remove(always)
        fault_pool.max_retries = 2
    assert fault_pool.retries - retries0 == 1 and fault_pool.deaths - deaths0 == 2
    assert set(errors) == set(range(10)) and "worker died 2 times" in errors[0]
    assert np.isnan(y[:10]).all()
    np.testing.assert_array_equal(y[10:], make_faulty("/nonexistent", raising=False)(values[10:]))
    # the pool is whole again
    assert len({i["pid"] for i in fault_pool.workers_info()}) == 2


def make_shape_bug(marker: str):
    """Sums rows of DIM values; returns its input (the wrong shape) for other widths.

    With the wrong width, a chunk whose first value is positive first sleeps, then
    creates ``marker``: it finishes well after the chunk that fails at once.
    """

    def shape_bug(X):
        X = np.asarray(X)
        if X.shape[1] == DIM:
            return X.sum(axis=1)
        if X[0, 0] > 0:
            time.sleep(1.5)
            open(marker, "w").close()
        return X

    return shape_bug


def test_wrong_shape_raises_after_collecting_sibling_chunks(ray_cluster, flag_dir):
    from arqon_jax.distributed import RayPool

    marker = os.path.join(flag_dir, "slow_chunk_done")
    with RayPool(make_shape_bug(marker), 2, cpus_per_worker=0, gpus_per_worker=0, jit=False, env_vars=ENV) as pool:
        # Chunks of 3 rows (2-row chunks would be the dimension's, which the pool avoids):
        # chunk 0 fails at once, chunk 1 later.
        values = np.repeat([[0.0, 0.0], [1.0, 1.0]], 3, axis=0)
        with pytest.raises(ValueError, match=r"f: returned shape \(3, 2\)"):  # a bug in f stops the run
            pool.evaluate(values)
        # The error was raised only after the slow sibling chunk had finished and its
        # (equally failed) result was fetched: no error object is left for Ray to
        # report as unhandled, and no chunk is still running on the workers.
        assert os.path.exists(marker)
        y, errors = pool.evaluate(np.ones((4, DIM)))  # the pool is usable again
        np.testing.assert_array_equal(y, [DIM] * 4)
        assert errors == {} and pool.retries == 0 and pool.deaths == 0
    assert set(_states(pool.actor_ids).values()) == {"DEAD"}


class _InProcessWorkers:
    """The pool protocol on this process's BatchEvaluator (what a RayPool worker runs), not
    minimize's own errors="record" evaluator: the run sees it as any other pool."""

    def __init__(self, f):
        from arqon_jax.host.evaluate import RecordingEvaluator

        self.f, self._workers = f, RecordingEvaluator(f)

    def evaluate(self, values, *, space=None, vectorized=True):
        return self._workers.evaluate(values, space=space, vectorized=vectorized)


_ONE_POINT_DIM = 10  # the wide default batch at budget 100 in 10-D is 10 rows: (dim, dim) batches


def _one_point_indexed(x):
    return sum(x[i] ** 2 for i in range(_ONE_POINT_DIM))  # sums rows of a (dim, dim) batch, raises on others


@pytest.mark.parametrize("f, vectorized, exc, advice", [
    (_one_point_indexed, True, OptimizationError, "pass vectorized=False"),
    (lambda x: float(np.sum(np.asarray(x) ** 2)), True, ValueError, "pass vectorized=False"),
    (lambda X: np.sum(np.asarray(X) ** 2, axis=1), False, OptimizationError, "pass vectorized=True"),
])
def test_a_pool_names_an_objective_of_the_other_form(f, vectorized, exc, advice):
    # The workers record rows that raise, so an objective of the wrong form made every row
    # of every batch a recorded failure, or (one point, (dim, dim) batches) summed rows.
    pool = _InProcessWorkers(f)
    assert aj.default_batch_size(100, _ONE_POINT_DIM, wide=True) == _ONE_POINT_DIM
    with pytest.raises(exc, match=advice):
        minimize(None, [(-5, 5)] * _ONE_POINT_DIM, budget=100, pool=pool, vectorized=vectorized)
    # In the right form it runs; an objective that fails in both forms is still recorded.
    r = minimize(None, [(-5, 5)] * _ONE_POINT_DIM, budget=30, pool=_InProcessWorkers(f), vectorized=not vectorized)
    assert r.nfev == 30 and r.n_failed == 0 and r.fun == pytest.approx(float(np.sum(np.asarray(r.x) ** 2)))
    calls = []

    def not_ready(X):
        calls.append(1)
        if len(calls) <= 25:
            raise RuntimeError("not ready")
        return np.sum(np.asarray(X) ** 2, axis=1)

    r = minimize(None, [(-5, 5)] * _ONE_POINT_DIM, budget=100, pool=_InProcessWorkers(not_ready))
    assert r.nfev == 100 and r.n_failed >= 10 and np.isfinite(r.fun)


def _first_two(x):
    return (x[0] - 0.3) ** 2 + (x[1] + 0.2) ** 2  # traceable: the workers compile it


def test_chunks_never_have_the_dimensions_rows():
    # A chunk of dim rows (or a compiled width of dim) lets a function of one point add
    # rows without an error; the chunks stay balanced, one per worker where they go.
    from arqon_jax.distributed import RayPool

    pool = object.__new__(RayPool)
    for k, n, dim in itertools.product(range(1, 9), range(1, 50), range(1, 14)):
        pool.num_workers = k
        width, chunks = pool._chunks(n, dim)
        sizes = [b - a for a, b in chunks]
        assert chunks[0][0] == 0 and chunks[-1][1] == n and min(sizes) >= 1 and width == max(sizes)
        assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:]))
        assert dim == 1 or dim not in sizes, (k, n, dim, chunks)
        assert width <= -(-n // min(k, n)) + 2, (k, n, dim, chunks)
    pool.num_workers = 4
    assert pool._chunks(12, 2) == (3, [(0, 3), (3, 6), (6, 9), (9, 12)])  # unchanged where nothing is dim


def test_a_pools_own_error_is_named_as_the_pools():
    class Closed:
        f = staticmethod(_first_two)

        def evaluate(self, values, *, space=None, vectorized=True):
            raise RuntimeError("RayPool: the pool is closed")

    with pytest.raises(OptimizationError, match=r"^the pool raised RuntimeError: RayPool: the pool is closed"):
        minimize(None, [(-5, 5)] * 3, budget=20, pool=Closed())


@pytest.mark.parametrize("f, workers, dim", [(_one_point_indexed, 1, _ONE_POINT_DIM), (_first_two, 2, 5)])
def test_a_ray_pool_names_a_function_of_one_point(ray_cluster, f, workers, dim):
    # A worker's chunk of dim rows (one worker and a (dim, dim) batch; two workers and
    # a batch of 2 dim) ran silently wrong: fun 11.8 reported, f(x) 101; fun 0.013, f(x) 0.119.
    from arqon_jax.distributed import RayPool

    with RayPool(f, workers, cpus_per_worker=0, gpus_per_worker=0, env_vars=ENV) as pool:
        assert aj.default_batch_size(100, dim, wide=True) == 10
        with pytest.raises((ValueError, OptimizationError), match="pass vectorized=False"):
            minimize(None, [(-5, 5)] * dim, budget=100, pool=pool)
        # minimize's own vectorized= still decides when given.
        r = minimize(None, [(-5, 5)] * dim, budget=20, pool=pool, vectorized=False)
        assert r.nfev == 20 and r.n_failed == 0 and r.fun == pytest.approx(f(np.asarray(r.x)))


def test_minimize_follows_the_pools_vectorized_setting():
    # minimize's vectorized=True default overrode RayPool(f, n, vectorized=False), so a
    # function of one point failed there unless vectorized=False was given twice.
    pool = _InProcessWorkers(_one_point_indexed)
    pool.vectorized = False
    r = minimize(None, [(-5, 5)] * _ONE_POINT_DIM, budget=30, pool=pool)
    assert r.nfev == 30 and r.n_failed == 0 and r.fun == pytest.approx(_one_point_indexed(np.asarray(r.x)))
    pool.vectorized = "no"
    with pytest.raises(TypeError, match="pool.vectorized: expected a bool"):
        minimize(None, [(-5, 5)] * _ONE_POINT_DIM, budget=30, pool=pool)
    with pytest.raises(TypeError, match="vectorized: expected None or a bool"):
        minimize(lambda X: np.sum(X, axis=1), [(-5, 5)] * 2, budget=30, vectorized="yes")


def test_no_leaked_actors(ray_cluster, gpu_pool, fault_pool):
    from arqon_jax.distributed import RayPool

    def shape_bug(X):
        return X.sum(axis=1) if X.shape[1] == DIM else X  # wrong shape in other dimensions

    with RayPool(shape_bug, 1, cpus_per_worker=0, gpus_per_worker=0, env_vars=ENV) as pool:
        y, _ = pool.evaluate(np.ones((3, DIM)))
        np.testing.assert_array_equal(y, [DIM] * 3)
        with pytest.raises(ValueError, match=r"f: returned shape \(3, 2\)"):  # a bug in f stops the run
            pool.evaluate(np.ones((3, 2)))
    assert set(_states(pool.actor_ids).values()) == {"DEAD"}
    with pytest.raises(RuntimeError, match="closed"):
        pool.evaluate(np.zeros((3, DIM)))
    # The module's pools, replacements and killed workers included.
    for p in (gpu_pool, fault_pool):
        p.close()
        states = _states(p.actor_ids)
        assert len(states) == len(p.actor_ids) and set(states.values()) == {"DEAD"}

"""A pool of Ray actors that evaluates batches of an objective in parallel.

Ray is the distributed engine: the same code runs on a laptop (CPU workers), on one
GPU shared by several workers (fractional GPUs), on a multi-node cluster (connect first
with ``ray.init(address="auto")`` or pass ``address="auto"``), and inside a Ray Tune
trial. ``import arqon_jax`` never imports Ray; this module does, at its top (without
Ray installed: an ImportError saying ``pip install "arqon_jax[ray]"``).

With :func:`arqon_jax.minimize`::

    from arqon_jax.distributed import RayPool

    with RayPool(f, num_workers=4) as pool:
        res = minimize(None, bounds, budget=10_000, pool=pool)   # f=None: use pool.f

Each batch is cut into ``num_workers`` contiguous chunks, evaluated in parallel and put
back in order, so the search is the same whatever the number of workers. A pooled
run never runs :func:`~arqon_jax.minimize`'s gradient polish (the polish
differentiates ``f`` in the driver's process, on the device path):
``res.info["polish"]["skipped"]`` says so. For a differentiable JAX objective with a
budget of 1000 or more, the in-process run spends up to 5% of the budget on the polish
and gives a different result; without the polish (``polish=False`` in-process, or a
budget below 1000, or a non-differentiable ``f``) the runs agree for the same seed: a
host (numpy) objective, or ``jit=False``, reproduces the host path (``jit=False``
in-process) bit for bit; a JAX objective compiled on the workers (``jit=None``, the
default) follows ``minimize``'s compiled device path up to float32 rounding (the host
path compiles its step at a lower XLA optimisation level, for a faster start). ``res.info["retries"]`` says how many chunks were re-run
after a worker died and ``res.info["errors"]`` which evaluations raised on a worker
(they count as failed, NaN).

With any ask/tell loop (:func:`arqon_jax.make_solver`)::

    X, state = ask(state)                                  # unit cube (batch, dim)
    y, errors = pool.evaluate(np.asarray(space.from_unit(X)), space=space)
    state = tell(state, X, y)                              # NaN rows are failures

Inside a Ray Tune trial the workers are created in the trial's placement group, so
reserve one bundle per worker next to the trial's own bundle, and pass the same
resources to the pool (its defaults look at the whole cluster, not at the bundle)::

    tune.with_resources(trainable, tune.PlacementGroupFactory(
        [{"CPU": 1}] + [{"CPU": 0.5, "GPU": 0.25}] * 4))     # 4 workers sharing 1 GPU
    # in the trainable:
    RayPool(f, 4, cpus_per_worker=0.5, gpus_per_worker=0.25)

(CPU-only: ``[{"CPU": 1}] + [{"CPU": 1}] * n`` and ``gpus_per_worker=0``; Ray rejects
empty bundles, so a worker bundle needs some CPU or GPU.)

On a multi-node cluster ``arqon_jax`` must be importable on every node (install it, or
``runtime_env={"py_modules": [arqon_jax]}``); the objective travels by cloudpickle.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from typing import Any, Callable, Mapping

import jax
import numpy as np

from .host.config import check_int, is_typed_key, missing_extra

try:
    import ray
    import ray.exceptions as rex
except ImportError as _exc:  # ray is an optional dependency: say how to get it
    raise missing_extra(_exc, "arqon_jax.distributed", "Ray", "ray") from _exc

from .host.evaluate import BadOutput, BatchEvaluator, error_text
from .core.probe import ProbePlan, check_index_range
from .core.space import Space

__all__ = ["RayPool"]

# What a dead or unreachable worker looks like from the driver. Exceptions raised *by
# the objective* never get here: the worker catches them and reports failed rows.
_DEATH_ERRORS = (
    rex.RayActorError,  # ActorDiedError (killed, crashed, OOM-killed), ActorUnavailableError
    rex.WorkerCrashedError,
    rex.ObjectLostError,
    rex.OutOfMemoryError,
    rex.NodeDiedError,
    rex.LocalRayletDiedError,
)


def _floor4(x: float) -> float:
    # Ray keeps fractional resources to 1e-4; rounding down keeps n workers within the total.
    return math.floor(x * 10_000) / 10_000


class _Worker(BatchEvaluator):
    """One Ray actor: holds the objective, compiles it once, evaluates chunks (:class:`BatchEvaluator`).

    Not used directly; :class:`RayPool` creates these as Ray actors.
    """

    def __init__(self, f: Callable, env: Mapping[str, str], jit: bool | None):
        # runtime_env already set these before the process started; setting them again
        # is for workers reused from elsewhere. Either way JAX has not created its
        # backend yet (nothing ran), so the memory limits still apply.
        for k, v in env.items():
            os.environ[k] = v
        super().__init__(f, jit)

    def info(self) -> dict:
        """Facts about this worker: pid, node, GPU ids Ray gave it, environment, CPU time used."""
        return {
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "jax_platforms": os.environ.get("JAX_PLATFORMS"),
            "cpu_time_s": time.process_time(),  # CPU seconds this worker has used so far
        }

    def jax_backend(self) -> str:
        """JAX's backend in this worker (``"gpu"``, ``"cpu"``, ...); starts it if needed."""
        return jax.default_backend()


_RemoteWorker = ray.remote(_Worker)


def _wait_dead(actor, deadline: float) -> bool:
    """Polls ``actor`` until Ray reports it dead or ``deadline`` (monotonic) passes."""
    while time.monotonic() < deadline:
        try:
            ray.get(actor.info.remote(), timeout=max(0.01, deadline - time.monotonic()))
        except rex.RayActorError:
            return True
        except Exception:  # timeout or transient: try again until the deadline
            pass
        time.sleep(0.05)
    return False


class RayPool:
    """Ray actors that evaluate batches of ``f`` in parallel, in order, surviving faults.

    Each worker is a Ray actor that receives ``f`` once (through the object store, by
    cloudpickle), compiles it once with ``jax.jit`` when it is JAX-traceable (one
    compiled width per batch size, the last chunk padded), and evaluates its chunk as
    one vectorized call.

    Faults:

    * ``f`` raises on a worker: the chunk is re-run row by row there and only the rows
      that raise fail (NaN), with their message in the returned ``errors``.
    * A worker dies (``ray.kill``, crash, out of memory): a replacement actor is
      started and the chunk is re-run on it, at most ``max_retries`` times per chunk;
      after that its rows fail with the message. Every row is counted once.
      ``pool.retries`` counts the re-runs, ``pool.deaths`` the dead workers.
    * ``f`` returns the wrong shape or type: a bug, raised (TypeError/ValueError) as
      in-process, once every other chunk of the batch has finished (their results and
      errors are collected, so Ray reports no unhandled errors and the workers are idle
      for the next call).

    Args:
        f: The objective, as for :func:`arqon_jax.minimize`: vectorized ``(batch, dim)``
            values (or a dict of ``(batch,)`` columns for dict bounds) to ``(batch,)``;
            or one point to one number with ``vectorized=False``.
        num_workers: Number of actors (>= 1).
        gpus_per_worker: GPUs per actor. ``None``: if the cluster has GPUs, a share so
            that ``num_workers`` actors fit on them (4 workers, 1 GPU: 0.25 each; at
            most 1), else 0. Workers on a fraction of a GPU get
            ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` and a memory fraction of 95% of
            their share (``XLA_PYTHON_CLIENT_MEM_FRACTION``/``XLA_CLIENT_MEM_FRACTION``)
            before JAX starts, so that workers sharing a GPU do not run out of memory.
        cpus_per_worker: CPUs per actor (Ray scheduling). ``None``: 1, or
            ``cluster CPUs / num_workers`` when that is less (so that, e.g., 4 workers fit
            on 2 CPUs). Use 0 or a fraction for GPU workers on small machines.
        vectorized: Default for :meth:`evaluate`'s ``vectorized``.
        jit: ``None`` compiles ``f`` when it is traceable (no categorical dimensions),
            ``False`` never does (``f`` sees numpy arrays, as the in-process host path
            does), ``True`` requires it.
        max_retries: Re-runs of one chunk after worker deaths (>= 0).
        env_vars: Extra environment variables for the workers (e.g.
            ``{"JAX_PLATFORMS": "cpu"}``); CPU-only workers get ``JAX_PLATFORMS=cpu`` by
            default.
        actor_options: Extra ``ray.remote`` options for the actors (e.g. ``resources``,
            ``scheduling_strategy``); ``runtime_env`` is merged with ``env_vars``.
        address: Passed to ``ray.init`` if Ray is not initialized yet (e.g. ``"auto"``
            to join an existing cluster); the pool then shuts Ray down on close.
        startup_timeout: Seconds to wait for all workers to be scheduled and started;
            a pool that cannot be placed raises ``RuntimeError`` instead of hanging.

    Use it as a context manager (or call :meth:`close`): the actors are killed on exit.
    Not thread-safe: one :meth:`evaluate` at a time.
    """

    def __init__(
        self,
        f: Callable,
        num_workers: int,
        *,
        gpus_per_worker: float | None = None,
        cpus_per_worker: float | None = None,
        vectorized: bool = True,
        jit: bool | None = None,
        max_retries: int = 3,
        env_vars: Mapping[str, str] | None = None,
        actor_options: Mapping[str, Any] | None = None,
        address: str | None = None,
        startup_timeout: float = 120.0,
    ):
        if not callable(f):
            raise TypeError(f"f: expected a callable objective, got {type(f).__name__}")
        num_workers, max_retries = check_int("num_workers", num_workers, 1), check_int("max_retries", max_retries, 0)
        for name, v in (("gpus_per_worker", gpus_per_worker), ("cpus_per_worker", cpus_per_worker)):
            if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real)):
                raise TypeError(f"{name}: expected a number >= 0 or None, got {type(v).__name__} {v!r}")
            if v is not None and (not math.isfinite(v) or v < 0):
                raise ValueError(f"{name}: expected a number >= 0 or None, got {v!r}")
        if gpus_per_worker is not None and gpus_per_worker > 1 and gpus_per_worker != int(gpus_per_worker):
            raise ValueError(f"gpus_per_worker: above 1 it must be a whole number, got {gpus_per_worker!r}")
        if jit not in (None, True, False):
            raise TypeError(f"jit: expected None, True or False, got {jit!r}")
        if not isinstance(vectorized, bool):
            raise TypeError(f"vectorized: expected a bool, got {vectorized!r}")
        if env_vars is not None and (not isinstance(env_vars, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in env_vars.items())):
            raise TypeError(f"env_vars: expected a dict of str -> str, got {type(env_vars).__name__} {env_vars!r}"[:300])
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address: expected None or a Ray address string (e.g. 'auto'), got "
                            f"{type(address).__name__} {address!r}")
        if isinstance(startup_timeout, (bool, np.bool_)) or not isinstance(startup_timeout, numbers.Real):
            raise TypeError(f"startup_timeout: expected a number of seconds > 0, got {type(startup_timeout).__name__} "
                            f"{startup_timeout!r}")
        if not startup_timeout > 0:
            raise ValueError(f"startup_timeout: expected a number of seconds > 0, got {startup_timeout!r}")
        if actor_options is not None and not isinstance(actor_options, Mapping):
            raise TypeError(f"actor_options: expected a dict, got {type(actor_options).__name__}")
        own = sorted({"num_cpus", "num_gpus", "max_restarts", "max_task_retries"} & set(actor_options or {}))
        if own:
            raise ValueError(f"actor_options: {own} are the pool's own settings; pass cpus_per_worker / "
                             "gpus_per_worker (the pool replaces dead workers itself, see max_retries)")

        self.f = f
        self.num_workers = num_workers
        self.vectorized = vectorized
        self.jit = jit
        self.max_retries = max_retries
        self.retries = 0
        self.deaths = 0
        self._actors: list = []
        self._all_actor_ids: list[str] = []
        self._closed = False
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(address=address)
            self._owns_ray = True

        total = ray.cluster_resources()
        if gpus_per_worker is None:
            n_gpus = float(total.get("GPU", 0.0))
            gpus_per_worker = min(1.0, _floor4(n_gpus / self.num_workers)) if n_gpus > 0 else 0.0
        if cpus_per_worker is None:
            cpus_per_worker = min(1.0, _floor4(float(total.get("CPU", 1.0)) / self.num_workers))
        self.gpus_per_worker = float(gpus_per_worker)
        self.cpus_per_worker = float(cpus_per_worker)

        env: dict[str, str] = {}
        if self.gpus_per_worker == 0:
            env["JAX_PLATFORMS"] = "cpu"  # a CPU worker on a GPU node must not grab the GPU
        elif self.gpus_per_worker < 1:
            frac = f"{0.95 * self.gpus_per_worker:.4f}"
            env.update({"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "XLA_PYTHON_CLIENT_MEM_FRACTION": frac,
                        "XLA_CLIENT_MEM_FRACTION": frac})
        env.update(dict(env_vars or {}))
        self.env_vars = env
        options = dict(actor_options or {})
        runtime_env = dict(options.pop("runtime_env", None) or {})
        runtime_env["env_vars"] = {**dict(runtime_env.get("env_vars", {})), **env}
        self._options = dict(
            num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker, max_restarts=0, max_task_retries=0,
            runtime_env=runtime_env, **options,
        )
        # The objective goes to the object store once; every actor (replacements too)
        # reads it from there at construction.
        self._f_ref = ray.put(f)
        self._actors = [self._new_actor() for _ in range(self.num_workers)]
        self._info = self._wait_ready(self._actors, float(startup_timeout))

    # ------------------------------------------------------------------ actors
    def _new_actor(self):
        actor = _RemoteWorker.options(**self._options).remote(self._f_ref, self.env_vars, self.jit)
        self._all_actor_ids.append(actor._actor_id.hex())
        return actor

    def _wait_ready(self, actors: list, timeout: float) -> list[dict]:
        refs = [a.info.remote() for a in actors]
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        if pending:
            total, free = ray.cluster_resources(), ray.available_resources()
            self.close()
            each = {"CPU": self.cpus_per_worker, "GPU": self.gpus_per_worker,
                    **dict(self._options.get("resources") or {})}
            # Too little in the whole cluster, too little free (other work holds it; the
            # started workers hold theirs), or enough: then starting is slow (a loaded
            # machine, a large objective to ship), and only a longer wait helps.
            lacking = sorted(k for k, v in each.items() if len(refs) * v > total.get(k, 0.0) + 1e-9)
            held = sorted(k for k, v in each.items() if len(pending) * v > free.get(k, 0.0) + 1e-9)
            if lacking:
                advice = (f"The cluster cannot hold that many ({', '.join(lacking)}): pass smaller shares "
                          "(cpus_per_worker, gpus_per_worker, actor_options resources) or fewer workers (inside a "
                          "Ray Tune trial: reserve one placement-group bundle per worker).")
            elif held:
                # Placed workers that are still starting hold their shares too: the free
                # resources cannot tell them from other work.
                advice = (f"The cluster's free {', '.join(held)} do not cover the workers not started: other work "
                          "holds them (wait until it is released, or pass smaller shares or fewer workers), or "
                          "these workers hold them and are slow to start (pass a larger startup_timeout).")
            else:
                advice = "The cluster has the resources free: starting is slow here; pass a larger startup_timeout."
            raise RuntimeError(
                f"RayPool: only {len(ready)} of {len(refs)} workers started within {timeout:g} s. Each asks for "
                f"{each}; the cluster has {total} with {free} free. {advice}"
            )
        return ray.get(refs)

    def _replace(self, slot: int, dead) -> None:
        """Replaces the actor in ``slot`` if it is still the dead one (several chunks may report it)."""
        if self._actors[slot] is dead:
            self.deaths += 1
            try:
                ray.kill(dead, no_restart=True)
            except Exception:  # already gone
                pass
            self._actors[slot] = self._new_actor()

    def workers_info(self) -> list[dict]:
        """``info()`` of every current worker: pid, node id, GPU ids, CUDA_VISIBLE_DEVICES."""
        return ray.get([a.info.remote() for a in self._actors])

    @property
    def actors(self) -> list:
        """The current actor handles, one per worker slot."""
        return list(self._actors)

    @property
    def actor_ids(self) -> list[str]:
        """Hex ids of every actor this pool started, replacements included."""
        return list(self._all_actor_ids)

    # -------------------------------------------------------------- evaluation
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("RayPool: the pool is closed")

    def _chunks(self, n: int, dim: int) -> tuple[int, list[tuple[int, int]]]:
        """Row ranges, one per worker as far as they go, of balanced sizes, none of ``dim`` rows.

        A function of one point maps a ``(dim, dim)`` array to ``(dim,)`` values without
        an error (``x[0] + x[1]`` adds rows), so a chunk of that size (or a compiled width
        of it, the last chunk padded) would pass a wrong output; any other size shows the
        mistake as a wrong shape. Returns the compiled width (the largest chunk) and the ranges.
        """
        m = min(self.num_workers, n)
        q, r = divmod(n, m)
        sizes = [q + 1] * r + [q] * (m - r)
        while dim > 1 and dim in sizes:  # each pass leaves one chunk of dim rows fewer, and makes none
            i = sizes.index(dim)
            # Move one row between it and another chunk that does not become dim rows;
            # of those moves, the one that leaves the largest chunk (the compiled width) smallest.
            moves = [(j, -1) for j, k in enumerate(sizes) if j != i and k + 1 != dim] + \
                    [(j, +1) for j, k in enumerate(sizes) if j != i and k - 1 not in (0, dim)]
            if not moves:  # the only chunk: two calls, of 1 and dim - 1 rows
                sizes[i:i + 1] = [1, dim - 1]
                continue

            def after(move):
                j, d = move
                return [k + d if t == i else k - d if t == j else k for t, k in enumerate(sizes)]

            sizes = min((after(mv) for mv in moves), key=max)
        ends = np.cumsum(sizes).tolist()
        return max(sizes), [(b - k, b) for k, b in zip(sizes, ends)]

    def _run(self, n: int, width: int, chunks: list[tuple[int, int]], submit: Callable, extra: bool):
        """Runs every chunk, re-running those whose worker died; returns y, errors (, extra)."""
        y = np.full(n, np.nan, np.float64)
        errors: dict[int, str] = {}
        extras: list = [None] * len(chunks)
        attempts = [0] * len(chunks)
        pending: dict = {}
        for k, (a, b) in enumerate(chunks):
            slot = k % self.num_workers
            actor = self._actors[slot]
            pending[submit(actor, a, b)] = (k, slot, actor)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                k, slot, actor = pending.pop(ref)
                a, b = chunks[k]
                try:
                    out = ray.get(ref)
                except _DEATH_ERRORS as exc:
                    self._replace(slot, actor)
                    if attempts[k] < self.max_retries:
                        attempts[k] += 1
                        self.retries += 1
                        actor = self._actors[slot]
                        pending[submit(actor, a, b)] = (k, slot, actor)
                    else:
                        msg = f"worker died {attempts[k] + 1} times on this chunk, giving up: {error_text(exc, 300)}"
                        errors.update({i: msg for i in range(a, b)})
                    continue
                except rex.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, BadOutput):
                        raise cause.cause from None
                    raise
                y[a:b] = out[0]
                errors.update({a + i: m for i, m in out[1].items()})
                if extra:
                    extras[k] = out[2]
        except Exception:
            self._collect(pending)
            raise
        except BaseException:  # KeyboardInterrupt: do not wait for the chunks
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - best effort while interrupted
                    pass
            raise
        return (y, errors, extras) if extra else (y, errors)

    def _collect(self, pending: dict) -> None:
        """Waits for the chunks still running when a batch failed and drops their results.

        Ray reports an error object that nobody fetched as an "Unhandled error" when its
        reference goes away; fetching each one here keeps the failure to the one raised.
        Waiting also leaves the workers idle for the next call, and a worker found dead
        is replaced so the pool stays whole.
        """
        for ref, (_, slot, actor) in pending.items():
            try:
                ray.get(ref)
            except _DEATH_ERRORS:
                self._replace(slot, actor)
            except Exception:  # noqa: BLE001 - the batch failed already; its siblings' errors are dropped
                pass
        pending.clear()

    def evaluate(
        self, values: Any, *, space: Space | None = None, vectorized: bool | None = None
    ) -> tuple[np.ndarray, dict[int, str]]:
        """Evaluates a batch on the workers, in order.

        Args:
            values: ``(n, dim)`` parameter values (e.g. ``space.from_unit(X)``).
            space: The search space; with dict bounds it turns rows into the dict that
                ``f`` takes (as :func:`arqon_jax.minimize`'s host path does). ``None``:
                ``f`` gets the array.
            vectorized: Whether ``f`` takes a batch; defaults to the pool's.

        Returns:
            ``y`` float64 ``(n,)`` (NaN where evaluation failed) and ``errors``, a dict
            row -> message for the rows that raised or whose worker kept dying.
        """
        self._check_open()
        vectorized = self.vectorized if vectorized is None else vectorized
        if not isinstance(vectorized, bool):
            raise TypeError(f"vectorized: expected a bool, got {vectorized!r}")
        if space is not None and not isinstance(space, Space):
            raise TypeError(f"space: expected an arqon_jax.Space or None, got {type(space).__name__}")
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or (space is not None and values.shape[1] != space.dim):
            want = f"(n, {space.dim})" if space is not None else "(n, dim)"
            raise ValueError(f"values: expected shape {want}, got {values.shape}")
        n = len(values)
        if n == 0:
            return np.zeros(0, np.float64), {}
        x64 = bool(jax.config.jax_enable_x64)
        width, chunks = self._chunks(n, values.shape[1])

        def submit(actor, a, b):
            return actor.evaluate.remote(values[a:b], space, vectorized, x64, width)

        return self._run(n, width, chunks, submit, extra=False)

    def evaluate_probe(
        self,
        start: int,
        count: int,
        space: Space,
        *,
        seed: int = 0,
        plan: ProbePlan | None = None,
        offsets: Any = None,
        spice_key: Any = None,
        vectorized: bool | None = None,
        return_points: bool = False,
    ):
        """Sharded probing: workers generate probe points ``[start, start + count)`` themselves.

        Only index ranges cross the wire. Points come from the stateless probe kernel:

        * ``seed``/``plan``: :func:`arqon_jax.probe_points` ``(start, count, dim, seed, plan)``.
        * ``offsets``/``spice_key`` (with ``plan``): the probe of a solver run, from its
          state (``state.probe_offsets``, ``state.spice_key``; the plan of
          :func:`arqon_jax.make_solver` is ``ProbePlan(anchors, spice)``, by default
          ``ProbePlan(("center",), 0.1)``): index ``i`` is row ``i`` of the probe batches
          its ``ask`` returns.

        Args:
            start: First index (>= 0).
            count: Number of points (>= 1).
            space: The search space (points are mapped with ``space.from_unit``).
            return_points: Also return the unit-cube points ``(count, dim)``.

        Returns:
            ``(y, errors)`` as :meth:`evaluate`, or ``(y, errors, points)``.
        """
        self._check_open()
        if not isinstance(space, Space):
            raise TypeError(f"space: expected an arqon_jax.Space, got {type(space).__name__}")
        start, count = check_int("start", start, 0), check_int("count", count, 1)
        check_index_range(start, count)
        if plan is not None and not isinstance(plan, ProbePlan):
            raise TypeError(f"plan: expected a ProbePlan or None, got {type(plan).__name__}")
        vectorized = self.vectorized if vectorized is None else vectorized
        plan = plan or ProbePlan()
        if (offsets is None) != (spice_key is None):
            raise ValueError("offsets, spice_key: give both (from a SolverState) or neither (seed mode)")
        if offsets is None:
            gen: tuple = ("seed", int(seed), plan)
        else:
            offsets = np.asarray(offsets, dtype=np.uint32)
            if offsets.shape != (2, space.dim):
                raise ValueError(f"offsets: expected shape (2, {space.dim}), got {offsets.shape}")
            if is_typed_key(spice_key):
                spice_key = jax.random.key_data(spice_key)
            gen = ("core", offsets, np.asarray(spice_key, dtype=np.uint32), plan.key())
        x64 = bool(jax.config.jax_enable_x64)
        width, chunks = self._chunks(count, space.dim)

        def submit(actor, a, b):
            return actor.evaluate_probe.remote(start + a, b - a, space, gen, vectorized, x64, width, return_points)

        out = self._run(count, width, chunks, submit, extra=return_points)
        if not return_points:
            return out
        y, errors, parts = out
        dtype = np.float64 if x64 else np.float32
        points = np.full((count, space.dim), np.nan, dtype)
        for (a, b), p in zip(chunks, parts):
            if p is not None:  # None: the chunk's workers kept dying
                points[a:b] = p
        return y, errors, points

    # ---------------------------------------------------------------- shutdown
    def close(self, timeout: float = 10.0) -> None:
        """Kills the workers and waits (up to ``timeout`` s) until Ray reports them dead."""
        if self._closed:
            return
        self._closed = True
        actors, self._actors = self._actors, []
        for a in actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # already dead
                pass
        # A call on a killed actor fails once Ray has processed the kill (a call sent
        # just before may still succeed): wait for that, so that "closed" means "no
        # actor left" to whoever checks next.
        deadline = time.monotonic() + timeout
        for a in actors:
            _wait_dead(a, deadline)
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"RayPool({self.num_workers} workers, cpus_per_worker={self.cpus_per_worker}, "
                f"gpus_per_worker={self.gpus_per_worker}, retries={self.retries}, {state})")

"""Minimize a large vectorized Rastrigin with a pool of 4 Ray actors.

With a GPU, the 4 workers share it (0.25 GPU each, JAX memory capped to each share);
without one, they are CPU workers. Prints the pool, throughput and the best value.

    python examples/actor_pool_rastrigin.py            # 50-D, 200 000 evaluations
    python examples/actor_pool_rastrigin.py --quick    # 20-D, 20 000 evaluations
    python examples/actor_pool_rastrigin.py --address auto   # join a running cluster
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from arqon_jax import minimize  # noqa: E402  (imports JAX, does not start its backend)
from arqon_jax.distributed import RayPool  # noqa: E402
from arqon_jax.functions import make_problem  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small run (20-D, 20 000 evaluations)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--dim", type=int, default=None)
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--address", default=None, help='Ray cluster to join, e.g. "auto" (default: start one here)')
    args = ap.parse_args(argv)
    dim = args.dim or (20 if args.quick else 50)
    budget = args.budget or (20_000 if args.quick else 200_000)
    batch = args.batch or (2_000 if args.quick else 8_000)

    # Ray before JAX's backend: workers are separate processes, not forks of this one.
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(include_dashboard=False, object_store_memory=300_000_000, log_to_driver=False)
    n_gpus = ray.cluster_resources().get("GPU", 0)
    if n_gpus:
        # 4 workers on one GPU: 0.25 GPU each, no CPU reserved (the GPU does the work).
        options = dict(gpus_per_worker=0.25, cpus_per_worker=0)
    else:
        options = dict(gpus_per_worker=0)  # CPU workers, sharing the CPUs

    problem = make_problem("rastrigin", dim, shift=True, seed=args.seed)
    print(f"Rastrigin {dim}-D (shifted), budget {budget}, batch {batch}, GPUs in the cluster: {n_gpus:g}")
    with RayPool(problem.f, args.workers, **options) as pool:
        print(pool, "- JAX backend in the workers:", ray.get(pool.actors[0].jax_backend.remote()))
        for w in pool.workers_info():
            print(f"  worker pid {w['pid']}: GPU ids {w['gpu_ids'] or '-'}")
        t0 = time.perf_counter()
        res = minimize(None, problem.bounds, budget=budget, batch_size=batch, seed=args.seed, pool=pool, progress=True)
        wall = time.perf_counter() - t0
    print(f"evaluations: {res.nfev} in {wall:.1f} s = {res.nfev / wall:,.0f} evals/s "
          f"(first batch includes compiling on the workers)")
    print(f"best value: {res.fun:.6g} (optimum {problem.f_opt:g}); strategy {res.decision.get('strategy')}; "
          f"failed {res.n_failed}, retries {res.info['retries']}")
    print(f"gradient polish: skipped ({res.info['polish']['skipped']})")  # in-process minimize(f, ...) may polish
    ray.shutdown()


if __name__ == "__main__":
    main()

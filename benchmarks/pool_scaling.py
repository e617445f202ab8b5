"""RayPool scaling: evaluations per second against the number of workers, and dispatch overhead.

Not a test. Measures, on a local Ray cluster started here:

* **Scaling**: ``pool.evaluate`` throughput for an objective expensive enough to matter
  (the MSE of a small JAX MLP, one candidate = one flattened parameter vector, on a
  fixed 4096-sample data set) with 1 and 2 CPU workers (1 CPU each), next to the same
  batch evaluated in-process. Goal: 2 workers >= 1.7x one worker for batches that take
  >= 50 ms.
* **Dispatch overhead**: time of ``pool.evaluate`` on a cheap objective (Sphere, a
  batch of 64 in 10-D) minus the in-process jitted call. Goal: < 5 ms per batch.
* **GPU** (only where a GPU exists): 1, 2 and 4 fractional workers sharing one GPU.

Writes ``benchmarks/results/pool_scaling.{json,md}``. Other processes on the machine
skew every figure: the load average before and after is recorded with the results.

Usage: ``python benchmarks/pool_scaling.py [--quick] [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np  # noqa: E402
import ray  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
D_IN, HIDDEN, N_DATA = 16, 64, 4096
N_PARAMS = D_IN * HIDDEN + HIDDEN + HIDDEN + 1
# One thread per worker: a worker owns one CPU, and XLA's own thread pool would
# otherwise compete with the other worker for the same two cores.
SINGLE_THREAD = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def make_mlp_loss():
    """A vectorized objective: candidates ``(batch, N_PARAMS)`` -> MLP training MSE ``(batch,)``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_DATA, D_IN)).astype(np.float32)
    t = np.sin(x.sum(axis=1)).astype(np.float32)

    def mlp_loss(theta):
        import jax
        import jax.numpy as jnp

        def one(p):
            w1 = p[: D_IN * HIDDEN].reshape(D_IN, HIDDEN)
            b1 = p[D_IN * HIDDEN : D_IN * HIDDEN + HIDDEN]
            w2 = p[D_IN * HIDDEN + HIDDEN : D_IN * HIDDEN + 2 * HIDDEN]
            h = jnp.tanh(jnp.asarray(x) @ w1 + b1)
            return jnp.mean((h @ w2 + p[-1] - jnp.asarray(t)) ** 2)

        return jax.vmap(one)(theta)

    return mlp_loss


def make_sphere():
    def sphere(X):
        return (X**2).sum(axis=1)

    return sphere


def make_sleeper(seconds: float):
    """An objective that waits ``seconds`` per call and uses no CPU: isolates the pool's concurrency."""

    def sleeper(X):
        import time as _t

        _t.sleep(seconds)
        return np.zeros(len(X))

    return sleeper


def bench_concurrency(repeats: int) -> list[dict]:
    """Batch time with an objective that sleeps 200 ms per chunk: ideal is 200 ms for any worker count."""
    from arqon_jax.distributed import RayPool

    values = np.zeros((64, 10))
    out = []
    for w in (1, 2, 4):
        with RayPool(make_sleeper(0.2), w, gpus_per_worker=0, cpus_per_worker=0, jit=False) as pool:
            med = statistics.median(_time(lambda: pool.evaluate(values), repeats, warmup=1))
        out.append({"workers": w, "median_s": med, "chunks_in_parallel": w * 0.2 / med})
        print(f"sleep objective (200 ms per chunk), {w} worker(s): {med * 1e3:.0f} ms per batch", flush=True)
    return out


def _time(fn, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_scaling(batches: list[int], repeats: int, workers: list[int], gpu: bool) -> list[dict]:
    import jax
    import jax.numpy as jnp

    from arqon_jax.distributed import RayPool

    f = make_mlp_loss()
    rng = np.random.default_rng(1)
    rows = []
    f_jit = jax.jit(f)
    for batch in batches:
        values = rng.normal(scale=0.1, size=(batch, N_PARAMS))
        vals32 = jnp.asarray(values, jnp.float32)
        t_in = _time(lambda: f_jit(vals32).block_until_ready(), repeats)
        rows.append({"kind": "in-process", "workers": 0, "batch": batch, "median_s": statistics.median(t_in),
                     "evals_per_s": batch / statistics.median(t_in)})
        print(f"batch {batch:5d}  in-process       {statistics.median(t_in) * 1e3:8.1f} ms", flush=True)
    for w in workers:
        if gpu:
            kw = dict(gpus_per_worker=round(1.0 / w, 4), cpus_per_worker=0)
            label = f"{w} x {1.0 / w:.2f} GPU"
        else:
            kw = dict(gpus_per_worker=0, cpus_per_worker=1, env_vars=SINGLE_THREAD)
            label = f"{w} CPU worker(s)"
        with RayPool(f, w, **kw) as pool:
            for batch in batches:
                values = rng.normal(scale=0.1, size=(batch, N_PARAMS))
                pool.evaluate(values)  # compile this chunk width before timing
                cpu0 = sum(i["cpu_time_s"] for i in pool.workers_info())
                ts = _time(lambda: pool.evaluate(values), repeats, warmup=1)
                cpu = sum(i["cpu_time_s"] for i in pool.workers_info()) - cpu0
                # Cores the workers actually got while timed: under contention from other
                # processes this, not the worker count, bounds the speed-up.
                cores = cpu / (sum(ts) + ts[0])  # the warmup call ran too
                med = statistics.median(ts)
                rows.append({"kind": "gpu" if gpu else "cpu", "workers": w, "batch": batch, "median_s": med,
                             "evals_per_s": batch / med, "times_s": ts, "worker_cores_used": cores})
                print(f"batch {batch:5d}  {label:16s} {med * 1e3:8.1f} ms  {batch / med:9.0f} evals/s  "
                      f"workers used {cores:.2f} cores", flush=True)
    return rows


def bench_overhead(repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    from arqon_jax.distributed import RayPool

    f = make_sphere()
    values = np.random.default_rng(2).uniform(-5, 5, size=(64, 10))
    f_jit = jax.jit(f)
    v32 = jnp.asarray(values, jnp.float32)
    t_in = statistics.median(_time(lambda: np.asarray(f_jit(v32)), repeats, warmup=5))
    out = {"batch": 64, "dim": 10, "in_process_s": t_in}
    for w in (1, 2):
        with RayPool(f, w, gpus_per_worker=0, cpus_per_worker=0, env_vars=SINGLE_THREAD) as pool:
            ts = _time(lambda: pool.evaluate(values), repeats, warmup=5)
        out[f"pool_{w}_s"] = statistics.median(ts)
        out[f"overhead_{w}_ms"] = (statistics.median(ts) - t_in) * 1e3
        print(f"dispatch overhead, {w} worker(s): {out[f'overhead_{w}_ms']:.2f} ms per batch", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and one batch size")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 10)
    batches = [256] if args.quick else [64, 256, 1024]

    load_before = os.getloadavg()
    t0 = time.time()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=300_000_000, log_to_driver=False)
    gpus = float(ray.cluster_resources().get("GPU", 0))
    scaling = bench_scaling(batches, repeats, [1, 2], gpu=False)
    gpu_rows = bench_scaling(batches, repeats, [1, 2, 4], gpu=True) if gpus > 0 else None
    overhead = bench_overhead(max(repeats * 5, 30))
    concurrency = bench_concurrency(max(3, repeats))
    ray.shutdown()
    load_after = os.getloadavg()

    speedups = {}
    for batch in batches:
        one = next(r for r in scaling if r["kind"] == "cpu" and r["workers"] == 1 and r["batch"] == batch)
        two = next(r for r in scaling if r["kind"] == "cpu" and r["workers"] == 2 and r["batch"] == batch)
        speedups[batch] = {"one_worker_batch_ms": one["median_s"] * 1e3,
                           "speedup_2_vs_1": two["evals_per_s"] / one["evals_per_s"],
                           "cores_used_1": one["worker_cores_used"], "cores_used_2": two["worker_cores_used"]}
    goal_batches = [b for b, s in speedups.items() if s["one_worker_batch_ms"] >= 50]
    verdict = {
        "scaling_goal": "2 workers >= 1.7x one worker for batches >= 50 ms",
        "scaling_met": bool(goal_batches) and all(speedups[b]["speedup_2_vs_1"] >= 1.7 for b in goal_batches),
        # The goal can only be judged if the two workers actually got (nearly) two cores.
        "scaling_conclusive": bool(goal_batches) and all(speedups[b]["cores_used_2"] >= 1.5 for b in goal_batches),
        "overhead_goal": "dispatch overhead < 5 ms per batch",
        "overhead_met": overhead["overhead_1_ms"] < 5 and overhead["overhead_2_ms"] < 5,
    }
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "ray": ray.__version__, "gpus": gpus},
        "conditions": {"load_avg_before": load_before, "load_avg_after": load_after, "wall_s": time.time() - t0,
                       "repeats": repeats, "note": "other agents share these cores; see the load averages"},
        "objective": f"MLP MSE, {D_IN}-{HIDDEN}-1 tanh, {N_DATA} samples, {N_PARAMS} parameters per candidate",
        "scaling": scaling,
        "speedups": speedups,
        "gpu": gpu_rows if gpu_rows is not None else "missing: no GPU on this machine",
        "overhead": overhead,
        "concurrency": concurrency,
        "verdict": verdict,
    }
    print(json.dumps(verdict, indent=1))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "pool_scaling.json").write_text(json.dumps(result, indent=1))
        (RESULTS / "pool_scaling.md").write_text(_markdown(result))
    return 0


def _markdown(r: dict) -> str:
    c = r["conditions"]
    lines = [
        "# RayPool scaling",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}, Python {r['machine']['python']}, "
        f"Ray {r['machine']['ray']}, GPUs: {r['machine']['gpus']:g}.",
        f"Load average before {tuple(round(x, 2) for x in c['load_avg_before'])}, after "
        f"{tuple(round(x, 2) for x in c['load_avg_after'])} (other agents share the cores); {c['repeats']} timed "
        "repeats per row, medians.",
        "",
        f"Objective: {r['objective']}. Workers: 1 CPU each, XLA single-threaded.",
        "",
        "| batch | in-process ms | 1 worker ms | 2 workers ms | 1 worker evals/s | 2 workers evals/s | speed-up 2 vs 1 "
        "| cores used by 1 / 2 workers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, s in r["speedups"].items():
        row = {(x["kind"], x["workers"]): x for x in r["scaling"] if x["batch"] == batch}
        lines.append(
            f"| {batch} | {row[('in-process', 0)]['median_s'] * 1e3:.1f} | {row[('cpu', 1)]['median_s'] * 1e3:.1f} | "
            f"{row[('cpu', 2)]['median_s'] * 1e3:.1f} | {row[('cpu', 1)]['evals_per_s']:.0f} | "
            f"{row[('cpu', 2)]['evals_per_s']:.0f} | {s['speedup_2_vs_1']:.2f}x | {s['cores_used_1']:.2f} / {s['cores_used_2']:.2f} |"
        )
    if not r["verdict"]["scaling_conclusive"]:
        lines += [
            "",
            "**Inconclusive**: the two workers together got less than 1.5 cores (column \"cores used\") because "
            "other processes loaded the machine; the speed-up measures that contention, not the pool. Rerun on a "
            "quiet machine.",
        ]
    o = r["overhead"]
    cc = ", ".join(f"{c['workers']} worker(s) {c['median_s'] * 1e3:.0f} ms" for c in r["concurrency"])
    lines += [
        "",
        f"Concurrency check (an objective that sleeps 200 ms per chunk, no CPU): batch time {cc}; "
        "about 200 ms whatever the number of workers means the chunks run in parallel.",
        "",
        f"Dispatch overhead (Sphere, batch {o['batch']}, {o['dim']}-D; pool.evaluate minus the in-process jitted call "
        f"of {o['in_process_s'] * 1e3:.2f} ms): 1 worker {o['overhead_1_ms']:.2f} ms, 2 workers {o['overhead_2_ms']:.2f} ms per batch.",
        "",
        "GPU: " + (r["gpu"] if isinstance(r["gpu"], str) else "see pool_scaling.json (\"gpu\")."),
        "",
        f"Verdict: scaling goal ({r['verdict']['scaling_goal']}): "
        f"{'met' if r['verdict']['scaling_met'] else 'NOT met'}"
        f"{'' if r['verdict']['scaling_conclusive'] else ' (inconclusive, see above)'}; "
        f"overhead goal ({r['verdict']['overhead_goal']}): {'met' if r['verdict']['overhead_met'] else 'NOT met'}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Points per second of the probe kernel against other unit-cube point generators.

    python benchmarks/probe_throughput.py            # full grid, writes benchmarks/results/probe_throughput.{json,md}
    python benchmarks/probe_throughput.py --quick    # smoke run (counts 1e3, 1e4), prints only

Generators, all producing ``count`` points in ``[0, 1)^dim`` in ONE run on the same machine:

* ``arqon_jax f32`` / ``f64``: ``arqon_jax.core.probe.kronecker(0, count, dim, seed=0)`` (jitted; timed
  after a warm-up call, with ``block_until_ready``), float32 (default) and float64 (``jax.enable_x64``).
* ``scipy Sobol``: ``scipy.stats.qmc.Sobol(dim, scramble=True)``; ``reset()`` + ``random(count)``
  (the scrambling at construction is not timed: favourable to Sobol). float64.
* ``numpy rng``: ``np.random.default_rng(0).random((count, dim))``. float64, not low-discrepancy.
* ``ArqonHPO``: ``ArqonProbe(config, seed).sample_range(0, count)`` of arqonhpo 0.3.3, run in
  its Python 3.12 venv (``benchmarks/.peer_env``) through ``benchmarks/peers/arqonhpo.py``;
  timed inside that process. It returns a list of ``count`` dicts ``{name: value}`` (its API),
  so its cost includes building Python objects.

Also timed, not as a peer: ``jnp.full((count, dim), v, float32)`` jitted, the cost of merely producing a
fresh output array (above ~32 MB the OS hands out new pages on every call and everyone runs near it).

Each cell is the best of several repeats. A cell is skipped when the generator's output would
exceed ~1.5 GB (ArqonHPO's dicts take ~7 kB per 100-dim point).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import qmc  # noqa: E402

from arqon_jax.core.probe import kronecker  # noqa: E402
from benchmarks import _common  # noqa: E402
from benchmarks.peers import arqonhpo as arqon_peer  # noqa: E402

MEMORY_CAP = 1.5e9
PEERS = ["arqon_jax f32", "arqon_jax f64", "scipy Sobol", "numpy rng", "ArqonHPO"]
# Not a peer: the rate at which JAX can merely fill a fresh float32 array of the same shape.
# Above ~32 MB every call gets fresh pages from the OS and this floor dominates everyone.
FLOOR = "jnp.full f32 (floor)"


def _bytes(peer: str, count: int, dim: int) -> float:
    """Rough peak bytes of one call's output."""
    if peer in ("arqon_jax f32", FLOOR):
        return 4.0 * count * dim
    if peer == "ArqonHPO":  # list of dicts: dict ~ 40 B/entry + float objects 24 B + list slot
        return count * (8 + 232 + 64.0 * dim)
    return 8.0 * count * dim


def _time_ours(count: int, dim: int, x64: bool, budget_s: float) -> tuple[float, list[float]]:
    with jax.enable_x64(x64):
        kronecker(0, count, dim, seed=0).block_until_ready()  # compile + warm up
        return _common.best_time(lambda: kronecker(0, count, dim, seed=0).block_until_ready(), budget_s=budget_s)


def _time_fill(count: int, dim: int, budget_s: float) -> tuple[float, list[float]]:
    fill = jax.jit(lambda v: jnp.full((count, dim), v, jnp.float32))
    fill(0.5).block_until_ready()
    return _common.best_time(lambda: fill(0.5).block_until_ready(), budget_s=budget_s)


def _time_sobol(count: int, dim: int, budget_s: float) -> tuple[float, list[float]]:
    engine = qmc.Sobol(dim, scramble=True, seed=0)

    def run():
        engine.reset()
        return engine.random(count)

    with warnings.catch_warnings():  # "balance properties ... n is a power of 2": not what we measure
        warnings.simplefilter("ignore")
        run()
        return _common.best_time(run, budget_s=budget_s)


def _time_numpy(count: int, dim: int, budget_s: float) -> tuple[float, list[float]]:
    rng = np.random.default_rng(0)
    rng.random((count, dim))
    return _common.best_time(lambda: rng.random((count, dim)), budget_s=budget_s)


def _time_arqonhpo(count: int, dim: int) -> tuple[float, list[float]] | None:
    repeats = 3 if count * dim <= 10**6 else 2
    r = arqon_peer.run_job({"kind": "probe_throughput", "dim": dim, "count": count, "repeats": repeats, "seed": 0})
    return (r["seconds"], r["times"]) if r else None


def _fmt(rate: float | None) -> str:
    if rate is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.3g}{unit}"
    return f"{rate:.3g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: counts 1e3 and 1e4, short timing; prints only")
    ap.add_argument("--no-arqonhpo", action="store_true", help="leave ArqonHPO out")
    ap.add_argument("--out", type=Path, default=None, help="folder for the result files (default benchmarks/results)")
    args = ap.parse_args(argv)

    dims = [2, 10, 100]
    counts = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5, 10**6]
    budget_s = 0.3 if args.quick else 1.5
    use_arqon = not args.no_arqonhpo and arqon_peer.available()
    arqon_info = arqon_peer.run_job({"kind": "info"}) if use_arqon else None
    if not use_arqon and not args.no_arqonhpo:
        print("ArqonHPO peer not available (run `bash benchmarks/setup_peer_env.sh`); its column stays empty", file=sys.stderr)

    cells = []
    for dim in dims:
        for count in counts:
            row = {"dim": dim, "count": count, "seconds": {}, "times": {}, "points_per_s": {}, "skipped": {}}
            for peer in [*PEERS, FLOOR]:
                if peer == "ArqonHPO" and not use_arqon:
                    row["skipped"][peer] = "not available"
                    continue
                need = _bytes(peer, count, dim)
                if need > MEMORY_CAP:
                    row["skipped"][peer] = f"output ~{need / 1e9:.1f} GB > {MEMORY_CAP / 1e9:.1f} GB"
                    continue
                if peer == "arqon_jax f32":
                    res = _time_ours(count, dim, False, budget_s)
                elif peer == "arqon_jax f64":
                    res = _time_ours(count, dim, True, budget_s)
                elif peer == "scipy Sobol":
                    res = _time_sobol(count, dim, budget_s)
                elif peer == "numpy rng":
                    res = _time_numpy(count, dim, budget_s)
                elif peer == FLOOR:
                    res = _time_fill(count, dim, budget_s)
                else:
                    res = _time_arqonhpo(count, dim)
                if res is None:
                    row["skipped"][peer] = "failed"
                    continue
                best, times = res
                row["seconds"][peer] = best
                row["times"][peer] = times
                row["points_per_s"][peer] = count / best
            others = {k: v for k, v in row["points_per_s"].items() if k not in ("arqon_jax f32", "arqon_jax f64", FLOOR)}
            ours = row["points_per_s"].get("arqon_jax f32")
            row["best_peer"] = max(others, key=others.get) if others else None
            row["f32_vs_best_peer"] = ours / others[row["best_peer"]] if others and ours else None
            row["f32_beats"] = sorted(k for k, v in others.items() if ours and ours > v)
            row["f32_loses_to"] = sorted(k for k, v in others.items() if ours and ours <= v)
            cells.append(row)
            print(
                f"dim {dim:>3} count {count:>8}: "
                + "  ".join(f"{p}={_fmt(row['points_per_s'].get(p))}" for p in PEERS)
                + (f"  f32/best peer={row['f32_vs_best_peer']:.2f}x" if row["f32_vs_best_peer"] else ""),
                flush=True,
            )

    header = ["dim", "count", *PEERS, "f32 / best peer", "f32 loses to", FLOOR]
    rows = []
    for c in cells:
        rate = [_fmt(c["points_per_s"].get(p)) if p in c["points_per_s"] else f"skip ({c['skipped'].get(p, '')})" for p in [*PEERS, FLOOR]]
        ratio = f"{c['f32_vs_best_peer']:.2f}x" if c["f32_vs_best_peer"] else "-"
        rows.append([c["dim"], f"{c['count']:.0e}".replace("+0", ""), *rate[:-1], ratio, ", ".join(c["f32_loses_to"]) or "none", rate[-1]])
    table = _common.markdown_table(header, rows)
    print()
    print(table)

    big = [c for c in cells if c["count"] >= 10**4]
    lost = [(c["dim"], c["count"], c["f32_loses_to"]) for c in big if c["f32_loses_to"]]
    verdict = (
        "arqon_jax (float32) has the most points per second in every cell with count >= 1e4."
        if not lost
        else "arqon_jax (float32) loses at count >= 1e4 in: " + "; ".join(f"dim {d} count {n:.0e} to {', '.join(p)}" for d, n, p in lost)
    )
    print(verdict)
    if args.quick and args.out is None:
        return 0

    meta = _common.machine_info()
    meta["command"] = _common.command_line()
    meta["arqonhpo"] = arqon_info
    payload = {
        "benchmark": "probe_throughput",
        "unit": "points per second (best of repeats)",
        "meta": meta,
        "peers": {
            "arqon_jax f32": "arqon_jax.core.probe.kronecker(0, n, dim, seed=0), jitted, float32, after warm-up, block_until_ready",
            "arqon_jax f64": "same with jax.enable_x64(True), float64",
            "scipy Sobol": "scipy.stats.qmc.Sobol(dim, scramble=True): reset() + random(n), float64 (scrambling not timed)",
            "numpy rng": "np.random.default_rng(0).random((n, dim)), float64",
            "ArqonHPO": "arqonhpo ArqonProbe.sample_range(0, n) in its Python 3.12 venv (list of dicts), timed in-process",
            FLOOR: "not a peer: jitted jnp.full((n, dim), v, float32); the cost of producing a fresh output array",
        },
        "memory_cap_bytes": MEMORY_CAP,
        "quick": args.quick,
        "cells": cells,
        "verdict": verdict,
    }
    arqon_line = (
        f"ArqonHPO {arqon_info['arqonhpo']} runs in its own Python {arqon_info['python']} venv (numpy {arqon_info['numpy']}), "
        "through benchmarks/peers/arqonhpo.py; its time is measured inside that process and includes building its "
        "list of dicts (its API returns nothing else)."
        if arqon_info
        else "ArqonHPO: not available in this run."
    )
    md = f"""# Probe throughput: points per second

- date: {meta['date']}
- machine: {meta['processor']}, {meta['cpu_count']} CPUs ({meta['platform']}); load average at the end {meta.get('load_average')}
- JAX {meta['jax']} (jaxlib {meta.get('jaxlib')}), backend `{meta['jax_backend']}`, devices {meta['jax_devices']}
- Python {meta['python']}, numpy {meta['numpy']}, scipy {meta.get('scipy')}
- command: `{meta['command']}`

Cells: points per second, best of several repeats, all generators in one run on the same machine
(shared with other jobs, so absolute numbers are noisy; ratios within a row are taken minutes apart at most).
`arqon_jax f32/f64`: `kronecker(0, n, dim, seed=0)`, jitted, after warm-up, `block_until_ready`.
`scipy Sobol`: scrambled, `reset()` + `random(n)` (scrambling not timed). `numpy rng`: `default_rng().random((n, dim))`, float64.
{arqon_line}

{table}

"f32 / best peer": arqon_jax float32 rate over the fastest other generator in the row (> 1 means we win).
"{FLOOR}": not a generator; how fast JAX merely fills a new float32 array of the same shape. Outputs above
~32 MB (1e6 x 10, 1e5 x 100, 1e6 x 100) get fresh pages from the OS on every call, so all generators run near
this floor there and the differences between them are mostly allocation and machine noise. NumPy asks for
transparent huge pages on large arrays and XLA's CPU allocator does not, so those cells favour the NumPy-based
peers. (A side check on this machine: with glibc told to keep freed memory, `MALLOC_MMAP_THRESHOLD_=2000000000
MALLOC_TRIM_THRESHOLD_=4000000000`, `kronecker(0, 10**6, 10)` took ~5 ms instead of ~25-45 ms.)

**Verdict:** {verdict}
"""
    json_path, md_path = _common.write_results("probe_throughput", payload, md, args.out)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time to a first answer: minimize in fresh processes, where compiling dominates.

Issue 15's goals on this CPU, for a 5-D, budget-100 host (numpy) objective with default
arguments: at most 3 s for a new problem in a fresh process with an empty persistent
cache, at most 0.3 s for a second call with other bound values or another budget of
the same dimension, at most 1 s in a new process with a warm cache. Also a JAX
objective (device path) for comparison. Each row is one child process; the cache
folder is fresh for the "empty cache" rows and reused for the "warm cache" row.

Each kind runs twice: with JAX's defaults (``XLA_FLAGS`` unset), and with XLA's older
CPU emitters (``XLA_FLAGS=--xla_cpu_use_fusion_emitters=false``), which the test suite
uses because they compile our programs in about half the time.

    python benchmarks/compile_time.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import command_line, machine_info, markdown_table, write_results  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import jax.numpy as jnp
import arqon_jax as aj
t_import = time.perf_counter() - t0
kind = sys.argv[1]
if kind == "host":
    f = lambda x: np.sum((np.asarray(x) - 0.3) ** 2, axis=1)
    kw = {"jit": False}
else:
    f = lambda x: jnp.sum((x - 0.3) ** 2, axis=1)
    kw = {}
out = {"import_s": t_import}
for name, bounds, budget in [("first", [(-5, 5)] * 5, 100), ("new_bounds", [(-4, 6)] * 5, 100),
                             ("new_budget", [(-4, 6)] * 5, 120), ("same_again", [(-5, 5)] * 5, 100)]:
    t = time.perf_counter()
    r = aj.minimize(f, bounds, budget=budget, seed=1, **kw)
    out[name + "_s"] = time.perf_counter() - t
    out["path"] = r.info["path"]
print(json.dumps(out))
"""

GOALS = {"first_s": 3.0, "new_bounds_s": 0.3, "new_budget_s": 0.3}


VARIANTS = {"defaults": None, "older CPU emitters": "--xla_cpu_use_fusion_emitters=false"}


def child(kind: str, cache: str, xla_flags: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "XLA_FLAGS"}
    env["ARQON_JAX_CACHE_DIR"] = cache
    if xla_flags:
        env["XLA_FLAGS"] = xla_flags
    out = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="fresh-cache runs per objective kind (the median is shown)")
    args = ap.parse_args()
    rows, cells = [], []
    # Variants alternate within a repeat, so a slow phase of the machine hits both alike.
    for rep in range(args.repeats):
        for kind in ("host", "device"):
            for variant, flags in VARIANTS.items():
                with tempfile.TemporaryDirectory(prefix="arqon-compile-") as cache:
                    cold = child(kind, cache, flags)
                    warm = child(kind, cache, flags)
                cells.append({"kind": kind, "variant": variant, "xla_flags": flags, "repeat": rep,
                              "cold": cold, "warm": warm})
                print(kind, variant, rep, json.dumps(cold), json.dumps(warm), flush=True)
    for kind, variant in ((k, v) for k in ("host", "device") for v in VARIANTS):
        mine = [c for c in cells if c["kind"] == kind and c["variant"] == variant]

        def med(which, key):
            vals = sorted(c[which][key] for c in mine)
            return vals[len(vals) // 2]

        rows.append([kind, variant, mine[0]["cold"]["path"], f"{med('cold', 'import_s'):.2f}", f"{med('cold', 'first_s'):.2f}",
                     f"{med('cold', 'new_bounds_s'):.2f}", f"{med('cold', 'new_budget_s'):.2f}",
                     f"{med('cold', 'same_again_s'):.3f}", f"{med('warm', 'first_s'):.2f}"])
    info = machine_info()
    md = "\n".join([
        "# Time to a first answer (compilation)",
        "",
        f"Command: `{command_line()}`. Machine: {info['processor']}, {info['cpu_count']} cores, "
        f"load average {info.get('load_average')}, JAX {info['jax']} ({info['jax_backend']}).",
        "",
        "5-D sphere, budget 100, default arguments, seconds per `minimize` call; the median of "
        f"{args.repeats} fresh processes. Goals (issue 15, host objective): first call "
        "<= 3 s with an empty cache, new bounds or budget <= 0.3 s, warm-cache process <= 1 s. "
        "XLA: JAX's defaults (`XLA_FLAGS` unset) or the older CPU emitters "
        "(`XLA_FLAGS=--xla_cpu_use_fusion_emitters=false`; not a default of the library).",
        "",
        markdown_table(["objective", "XLA", "path", "import", "first call, empty cache", "new bounds", "new budget",
                        "same problem again", "first call, warm cache (new process)"], rows),
        "",
    ])
    write_results("compile_time", {"machine": info, "goals": GOALS, "cells": cells}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

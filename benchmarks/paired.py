"""Paired comparison of two bbob_small.py runs of the same optimizers and instances.

Per optimizer and dimension: on how many functions run A's best ``f - f*`` is lower
or higher than run B's (Wilcoxon signed-rank test over the instances, p < 0.05,
scipy's ``wilcoxon``), and how many single runs are lower or higher. Used for settings
such as the default batch (``bbob_small.py --batch-size`` against the default).

    python benchmarks/paired.py benchmarks/results/bbob_small_batch_default.json benchmarks/results/bbob_small_batch10.json --name bbob_small_batch_paired

Prints the table and writes <out>/<name>.{json,md} (``--out`` defaults to benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import command_line, machine_info, write_results  # noqa: E402


def compare(a: dict, b: dict, alpha: float = 0.05) -> list[dict]:
    from scipy.stats import wilcoxon

    rows = []
    cells_b = {(c["fid"], c["dim"]): c for c in b["cells"]}
    optimizers = [o for o in a["cells"][0]["gaps"] if o in b["cells"][0]["gaps"]]
    for o in optimizers:
        for dim in sorted({c["dim"] for c in a["cells"]}):
            row = {"optimizer": o, "dim": dim, "better": [], "worse": [], "runs_better": 0, "runs_worse": 0}
            for ca in (c for c in a["cells"] if c["dim"] == dim):
                x, y = np.asarray(ca["gaps"][o]), np.asarray(cells_b[(ca["fid"], dim)]["gaps"][o])
                if len(x) != len(y):
                    raise SystemExit(f"f{ca['fid']} {dim}-D {o}: {len(x)} against {len(y)} instances")
                row["runs_better"] += int(np.sum(x < y))
                row["runs_worse"] += int(np.sum(x > y))
                if np.any(x != y) and wilcoxon(x, y).pvalue < alpha:
                    row["better" if np.median(x) < np.median(y) else "worse"].append(int(ca["fid"]))
            rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="run A (bbob_small.py JSON)")
    ap.add_argument("b", help="run B (bbob_small.py JSON)")
    ap.add_argument("--name", default="bbob_small_paired")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    a, b = (json.loads(Path(p).read_text()) for p in (args.a, args.b))
    rows = compare(a, b)
    lines = [f"# Paired: {Path(args.a).name} (A) against {Path(args.b).name} (B)", "",
             f"{machine_info()['date']} · command: `{command_line()}`", "",
             f"A: {a['meta'].get('notes') or 'default arguments'}; B: {b['meta'].get('notes') or 'default arguments'}.",
             "Functions where A's best f - f* is lower (better) or higher (worse) than B's, Wilcoxon p < 0.05 over the "
             "instances; runs: single instances lower / higher.", "",
             "| optimizer | dim | better on | worse on | runs better / worse |", "|---|---|---|---|---|"]
    for r in rows:
        fs = lambda v: f"{len(v)} ({', '.join(f'f{i}' for i in v)})" if v else "0"  # noqa: E731
        lines.append(f"| {r['optimizer']} | {r['dim']} | {fs(r['better'])} | {fs(r['worse'])} | "
                     f"{r['runs_better']} / {r['runs_worse']} |")
    md = "\n".join(lines) + "\n"
    print(md)
    write_results(args.name, {"meta": machine_info() | {"command": command_line(), "a": args.a, "b": args.b},
                              "rows": rows}, md, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

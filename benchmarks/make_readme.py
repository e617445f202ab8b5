"""Regenerates the index and the headline tables of benchmarks/README.md.

    python benchmarks/make_readme.py           # rewrite the generated parts
    python benchmarks/make_readme.py --check   # exit 1 if README.md is out of date

The numbers are never typed by hand: for every ``benchmarks/results/*.md`` written by a
benchmark script, the README gets the file's title, its date/machine/command lines, its
first table (the headline), its verdict lines and its plots, with links to the full
files. The index of scripts comes from their docstrings. Only the text between the
``<!-- BEGIN GENERATED: ... -->`` / ``<!-- END GENERATED: ... -->`` markers is rewritten;
the rest of README.md is hand-written and kept as it is.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
MAX_ROWS = 30  # longer headline tables are cut, with a pointer to the full file
# Lines before the first table that say when, where and how the numbers were taken.
META_LINE = re.compile(r"^(?:[-*]\s*)?(date|machine|command|load average|device|gpu|jax\b)", re.I)

TEMPLATE = """# Benchmarks

Scripts that measure arqon_jax against its peers. Each prints a table and writes
`benchmarks/results/NAME.json` (every number, plus the machine: CPU, load average,
library versions, JAX backend and devices) and `benchmarks/results/NAME.md` (the
tables below come from those files, copied by `python benchmarks/make_readme.py`; do
not edit the numbers here by hand).

Run one from the repository root with either of:

```bash
python benchmarks/NAME.py [--quick]     # --quick: a smoke run, where the script has one
arqon-jax bench NAME [--quick]          # the same, through the command line; `arqon-jax bench` lists them
python benchmarks/make_readme.py        # then refresh this page
```

**Machine.** Unless a results file says otherwise, the numbers were taken on the
development VM: 2 AMD EPYC cores shared with other jobs (each file records the load
average, so absolute times are noisy; ratios within one run are the figures to read),
CPU-only JAX. On a GPU machine (`pip install -e ".[gpu]"`) the same scripts run
unchanged and record the device in their results.

**Peers.** ArqonHPO 0.3.3 needs Python 3.12 and runs in its own virtual environment,
created by `bash benchmarks/setup_peer_env.sh` (scripts leave it out when it is
missing, and say so). Optuna, Nevergrad, cma and scipy come with
`pip install -e ".[bench]"`.

Other notes: [cmaes_tuning.md](cmaes_tuning.md) (measured settings of the CMA-ES portfolio).

## Scripts

<!-- BEGIN GENERATED: index -->
<!-- END GENERATED: index -->

## Latest results

<!-- BEGIN GENERATED: results -->
<!-- END GENERATED: results -->
"""


def _scripts() -> dict[str, Path]:
    return {p.stem: p for p in sorted(HERE.glob("*.py")) if not p.stem.startswith("_") and p.stem != "make_readme"}


def _docstring(path: Path) -> str:
    try:
        return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _usage(name: str, doc: str) -> list[str]:
    """Command lines shown in the script's docstring, else the plain one."""
    lines = []
    for raw in doc.splitlines():
        s = raw.strip().strip("`")
        if s.startswith("Usage:"):
            s = s[len("Usage:"):].strip().strip("`")
        if s.startswith(f"python benchmarks/{name}.py"):
            lines.append(s.split("  #")[0].strip())
    return lines or [f"python benchmarks/{name}.py"]


# Scripts whose result files are not named after the script.
RESULT_NAMES = {"auto_rule_large": ["auto_cmaes_rule"]}


def make_index() -> str:
    rows = ["| script | what it measures | run | latest results |", "|---|---|---|---|"]
    for name, path in _scripts().items():
        doc = _docstring(path)
        summary = doc.strip().split("\n\n")[0].replace("\n", " ") if doc.strip() else ""
        run = "<br>".join(f"`{u}`" for u in _usage(name, doc))
        # A script writes <name>.md, or several <prefix>_*.md, or results named in RESULT_NAMES.
        names = RESULT_NAMES.get(name) or [name] + sorted(p.stem for p in RESULTS.glob(f"{name}_*.md"))
        found = [n for n in names if (RESULTS / f"{n}.md").exists()]
        if found:
            res = ", ".join(
                f"[{n}.md](results/{n}.md)" + (f" ([json](results/{n}.json))" if (RESULTS / f"{n}.json").exists() else "")
                for n in found
            )
        else:
            res = "not run yet"
        rows.append(f"| [{name}.py]({name}.py) | {_cell(summary)} | {run} | {res} |")
    return "\n".join(rows)


def _split_tables(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges of Markdown tables."""
    spans, i = [], 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


def headline(md_path: Path) -> str:
    """Title, date/machine/command lines, first table, verdicts and plots of one results file."""
    lines = md_path.read_text(encoding="utf-8").splitlines()
    name = md_path.stem
    title = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("# ")), name)
    tables = _split_tables(lines)
    first = tables[0] if tables else (len(lines), len(lines))
    meta = [ln.strip() for ln in lines[: first[0]]
            if ln.strip() and not ln.startswith("#") and META_LINE.match(ln.strip())]
    links = f"[{md_path.name}](results/{md_path.name})"
    if (RESULTS / f"{name}.json").exists():
        links += f", [{name}.json](results/{name}.json)"
    out = [f"### {title}", "", f"Full results: {links}.", ""]
    for m in meta[:4]:
        out.append(m if m.startswith(("- ", "* ")) else f"- {m}")
    if meta:
        out.append("")
    if tables:
        s, e = first
        table = lines[s:e]
        if len(table) - 2 > MAX_ROWS:
            cut = len(table) - 2 - MAX_ROWS
            table = table[: MAX_ROWS + 2]
            table.append("")
            table.append(f"*({cut} more rows in [{md_path.name}](results/{md_path.name}).)*")
        out += table
        out.append("")
        if len(tables) > 1:
            out.append(f"*({len(tables) - 1} more table(s) in the full file.)*")
            out.append("")
    verdicts = [ln.strip() for ln in lines if re.match(r"^\s*(\*\*)?(verdict|summary|result)\b", ln, re.I)]
    out += [*verdicts, ""] if verdicts else []
    for png in sorted(RESULTS.glob(f"{name}*.png")):
        out += [f"![{png.stem}](results/{png.name})", ""]
    return "\n".join(out).rstrip()


def make_results() -> str:
    files = sorted(RESULTS.glob("*.md"))
    if not files:
        return "No results yet: run a benchmark (see above)."
    return "\n\n".join(headline(p) for p in files)


def _replace(text: str, section: str, body: str) -> str:
    begin, end = f"<!-- BEGIN GENERATED: {section} -->", f"<!-- END GENERATED: {section} -->"
    if begin not in text or end not in text:
        text = text.rstrip() + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def render(current: str | None) -> str:
    text = current if current else TEMPLATE
    text = _replace(text, "index", make_index())
    return _replace(text, "results", make_results())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date, write nothing")
    args = ap.parse_args(argv)
    current = README.read_text(encoding="utf-8") if README.exists() else None
    new = render(current)
    if args.check:
        if new != current:
            print(f"{README} is out of date: run python benchmarks/make_readme.py", file=sys.stderr)
            return 1
        return 0
    if new != current:
        README.write_text(new, encoding="utf-8")
        print(f"wrote {README}")
    else:
        print(f"{README} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

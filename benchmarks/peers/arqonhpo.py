"""ArqonHPO as a benchmark peer, seen from our Python 3.11 side.

ArqonHPO ships cp312 wheels only, so it lives in its own Python 3.12 virtual
environment (``bash benchmarks/setup_peer_env.sh`` creates
``benchmarks/.peer_env``) and runs there through
``benchmarks/peers/arqonhpo_runner.py``, one JSON job per subprocess.
This module never imports arqonhpo.

    from benchmarks.peers import arqonhpo as arqon_peer
    if arqon_peer.available():
        r = arqon_peer.run_job({"kind": "minimize", "bounds": [[-5.12, 5.12]] * 2,
                                "budget": 100, "seed": 0, "function": "rastrigin",
                                "shift": [0.3, -0.2]})

Job kinds and result fields are documented in arqonhpo_runner.py.
Environment overrides: ARQON_PEER_ENV (venv folder), ARQON_PEER_PYTHON (interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
RUNNER = _HERE / "arqonhpo_runner.py"
ENV_DIR = Path(os.environ.get("ARQON_PEER_ENV", _HERE.parent / ".peer_env"))
SETUP_SCRIPT = _HERE.parent / "setup_peer_env.sh"


def python_path() -> Path:
    """The peer interpreter (it may not exist)."""
    override = os.environ.get("ARQON_PEER_PYTHON")
    if override:
        return Path(override)
    return ENV_DIR / "bin" / "python"


def available() -> bool:
    """True when the peer venv exists and can import arqonhpo."""
    py = python_path()
    if not py.exists():
        return False
    try:
        proc = subprocess.run([str(py), "-I", "-c", "import arqonhpo, numpy"],
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def run_job(job: dict, timeout: float | None = 3600.0) -> dict | None:
    """Run one job in the peer environment and return its JSON result.

    Returns None (with a message on stderr) when the environment is missing.
    Raises RuntimeError when the runner fails or prints no JSON.
    """
    py = python_path()
    if not py.exists():
        print(f"arqonhpo peer: no Python 3.12 environment at {py.parent.parent}; "
              f"run `bash {SETUP_SCRIPT}` to create it (skipping ArqonHPO)", file=sys.stderr)
        return None
    # -I: isolated mode, so this folder (with this very file, named arqonhpo.py)
    # is not put on the runner's sys.path, and no PYTHON* variables leak in.
    proc = subprocess.run([str(py), "-I", str(RUNNER)], input=json.dumps(job),
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout.strip().splitlines()
    result = None
    if out:
        try:
            result = json.loads(out[-1])
        except json.JSONDecodeError:
            result = None
    if proc.returncode != 0 or result is None or "error" in result:
        detail = (result or {}).get("error") or proc.stderr.strip()[-2000:]
        raise RuntimeError(f"arqonhpo runner failed (rc={proc.returncode}) on {job.get('kind')!r}: {detail}")
    return result


if __name__ == "__main__":  # smoke test: python benchmarks/peers/arqonhpo.py
    if not available():
        print("arqonhpo peer: not available", file=sys.stderr)
        sys.exit(0)
    print(json.dumps(run_job({"kind": "info"})))
    r = run_job({"kind": "minimize", "bounds": [[-5.12, 5.12]] * 2, "budget": 50, "seed": 0,
                 "function": "sphere", "shift": [1.0, -1.0]})
    print(json.dumps({k: r[k] for k in ("best", "nfev", "wall_s", "objective_s")}))

#!/usr/bin/env bash
# Create (or refresh) the Python 3.12 "peer" environment used by the benchmarks
# to run ArqonHPO (which ships cp312 wheels only) and Optuna side by side with
# arqon_jax. The environment lives at benchmarks/.peer_env (git-ignored).
#
# Idempotent: re-running it only installs what is missing. Exits 0 with a
# message (and creates nothing) when no Python 3.12 interpreter can be found,
# so CI and benchmark drivers can call it unconditionally.
#
# Environment overrides:
#   PEER_PYTHON   path of a Python 3.12 interpreter to use
#   PEER_ENV_DIR  where to create the venv (default: benchmarks/.peer_env)
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_DIR="${PEER_ENV_DIR:-$HERE/.peer_env}"
ARQONHPO_SPEC="${ARQONHPO_SPEC:-arqonhpo==0.3.3}"
OPTUNA_SPEC="${OPTUNA_SPEC:-optuna}"

is_py312() {
    [ -n "$1" ] && [ -x "$1" ] && \
        "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' 2>/dev/null
}

find_py312() {
    local cand
    if [ -n "${PEER_PYTHON:-}" ] && is_py312 "$PEER_PYTHON"; then
        echo "$PEER_PYTHON"; return 0
    fi
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root="$(pyenv root 2>/dev/null)"
        for cand in "$root"/versions/3.12*/bin/python; do
            if is_py312 "$cand"; then echo "$cand"; return 0; fi
        done
    fi
    for cand in "$HOME/.pyenv"/versions/3.12*/bin/python python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
        if [ "${cand#/}" = "$cand" ]; then
            cand="$(command -v "$cand" 2>/dev/null || true)"
        fi
        if is_py312 "$cand"; then echo "$cand"; return 0; fi
    done
    return 1
}

# Already complete? Then nothing to do.
if [ -x "$ENV_DIR/bin/python" ] && is_py312 "$ENV_DIR/bin/python" && \
    "$ENV_DIR/bin/python" -c 'import arqonhpo, optuna, numpy' 2>/dev/null; then
    echo "setup_peer_env: $ENV_DIR is ready ($("$ENV_DIR/bin/python" -c 'import arqonhpo; print("arqonhpo", arqonhpo.__version__)'))"
    exit 0
fi

PY312="$(find_py312 || true)"
if [ -z "$PY312" ]; then
    echo "setup_peer_env: no Python 3.12 interpreter found (arqonhpo ships cp312 wheels only); skipping peer environment." >&2
    exit 0
fi

# A venv built by another interpreter (or broken) is rebuilt.
if [ -e "$ENV_DIR" ] && ! is_py312 "$ENV_DIR/bin/python"; then
    echo "setup_peer_env: removing unusable $ENV_DIR"
    rm -rf "$ENV_DIR"
fi
if [ ! -x "$ENV_DIR/bin/python" ]; then
    echo "setup_peer_env: creating $ENV_DIR with $PY312"
    "$PY312" -m venv "$ENV_DIR" || { echo "setup_peer_env: venv creation failed" >&2; exit 1; }
fi

echo "setup_peer_env: installing $ARQONHPO_SPEC $OPTUNA_SPEC numpy"
"$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$ARQONHPO_SPEC" "$OPTUNA_SPEC" numpy 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) \
    || { echo "setup_peer_env: pip install failed" >&2; exit 1; }

"$ENV_DIR/bin/python" -c 'import arqonhpo, optuna, numpy, sys; print("setup_peer_env: ready: python", sys.version.split()[0], "arqonhpo", arqonhpo.__version__, "optuna", optuna.__version__)'

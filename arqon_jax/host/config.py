"""One rule for user settings shared by every front door."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..core.validate import MAX_SEED, check_int, check_seed

__all__ = ["MAX_SEED", "check_int", "check_seed", "check_key", "is_typed_key", "seed_key", "missing_extra",
           "enable_compilation_cache", "compilation_cache_dir"]


def missing_extra(exc: ImportError, module: str, what: str, extra: str) -> ImportError:
    """The error for an optional dependency that failed to import: which extra to install.

    Returns a ``ModuleNotFoundError`` when ``exc`` is one (so ``except
    ModuleNotFoundError`` still works), else an ``ImportError``; raise it ``from exc``.
    """
    cls = ModuleNotFoundError if isinstance(exc, ModuleNotFoundError) else ImportError
    return cls(f'{module} needs {what}, which could not be imported ({exc}). '
               f'Install it with: pip install "arqon_jax[{extra}]"', name=exc.name)


def is_typed_key(x: Any) -> bool:
    """Whether ``x`` is a typed PRNG key array (``jax.random.key``), of any shape."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def check_key(key: Any, where: str = "key") -> jax.Array:
    """A user's PRNG key: a typed key (``jax.random.key(s)``, shape ``()``) or a raw one
    (``jax.random.PRNGKey(s)``: uint32 ``(2,)``).

    Raises:
        TypeError: For anything else, naming ``where``.
    """
    dtype = getattr(key, "dtype", None)
    shape = tuple(getattr(key, "shape", (None,)))
    if dtype is not None and not isinstance(key, (str, bytes)):
        if is_typed_key(key):
            if shape == ():
                return key
        elif np.dtype(dtype) == np.uint32 and shape == (2,):
            return jax.numpy.asarray(key)
        if is_typed_key(key):
            batch = shape
        else:
            batch = shape[:-1] if np.dtype(dtype) == np.uint32 and shape[-1:] == (2,) else ()
        if batch:  # jax.random.split's output, passed where one key goes
            raise TypeError(f"{where}: expected one JAX PRNG key, got a batch of keys of shape {batch}; run one "
                            "key per call (make_minimizer's run maps over a batch with jax.vmap(run)(keys))")
    raise TypeError(f"{where}: expected a JAX PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), "
                    f"got {type(key).__name__} {key!r}"[:300])


def seed_key(seed: Any, where: str = "seed") -> jax.Array:
    """A PRNG key from a seed in ``[0, 2**64)``; all 64 bits count.

    Seeds below ``2**32`` give ``jax.random.key(seed)`` exactly; the high 32 bits are
    folded in, so seeds that differ only there give different keys (``jax.random.key``
    alone drops them when x64 is off).

    Raises:
        TypeError, ValueError: See :func:`check_seed`.
    """
    seed = check_seed(seed, where)
    key = jax.random.key(seed & 0xFFFFFFFF)
    if seed >> 32:
        key = jax.random.fold_in(key, seed >> 32)
    return key


def compilation_cache_dir() -> Path | None:
    """Where arqon_jax keeps compiled programs between processes, or None when turned off.

    ``$ARQON_JAX_CACHE_DIR`` if set (set but empty: off), else
    ``$XDG_CACHE_HOME/arqon_jax/xla`` (``~/.cache/arqon_jax/xla``).
    """
    env = os.environ.get("ARQON_JAX_CACHE_DIR")
    if env is not None and env.strip() == "":
        return None
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "arqon_jax" / "xla"


def enable_compilation_cache() -> Path | None:
    """Turns on JAX's persistent compilation cache in :func:`compilation_cache_dir`.

    A new process then loads the solver's compiled programs instead of compiling them
    again (seconds on a CPU). Leaves JAX alone when the user already chose a cache
    folder (``jax_compilation_cache_dir`` or ``$JAX_COMPILATION_CACHE_DIR``) or when
    ``$ARQON_JAX_CACHE_DIR`` is set but empty. A folder that cannot be created or
    written (JAX needs a lock file in it even to read) turns the cache off with one
    warning, instead of a warning per compiled program and no gain.

    Returns:
        The folder in use, or None.
    """
    if jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    path = compilation_cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError("not writable")
    except OSError as exc:
        warnings.warn(f"arqon_jax: the compilation cache folder {str(path)!r} cannot be used ({exc}), so compiled "
                      "programs are not kept between processes; set ARQON_JAX_CACHE_DIR to a writable folder, "
                      "or to an empty value to turn the cache off", RuntimeWarning, stacklevel=3)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    # JAX caches only compilations above 1 s by default. A new process also compiles a
    # dozen small programs around the solver's step (key creation, transfers, the bounds),
    # ~16 ms each on this CPU: caching them too (tens of files, a few hundred kB) takes a
    # warm 5-D host minimize from ~0.95 s to ~0.66 s (benchmarks/compile_time.py).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    # The size-limited (least recently used first) cache needs filelock, a dependency;
    # without it every read would warn and miss, so an install without it is unbounded.
    if importlib.util.find_spec("filelock") is not None:
        with contextlib.suppress(AttributeError, KeyError, ValueError):
            jax.config.update("jax_compilation_cache_max_size", 1 << 30)
    return path

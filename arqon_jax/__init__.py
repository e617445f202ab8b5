"""arqon_jax: probe, classify, refine, as jit-compiled JAX kernels for batch optimization.

The public API is small: :func:`minimize` (and :func:`make_minimizer` for a pure,
vmappable run), :class:`Space` for search spaces, the probe kernel, the test functions
and the ArqonHPO-compatible ask/tell classes. Ray integrations live in
``arqon_jax.tune`` and ``arqon_jax.distributed`` and import Ray only when used.

Importing arqon_jax turns on JAX's persistent compilation cache in
``~/.cache/arqon_jax/xla`` (``$ARQON_JAX_CACHE_DIR``; set it empty to turn this off),
unless a cache folder was already chosen for JAX.
"""

from . import functions
from .compat import ArqonProbe, ArqonSolver
from .host.config import enable_compilation_cache as _enable_compilation_cache
from .minimize import make_minimizer, minimize
from .core.probe import ProbePlan, kronecker, probe_points
from .result import OptimizationError, OptimizationInterrupted, OptimizeResult
from .core.solver import Solver, SolverState, default_batch_size, make_solver
from .core.space import Space

__version__ = "0.1.0"

# Compiled solver programs persist between processes (a new process skips seconds of
# compiling); ARQON_JAX_CACHE_DIR= (empty) turns this off, and a cache folder the user
# chose for JAX is left alone.
_enable_compilation_cache()

__all__ = [
    "minimize",
    "make_minimizer",
    "OptimizeResult",
    "OptimizationError",
    "OptimizationInterrupted",
    "Space",
    "kronecker",
    "probe_points",
    "ProbePlan",
    "make_solver",
    "Solver",
    "SolverState",
    "default_batch_size",
    "functions",
    "ArqonSolver",
    "ArqonProbe",
    "__version__",
]

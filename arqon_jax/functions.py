"""Vectorized benchmark (test) functions for minimization.

Every function takes ``x`` of shape ``(batch, dim)`` and returns values of shape
``(batch,)``. They are written with :mod:`jax.numpy` only, have no Python
control flow on values, follow the floating dtype of the input (integer or
boolean input is promoted to JAX's default float) and are compatible with
``jax.jit``, ``jax.vmap`` (over extra leading axes: the mapped body still sees a
2-D ``(batch, dim)`` array) and ``jax.grad``. Shape checks are static, so they
run in Python (also while tracing) and raise ``ValueError``/``TypeError``.

Each function exists twice:

* as a plain function, e.g. ``functions.rastrigin(x)``;
* as a :class:`TestFunction` record in :data:`FUNCTIONS` (``get_function(name)``)
  that also knows the usual search domain, the optimum and its value.

:func:`make_problem` builds a :class:`Problem`: a base function with its
optimum moved to a pseudo-random point of the inner 80% of the box and,
optionally, a fixed random rotation about that optimum. Benchmarks use it to
avoid optima at the centre or on a corner of the box.

Definitions (``d = dim``, indices ``i = 1..d``):

* sphere: ``sum x_i^2``; min 0 at 0; domain [-5.12, 5.12].
* rastrigin: ``10 d + sum (x_i^2 - 10 cos(2 pi x_i))``; min 0 at 0; [-5.12, 5.12].
* rosenbrock: ``sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``; min 0 at 1;
  [-5, 10]; needs ``d >= 2``.
* ackley: ``-20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e``;
  min 0 at 0; [-32.768, 32.768].
* griewank: ``1 + sum x_i^2 / 4000 - prod cos(x_i / sqrt(i))``; min 0 at 0;
  [-600, 600].
* schwefel: ``418.9829 d - sum x_i sin(sqrt|x_i|)``; the constant is used at
  full precision (418.98288727243374) so that the minimum at
  ``x_i = 420.96874635998...`` is 0 up to rounding; [-500, 500]. Its global
  minimum only holds on that box (the function is unbounded below outside).
* levy: ``w = 1 + (x - 1) / 4``,
  ``sin^2(pi w_1) + sum_{i<d} (w_i - 1)^2 (1 + 10 sin^2(pi w_i + 1))
  + (w_d - 1)^2 (1 + sin^2(2 pi w_d))``; min 0 at 1; [-10, 10].
* styblinski_tang: ``sum (x_i^4 - 16 x_i^2 + 5 x_i) / 2``; min
  ``-39.16616570377142 d`` at ``x_i = -2.903534027771177``; [-5, 5].
* ellipsoid: ``sum 10^(6 (i-1)/(d-1)) x_i^2`` (coefficient 1 when ``d = 1``);
  min 0 at 0; [-5, 5]. Condition number 1e6.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .core.validate import check_int, check_seed

__all__ = [
    "TestFunction",
    "Problem",
    "FUNCTIONS",
    "get_function",
    "make_problem",
    "random_rotation",
    "sphere",
    "rastrigin",
    "rosenbrock",
    "ackley",
    "griewank",
    "schwefel",
    "levy",
    "styblinski_tang",
    "ellipsoid",
]

# Full-precision constants.
SCHWEFEL_X_OPT = 420.96874635998203  # argmax of x sin(sqrt(x)) on [-500, 500]
SCHWEFEL_CONST = 418.98288727243374  # = SCHWEFEL_X_OPT * sin(sqrt(SCHWEFEL_X_OPT)); "418.9829"
STYBLINSKI_TANG_X_OPT = -2.903534027771177
STYBLINSKI_TANG_F_OPT_PER_DIM = -39.16616570377142


# ---------------------------------------------------------------------------
# validation helpers (Python, static)
# ---------------------------------------------------------------------------


_MAX_DIM = 2**31 - 1  # JAX indexes array axes with int32; beyond it numpy only overflows


def _check_dim(dim: Any, min_dim: int = 1, where: str = "dim") -> int:
    """Validates a dimension count and returns it as ``int``."""
    return check_int(where, dim, min_dim, _MAX_DIM)


def _as_batch(x: Any, name: str, min_dim: int = 1) -> jax.Array:
    """Converts ``x`` to a floating 2-D JAX array ``(batch, dim)`` or raises.

    Args:
        x: Array-like of shape ``(batch, dim)``.
        name: Function name, for error messages.
        min_dim: Smallest allowed ``dim``.

    Returns:
        ``x`` as a JAX array with a floating dtype (integer/bool input is
        promoted to JAX's default float dtype).

    Raises:
        TypeError: ``x`` is not numeric (e.g. strings, objects, complex).
        ValueError: ``x`` is not 2-D or has fewer than ``min_dim`` columns.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name}: x must be a numeric array of shape (batch, dim), got {type(x).__name__}")
    try:
        x = jnp.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: x must be a numeric array of shape (batch, dim): {err}") from None
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{name}: complex input is not supported (dtype {x.dtype})")
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_):
        raise TypeError(f"{name}: x must have a real numeric dtype, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name}: x must be 2-D with shape (batch, dim), got shape {tuple(x.shape)}")
    if x.shape[1] < min_dim:
        raise ValueError(f"{name}: needs dim >= {min_dim}, got x of shape {tuple(x.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _safe_sqrt(v: jax.Array) -> jax.Array:
    """``sqrt(v)`` for ``v >= 0`` whose gradient at 0 is 0 instead of inf/NaN."""
    pos = v > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, jnp.ones_like(v))), jnp.zeros_like(v))


def _batched(name: str, min_dim: int = 1) -> Callable[[Callable], Callable]:
    """Decorator: validate ``x`` in Python, then run the jit-compiled kernel.

    The kernel is compiled once per input shape/dtype (cheap eager calls); it
    inlines into an enclosing ``jit`` and is transparent to ``vmap``/``grad``.
    """

    def deco(kernel: Callable[[jax.Array], jax.Array]) -> Callable[[Any], jax.Array]:
        compiled = jax.jit(kernel)

        @functools.wraps(kernel)
        def wrapper(x: Any) -> jax.Array:
            return compiled(_as_batch(x, name, min_dim))

        return wrapper

    return deco


# ---------------------------------------------------------------------------
# plain functions
# ---------------------------------------------------------------------------


@_batched("sphere")
def sphere(x: Any) -> jax.Array:
    """Sphere ``sum x_i^2``.

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 0``.
    """
    return jnp.sum(x * x, axis=1)


@_batched("rastrigin")
def rastrigin(x: Any) -> jax.Array:
    """Rastrigin ``10 d + sum (x_i^2 - 10 cos(2 pi x_i))``.

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 0``.
    """
    return jnp.sum(x * x - 10.0 * jnp.cos(2.0 * jnp.pi * x) + 10.0, axis=1)


@_batched("rosenbrock", min_dim=2)
def rosenbrock(x: Any) -> jax.Array:
    """Rosenbrock ``sum_{i<d} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``.

    Args:
        x: Points, shape ``(batch, dim)`` with ``dim >= 2``.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 1``.
    """
    a, b = x[:, :-1], x[:, 1:]
    return jnp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, axis=1)


@_batched("ackley")
def ackley(x: Any) -> jax.Array:
    """Ackley ``-20 exp(-0.2 sqrt(mean x^2)) - exp(mean cos(2 pi x)) + 20 + e``.

    The square root is guarded so that the gradient at the optimum is 0
    (not NaN).

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 0``.
    """
    r = _safe_sqrt(jnp.mean(x * x, axis=1))
    c = jnp.mean(jnp.cos(2.0 * jnp.pi * x), axis=1)
    return -20.0 * jnp.exp(-0.2 * r) - jnp.exp(c) + 20.0 + math.e


@_batched("griewank")
def griewank(x: Any) -> jax.Array:
    """Griewank ``1 + sum x_i^2 / 4000 - prod cos(x_i / sqrt(i))``.

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 0``.
    """
    inv_sqrt_i = (1.0 / np.sqrt(np.arange(1, x.shape[1] + 1, dtype=np.float64))).astype(x.dtype)
    return 1.0 + jnp.sum(x * x, axis=1) / 4000.0 - jnp.prod(jnp.cos(x * inv_sqrt_i), axis=1)


@_batched("schwefel")
def schwefel(x: Any) -> jax.Array:
    """Schwefel ``418.9829 d - sum x_i sin(sqrt|x_i|)`` (constant at full precision).

    Summed per coordinate as ``sum (c - x_i sin(sqrt|x_i|))`` to limit float32
    cancellation; each term is still ``~419 - 419``, so in float32 the value at
    the optimum is off by up to ~1.5e-5 per coordinate. The square root is
    guarded so the gradient at 0 is finite.

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum ~0 at ``x_i = 420.9687...`` on the
        box ``[-500, 500]^d`` (unbounded below outside it).
    """
    return jnp.sum(SCHWEFEL_CONST - x * jnp.sin(_safe_sqrt(jnp.abs(x))), axis=1)


@_batched("levy")
def levy(x: Any) -> jax.Array:
    """Levy function with ``w = 1 + (x - 1) / 4``.

    ``sin^2(pi w_1) + sum_{i<d} (w_i - 1)^2 (1 + 10 sin^2(pi w_i + 1))
    + (w_d - 1)^2 (1 + sin^2(2 pi w_d))``.

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 1``.
    """
    w = 1.0 + (x - 1.0) / 4.0
    w_head, w_last = w[:, :-1], w[:, -1]
    first = jnp.sin(jnp.pi * w[:, 0]) ** 2
    middle = jnp.sum((w_head - 1.0) ** 2 * (1.0 + 10.0 * jnp.sin(jnp.pi * w_head + 1.0) ** 2), axis=1)
    last = (w_last - 1.0) ** 2 * (1.0 + jnp.sin(2.0 * jnp.pi * w_last) ** 2)
    return first + middle + last


@_batched("styblinski_tang")
def styblinski_tang(x: Any) -> jax.Array:
    """Styblinski-Tang ``sum (x_i^4 - 16 x_i^2 + 5 x_i) / 2``.

    Args:
        x: Points, shape ``(batch, dim)``.

    Returns:
        Values, shape ``(batch,)``. Minimum ``-39.16616570377142 d`` at
        ``x_i = -2.903534027771177``.
    """
    x2 = x * x
    return 0.5 * jnp.sum(x2 * x2 - 16.0 * x2 + 5.0 * x, axis=1)


def _ellipsoid_weights(dim: int) -> np.ndarray:
    if dim == 1:
        return np.ones(1)
    return 10.0 ** (6.0 * np.arange(dim, dtype=np.float64) / (dim - 1))


@_batched("ellipsoid")
def ellipsoid(x: Any) -> jax.Array:
    """Ellipsoid ``sum 10^(6 (i-1)/(d-1)) x_i^2`` (conditioning 1e6).

    Args:
        x: Points, shape ``(batch, dim)``; for ``dim = 1`` the weight is 1.

    Returns:
        Values, shape ``(batch,)``. Minimum 0 at ``x = 0``.
    """
    weights = _ellipsoid_weights(x.shape[1]).astype(x.dtype)
    return jnp.sum(weights * x * x, axis=1)


# ---------------------------------------------------------------------------
# records and registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TestFunction:
    """A named test function with its usual domain and known optimum.

    Attributes:
        name: Registry name, e.g. ``"rastrigin"``.
        fn: The vectorized function ``(batch, dim) -> (batch,)``.
        domain: ``(low, high)`` used for every coordinate by :meth:`bounds`.
        x_opt_value: The optimum's coordinate (the same in every dimension).
        f_opt_per_dim: ``f_opt(dim) = f_opt_per_dim * dim``.
        min_dim: Smallest supported ``dim``.
        bounded_optimum: True when the global optimum only holds on the domain
            box (the function has lower values outside it, as Schwefel does);
            :func:`make_problem` then folds points back into the box.
    """

    __test__ = False  # not a pytest test class despite the name

    name: str
    fn: Callable[[Any], jax.Array]
    domain: tuple[float, float]
    x_opt_value: float
    f_opt_per_dim: float = 0.0
    min_dim: int = 1
    bounded_optimum: bool = False

    def bounds(self, dim: int) -> np.ndarray:
        """Usual search box.

        Args:
            dim: Number of dimensions.

        Returns:
            float64 array of shape ``(dim, 2)``; column 0 is low, column 1 high.
        """
        dim = _check_dim(dim, self.min_dim)
        return np.tile(np.asarray(self.domain, dtype=np.float64), (dim, 1))

    def x_opt(self, dim: int) -> np.ndarray:
        """Global minimizer, float64 array of shape ``(dim,)``."""
        dim = _check_dim(dim, self.min_dim)
        return np.full(dim, self.x_opt_value, dtype=np.float64)

    def f_opt(self, dim: int) -> float:
        """Global minimum value for ``dim`` dimensions."""
        dim = _check_dim(dim, self.min_dim)
        return float(self.f_opt_per_dim * dim)

    def __call__(self, x: Any) -> jax.Array:
        """Evaluates ``fn`` on ``x`` of shape ``(batch, dim)``; returns ``(batch,)``."""
        return self.fn(x)


SPHERE = TestFunction("sphere", sphere, (-5.12, 5.12), 0.0)
RASTRIGIN = TestFunction("rastrigin", rastrigin, (-5.12, 5.12), 0.0)
ROSENBROCK = TestFunction("rosenbrock", rosenbrock, (-5.0, 10.0), 1.0, min_dim=2)
ACKLEY = TestFunction("ackley", ackley, (-32.768, 32.768), 0.0)
GRIEWANK = TestFunction("griewank", griewank, (-600.0, 600.0), 0.0)
SCHWEFEL = TestFunction("schwefel", schwefel, (-500.0, 500.0), SCHWEFEL_X_OPT, bounded_optimum=True)
LEVY = TestFunction("levy", levy, (-10.0, 10.0), 1.0)
STYBLINSKI_TANG = TestFunction(
    "styblinski_tang", styblinski_tang, (-5.0, 5.0), STYBLINSKI_TANG_X_OPT, STYBLINSKI_TANG_F_OPT_PER_DIM
)
ELLIPSOID = TestFunction("ellipsoid", ellipsoid, (-5.0, 5.0), 0.0)

FUNCTIONS: dict[str, TestFunction] = {
    f.name: f
    for f in (SPHERE, RASTRIGIN, ROSENBROCK, ACKLEY, GRIEWANK, SCHWEFEL, LEVY, STYBLINSKI_TANG, ELLIPSOID)
}


def get_function(name: str | TestFunction) -> TestFunction:
    """Looks up a test function by name (case-insensitive, ``-`` same as ``_``).

    Args:
        name: Registry name such as ``"rastrigin"``, or a :class:`TestFunction`
            (returned unchanged).

    Returns:
        The :class:`TestFunction`.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: Unknown name; the message lists the valid names.
    """
    if isinstance(name, TestFunction):
        return name
    if not isinstance(name, str):
        raise TypeError(f"function name must be a string, got {type(name).__name__} {name!r}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in FUNCTIONS:
        raise ValueError(f"unknown test function {name!r}; valid names: {', '.join(sorted(FUNCTIONS))}")
    return FUNCTIONS[key]


# ---------------------------------------------------------------------------
# shifted / rotated problems
# ---------------------------------------------------------------------------


def random_rotation(dim: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Haar-random orthogonal matrix (QR of a Gaussian matrix with sign fix).

    Args:
        dim: Matrix size.
        seed: An integer in ``[0, 2**64)`` for ``numpy.random.default_rng``, or a Generator.

    Returns:
        float64 array of shape ``(dim, dim)`` with ``R @ R.T == I``.

    Raises:
        TypeError, ValueError: For a ``dim`` or ``seed`` of the wrong type or range.
    """
    dim = _check_dim(dim)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def _fold_into_box(z: jax.Array, low: jax.Array, high: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reflects ``z`` into ``[low, high]`` (triangle wave) and returns the distance outside."""
    width = high - low
    t = jnp.mod(z - low, 2.0 * width)
    folded = low + jnp.where(t > width, 2.0 * width - t, t)
    outside = z - jnp.clip(z, low, high)
    return folded, outside


@dataclass(frozen=True, eq=False)
class Problem:
    """A benchmark problem: a base function with a moved (and rotated) optimum.

    ``f(x) = base(x_opt_base + R (x - x_opt))`` with ``R`` orthogonal (identity
    unless rotated), so ``f(x_opt) = f_opt`` exactly.

    Attributes:
        name: Descriptive name, e.g. ``"rastrigin-d10-shift-rot-s0"``.
        dim: Number of dimensions.
        base: The underlying :class:`TestFunction`.
        bounds: float64 array ``(dim, 2)``, the base function's usual box.
        x_opt: float64 array ``(dim,)``, the optimum (inside the box).
        f_opt: The optimum value (the base function's ``f_opt(dim)``).
        rotation: float64 ``(dim, dim)`` rotation matrix, or None.
        seed: Seed used for the shift and the rotation.
    """

    name: str
    dim: int
    base: TestFunction
    bounds: np.ndarray
    x_opt: np.ndarray
    f_opt: float
    rotation: np.ndarray | None = None
    seed: int = 0
    _x_opt_base: np.ndarray = field(default=None, repr=False)

    def f(self, x: Any) -> jax.Array:
        """Evaluates the problem.

        Args:
            x: Points, shape ``(batch, dim)``.

        Returns:
            Values, shape ``(batch,)``.

        Raises:
            ValueError: ``x`` is not 2-D or its second axis is not ``dim``.
        """
        x = _as_batch(x, self.name)
        if x.shape[1] != self.dim:
            raise ValueError(f"{self.name}: expected x of shape (batch, {self.dim}), got {tuple(x.shape)}")
        dt = x.dtype
        z = x - jnp.asarray(self.x_opt, dtype=dt)
        if self.rotation is not None:
            z = z @ jnp.asarray(self.rotation.T, dtype=dt)
        z = z + jnp.asarray(self._x_opt_base, dtype=dt)
        if not self.base.bounded_optimum:
            return self.base.fn(z)
        # The base optimum only holds on its box: fold z back into the box and
        # add a small quadratic penalty on the distance outside, so f >= f_opt
        # everywhere with equality only at x_opt (as in CEC's modified Schwefel).
        low = jnp.asarray(self.bounds[:, 0], dtype=dt)
        high = jnp.asarray(self.bounds[:, 1], dtype=dt)
        folded, outside = _fold_into_box(z, low, high)
        return self.base.fn(folded) + 1e-4 * jnp.sum(outside * outside, axis=1)

    def __call__(self, x: Any) -> jax.Array:
        """Same as :meth:`f`."""
        return self.f(x)


def make_problem(
    name: str | TestFunction,
    dim: int,
    *,
    shift: bool = True,
    rotate: bool = False,
    seed: int = 0,
) -> Problem:
    """Builds a shifted and optionally rotated benchmark problem.

    The new optimum is drawn with ``numpy.random.default_rng(seed)`` uniformly
    in the inner 80% of the base box (``low + (0.1 + 0.8 u) (high - low)``);
    the rotation, with ``rotate=True``, is then drawn from the same generator (so a
    given seed always gives the same shift, whichever flags are set, and the same
    rotation).
    ``f(x) = base(x_opt_base + R (x - x_opt))``: the optimum value is exactly the
    base ``f_opt``. Rotated points may leave the base box; every base function
    is defined everywhere and keeps its global minimum there, except Schwefel,
    whose points are folded back into its box with a small penalty.

    Args:
        name: Registry name or a :class:`TestFunction`.
        dim: Number of dimensions, at most ``2**31 - 1`` (a rotated problem holds a
            ``(dim, dim)`` matrix).
        shift: Move the optimum (else it stays at the base optimum).
        rotate: Apply a fixed random rotation about the optimum.
        seed: Integer seed in ``[0, 2**64)``, as everywhere in the library.

    Returns:
        A :class:`Problem`.

    Raises:
        ValueError: Unknown name, ``dim`` below the function's minimum or above
            ``2**31 - 1``, or a seed outside ``[0, 2**64)``.
        TypeError: Non-integer ``dim`` or ``seed``.
    """
    base = get_function(name)
    dim = _check_dim(dim, base.min_dim)
    seed = check_seed(seed)
    bounds = base.bounds(dim)
    x_opt_base = base.x_opt(dim)
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=dim)
    # Drawn after the shift, so the shift does not depend on `rotate`; only drawn when
    # used, since the (dim, dim) matrix is what would limit an unrotated problem's dim.
    rotation = random_rotation(dim, rng) if rotate else None
    low, high = bounds[:, 0], bounds[:, 1]
    x_opt = low + (0.1 + 0.8 * u) * (high - low) if shift else x_opt_base.copy()
    tag = f"{base.name}-d{dim}" + ("-shift" if shift else "") + ("-rot" if rotate else "") + f"-s{seed}"
    for arr in (bounds, x_opt, x_opt_base, rotation):
        if arr is not None:
            arr.setflags(write=False)
    return Problem(
        name=tag,
        dim=dim,
        base=base,
        bounds=bounds,
        x_opt=x_opt,
        f_opt=base.f_opt(dim),
        rotation=rotation,
        seed=seed,
        _x_opt_base=x_opt_base,
    )

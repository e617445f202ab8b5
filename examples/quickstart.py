"""A first run: arqon_jax.minimize against random search with the same budget (the README's main demo is `arqon-jax demo`).

    python examples/quickstart.py
"""

import time

import jax.numpy as jnp
import numpy as np

import arqon_jax

# A JAX objective, vectorized over a batch: the whole search runs as one compiled program.
shift = jnp.asarray([1.5, -2.0, 0.7, 2.2, -0.4])


def shifted_rosenbrock(x):  # x: (batch, 5) -> (batch,)
    z = x - shift + 1.0
    return jnp.sum(100.0 * (z[:, 1:] - z[:, :-1] ** 2) ** 2 + (1.0 - z[:, :-1]) ** 2, axis=1)


bounds = [(-5.0, 5.0)] * 5
t = time.perf_counter()
res = arqon_jax.minimize(shifted_rosenbrock, bounds, budget=2000, batch_size=20, seed=0)
print(res)
print(f"arqon_jax ({res.decision['strategy']}): f = {res.fun:.4g} in {res.nfev} evaluations, {time.perf_counter() - t:.1f} s")

rand = arqon_jax.minimize(shifted_rosenbrock, bounds, budget=2000, batch_size=20, seed=0, method="random")
print(f"random search:     f = {rand.fun:.4g} in {rand.nfev} evaluations")

# A plain Python objective with named, mixed-scale parameters (ArqonHPO's schema).
space = {
    "lr": {"min": 1e-5, "max": 1e-1, "scale": "log"},
    "layers": {"min": 1, "max": 8, "scale": "integer"},
    "dropout": (0.0, 0.5),
}


def validation_loss(p):  # one point: a dict of Python scalars
    return (np.log10(p["lr"]) + 3.0) ** 2 + 0.1 * (p["layers"] - 4) ** 2 + (p["dropout"] - 0.2) ** 2


hpo = arqon_jax.minimize(validation_loss, space, budget=100, vectorized=False, seed=0)
print(f"HPO: best {hpo.x} loss {hpo.fun:.4g} after {hpo.nfev} trials")

"""surfaces test functions: the adapter (names, bounds, scales, vectorized evaluation),
``minimize(func)`` without bounds, and the Ray Tune Rastrigin example (quick mode, on the
shared session cluster). About 40-60 s on 2 busy cores, most of it the example's Tune runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

surfaces = pytest.importorskip("surfaces")
from surfaces.test_functions.algebraic import (  # noqa: E402
    OneMaxFunction,
    PressureVesselFunction,
    RastriginFunction,
    SphereFunction,
)

from arqon_jax import minimize  # noqa: E402
from arqon_jax.core.space import INTEGER, LINEAR  # noqa: E402
from arqon_jax.surfaces_adapter import from_surfaces, is_surfaces_function  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_non_surfaces_objects_are_not_adapted():
    assert from_surfaces(lambda x: x) is None
    assert from_surfaces(np.sum) is None
    assert not is_surfaces_function(3)
    with pytest.raises(ValueError, match="bounds"):
        minimize(lambda x: x[:, 0], budget=10)  # a plain callable still needs bounds


def test_names_bounds_and_vectorized_batch():
    func = RastriginFunction(n_dim=12)
    f, space = from_surfaces(func)
    names = [f"x{i}" for i in range(12)]
    assert sorted(space.names) == sorted(names)
    # Default bounds (-5, 5), not the grid's last value (4.75...).
    assert space.low == (-5.0,) * 12 and space.high == (5.0,) * 12 and set(space.scales) == {LINEAR}
    rng = np.random.default_rng(0)
    X = rng.uniform(-5, 5, size=(7, 12))
    params = {n: X[:, i] for i, n in enumerate(names)}  # columns by name, in any order
    expected = [func({n: float(X[r, i]) for i, n in enumerate(names)}) for r in range(7)]
    np.testing.assert_allclose(f(params), expected, rtol=1e-12)


def test_engineering_and_binary_functions():
    pv = PressureVesselFunction()
    _, space = from_surfaces(pv)
    bounds = dict(zip(pv.variable_names, pv.variable_bounds))
    for i, name in enumerate(space.names):
        assert (space.low[i], space.high[i]) == tuple(map(float, bounds[name]))
    om = OneMaxFunction(n_dim=6)
    _, space = from_surfaces(om)
    assert set(space.scales) == {INTEGER} and space.low == (0.0,) * 6 and space.high == (1.0,) * 6


def test_minimize_takes_a_surfaces_function_without_bounds():
    func = SphereFunction(n_dim=4)
    res = minimize(func, budget=400, seed=0)
    assert set(res.x) == {"x0", "x1", "x2", "x3"}  # a dict the function accepts
    assert res.fun == pytest.approx(func(res.x), rel=1e-5, abs=1e-6)
    assert res.fun < 0.5 and res.nfev == 400
    assert res.info["path"] == "device"  # surfaces' batch is array-API code: it traces
    # With a noise modifier, batch would skip the modifier: evaluated point by point instead.
    from surfaces.modifiers import GaussianNoise

    noisy = SphereFunction(n_dim=2, modifiers=[GaussianNoise(sigma=0.01, seed=0)])
    res = minimize(noisy, budget=60, batch_size=20, seed=0)
    assert res.info["path"] == "host" and res.nfev == 60 and np.isfinite(res.fun)


@pytest.mark.ray
def test_ray_tune_rastrigin_example_quick(ray_cluster, tmp_path):
    spec = importlib.util.spec_from_file_location("ray_tune_rastrigin", ROOT / "examples" / "ray_tune_rastrigin.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--quick"], storage_path=str(tmp_path))
    assert out["basic"]["n_trials"] == 8 and np.isfinite(out["basic"]["best_loss"])
    assert out["asha"]["stopped_early"] >= 1 and len(out["asha"]["iterations"]) == 8
    assert set(out["benchmark"]) == {"Random", "Optuna", "Arqon"}
    assert all(np.isfinite(v) for v in out["benchmark"].values())

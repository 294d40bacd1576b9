"""Every script in examples/ runs, and reaches what it claims."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
pytest.importorskip("scipy")


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_minimize_rosenbrock_reaches_the_minimum(capsys):
    result = load("minimize_rosenbrock").main(n=10)
    assert result.success and np.abs(result.x - 1.0).max() < 1e-5
    assert "replays" in capsys.readouterr().out


def test_newton_cg_uses_hessian_vector_products_and_converges():
    module = load("newton_cg")
    result = module.main(n=6)
    assert result.success and result.nhev > 0
    import tapegrad as tg

    assert np.abs(tg.grad(module.log_sum_exp_objective)(result.x)).max() < 1e-8

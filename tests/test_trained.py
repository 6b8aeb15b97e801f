"""reslimit.studies.trained and its claims at tiny sizes: the interpolated weights, the ODE error, the verdicts."""

import math

import numpy as np
import pytest
import torch

from reslimit.claims import trained_ode, trained_weights
from reslimit.paths import Smooth
from reslimit.studies.trained import interpolate, interpolated, learning_rate, ode_study

KEYS = {"claim", "source", "theory", "measured", "tolerance", "passed", "figure"}


def test_interpolated_path_gives_back_the_weights_and_is_linear_between():
    V = Smooth(3, 2, seed=4).weights(10) + 0.1 * torch.randn(10, 2, 3, 3, dtype=torch.float64)
    path = interpolated(V)
    assert torch.allclose(path.weights(10), V, rtol=0, atol=1e-14)
    mid = path.evaluate([0.25])[0] / math.sqrt(3)  # halfway between t = 2/10 (V[1]) and 3/10 (V[2])
    assert torch.allclose(mid, (V[1] + V[2]) / 2, rtol=0, atol=1e-14)
    assert torch.allclose(interpolate(V, torch.tensor([0.0, 0.05])), V[[0, 0]] * math.sqrt(3))  # constant before 1/L


def test_learning_rate_keeps_the_change_per_step_depth_independent():
    assert learning_rate(256, 1.0) == 0.01
    assert learning_rate(256, 0.5) == pytest.approx(0.01 / 16)


@pytest.fixture(scope="module")
def tiny_ode(tmp_path_factory):
    out = tmp_path_factory.mktemp("ode")
    return out, ode_study(out, depths=[8, 16, 32], width=4, epochs=1, samples=8)


def test_the_trained_network_approaches_its_ode(tiny_ode):
    out, result = tiny_ode
    mean = result.errors.mean(1)
    assert result.errors.shape == (3, 8) and np.all(mean[1:] < mean[:-1])
    assert -1.4 < result.rate.slope < -0.6
    assert result.rows[-1]["distance_next"] is None and result.rows[0]["distance_next"] > 0
    assert (out / "trained_ode.png").is_file() and (out / "errors.csv").is_file()


def test_the_claims_return_verdicts(tmp_path):
    verdicts = trained_ode.check(tmp_path / "ode", depths=[8, 16, 32], width=4, epochs=1, samples=8)
    assert len(verdicts) == 2 and all(set(v.to_dict()) >= KEYS for v in verdicts)
    assert verdicts[0].theory == -1.0 and verdicts[0].tolerance > 0.15
    verdicts = trained_weights.check(tmp_path / "weights", depth=32, width=4, epochs=1)
    assert [v.theory for v in verdicts] == [1.0, 1.0, 0.5, 0.5]
    assert all(set(v.to_dict()) >= KEYS and isinstance(v.passed, bool) for v in verdicts)
    assert (tmp_path / "weights" / "trained_weights.png").is_file()

"""reslimit.simulate: one network from one seed, as ScaledResNet builds it; its statistics, theory and .npz."""

import json

import numpy as np
import pytest
import torch

import reslimit
from reslimit._rng import normal, substream
from reslimit.simulate import simulate

SMALL = dict(depth=10, width=5, ensemble=3, samples=4, seed=7)


@pytest.mark.parametrize("block,activation", [("res1", "tanh"), ("res3", "relu")])
def test_the_network_and_inputs_are_those_of_the_seed(block, activation):
    run = simulate(block=block, activation=activation, **SMALL)
    net = reslimit.ScaledResNet(10, 5, seed=7, block=block, activation=activation, ensemble=3, beta=0.5)
    torch.testing.assert_close(run.net.V, net.V, rtol=0, atol=0)
    if block == "res3":
        torch.testing.assert_close(run.net.W, net.W, rtol=0, atol=0)
    torch.testing.assert_close(run.h0, normal((3, 4, 5), 7, "inputs", torch.float64), rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(run.hL, net(run.h0), rtol=0, atol=1e-13)
    assert run.params["outer_seed"] == substream(7, "outer") and run.states is None


def test_statistics_and_exact_theory():
    run = simulate(block="res3", beta=0.3, **SMALL)
    h0, hL = run.h0.numpy(), run.hL.numpy()
    r = np.linalg.norm(hL - h0, axis=-1) / np.linalg.norm(h0, axis=-1)
    assert run.statistics["median"] == pytest.approx(np.median(r), rel=1e-12)
    assert run.statistics["mean_sq"] == pytest.approx(np.mean(r**2), rel=1e-12)
    assert run.c == 0.5 and run.theory == pytest.approx((1 + 0.5 * 10**-0.6) ** 10 - 1, rel=1e-12)
    assert simulate(init="smooth", block="res2", activation="tanh", **SMALL).theory is None  # no identity there


def test_save_writes_the_run_whole(tmp_path):
    path = tmp_path / "run.npz"
    run = simulate(block="res3", save=path, **SMALL)
    saved = np.load(path)
    assert saved["h"].shape == (11, 3, 4, 5) and saved["W"].shape == (10, 3, 5, 5)
    np.testing.assert_array_equal(saved["h"][0], run.h0.numpy())
    np.testing.assert_array_equal(saved["h"][-1], run.hL.numpy())
    np.testing.assert_array_equal(saved["V"], run.net.V.detach().numpy())
    params = json.loads(str(saved["params"]))
    assert params["inner_seed"] == substream(7, "inner") and params["dist"] == "gaussian"
    assert float(saved["alpha"]) == 10**-0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]  # no temporary file left


def test_bad_requests_are_refused_naming_the_argument(tmp_path):
    with pytest.raises(ValueError, match="save: the folder of"):
        simulate(save=tmp_path / "missing" / "run.npz", **SMALL)
    with pytest.raises(ValueError, match="save needs every state"):
        simulate(**SMALL).save(tmp_path / "run.npz")
    with pytest.raises(ValueError, match="dist is for init 'iid'"):
        simulate(init="brownian", dist="uniform", **SMALL)
    with pytest.raises(ValueError, match="dist must be one of 'gaussian', 'uniform', 'rademacher'"):
        simulate(dist="cauchy", **SMALL)
    assert not (tmp_path / "missing").exists() and list(tmp_path.iterdir()) == []

"""Dropout in the residual branch: masks, the masked pass, evaluation unchanged, the exact second moment, gradients,
errors, and training on the digits (train() in training mode, evaluation deterministic)."""

import pytest
import torch

from reslimit import ScaledResNet, get_data, train
from reslimit._rng import normal
from reslimit.studies.stochastic_depth import second_moment


def test_mask_frequency_is_q_within_binomial_errors():
    net = ScaledResNet(5, 8, ensemble=2, dropout=0.3, seed=1)
    b, m = net.masks(500, 0)
    assert b is None and m.shape == (5, 2, 8, 500)
    n = m.numel()
    assert abs(m.double().mean().item() - 0.7) <= 4 * (0.7 * 0.3 / n) ** 0.5
    assert torch.equal(m, net.masks(500, 0)[1]) and not torch.equal(m, net.masks(500, 1)[1])


@pytest.mark.parametrize("block,activation", [("res3", "relu"), ("res1", "tanh")])
def test_a_training_pass_is_the_branch_masked_and_divided_by_q(block, activation):
    net = ScaledResNet(9, 5, beta=0.5, block=block, activation=activation, ensemble=2, dropout=0.4, seed=3)
    h0 = normal((2, 3, 5), 3, "inputs")
    _, m = net.masks(3, 0)
    with torch.no_grad():
        hL = net(h0)
        h = h0.clone()
        for k in range(9):
            g = net.block.g(h, None if net.W is None else net.W[k]) * m[k].mT / 0.6
            h = h + net.alpha * torch.bmm(g, net.V[k].mT)
    torch.testing.assert_close(hL, h, rtol=0, atol=1e-12)


def test_evaluation_is_the_plain_network_bit_for_bit():
    net = ScaledResNet(16, 6, beta=0.5, block="res3", ensemble=2, dropout=0.5, seed=4).eval()
    plain = ScaledResNet(16, 6, beta=0.5, block="res3", ensemble=2, seed=4)
    h0 = normal((2, 4, 6), 4, "inputs")
    with torch.no_grad():
        assert torch.equal(net(h0), plain(h0)) and torch.equal(net(h0), net(h0))
    assert net._engine(h0) == plain._engine(h0) and int(net.mask_passes) == 0


@pytest.mark.parametrize("block,activation", [("res3", "relu"), ("res1", "identity")])
def test_exact_second_moment(block, activation):
    r = second_moment(block=block, activation=activation, beta=0.5, depth=32, ensemble=256, inputs=8, seed=5,
                      dropout=0.3)
    c = 0.5 if block == "res3" else 1.0
    assert r["theory"] == pytest.approx((1 + c / 32 / 0.7) ** 32 - 1, rel=1e-12)
    assert abs(r["z"]) <= 4


def test_gradients_of_the_masked_pass_match_finite_differences():
    net = ScaledResNet(5, 4, beta=0.5, block="res2", activation="tanh", dropout=0.25, seed=6)
    h0 = normal((1, 2, 4), 6, "inputs")

    def loss():
        net.mask_passes.fill_(2)
        return (net(h0) ** 2).sum()

    loss().backward()
    eps = 1e-6
    for w, idx in [(net.V, (2, 0, 1, 3)), (net.W, (0, 0, 3, 2))]:
        with torch.no_grad():
            w[idx] += eps
            up = loss()
            w[idx] -= 2 * eps
            down = loss()
            w[idx] += eps
        assert w.grad[idx].item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("dropout", [1.0, -0.1, 1.5, float("nan"), "a"])
def test_bad_dropout_is_refused(dropout):
    with pytest.raises(ValueError, match=r"dropout must be a real number in \[0.0, 1.0\)"):
        ScaledResNet(4, 2, dropout=dropout)


def test_training_with_dropout_on_digits():
    data = get_data("digits", seed=0)
    net = ScaledResNet(8, 16, beta=0.5, block="res3", seed=0, dtype=torch.float32, dropout=0.1,
                       input_dim=data.input_dim, output_dim=data.output_dim)
    history = train(net, data, epochs=2, lr=0.05, seed=0)
    assert history.rows[0]["test_accuracy"] < 0.3 and history.rows[-1]["test_accuracy"] > 0.7
    assert history.params["dropout"] == 0.1
    assert net.training  # train() gives the network back in the mode it had
    batches = -(-len(data.y_train) // 64)
    assert int(net.mask_passes) == 2 * batches  # one masked pass per training batch, none for the evaluations
    net.eval()
    with torch.no_grad():
        first, second = net(data.X_test), net(data.X_test)
    assert torch.equal(first, second)
    accuracy = (first.argmax(-1) == data.y_test).double().mean().item()
    assert accuracy == pytest.approx(history.rows[-1]["test_accuracy"], abs=1e-12)


def test_a_resumed_training_draws_the_masks_of_an_uninterrupted_one(tmp_path):
    data = get_data("digits", seed=0)

    def net():
        return ScaledResNet(4, 8, beta=0.5, block="res3", seed=1, dtype=torch.float32, dropout=0.2,
                            input_dim=data.input_dim, output_dim=data.output_dim)

    whole = train(net(), data, epochs=2, lr=0.05, seed=1)
    train(net(), data, epochs=1, lr=0.05, seed=1, checkpoint=tmp_path / "run.pt")
    resumed = train(net(), data, epochs=2, lr=0.05, seed=1, checkpoint=tmp_path / "run.pt")
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in whole.rows]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.rows] == strip
    assert torch.equal(whole.snapshots[2]["V"], resumed.snapshots[2]["V"])

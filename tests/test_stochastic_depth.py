"""Stochastic depth: the expected depth, the masks, the exact second moment, evaluation scaling, gradients, errors,
the p(t)-scaled limits, and a network without survival unchanged."""

import math

import pytest
import torch

from reslimit import NeuralODE, ScaledResNet, Smooth
from reslimit._rng import normal
from reslimit.resnet import LinearSurvival
from reslimit.studies import stochastic_depth as sd


@pytest.mark.parametrize("L", [1, 7, 20, 101])
@pytest.mark.parametrize("p_L", [0.5, 0.2, 1.0])
def test_expected_depth_is_the_closed_form(L, p_L):
    net = ScaledResNet(L, 2, survival=p_L)
    assert net.expected_depth() == pytest.approx(L - (1 - p_L) * (L + 1) / 2, abs=1e-12)
    assert net.survival_probabilities()[-1].item() == pytest.approx(p_L, abs=1e-15)
    if p_L == 0.5:
        assert net.expected_depth() == pytest.approx((3 * L - 1) / 4, abs=1e-12)  # the course's exercise


def test_a_callable_gives_p_at_k_over_L():
    net = ScaledResNet(8, 2, survival=lambda t: 0.8)
    assert net.expected_depth() == pytest.approx(6.4, abs=1e-12)
    net = ScaledResNet(4, 2, survival=lambda t: 1 - t / 2)
    assert net.survival_probabilities().tolist() == [0.875, 0.75, 0.625, 0.5]


def test_expected_depth_by_monte_carlo():
    r = sd.expected_depth_mc(30, 0.5, passes=20, batch=100, seed=1)
    assert r["theory"] == (3 * 30 - 1) / 4
    assert abs(r["measured"] - r["theory"]) <= 4 * r["se"] and r["se"] < 0.1


def test_mask_frequencies_are_p_k_within_binomial_errors():
    net = ScaledResNet(10, 2, ensemble=2, survival=0.3, seed=5)
    b, m = net.masks(4000, 0)
    assert m is None and b.shape == (10, 2, 1, 4000)
    p = net.survival_probabilities().view(10, 1)
    freq = b.double().reshape(10, -1).mean(1, keepdim=True)
    z = (freq - p) / (p * (1 - p) / 8000).sqrt()
    assert z.abs().max() < 4.5
    assert torch.equal(b, net.masks(4000, 0)[0]) and not torch.equal(b, net.masks(4000, 1)[0])


def test_a_training_pass_drops_the_blocks_of_its_masks():
    net = ScaledResNet(12, 5, beta=0.5, block="res3", ensemble=2, survival=0.4, seed=2)
    h0 = normal((2, 3, 5), 2, "inputs")
    b, _ = net.masks(3, 0)
    with torch.no_grad():
        hL = net(h0)
    assert int(net.mask_passes) == 1
    for n in range(3):
        plain = ScaledResNet(12, 5, beta=0.5, block="res3", ensemble=2, seed=2)
        with torch.no_grad():
            plain.V.mul_(b[:, :, :, n, None])  # (L, E, 1, 1): member e keeps block k for input n
            expected = plain(h0[:, n:n + 1])
        torch.testing.assert_close(hL[:, n:n + 1], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block,activation", [("res3", "relu"), ("res1", "tanh")])
def test_evaluation_scales_block_k_by_p_k(block, activation):
    net = ScaledResNet(20, 6, beta=0.5, block=block, activation=activation, ensemble=3, survival=0.5, seed=4).eval()
    plain = ScaledResNet(20, 6, beta=0.5, block=block, activation=activation, ensemble=3, seed=4)
    with torch.no_grad():
        plain.V.mul_(net.survival_probabilities().view(20, 1, 1, 1))
        h0 = normal((3, 4, 6), 4, "inputs")
        torch.testing.assert_close(net(h0), plain(h0), rtol=0, atol=1e-12)
        torch.testing.assert_close(net.trajectory(h0, 5), plain.trajectory(h0, 5), rtol=0, atol=1e-12)
    assert int(net.mask_passes) == 0  # evaluation draws no masks


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("block,activation", [("res3", "relu"), ("res1", "identity")])
def test_exact_second_moment(block, activation, mode):
    r = sd.second_moment(block=block, activation=activation, beta=0.5, depth=32, ensemble=256, inputs=8, seed=3,
                         survival=0.5, mode=mode)
    c = 0.5 if block == "res3" else 1.0
    p = [1 - k / 32 * 0.5 for k in range(1, 33)]
    f = p if mode == "train" else [x * x for x in p]
    assert r["theory"] == pytest.approx(math.prod(1 + x * c / 32 for x in f) - 1, rel=1e-12)
    assert abs(r["z"]) <= 4


def test_the_masked_pass_runs_the_torch_loop_and_autograd_matches_finite_differences():
    net = ScaledResNet(6, 4, beta=0.5, block="res2", activation="tanh", survival=0.5, seed=7)
    assert net._engine(torch.zeros(1, 2, 4, dtype=torch.float64)) == "torch"
    h0 = normal((1, 2, 4), 7, "inputs").requires_grad_(True)

    def loss():
        net.mask_passes.fill_(3)  # the same masks on every pass
        return (net(h0) ** 2).sum()

    loss().backward()
    eps = 1e-6
    for idx in [(1, 0, 2, 3), (4, 0, 0, 1)]:
        with torch.no_grad():
            net.V[idx] += eps
            up = loss()
            net.V[idx] -= 2 * eps
            down = loss()
            net.V[idx] += eps
        assert net.V.grad[idx].item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-6, abs=1e-9)
    with torch.no_grad():
        h0[0, 1, 2] += eps
        up = loss()
        h0[0, 1, 2] -= 2 * eps
        down = loss()
    assert h0.grad[0, 1, 2].item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-6, abs=1e-9)


def test_survival_one_gives_the_plain_networks_gradients():
    kept = ScaledResNet(10, 5, beta=0.5, block="res3", ensemble=2, survival=1.0, seed=8)
    plain = ScaledResNet(10, 5, beta=0.5, block="res3", ensemble=2, seed=8)
    h0 = normal((2, 3, 5), 8, "inputs")
    for net in (kept, plain):
        (net(h0) ** 2).sum().backward()
    torch.testing.assert_close(kept.V.grad, plain.V.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kept.W.grad, plain.W.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("survival,match", [
    (0.0, r"survival must be p_L in \(0, 1\] \(the linear decay\) or a callable t -> p\(t\); got 0.0"),
    (1.5, "survival must be p_L in"), (float("nan"), "survival must be p_L in"),
    ("a", "survival must be p_L in"), (lambda t: 1 - t, r"survival must give probabilities p\(k/L\) in \(0, 1\]; "
                                                 r"got p\(4/4\) = 0.0"),
    (lambda t: "x", "survival must be p_L in .* or a callable")])
def test_bad_survival_is_refused(survival, match):
    with pytest.raises(ValueError, match=match):
        ScaledResNet(4, 2, survival=survival)


def test_adjoint_refuses_the_masked_network():
    net = ScaledResNet(4, 2, survival=0.5)
    h0 = torch.ones(1, 1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="adjoint\\(\\) runs the recursion of the plain network"):
        net.adjoint(h0, h0)


def test_default_network_unchanged():
    """Without survival or dropout the network is the plain recursion h_{k+1} = h_k + alpha V_k g(h_k) (seed 3, 2
    members, 4 inputs): h_L and the gradients, against that recursion written out with autograd."""
    for block, act in (("res1", "tanh"), ("res3", "relu")):
        nets = [ScaledResNet(32, 8, beta=0.5, block=block, activation=act, ensemble=2, seed=3, **kw)
                for kw in ({}, {"survival": None, "dropout": None})]
        h0 = normal((2, 4, 8), 3, "inputs")
        got = []
        for net in nets:
            with torch.no_grad():
                hL = net(h0)
            x = h0.clone().requires_grad_(True)
            (net(x) ** 2).sum().backward()
            got.append((hL, x.grad, net.V.grad))
            assert "mask_passes" not in net.state_dict()
        assert all(torch.equal(a, b) for a, b in zip(*got))
        for a, b in zip(got[0], _plain_recursion(nets[0], h0)):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12 * b.abs().max().item())


def _plain_recursion(net, h0):
    """(h_L, dh_0, dV) of the loss ||h_L||^2 for h_{k+1} = h_k + alpha g(h_k) V_k^T, states as rows, g = tanh(h)
    (res1) or ReLU(h W_k^T) (res3): a loop over the layers, differentiated by autograd."""
    V = net.V.detach().clone().requires_grad_(True)
    x = h0.clone().requires_grad_(True)
    h = x
    for k in range(net.depth):
        g = torch.tanh(h) if net.W is None else torch.relu(h @ net.W[k].detach().mT)
        h = h + net.alpha * (g @ V[k].mT)
    (h**2).sum().backward()
    return h.detach(), x.grad, V.grad


def test_limits_ode_scale():
    path = Smooth(4, 2, seed=1)
    h0 = normal((2, 1, 4), 1, "inputs")
    ts = [0.5, 1.0]
    plain = NeuralODE(block="res1", outer=path, method="rk4", steps=64).solve(h0, ts)
    one = NeuralODE(block="res1", outer=path, method="rk4", steps=64, scale=lambda t: 1.0).solve(h0, ts)
    assert torch.equal(plain, one)
    with pytest.raises(ValueError, match="scale must be a callable"):
        NeuralODE(block="res1", outer=path, scale=0.5)


def test_evaluation_network_converges_to_the_scaled_ode_at_rate_one():
    r = sd.limit_errors("ode", depths=[8, 16, 32, 64], width=6, samples=8, p_L=0.5, seed=2)
    assert abs(r["eval_rate"].slope + 1) < 0.1
    assert r["train"][-1].mean() > 3 * r["eval"][-1].mean()  # at L = 64 the masks' fluctuation dominates
    assert LinearSurvival(0.5)(1.0) == 0.5 and LinearSurvival(0.5)(0.0) == 1.0


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_exact_second_moment_tends_to_the_sdes(mode):
    """prod_k (1 + f_k / L) - 1 (f_k = p_k or p_k^2) tends to exp(int f) - 1 at rate 1/L, the SDE's value."""
    gaps = []
    for L in (1000, 2000):
        p = [1 - k / L * 0.5 for k in range(1, L + 1)]
        exact = sd.second_moment_theory(1.0, L**-0.5, p if mode == "train" else [x * x for x in p])
        gaps.append(abs(exact - sd.sde_second_moment(0.5, mode)))
    assert gaps[0] < 2e-3 and gaps[1] == pytest.approx(gaps[0] / 2, rel=0.01)

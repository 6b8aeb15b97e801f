"""The engine: exact second-moment identities, Lemma 1, the adjoint recursion, streaming, bad input."""

import numpy as np
import pytest
import torch
from problems import SECOND_MOMENT, second_moment

from reslimit import IID, Brownian, ScaledResNet, diverged, native
from reslimit import resnet as resnet_module


def _ratio_sq(net, width, seed=0):
    """||h_L - h_0||^2 / ||h_0||^2 for one input per ensemble member: E independent samples."""
    g = torch.Generator().manual_seed(seed)
    h0 = torch.randn(net.ensemble, 1, width, generator=g)
    with torch.no_grad():
        hL = net(h0)
    return (((hL - h0) ** 2).sum(-1) / (h0**2).sum(-1)).flatten().numpy()


@pytest.mark.parametrize("problem", sorted(SECOND_MOMENT))
@pytest.mark.parametrize("init", ["gaussian", "rademacher", "brownian"])
@pytest.mark.parametrize("depth,beta", [(16, 0.5), (64, 0.5), (32, 0.25)])
def test_exact_second_moment_identity(problem, init, depth, beta):
    block, activation, c = SECOND_MOMENT[problem]
    E, d = 2000, 8
    outer = Brownian(d, E, seed=1) if init == "brownian" else IID(d, E, dist=init, seed=1)
    net = ScaledResNet(depth, d, beta=beta, block=block, activation=activation, outer=outer,
                       inner=IID(d, E, dist="gaussian", seed=2) if block != "res1" else None)
    r = _ratio_sq(net, d)
    theory = second_moment(c, depth**-beta, depth)
    # The E ensemble members are independent draws: 4 standard errors of their mean.
    assert abs(r.mean() - theory) < 4 * r.std(ddof=1) / np.sqrt(E)


def test_second_moment_negative_control():
    # res-3 measured against the res-1/identity constant c = 1 must be rejected by the same 4-SE rule.
    E, d, L = 2000, 8, 64
    r = _ratio_sq(ScaledResNet(L, d, block="res3", ensemble=E, seed=3), d)
    assert abs(r.mean() - second_moment(1.0, L**-0.5, L)) > 4 * r.std(ddof=1) / np.sqrt(E)


@pytest.mark.parametrize("depth,beta", [(32, 0.5), (64, 0.3)])
def test_lemma1_two_sided_bound(depth, beta):
    # res-1, leaky ReLU of slope 0.8: 0.8|x| <= |sigma(x)| <= |x|, so (Lemma 1, Marion et al. 2022)
    # (1 + 0.64 alpha^2)^L - 1 <= E||h_L - h_0||^2/||h_0||^2 <= (1 + alpha^2)^L - 1.
    E, d = 2000, 8
    net = ScaledResNet(depth, d, beta=beta, block="res1", activation="leaky_relu:0.8", ensemble=E, seed=5)
    r = _ratio_sq(net, d)
    se = r.std(ddof=1) / np.sqrt(E)
    alpha = depth**-beta
    lower, upper = second_moment(0.64, alpha, depth), second_moment(1.0, alpha, depth)
    assert lower - 4 * se <= r.mean() <= upper + 4 * se
    # and the bound is not vacuous here: the measurement sits strictly inside, away from both ends
    assert lower + 4 * se < r.mean() < upper - 4 * se


ACTIVATION_CASES = [("res1", "tanh"), ("res1", "leaky_relu:0.8"), ("res2", "tanh"), ("res3", "relu"),
                    ("res1", torch.sin), ("res1", "identity"), ("res1", lambda x: x), ("res2", "leaky_relu:-0.5"),
                    ("res2", "identity")]


@pytest.mark.parametrize("block,activation", ACTIVATION_CASES)
def test_adjoint_equals_autograd(block, activation):
    net = ScaledResNet(40, 6, beta=0.5, block=block, activation=activation, ensemble=3, seed=2)
    h0 = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    target = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(1))
    hL = net(h0)
    loss = ((hL - target) ** 2).sum() / 2
    (grad_h0,) = torch.autograd.grad(loss, h0)
    with torch.no_grad():
        p = net.adjoint(h0, hL - target)
    assert p.shape == (41, 3, 5, 6)
    assert torch.allclose(p[-1], hL - target) and (p[0] - grad_h0).abs().max() < 1e-10


@pytest.mark.parametrize("batch", [4, 1])  # batch 1: a transposed state is contiguous as it is, a copy is forced
@pytest.mark.parametrize("block,activation", ACTIVATION_CASES)
def test_in_place_passes_equal_recorded_ones(block, activation, batch):
    """Without autograd the engine updates h and p in place: same numbers, inputs untouched, no aliasing."""
    net = ScaledResNet(30, 5, beta=0.5, block=block, activation=activation, ensemble=2, seed=3)
    h0 = torch.randn(2, batch, 5, generator=torch.Generator().manual_seed(0))
    pL = torch.randn(2, batch, 5, generator=torch.Generator().manual_seed(1))
    h0_copy, pL_copy = h0.clone(), pL.clone()
    recorded, adjoint = net.trajectory(h0, every=7), net.adjoint(h0, pL, every=7)  # weights require grad
    with torch.no_grad():
        in_place, adjoint_in_place = net.trajectory(h0, every=7), net.adjoint(h0, pL, every=7)
    assert torch.equal(h0, h0_copy) and torch.equal(pL, pL_copy)
    assert (in_place - recorded).abs().max() < 1e-13 and (adjoint_in_place - adjoint).abs().max() < 1e-13
    assert len({s.data_ptr() for s in in_place}) == len(in_place)  # every recorded state its own tensor


def test_one_step_by_hand():
    net = ScaledResNet(4, 3, beta=1.0, block="res2", activation="tanh", seed=4)
    h0 = torch.randn(1, 2, 3, generator=torch.Generator().manual_seed(2))
    V, W = net.V[0, 0].detach(), net.W[0, 0].detach()
    h1 = h0[0] + 0.25 * (V @ torch.tanh(W @ h0[0].T)).T  # column convention: V sigma(W h)
    assert torch.allclose(net.trajectory(h0)[1, 0], h1, atol=1e-15)


@pytest.mark.parametrize("compiled", [False, True])
def test_trajectory_every_and_final_state(monkeypatch, compiled):
    """Bit for bit within one engine: the torch loop (trainable weights, autograd recording), or the compiled kernel
    (weights without gradients), which serves res-1 with ReLU too; across the two they agree to rounding
    (tests/test_native.py)."""
    monkeypatch.setattr(native, "ENABLED", compiled)
    net = ScaledResNet(10, 4, activation="relu", ensemble=2, seed=1).requires_grad_(not compiled)
    h0 = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    full, sub = net.trajectory(h0), net.trajectory(h0, every=4)  # layers 0, 4, 8 and 10
    assert full.shape == (11, 2, 3, 4) and torch.equal(full[-1], net(h0))
    assert torch.equal(sub, full[[0, 4, 8, 10]])
    p = net.adjoint(h0, torch.ones(2, 3, 4), every=4)
    assert torch.equal(p, net.adjoint(h0, torch.ones(2, 3, 4))[[0, 4, 8, 10]])


def test_streamed_weights_give_the_same_numbers(monkeypatch):
    monkeypatch.setattr(resnet_module, "_CHUNK_BYTES", 3 * 2 * 4 * 4 * 8 * 2)  # 3 layers a chunk
    monkeypatch.setattr(native, "ENABLED", False)  # the torch loop both ways: bit for bit (tests/test_native.py)
    kw = dict(beta=0.5, block="res3", outer=Brownian(4, 2, seed=1), inner=IID(4, 2, seed=2))
    a, b = ScaledResNet(17, 4, **kw), ScaledResNet(17, 4, stream=True, **kw)
    assert len(list(b.weight_chunks())) == 6 and not list(b.parameters())
    h0 = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a.trajectory(h0), b.trajectory(h0))
        assert torch.equal(a.adjoint(h0, h0), b.adjoint(h0, h0))


def test_complete_model_is_trainable():
    net = ScaledResNet(20, 8, block="res2", activation="tanh", ensemble=2, input_dim=3, output_dim=1, seed=0)
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    y = x[:, :1] ** 2
    assert net(x).shape == (2, 16, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert {n for n, _ in net.named_parameters()} == {"V", "W", "A", "B"}
    # seeds 0-5: the loss falls to 0.40-0.64 of its start in 30 steps, 0.20-0.45 in 60 (seed 0: 0.22)
    assert losses[-1] < 0.5 * losses[0]


def test_overflow_is_reported_not_raised():
    # beta = 0 with the identity activation: E||h_L||^2 grows like 2^L, float32 overflows long before L = 3000.
    net = ScaledResNet(3000, 8, beta=0.0, block="res1", activation="identity", ensemble=4, dtype=torch.float32,
                       stream=True)
    h0 = torch.randn(4, 5, 8, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hL = net(h0)
    assert diverged(hL).all()
    stable = ScaledResNet(3000, 8, beta=0.5, activation="relu", ensemble=4, dtype=torch.float32, stream=True)
    assert not diverged(stable(h0)).any()


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(depth=0), "depth"),
        (dict(width=0), "width"),
        (dict(beta=-0.5), "beta"),
        (dict(beta=0.5, alpha=0.1), "beta or alpha"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(block="res9"), "block"),
        (dict(activation="swish"), "activation"),
        (dict(block="res3", activation="tanh"), "activation"),
        (dict(outer=IID(5)), "outer has width 5"),
        (dict(block="res2", inner=IID(4, ensemble=3)), "ensemble"),
        (dict(inner=IID(4)), "inner"),
        (dict(outer="iid"), "outer"),
        (dict(input_dim=0), "input_dim"),
    ],
)
def test_bad_construction_names_the_argument(kwargs, arg):
    args = dict(depth=10, width=4) | kwargs
    with pytest.raises(ValueError, match=arg):
        ScaledResNet(args.pop("depth"), args.pop("width"), **args)


@pytest.mark.parametrize(
    "h0,msg",
    [
        (torch.zeros(2, 3, 5), r"h0 must have shape \(ensemble=2, batch, 4\)"),
        (torch.zeros(3, 3, 4), "ensemble=2"),
        (torch.full((2, 3, 4), float("nan")), "NaN"),
        (torch.zeros(2, 3, 4, dtype=torch.float32), "dtype"),
    ],
)
def test_bad_state_names_the_argument(h0, msg):
    with pytest.raises(ValueError, match=msg):
        ScaledResNet(10, 4, ensemble=2)(h0)


def test_per_input_alpha_equals_separate_networks():
    """One weight draw, several betas: per-input alpha equals one network per beta (forward and adjoint)."""
    depth, betas = 50, torch.tensor([0.25, 0.5, 1.0])
    net = ScaledResNet(depth, 6, block="res2", activation="tanh", ensemble=2, seed=7)
    h0 = torch.randn(2, 3, 6, generator=torch.Generator().manual_seed(0))
    pL = torch.randn(2, 3, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        batched = net.trajectory(h0, every=depth, alpha=depth**-betas)
        p_batched = net.adjoint(h0, pL, every=depth, alpha=depth**-betas)
        for i, beta in enumerate(betas.tolist()):
            one = ScaledResNet(depth, 6, beta=beta, block="res2", activation="tanh", outer=net.outer, inner=net.inner)
            assert (one.trajectory(h0[:, i:i + 1], every=depth) - batched[:, :, i:i + 1]).abs().max() < 1e-13
            alone = one.adjoint(h0[:, i:i + 1], pL[:, i:i + 1], every=depth)
            assert (alone - p_batched[:, :, i:i + 1]).abs().max() < 1e-13
        per_sample = net(h0, alpha=torch.full((2, 3), 0.3))
        assert (per_sample - ScaledResNet(depth, 6, alpha=0.3, block="res2", activation="tanh", outer=net.outer,
                                          inner=net.inner)(h0)).abs().max() < 1e-13
    with pytest.raises(ValueError, match=r"alpha must be a tensor of shape \(batch=3,\)"):
        net(h0, alpha=torch.ones(4))
    with pytest.raises(ValueError, match="alpha must hold finite scales >= 0"):
        net(h0, alpha=torch.tensor([1.0, -1.0, 0.5]))

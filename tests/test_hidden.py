"""Blocks of any hidden width M (res-2, res-3): V_k d x M, W_k M x d, g(h, W) = sigma(W h) in R^M.

The shapes and the recursion written out, the square case bit for bit as without ``hidden``, rectangular paths and
their variances, the explicit adjoint against autograd, the exact second moment at every M (and a control whose
scaling is wrong), the limits and the comparator with M != d, the specs, train and the command line, bad input.
"""

import json
import math

import numpy as np
import pytest
import torch

from reslimit import IID, Brownian, FractionalBrownian, NeuralODE, NeuralSDE, ScaledResNet, gradients, native, simulate
from reslimit.blocks import get_block
from reslimit.cli import main
from reslimit.compare import measure
from reslimit.limits import LIMITS
from reslimit.paths import FunctionPath, Smooth, Stacked
from reslimit.specs import NetSpec, PathSpec
from reslimit.train import run as train_run

D, M, E = 5, 12, 3
PATHS = {"iid": lambda rows, cols, seed: IID(rows, E, seed=seed, cols=cols),
         "brownian": lambda rows, cols, seed: Brownian(rows, E, seed=seed, cols=cols),
         "smooth": lambda rows, cols, seed: Smooth(rows, E, seed=seed, cols=cols),
         "fbm": lambda rows, cols, seed: FractionalBrownian(rows, E, hurst=0.7, resolution=64, seed=seed, cols=cols)}


def _h0(n=4, d=D, seed=0):
    return torch.randn(E, n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("block, activation", [("res2", "tanh"), ("res2", "leaky_relu:0.3"), ("res3", "relu")])
def test_shapes_and_the_recursion_written_out(block, activation):
    net = ScaledResNet(7, D, hidden=M, block=block, activation=activation, ensemble=E, seed=4)
    assert (net.hidden, net.V.shape, net.W.shape) == (M, (7, E, D, M), (7, E, M, D))
    assert "hidden=12" in repr(net)
    h0 = _h0()
    sigma = get_block(block, activation).activation.fn
    h = h0
    for k in range(7):  # h_{k+1} = h_k + alpha V_{k+1} sigma(W_{k+1} h_k), states as rows
        h = h + net.alpha * sigma(h @ net.W[k].mT) @ net.V[k].mT
    with torch.no_grad():
        torch.testing.assert_close(net(h0), h, rtol=1e-13, atol=1e-13)
        states = net.trajectory(h0, every=2)
        assert states.shape == (5, E, 4, D)
        torch.testing.assert_close(states[-1], h, rtol=1e-13, atol=1e-13)
        assert net.adjoint(h0, torch.ones_like(h0)).shape == (8, E, 4, D)


def test_the_weights_are_scaled_by_their_fan_in():
    """Var V_ij = 1/M and Var W_ij = 1/d: sample variances within 4 SE (2 sigma^4 / (n - 1) for normals)."""
    net = ScaledResNet(200, D, hidden=M, block="res3", ensemble=E, seed=1)
    for weights, variance in ((net.V, 1 / M), (net.W, 1 / D)):
        x = weights.detach().flatten()
        se = variance * math.sqrt(2 / (x.numel() - 1))
        assert abs(float(x.var()) - variance) <= 4 * se, (float(x.var()), variance)


@pytest.mark.parametrize("block", ["res2", "res3"])
def test_the_square_case_is_the_network_without_hidden_bit_for_bit(block):
    plain = ScaledResNet(9, D, block=block, ensemble=E, seed=11, input_dim=3, output_dim=2)
    square = ScaledResNet(9, D, hidden=D, block=block, ensemble=E, seed=11, input_dim=3, output_dim=2)
    assert torch.equal(plain.V, square.V) and torch.equal(plain.W, square.W) and square.hidden == D
    x = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(plain(x), square(x))
    assert repr(plain) == repr(square)  # hidden = d is not shown: it is the default
    spec = NetSpec(block=block, width=D, depth=9, beta=0.5)
    assert torch.equal(spec.build(seed=11).V, NetSpec(block=block, width=D, depth=9, beta=0.5, hidden=D)
                       .build(seed=11).V)


@pytest.mark.parametrize("kind", list(PATHS))
def test_a_square_path_drawn_with_cols_is_the_path_without(kind):
    make = PATHS[kind]
    a, b = make(D, None, 5), make(D, D, 5)
    assert torch.equal(a.weights(16), b.weights(16)) and repr(a) == repr(b)
    if kind != "iid":
        assert torch.equal(a.evaluate([0.25, 0.5]), b.evaluate([0.25, 0.5]))


@pytest.mark.parametrize("kind", list(PATHS))
def test_rectangular_paths_have_their_shapes_and_fan_in_variance(kind):
    path = PATHS[kind](D, M, 2)
    assert path.shape == (E, D, M) and path.cols == M and "cols=12" in repr(path)
    V = path.weights(16)
    assert V.shape == (16, E, D, M)
    x = (V * M**0.5).flatten()  # the entries of sqrt(M) V: variance std^2 = 1 (each layer exactly Gaussian)
    if kind != "smooth":  # smooth layers are strongly correlated in depth: the sample variance has no simple SE
        se = math.sqrt(2 / (x.numel() - 1))
        assert abs(float(x.var()) - 1) <= 4 * se, float(x.var())
    if kind != "iid":
        assert path.evaluate(0.5).shape == (E, D, M)
    assert Stacked([path, path]).weights(4).shape == (4, 2 * E, D, M)


def test_stacked_paths_must_share_their_columns():
    with pytest.raises(ValueError, match="paths must share class, width, cols"):
        Stacked([IID(D, cols=M), IID(D)])


@pytest.mark.parametrize("block, activation", [("res2", "tanh"), ("res2", "relu"), ("res3", "relu")])
@pytest.mark.parametrize("scales", [None, "per input"])
def test_the_explicit_adjoint_in_torch_equals_autograd_for_a_hidden_width(monkeypatch, block, activation, scales):
    monkeypatch.setattr(native, "ENABLED", False)  # the torch explicit adjoint (the kernel's: below)
    net = ScaledResNet(6, D, hidden=M, block=block, activation=activation, ensemble=E, seed=2, input_dim=3,
                       output_dim=2)
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    got = {}
    for explicit in (True, False):
        net.zero_grad()
        xs = x.clone().requires_grad_(True)
        alpha = None if scales is None else torch.tensor([0.1, 0.3, 0.5, 0.7], dtype=torch.float64,
                                                         requires_grad=True)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(gradients, "ENABLED", explicit)
            engine = net._engine(net.embed(xs), None if alpha is None else net._check_alpha(alpha, net.embed(xs)))
            out = net(xs, alpha=alpha)
            ((out**2).sum() / 2 + out.sum()).backward()
        assert engine == ("explicit" if explicit else "torch")
        got[explicit] = [xs.grad, *(() if alpha is None else (alpha.grad,)),
                         *(p.grad for p in net.parameters())]
    for a, b in zip(got[True], got[False]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    h0 = net.embed(x)
    with torch.no_grad():  # and the adjoint recursion's p_0 is autograd's gradient of h_0
        p = net.adjoint(x, torch.ones_like(h0), every=6)[0]
    h = h0.detach().requires_grad_(True)
    torch.testing.assert_close(p, torch.autograd.grad(net._run(h, None).sum(), h)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block, activation, c", [("res3", "relu", 0.5), ("res2", "identity", 1.0)])
@pytest.mark.parametrize("hidden", [4, 16, 64])
def test_the_exact_second_moment_holds_at_every_hidden_width(block, activation, c, hidden):
    run = simulate(block=block, activation=activation, init="iid", depth=16, width=16, hidden=hidden, beta=0.5,
                   ensemble=128, samples=8, seed=5)
    assert run.c == c and run.theory == pytest.approx((1 + c / 16) ** 16 - 1, rel=1e-12)
    stats = run.statistics
    assert abs(stats["mean_sq"] - run.theory) <= 4 * stats["se_sq"], (stats["mean_sq"], stats["se_sq"], run.theory)
    assert run.params["hidden"] == hidden


def test_a_wrong_scaling_fails_the_identity():
    """The control: V of variance 1/d instead of 1/M at M = 4d makes c four times larger, far outside 4 SE."""
    d, hidden, E_, L = 16, 64, 128, 16
    outer = IID(d, E_, seed=1, cols=hidden, std=(hidden / d) ** 0.5)  # Var V_ij = (M/d) / M = 1/d
    net = ScaledResNet(L, d, hidden=hidden, block="res3", beta=0.5, outer=outer, inner=IID(hidden, E_, seed=2, cols=d))
    h0 = torch.randn(E_, 8, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        r2 = (((net(h0) - h0).norm(dim=-1) / h0.norm(dim=-1)) ** 2).mean(1)
    mean, se = float(r2.mean()), float(r2.std() / E_**0.5)
    theory = (1 + 0.5 / L) ** L - 1
    assert abs(mean - theory) > 4 * se and abs(mean - ((1 + 2.0 / L) ** L - 1)) <= 4 * se


def test_the_ode_limit_with_a_hidden_width_is_reached_at_order_one():
    outer, inner = Smooth(D, E, seed=1, cols=M), Smooth(M, E, seed=2, cols=D)
    ode = NeuralODE(block="res3", outer=outer, inner=inner, hidden=M, method="rk4", steps=512)
    h0 = _h0()
    H1 = ode.solve(h0, [1.0])[0]
    with torch.no_grad():
        errors = [float((ScaledResNet(L, D, hidden=M, block="res3", beta=1, outer=outer, inner=inner)(h0) - H1)
                        .norm()) for L in (32, 64, 128)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(1.8 < r < 2.2 for r in ratios), errors  # O(1/L): halving the step halves the error


def test_the_network_is_the_euler_scheme_of_the_sde_with_a_hidden_width():
    """W constant in t: the depth-L network at beta = 1/2 on a d x M Brownian path is the solver's Euler-Maruyama
    scheme with L steps, to rounding (dH = dX g(H, W) / sqrt(M), V_k = sqrt(L) dX_k / sqrt(M))."""
    W0 = torch.randn(E, M, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    inner = FunctionPath(lambda t: W0, M, E, cols=D)
    outer = Brownian(D, E, seed=4, cols=M)
    sde = NeuralSDE(block="res2", activation="tanh", outer=outer, inner=inner, hidden=M, steps=64, method="euler")
    net = ScaledResNet(64, D, hidden=M, block="res2", activation="tanh", beta=0.5, outer=outer, inner=inner)
    h0 = _h0()
    with torch.no_grad():
        torch.testing.assert_close(sde.solve(h0, [1.0])[0], net(h0), rtol=1e-12, atol=1e-12)


def test_the_comparator_measures_a_hidden_width():
    limit = LIMITS["sde"]
    outer = limit.make_path(D, 6, seed=0, dtype=torch.float64, hidden=M)
    inner = Smooth(M, 6, seed=1, cols=D)
    assert outer.shape == (6, D, M)
    h0 = torch.randn(6, 1, D, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    h0 = h0 / h0.norm(dim=-1, keepdim=True)
    path, terminal, grad = measure(limit, get_block("res3"), outer, inner, h0, torch.zeros_like(h0), [4, 16, 64], 4)
    assert path.shape == (3, 6) and np.all(np.isfinite(grad))
    assert path.mean(1)[2] < path.mean(1)[0]  # nearer the limit at L = 64 than at L = 4


def test_dropout_masks_the_hidden_units():
    net = ScaledResNet(4, D, hidden=M, block="res3", ensemble=E, dropout=0.5)
    assert net.masks(6)[1].shape == (4, E, M, 6)
    assert net(_h0()).shape == (E, 4, D)


def test_specs_train_and_old_manifests(tmp_path):
    spec = NetSpec(block="res3", width=D, hidden=M, depth=6, beta=0.5)
    assert spec.to_dict()["hidden"] == M and NetSpec.from_dict(spec.to_dict()) == spec
    assert "hidden" not in NetSpec(block="res3").to_dict()  # a square spec's data reads as before
    old = {"block": "res3", "activation": "relu", "width": 4, "depth": 6, "beta": 0.5, "dtype": "float64"}
    assert NetSpec.from_dict(old).hidden is None
    net = spec.build(seed=3, ensemble=2)
    assert torch.equal(net.V, ScaledResNet(6, D, hidden=M, block="res3", seed=3, ensemble=2).V)
    outer, inner = spec.paths(PathSpec("smooth"), seed=3)
    assert (outer.shape, inner.shape) == ((1, D, M), (1, M, D))
    history = train_run(tmp_path / "t", data="synthetic", block="res3", width=4, hidden=16, depth=4, epochs=1,
                        progress=False)
    assert history.params["hidden"] == 16 and len(history.rows) == 2
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["params"]["hidden"] == 16 and manifest["net"]["hidden"] == 16


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
def test_bad_hidden_is_refused_naming_it(bad):
    if bad is None:  # no hidden: res1 fine
        assert ScaledResNet(3, D, block="res1").hidden == D
        return
    for make in (lambda: ScaledResNet(3, D, hidden=bad, block="res3"), lambda: NetSpec(block="res3", hidden=bad),
                 lambda: NeuralODE(block="res3", outer=Smooth(D), inner=Smooth(D), hidden=bad)):
        with pytest.raises(ValueError, match=r"hidden must be an integer >= 1 \(the hidden width M"):
            make()


def test_hidden_with_res1_and_paths_of_the_wrong_shape_are_refused():
    for make in (lambda: ScaledResNet(3, D, hidden=M, block="res1"), lambda: NetSpec(block="res1", hidden=M),
                 lambda: simulate(block="res1", activation="tanh", hidden=M)):
        with pytest.raises(ValueError, match="hidden must be None for block 'res1'.*no inner weights"):
            make()
    with pytest.raises(ValueError, match=r"outer must hold 5 x 12 weights \(width x hidden\); got 5 x 5"):
        ScaledResNet(3, D, hidden=M, block="res3", outer=IID(D))
    with pytest.raises(ValueError, match=r"inner must hold 12 x 5 weights \(hidden x width\); got 5 x 12"):
        ScaledResNet(3, D, hidden=M, block="res3", inner=IID(D, cols=M))
    with pytest.raises(ValueError, match=r"outer must be width x hidden = 5 x 5 \(hidden=None\); got 5 x 12"):
        NeuralODE(block="res3", outer=Smooth(D, cols=M), inner=Smooth(M, cols=D))
    with pytest.raises(ValueError, match=r"inner must be hidden x width = 12 x 5"):
        NeuralODE(block="res3", outer=Smooth(D, cols=M), inner=Smooth(D), hidden=M)


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "0"], "hidden must be an integer >= 1"),
    (["--hidden", "x"], "argument --hidden: invalid int value: 'x'"),
    (["--block", "res1", "--activation", "tanh", "--hidden", "8"], "hidden must be None for block 'res1'"),
])
def test_the_command_line_refuses_bad_hidden_in_one_line(capsys, argv, message):
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_the_command_line_simulates_a_hidden_width(capsys):
    assert main(["simulate", "--block", "res3", "--width", "4", "--hidden", "16", "--depth", "8"]) == 0
    assert "theory (1 + 0.5 alpha^2)^L - 1" in capsys.readouterr().out


def _passes(net, h0, pL, every, alpha):
    """(trajectory, forward, adjoint with p_L a tensor, adjoint with p_L a function of h_L) of one network."""
    with torch.no_grad():
        return (net.trajectory(h0, every, alpha=alpha), net(h0, alpha=alpha), net.adjoint(h0, pL, every, alpha=alpha),
                net.adjoint(h0, lambda hL: hL - pL, every, alpha=alpha))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("block, activation", [("res3", "relu"), ("res2", "tanh"), ("res2", "leaky_relu:0.2")])
@pytest.mark.parametrize("L, d, hidden, E, n, every", [(7, 5, 12, 2, 17, 3), (6, 12, 3, 1, 33, 1),
                                                       (5, 9, 40, 4, 2, 5)])
@pytest.mark.parametrize("scales", ["float", "per member and input"])
def test_the_compiled_kernel_serves_a_hidden_width(monkeypatch, dtype, tol, block, activation, L, d, hidden, E, n,
                                                   every, scales):
    """Trajectories, outputs and adjoints of the compiled pass with M != d as the torch loop's, on 3 threads (fewer
    and more members than threads), widths and batches that are not multiples of the tile."""
    net = ScaledResNet(L, d, hidden=hidden, block=block, activation=activation, ensemble=E, seed=L, dtype=dtype)
    net.requires_grad_(False)
    g = torch.Generator().manual_seed(L * d)
    h0, pL = 2 * torch.randn(E, n, d, dtype=dtype, generator=g), torch.randn(E, n, d, dtype=dtype, generator=g)
    alpha = None if scales == "float" else torch.rand(E, n, dtype=dtype, generator=g)
    assert net._engine(h0) == "compiled", native.status(dtype)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        got = _passes(net, h0, pL, every, alpha)
    finally:
        torch.set_num_threads(threads)
    with monkeypatch.context() as m:
        m.setattr(native, "ENABLED", False)
        assert net._engine(h0) == "torch"
        want = _passes(net, h0, pL, every, alpha)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= tol * b.abs().max()


@pytest.mark.parametrize("block, activation", [("res3", "relu"), ("res2", "tanh")])
@pytest.mark.parametrize("E, threads", [(1, 3), (5, 2)])
def test_the_compiled_gradients_of_a_hidden_width_are_autograds(block, activation, E, threads):
    """The weights' gradients from the kernel (dV d x M, dW M x d; a member shared by threads, or not) as autograd's
    through the torch loop, float64."""
    net = ScaledResNet(6, 7, hidden=19, block=block, activation=activation, ensemble=E, seed=1, input_dim=3,
                       output_dim=2)
    x = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    got = {}
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        for explicit in (True, False):
            net.zero_grad()
            with pytest.MonkeyPatch.context() as m:
                m.setattr(gradients, "ENABLED", explicit)
                assert net._engine(net.embed(x)) == ("explicit compiled" if explicit else "torch")
                out = net(x)
                ((out**2).sum() / 2 + out.sum()).backward()
            got[explicit] = [p.grad.clone() for p in net.parameters()]
    finally:
        torch.set_num_threads(saved)
    for a, b in zip(got[True], got[False]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

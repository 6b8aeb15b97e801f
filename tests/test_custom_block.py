"""A block of the user's (reslimit.custom): res-3 written as a CustomBlock is res-3, number for number; its ODE limit
is the NeuralODE's; the error against the limit falls like 1/L; wrong shapes and NaNs are refused naming the block
and the layer, a diverging network is not; train, the batched grid and the transfer study take it; the guide runs."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import reslimit as rl
from reslimit import BlockPaths, CustomBlock, CustomODE, CustomResNet, FunctionPath, NeuralODE, ScaledResNet, Smooth
from reslimit.compare import measure
from reslimit.limits import get_limit
from reslimit.paths import IID
from reslimit.studies import transfer
from reslimit.train import run

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide" / "custom_block.md"
F64 = torch.float64


class Res3Again(CustomBlock):
    """res-3, h + alpha V ReLU(W h), as g(h, {V, W}) = ReLU(h W^T) V^T."""

    parameters = {"V": ("width", "width"), "W": ("width", "width")}
    formula = "g = ReLU(h W^T) V^T"

    def __init__(self, gain: float = 1.0):
        self.gain_V = gain

    def gain(self, name):
        return self.gain_V if name == "V" else 1.0

    def g(self, h, theta):
        return torch.relu(h @ theta["W"].mT) @ theta["V"].mT


class TanhMLP(CustomBlock):
    """g(h) = W2 tanh(W1 h + b): a hidden width, a vector parameter."""

    parameters = {"W1": ("hidden", "width"), "b": ("hidden",), "W2": ("width", "hidden")}
    gains = {"b": 0.5}

    def __init__(self, hidden=12):
        self.hidden = hidden

    def g(self, h, theta):
        return torch.tanh(h @ theta["W1"].mT + theta["b"][:, None, :]) @ theta["W2"].mT


def _normal(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# res-3 again: the same network

def test_res3_written_as_a_custom_block_is_res3_forward_and_gradients():
    d, E, L, n = 6, 3, 12, 5
    outer, inner = IID(d, E, seed=1), IID(d, E, seed=2)
    ref = ScaledResNet(L, d, beta=0.5, block="res3", outer=outer, inner=inner, seed=4, input_dim=4, output_dim=2)
    net = CustomResNet(L, d, Res3Again(), beta=0.5, paths={"V": outer, "W": inner}, seed=4, input_dim=4,
                       output_dim=2)
    assert torch.equal(net.theta["V"], ref.V) and torch.equal(net.theta["W"], ref.W)  # the path's own weights
    assert torch.equal(net.A, ref.A) and torch.equal(net.B, ref.B)  # the layers of the same seed
    x, y = _normal(n, 4), _normal(E, n, 2, seed=1)
    grads = []
    for model, weights in ((ref, (ref.V, ref.W)), (net, (net.theta["V"], net.theta["W"]))):
        out = model(x)
        loss = ((out - y) ** 2).sum()
        grads.append((out.detach(), *torch.autograd.grad(loss, (*weights, model.A, model.B))))
    for a, b in zip(*grads):  # output, dV, dW, dA, dB
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-13)
    p = _normal(E, n, d, seed=2)  # p_L
    with torch.no_grad():
        torch.testing.assert_close(net.trajectory(x, every=4), ref.trajectory(x, every=4), rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(net.adjoint(x, p, every=3), ref.adjoint(x, p, every=3), rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(net.solve(x, [0.25, 1.0]), ref.solve(x, [0.25, 1.0]), rtol=1e-12, atol=1e-13)


def test_a_gain_scales_the_parameter_and_other_shapes_read_the_first_entries():
    d, E = 5, 2
    block = TanhMLP(hidden=7)
    paths = BlockPaths.draw(block, d, E, seed=3)
    assert {k: p.width for k, p in paths.paths.items()} == {"W1": 6, "b": 3, "W2": 6}  # ceil(sqrt(35)), ceil(sqrt 7)
    W = paths.weights(4)
    assert {k: tuple(v.shape) for k, v in W.items()} == {"W1": (4, E, 7, 5), "b": (4, E, 7), "W2": (4, E, 5, 7)}
    raw = paths.paths["W1"].weights(4)  # entries of variance 1/6: times sqrt(6 / fan_in = 5)
    torch.testing.assert_close(W["W1"], raw.flatten(-2)[..., :35].reshape(4, E, 7, 5) * math.sqrt(6 / 5))
    raw_b = paths.paths["b"].weights(4)  # a vector: fan_in 1, gain 1/2, so variance 1/4
    torch.testing.assert_close(W["b"], raw_b.flatten(-2)[..., :7] * 0.5 * math.sqrt(3))
    # the variance of the entries: (gain std)^2 / fan_in, over many draws (4 standard errors)
    many = BlockPaths.draw(block, d, 400, seed=5).weights(1)
    for name, want in (("W1", 1 / 5), ("b", 1 / 4), ("W2", 1 / 7)):
        x = many[name].flatten() ** 2
        assert abs(float(x.mean()) - want) < 4 * float(x.std()) / math.sqrt(x.numel()), name
    # keyed by name: another block with one more parameter draws W1 alike
    class More(TanhMLP):
        parameters = {**TanhMLP.parameters, "c": (3,)}
    assert torch.equal(BlockPaths.draw(More(hidden=7), d, E, seed=3).weights(4)["W1"], W["W1"])


def test_the_ode_limit_of_res3_again_is_the_neural_odes():
    d, E = 5, 3
    outer, inner = Smooth(d, E, seed=1, lengthscale=0.3), Smooth(d, E, seed=2, lengthscale=0.3)
    h0, ts = _normal(E, 4, d), torch.linspace(0, 1, 5, dtype=F64)
    ref = NeuralODE(block="res3", outer=outer, inner=inner, method="rk4", steps=64).solve(h0, ts)
    ode = CustomODE(Res3Again(), {"V": outer, "W": inner}, width=d, method="rk4", steps=64)
    torch.testing.assert_close(ode.solve(h0, ts), ref, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(ode.trajectory(h0, every=16), ref, rtol=1e-12, atol=1e-13)


def test_the_error_against_the_ode_limit_falls_like_one_over_depth():
    """Path, terminal and gradient errors of a TanhMLP on smooth weights: slope -1 within the ODE limit's tolerance,
    the bootstrap interval over the samples holding it."""
    block, d, samples = TanhMLP(hidden=10), 6, 12
    paths = BlockPaths.draw(block, d, samples, kind="smooth", seed=0, lengthscale=0.3)
    h0 = _normal(samples, 1, d)
    h0 = h0 / h0.norm(dim=-1, keepdim=True)
    depths = [8, 16, 32, 64]
    errors = measure(get_limit("ode"), block, paths, None, h0, torch.zeros_like(h0), depths, 2)
    tolerance = get_limit("ode").tolerance
    for name, err in zip(("path", "terminal", "gradient"), errors):
        assert err.shape == (len(depths), samples) and (err > 0).all()
        rate = rl.fit_rate(depths, err)
        assert abs(rate.slope + 1) < tolerance, (name, rate)
        assert rate.ci_low < rate.slope < rate.ci_high
    assert (np.diff(errors[0].mean(1)) < 0).all()


# ---------------------------------------------------------------------------------------------
# the SDE limit: a block linear in a Brownian parameter

class PreNormMLP(CustomBlock):
    """g(h) = W2 gelu(W1 LN(h)): linear in W2."""

    parameters = {"W1": ("hidden", "width"), "W2": ("width", "hidden")}
    linear = "W2"

    def __init__(self, hidden=10):
        self.hidden = hidden

    def g(self, h, theta):
        z = torch.nn.functional.layer_norm(h, h.shape[-1:])
        return torch.nn.functional.gelu(z @ theta["W1"].mT) @ theta["W2"].mT


def test_the_network_is_euler_maruyama_of_its_sde_on_the_grid_of_its_layers():
    """With W1 constant in t the network of depth L at beta = 1/2 is the SDE's Euler-Maruyama scheme at N = L."""
    block, d, E, L = PreNormMLP(hidden=6), 5, 3, 16
    W1 = _normal(6, 6)  # a path of width ceil(sqrt(30)) = 6, constant
    paths = BlockPaths(block, d, {"W1": FunctionPath(lambda t: W1, 6, E), "W2": rl.Brownian(6, E, seed=4)})
    assert (paths.limit, paths.natural_beta) == ("sde", 0.5)
    net = CustomResNet(L, d, block, beta=0.5, paths=paths)
    sde = rl.CustomSDE(block, paths, steps=L)
    h0 = _normal(E, 4, d, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(sde.trajectory(h0, every=4), net.trajectory(h0, every=4), rtol=1e-12, atol=1e-13)
    assert sde.linear_checked


def test_the_error_against_the_sde_limit_falls_like_one_over_root_depth():
    """Path error slope -1/2 within the sde limit's tolerance; terminal and gradient errors: -1/2 within their 95%
    bootstrap intervals (over the samples) widened by that tolerance."""
    block, d, samples = PreNormMLP(hidden=10), 6, 24
    paths = BlockPaths(block, d, {"W1": Smooth(8, samples, seed=1, lengthscale=0.3),
                                  "W2": rl.Brownian(8, samples, seed=2)})
    h0 = _normal(samples, 1, d)
    h0 = h0 / h0.norm(dim=-1, keepdim=True)
    depths = [8, 16, 32, 64]
    limit = get_limit("sde")
    errors = measure(limit, block, paths, None, h0, torch.zeros_like(h0), depths, 16)
    rates = {name: rl.fit_rate(depths, err) for name, err in zip(("path", "terminal", "gradient"), errors)}
    assert abs(rates["path"].slope + 0.5) < limit.tolerance, rates  # the comparator's verdict
    for name, rate in rates.items():  # the terminal and gradient errors, noisier: -1/2 in the bootstrap interval
        assert rate.ci_low - limit.tolerance < -0.5 < rate.ci_high + limit.tolerance, (name, rate)


def test_the_sde_limit_refuses_what_has_none():
    block, d = PreNormMLP(hidden=4), 4
    with pytest.raises(ValueError, match=r"needs a Brownian path for 'W2' and smooth paths.*W1: IID, W2: Brownian"):
        rl.CustomSDE(block, {"W1": IID(4), "W2": rl.Brownian(4)}, width=d, steps=8)
    with pytest.raises(ValueError, match="needs block.linear"):
        rl.CustomSDE(TanhMLP(2), BlockPaths.draw(TanhMLP(2), d, kind="brownian"), steps=8)

    class NotLinear(PreNormMLP):
        linear = "W1"  # g is not linear in W1

    paths = BlockPaths(NotLinear(4), d, {"W1": rl.Brownian(4), "W2": Smooth(4)})
    with pytest.raises(ValueError, match="NotLinear.g is not linear in 'W1'"):
        rl.CustomSDE(NotLinear(4), paths, steps=8).solve(_normal(2, d), [1.0])
    with pytest.raises(ValueError, match="the ODE limit of PreNormMLP needs a smooth path"):
        CustomODE(block, {"W1": Smooth(4), "W2": rl.Brownian(4)}, width=d)


# ---------------------------------------------------------------------------------------------
# errors

class Wrong(CustomBlock):
    parameters = {"W": ("width", "width")}

    def g(self, h, theta):
        return (h @ theta["W"].mT)[..., :-1]


def test_a_wrong_shape_names_the_block_the_layer_and_both_shapes():
    with pytest.raises(ValueError, match=re.escape("Wrong.g must return the shape of h, (ensemble, batch, width) = "
                                                   "(2, 3, 4); got (2, 3, 3) at layer 1 of 5")):
        CustomResNet(5, 4, Wrong(), ensemble=2)(_normal(3, 4))

    class NotATensor(Wrong):
        def g(self, h, theta):
            return h.tolist()

    with pytest.raises(ValueError, match="NotATensor.g must return the shape of h.*got list at layer 1"):
        CustomResNet(5, 4, NotATensor())(_normal(3, 4))
    with pytest.raises(ValueError, match=r"Wrong.g must return the shape of h.*at t = 0"):
        CustomODE(Wrong(), BlockPaths.draw(Wrong(), 4, kind="smooth")).solve(_normal(3, 4), [1.0])


class Sqrt(CustomBlock):
    """g(h) = sqrt(c) h: c from a path 1 - 2t, negative past the middle, so NaN there."""

    parameters = {"c": (1,)}

    def g(self, h, theta):
        return torch.sqrt(theta["c"])[:, None, :] * h


@pytest.mark.parametrize("depth", [4, 8, 13])
def test_a_nan_from_a_finite_input_names_the_layer(depth):
    path = FunctionPath(lambda t: torch.full((1, 1), 1.0 - 2.0 * t), 1)
    net = CustomResNet(depth, 3, Sqrt(), beta=1.0, paths={"c": path})
    c = net.theta["c"].detach().flatten()  # layer k holds 1 - 2k/L
    torch.testing.assert_close(c, 1 - 2 * torch.arange(1, depth + 1, dtype=F64) / depth)
    first = depth // 2 + 1  # the first k with 1 - 2k/L < 0
    with pytest.raises(ValueError, match=rf"Sqrt.g returned NaN at layer {first} of {depth} for 2 of 2 samples "
                                         r"whose input h is finite"):
        net(_normal(2, 3))


def test_a_diverging_network_is_not_refused():
    """res-3 with a gain of 1e6 at alpha = 1: h overflows to inf within a few layers, and the NaNs of inf - inf after
    are the divergence's, not the block's."""
    net = CustomResNet(120, 4, Res3Again(gain=1e6), alpha=1.0, ensemble=3)
    with torch.no_grad():
        h = net(_normal(5, 4).abs())
    assert rl.diverged(h).all()


class Plain(CustomBlock):
    parameters = {"W": ("width", "hidden")}
    hidden = 3

    def g(self, h, theta):
        return h


@pytest.mark.parametrize("change, says", [
    (dict(parameters={}), "Plain declares no parameters"),
    (dict(parameters={"W": ("width", 0)}), r"shape of parameter 'W' must be a tuple of positive ints"),
    (dict(parameters={"W": ("width", "hiddn")}), r"got \(4, 'hiddn'\)"),
    (dict(parameters={"W": "width"}), r"Plain.parameters\['W'\] must be a tuple"),
    (dict(parameters={"a.b": (2,)}), "parameter names must be identifiers"),
    (dict(gains={"W": -1.0}), r"Plain.gains\['W'\] must be"),
])
def test_a_bad_declaration_names_the_block_and_the_parameter(change, says):
    block = type("Plain", (Plain,), change)()
    with pytest.raises(ValueError, match=says):
        CustomResNet(2, 4, block)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="block must be a reslimit.CustomBlock; got str"):
        CustomResNet(2, 4, "res3")
    with pytest.raises(ValueError, match=r"paths must map each parameter of Plain \(W\)"):
        CustomResNet(2, 4, Plain(), paths={"V": IID(4)})
    with pytest.raises(ValueError, match=r"paths\['W'\] has width 3.*use width >= 4"):
        CustomResNet(2, 4, Plain(), paths={"W": IID(3)})
    with pytest.raises(ValueError, match="must share ensemble"):
        CustomResNet(2, 4, TanhMLP(2), paths={"W1": IID(3), "b": IID(2), "W2": IID(3, 2)})
    with pytest.raises(ValueError, match="parameter 'W' has a IID path, which drives no continuous limit"):
        CustomODE(Plain(), {"W": IID(4)}, width=4)
    with pytest.raises(ValueError, match="give beta or alpha, not both"):
        CustomResNet(2, 4, Plain(), beta=1.0, alpha=0.5)
    with pytest.raises(ValueError, match=r"h0 must have shape \(ensemble=1, batch, 4\)"):
        CustomResNet(2, 4, Plain())(_normal(3, 5))
    with pytest.raises(ValueError, match="activation must be None for a user block"):
        transfer.study(block=Plain(), activation="relu")
    with pytest.raises(NotImplementedError, match="CustomBlock must implement g"):
        CustomResNet(2, 4, type("CustomBlock", (CustomBlock,), {"parameters": {"W": (2,)}})())(_normal(1, 4))


# ---------------------------------------------------------------------------------------------
# training, the batched grid, the transfer study

def test_training_a_custom_block_lowers_the_loss():
    data = rl.get_data("synthetic", seed=0, dtype=F64)
    net = CustomResNet(8, 12, TanhMLP(hidden=16), beta=1.0, seed=0, input_dim=data.input_dim,
                       output_dim=data.output_dim)
    before = {k: v.detach().clone() for k, v in net.theta.items()}
    history = rl.train(net, data, epochs=2, lr=0.05, seed=0, batch_size=128)
    rows = history.rows
    assert rows[-1]["test_loss"] < 0.8 * rows[0]["test_loss"] and rows[-1]["train_loss"] < rows[1]["train_loss"]
    assert all(r["status"] == "ok" and r["grad_norm_V"] > 0 and r["grad_norm_W"] is None for r in rows[1:])
    assert history.params["block"] == "TanhMLP" and history.params["activation"] is None
    assert torch.equal(history.snapshots[0]["W1"], before["W1"])
    assert not torch.equal(history.snapshots[2]["W1"], before["W1"])


def test_a_resumed_training_is_the_uninterrupted_one_and_the_net_moves_with_its_paths(tmp_path):
    data = rl.get_data("synthetic", n=200, seed=0, dtype=F64)

    def net():
        return CustomResNet(4, 6, TanhMLP(hidden=4), beta=1.0, seed=3, input_dim=data.input_dim,
                            output_dim=data.output_dim)

    whole = rl.train(net(), data, epochs=2, lr=0.05, seed=1)
    rl.train(net(), data, epochs=1, lr=0.05, seed=1, checkpoint=tmp_path / "ck.pt")
    resumed = rl.train(net(), data, epochs=2, lr=0.05, seed=1, checkpoint=tmp_path / "ck.pt")
    assert [r["train_loss"] for r in resumed.rows] == [r["train_loss"] for r in whole.rows]
    single = net().float()  # the parameters, the layers and the paths in float32
    assert single.theta["W1"].dtype == single.A.dtype == single.paths.dtype == torch.float32
    with torch.no_grad():
        out = single(data.X_test.float())
    torch.testing.assert_close(out, net()(data.X_test).detach().float(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # a whole reslimit train folder: the integration tier
def test_train_run_writes_the_folder_of_a_custom_block(tmp_path):
    """reslimit.train.run with block= a CustomBlock: the network of train, the params naming the block and its shapes,
    weights.pt by parameter, the folder read back by load."""
    block = TanhMLP(hidden=5)
    history = run(tmp_path / "out", data="synthetic", block=block, init="smooth", beta=1.0, depth=6, width=4,
                  epochs=2, lr=0.05, dtype="float64", seed=2, progress=False)
    data = rl.get_data("synthetic", seed=2, dtype=F64)
    net = CustomResNet(6, 4, block, beta=1.0, paths=BlockPaths.draw(block, 4, kind="smooth", seed=2), seed=2,
                       input_dim=data.input_dim, output_dim=data.output_dim)
    again = rl.train(net, data, epochs=2, lr=0.05, seed=2)
    assert [r["train_loss"] for r in history.rows] == [r["train_loss"] for r in again.rows]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["params"]["block"] == "TanhMLP(hidden=5)" and manifest["status"] == "complete"
    assert manifest["params"]["shapes"] == {"W1": [5, 4], "b": [5], "W2": [4, 5]}
    weights = torch.load(tmp_path / "out" / "weights.pt")
    assert set(weights["after"]) == {"W1", "b", "W2"} and weights["after"]["W1"].shape == (6, 1, 5, 4)
    assert rl.load(tmp_path / "out").frame()["epoch"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="activation must be None for a user block"):
        run(tmp_path / "bad", block=block, activation="tanh", progress=False)


def test_the_transfer_study_trains_a_custom_block_as_train_does(tmp_path):
    """Member (lr, seed) of the batched grid is CustomResNet(seed=s) trained by train(lr, seed=s), to rounding."""
    block = TanhMLP(hidden=6)
    options = dict(block=block, width=6, beta=1.0, init="smooth", depths=[4, 8], lr0s=[0.01, 0.03, 0.1], seeds=2,
                   epochs=1, batch_size=128, data="synthetic", dtype="float64", rules=["none"])
    result = transfer.transfer(tmp_path / "out", progress=False, figures=False, **options)
    assert result.params["block"] == repr(block) == "TanhMLP(hidden=6)"
    assert result.params["shapes"] == {"W1": [6, 6], "b": [6], "W2": [6, 6]}
    row = next(r for r in result if (r["depth"], r["lr0"], r["seed"]) == (8, 0.03, 1))
    data = rl.get_data("synthetic", seed=1, dtype=F64)
    paths = BlockPaths.draw(block, 6, kind="smooth", seed=1)
    net = CustomResNet(8, 6, block, beta=1.0, paths=paths, seed=1, input_dim=data.input_dim,
                       output_dim=data.output_dim)
    final = rl.train(net, data, epochs=1, lr=0.03, batch_size=128, seed=1).final
    assert math.isclose(row["train_loss"], final["train_loss"], rel_tol=1e-12)
    assert math.isclose(row["test_loss"], final["test_loss"], rel_tol=1e-12)
    unknown = dict(result.params, block="Unregistered(hidden=6)")
    with pytest.raises(ValueError, match=r"the user block Unregistered\(hidden=6\) is not registered"):
        transfer.compute_point(unknown, {"depth": 4})


# ---------------------------------------------------------------------------------------------
# the guide

@pytest.mark.slow  # the guide's page end to end, with its trainings: the integration tier
def test_the_guides_example_runs(capsys):
    """docs/guide/custom_block.md's code, as written: the limits' rates, training, and the two errors."""
    code = "\n".join(re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), flags=re.M | re.S))
    namespace: dict = {"__name__": "guide_custom_block"}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    out = capsys.readouterr().out
    assert abs(namespace["rate"].slope + 1) < get_limit("ode").tolerance
    assert namespace["path_err"].shape == (3, 8)
    assert namespace["losses"][-1] < namespace["losses"][0]
    assert namespace["sde_err"].shape == (3, 8) and "SDE: mean path error per depth" in out
    assert "got (1, 2, 2) at layer 1 of 4" in out and "Log.g returned NaN at layer 1 of 8" in out

"""studies.propagation and claims.propagation: the mean field's closed forms, the batched passes against the package's
ScaledResNet and against autograd on the same weights, the course's identities at fixed seeds, the errors."""

import json
import math

import numpy as np
import pytest
import torch

from reslimit import IID, ScaledResNet
from reslimit._rng import normal, substream
from reslimit.studies.propagation import mean_field, propagation

SMALL = dict(depth=8, width=24, ensemble=3, samples=2, seed=5)


def test_mean_field_closed_forms():
    """ReLU: E[x_l^2] = (S/2)^l, the gradients' (S/2)^(L-l) / 2; ResNet (1 + alpha^2 S^2/2)^k; leaky (1 + a^2)/2."""
    L = 7
    he, glorot = mean_field("mlp", "relu", 2.0, L, 1.0), mean_field("mlp", "relu", 1.0, L, 1.0)
    np.testing.assert_allclose(he["act_ms"], 1.0, rtol=1e-9)
    np.testing.assert_allclose(glorot["act_ms"], 0.5 ** np.arange(L + 1), rtol=1e-9)
    np.testing.assert_allclose(he["grad_rms"][1:], math.sqrt(0.5), rtol=1e-9)
    assert he["grad_rms"][0] == pytest.approx(1.0, rel=1e-9)
    # the std of ReLU(z), z ~ N(0, q): sqrt(q (1/2 - 1/(2 pi)))
    assert he["act_std"][3] == pytest.approx(math.sqrt(2 * (0.5 - 1 / (2 * math.pi))), rel=1e-9)
    leaky = mean_field("mlp", "leaky_relu:0.2", 2.0, L, 1.0)
    assert leaky["act_ms"][L] == pytest.approx(1.04**L, rel=1e-9)
    alpha = L**-0.5
    res = mean_field("resnet", "relu", 2.0, L, alpha)
    assert res["act_ms"][L] == pytest.approx((1 + alpha**2 * 4 / 2) ** L, rel=1e-9)
    assert res["grad_rms"][0] ** 2 == pytest.approx((1 + alpha**2 * 4 / 2) ** L, rel=1e-9)
    sig = mean_field("mlp", "sigmoid", 1.0, 1, 1.0)  # x^1 = sigmoid(z), z ~ N(0, 1): E sigmoid(z) = 1/2
    assert sig["act_ms"][1] - sig["act_std"][1] ** 2 == pytest.approx(0.25, rel=1e-9)


def _inputs(seed, E, n, B):
    return normal((E, n, B), seed, "inputs"), normal((E, n, B), seed, "targets")


def test_resnet_is_the_package_network_on_init_paths():
    """The study's ResNet for (relu, he) is ScaledResNet(res2) on IID(init='he') paths: same h_L and p_0."""
    r = propagation(activations="relu,sigmoid", inits="he", networks="resnet", **SMALL)
    E, n, B, L = 3, 24, 2, 8
    x0, g = _inputs(5, E, n, B)
    for name in ("relu", "sigmoid"):
        net = ScaledResNet(L, n, beta=0.5, block="res2", activation=name if name == "relu" else torch.sigmoid,
                           outer=IID(n, E, seed=substream(5, "outer"), init="he"),
                           inner=IID(n, E, seed=substream(5, "inner"), init="he"))
        h0, pL = x0.mT, g.mT  # (E, batch, width)
        hidden = (net(h0).norm(dim=-1) / h0.norm(dim=-1)).reshape(-1).detach()
        grad = (net.adjoint(h0, grad_output=pL)[0].norm(dim=-1) / pL.norm(dim=-1)).reshape(-1)
        _, a, i = r.index("resnet", name, "he")
        np.testing.assert_allclose(r.hidden_ratio[0, a, i], hidden.numpy(), rtol=1e-10)
        np.testing.assert_allclose(r.grad_ratio[0, a, i], grad.detach().numpy(), rtol=1e-10)


def test_mlp_against_autograd_and_the_bound_at_the_last_layer():
    """x^l = f(W^l x^{l-1}) on IID(init) weights, backpropagated by autograd: the study's numbers."""
    E, n, B, L = 3, 24, 2, 8
    r = propagation(activations="sigmoid", inits="glorot", networks="mlp", **SMALL)
    x0, g = _inputs(5, E, n, B)
    W = IID(n, E, seed=substream(5, "inner"), init="glorot").weights(L)
    x = x0.clone().requires_grad_(True)
    h, ms = x, []
    for k in range(L):
        z = W[k] @ h
        h = torch.sigmoid(z)
        ms.append(h.pow(2).mean((1, 2)))
    (grad,) = torch.autograd.grad((h * g).sum(), x)
    np.testing.assert_allclose(r.act_ms[0, 0, 0, :, L], ms[-1].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(r.grad_ratio[0, 0, 0], (grad.norm(dim=1) / g.norm(dim=1)).reshape(-1).numpy(),
                               rtol=1e-10)
    s = torch.sigmoid(z.detach())
    last = ((s * (1 - s) * g).norm(dim=1) / (0.25 * g.norm(dim=1))).max().item()
    assert r.bound_ratio[0, 0, L] == pytest.approx(last, rel=1e-10)
    assert np.nanmax(r.bound_ratio) <= 1 and math.isnan(r.bound_ratio[0, 0, 0])


def test_he_and_glorot_relu_factors():
    """He keeps E[x^2] (mean layer factor within 4 SE of 1, seed 0); Glorot is He times 2^-l on the same draw."""
    r = propagation(depth=12, width=64, activations="relu", inits="he,glorot", networks="mlp", ensemble=8,
                    samples=4, seed=0)
    he, glorot = r.act_ms[0, 0, 0], r.act_ms[0, 0, 1]
    np.testing.assert_allclose(glorot * 2.0 ** np.arange(13), he, rtol=1e-10)
    factors = (he[:, 1:] / he[:, :-1]).ravel()
    assert abs(factors.mean() - 1) <= 4 * factors.std(ddof=1) / math.sqrt(factors.size)
    assert abs(factors.mean() - 0.5) > 4 * factors.std(ddof=1) / math.sqrt(factors.size)


@pytest.mark.parametrize("options, message", [
    (dict(depth=0), "depth must be an integer >= 1"),
    (dict(ensemble=1), "ensemble must be an integer >= 2"),
    (dict(inits="he,orthogonal"), "inits must be one of 'standard', 'lecun', 'glorot', 'he'"),
    (dict(activations="relu,gelu"), "activations must be names among 'identity', 'tanh', 'sigmoid'"),
    (dict(networks="mlp,cnn"), "networks must be one of 'mlp', 'resnet'"),
    (dict(inits="he,kaiming"), "must not repeat a name"),
    (dict(dist="gaussian"), "dist must be one of 'normal', 'uniform'"),
    (dict(activations=[]), "activations must be a non-empty list of names"),
])
def test_bad_input(options, message):
    with pytest.raises(ValueError, match=message):
        propagation(**{**dict(depth=2, width=4, ensemble=2, samples=1), **options})


@pytest.mark.parametrize("networks,layers", [("mlp", 2 * 5), ("mlp,resnet", 2 * 2 * 5)])
def test_progress_counts_the_layers_of_every_pass(capsys, networks, layers):
    options = dict(depth=5, width=4, activations="tanh", inits="he", networks=networks, ensemble=2, samples=1)
    quiet = propagation(**options)
    assert capsys.readouterr().err == ""
    shown = propagation(**options, progress=True)
    assert "propagation: 100%" in (err := capsys.readouterr().err) and f"{layers}/{layers} [" in err
    np.testing.assert_array_equal(shown.act_ms, quiet.act_ms)


def test_claims_at_small_sizes(tmp_path):
    from reslimit.claims import CLAIMS
    from reslimit.claims import propagation as claim

    verdicts = claim.check(tmp_path, depth=8, width=48, ensemble=6, samples=2)
    assert len(verdicts) == 2 + 3 + 2 * 3
    assert all(set(v.to_dict()) == {"claim", "source", "theory", "measured", "tolerance", "passed", "figure"}
               for v in verdicts)
    assert all(v.passed for v in verdicts), [v.claim for v in verdicts if not v.passed]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["params"]["depth"] == 8 and (tmp_path / "propagation.png").exists()
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 4 * 3 * 9  # networks x activations x inits x layers 0..8
    assert CLAIMS["propagation"].check is claim.check and CLAIMS["propagation"].quick["width"] == 128


def test_ctrl_c_says_nothing_was_written(tmp_path, monkeypatch, capsys):
    """Interrupted mid-pass: exit 130 and one line saying nothing was written and how to go on; no results file."""
    from reslimit.cli import main
    from reslimit.studies import propagation as module

    def interrupted(params, progress):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_measure", interrupted)
    out = tmp_path / "p"
    assert main(["propagation", "--depth", "4", "--width", "8", "--out", str(out)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"reslimit: interrupted: nothing written in {out} (its files come once every pass is done); rerun the "
        "same command")
    assert not (out / "results.csv").exists() and not (out / "manifest.json").exists()

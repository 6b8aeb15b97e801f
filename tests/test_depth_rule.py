"""The depth rule lr = lr0 (L / L0)^gamma: its exponents, its refusals, and train recording it."""

import json

import pytest

from reslimit.depth_rule import exponent, learning_rate
from reslimit.train import run as train_run


@pytest.mark.parametrize(("beta", "optimizer", "gamma"), [(0.5, "sgd", 0.0), (1.0, "sgd", 1.0), (0.5, "adam", -0.5),
                                                         (1.0, "adam", 0.0), (0.25, "sgd", -0.5)])
def test_the_exponent_keeps_the_change_of_one_step_fixed(beta, optimizer, gamma):
    assert exponent(beta, optimizer) == gamma
    # the change of the output after one step, lr L alpha^2 (SGD) or lr L alpha (Adam), is the same at L and L0
    power = 2 if optimizer == "sgd" else 1
    change = [learning_rate(0.1, depth=L, base_depth=8, beta=beta, optimizer=optimizer) * L * L ** (-beta * power)
              for L in (8, 64, 1000)]
    assert change == pytest.approx([change[0]] * 3, rel=1e-12)


def test_rule_none_is_lr0_at_every_depth():
    assert learning_rate(0.3, depth=1000, base_depth=None, beta=1.0, optimizer="sgd", rule="none") == 0.3


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(lr0=0.0), "lr0 must be a real number in \\(0.0, 1e\\+30\\]"),
    (dict(lr0=1e31), "lr0 must be a real number in \\(0.0, 1e\\+30\\]; got 1e\\+31"),
    (dict(beta=1e300), r"the rule's lr = lr0 \(depth / base_depth\)\^gamma = 0.1 \(16 / 8\)\^2e\+300 = inf must be in "
                       r"\(0, 1e\+30\]: choose another lr0, beta or base_depth"),
    (dict(beta=-600.0), r"\(16 / 8\)\^-1201 = 0 must be in \(0, 1e\+30\]"),
    (dict(base_depth=0), "base_depth must be an integer >= 1; got 0"),
    (dict(base_depth=None), "base_depth must be given with rule 'depth'"),
    (dict(rule="mup"), "rule must be one of"),
    (dict(rule="none"), "base_depth is read only with rule 'depth'.*got base_depth=8 with rule 'none'"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
])
def test_bad_input_is_refused_naming_it(kwargs, message):
    args = dict(lr0=0.1, depth=16, base_depth=8, beta=0.5, optimizer="sgd", rule="depth") | kwargs
    with pytest.raises(ValueError, match=message):
        learning_rate(args.pop("lr0"), **args)


def test_train_records_lr0_the_rule_and_the_lr_used(tmp_path):
    train_run(tmp_path / "a", data="synthetic", depth=16, width=4, epochs=1, lr=0.04, optimizer="adam",
                 rule="depth", base_depth=4, progress=False)
    params = json.loads((tmp_path / "a" / "manifest.json").read_text())["params"]
    assert (params["lr0"], params["rule"], params["base_depth"]) == (0.04, "depth", 4)
    assert params["lr"] == pytest.approx(0.04 * (16 / 4) ** -0.5, rel=1e-15)
    train_run(tmp_path / "b", data="synthetic", depth=16, width=4, epochs=1, lr=0.04, progress=False)
    plain = json.loads((tmp_path / "b" / "manifest.json").read_text())["params"]
    assert plain["lr"] == 0.04 and "rule" not in plain and "lr0" not in plain  # as before the rule


def test_the_rule_scales_the_blocks_rate_and_keeps_the_layers_at_lr0(tmp_path):
    """One SGD step (one batch of the whole split, no momentum): V moves by lr grad V, A by lr0 grad A."""
    import torch

    from reslimit import ScaledResNet
    from reslimit.data import get_data
    from reslimit.train import train

    data = get_data("synthetic", seed=0, dtype=torch.float64)
    make = lambda: ScaledResNet(8, 4, beta=1.0, block="res2", seed=3, input_dim=data.input_dim,  # noqa: E731
                                output_dim=data.output_dim)
    before, net = make(), make()
    train(net, data, epochs=1, lr=0.4, layer_lr=0.1, batch_size=len(data.y_train))
    ref = make()
    loss = ((ref(data.X_train) - data.y_train) ** 2).mean()
    loss.backward()
    assert torch.allclose(before.V - net.V, 0.4 * ref.V.grad, rtol=1e-9, atol=1e-15)
    assert torch.allclose(before.A - net.A, 0.1 * ref.A.grad, rtol=1e-9, atol=1e-15)


def test_momentum_is_recorded_and_refused_with_adam(tmp_path):
    train_run(tmp_path / "m", data="synthetic", depth=4, width=4, epochs=1, lr=0.01, momentum=0.9, progress=False)
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["params"]["momentum"] == 0.9
    with pytest.raises(ValueError, match="momentum is SGD's"):
        train_run(tmp_path / "n", data="synthetic", optimizer="adam", momentum=0.9, progress=False)
    assert not (tmp_path / "n").exists()

"""reslimit.init: the closed forms, torch.nn.init's laws, the sample moments, the IID path's and the layers' variance.

Moments: the sample variance s^2 of N i.i.d. draws of variance v has standard error v sqrt(2/(N - 1)) for a normal
law and sqrt((mu_4 - v^2)/N) = v sqrt(4/(5 N)) for a uniform one (mu_4 = b^4/5, v = b^2/3); each test allows
4 SE at a fixed seed. KS tests: 4 in this file, each at p > 1e-3 / 4 (Bonferroni).
"""

import math

import pytest
import torch
from scipy import stats

from reslimit import IID, ScaledResNet, init

KS_ALPHA = 1e-3 / 4


@pytest.mark.parametrize("scheme, fan_in, fan_out, activation, var", [
    ("standard", 300, 100, None, 1 / 900),
    ("lecun", 300, 100, None, 1 / 300),
    ("lecun", 300, 100, "relu", 2 / 300),
    ("glorot", 300, 100, None, 2 / 400),
    ("xavier", 300, 100, "tanh", 2 / 400),
    ("glorot", 300, 100, "relu", 4 / 400),
    ("he", 300, 100, None, 2 / 300),
    ("kaiming", 300, None, "relu", 2 / 300),
    ("he", 300, None, "leaky_relu:0.2", 2 / (1.04 * 300)),
    ("he", 300, None, "leaky_relu", 2 / (1.0001 * 300)),
    ("he", 300, None, "identity", 1 / 300),
    ("he", 300, None, "sigmoid", 1 / 300),
])
def test_variance_and_bound_closed_forms(scheme, fan_in, fan_out, activation, var):
    assert init.variance(scheme, fan_in, fan_out, activation) == pytest.approx(var, rel=1e-14)
    assert init.bound(scheme, fan_in, fan_out, activation) == pytest.approx(math.sqrt(3 * var), rel=1e-14)


def test_the_course_bounds():
    """U[-a, a]: a = 1/sqrt(n) (standard), sqrt(6/(n_in + n_out)) (Glorot), sqrt(6/((1 + s^2) n)) (He, leaky)."""
    assert init.bound("standard", 500) == pytest.approx(1 / math.sqrt(500), rel=1e-14)
    assert init.bound("glorot", 500, 250) == pytest.approx(math.sqrt(6 / 750), rel=1e-14)
    assert init.bound("he", 500) == pytest.approx(math.sqrt(6 / 500), rel=1e-14)
    assert init.bound("he", 500, activation="leaky_relu:0.5") == pytest.approx(math.sqrt(6 / (1.25 * 500)), rel=1e-14)
    assert init.path_std("he", 40) == pytest.approx(math.sqrt(2), rel=1e-14)
    assert init.path_std("standard", 40) == pytest.approx(math.sqrt(1 / 3), rel=1e-14)


@pytest.mark.parametrize("activation, torch_name, param", [
    ("relu", "relu", None), ("leaky_relu:0.2", "leaky_relu", 0.2), ("leaky_relu", "leaky_relu", None),
    ("sigmoid", "sigmoid", None), ("identity", "linear", None),
])
def test_kappa_is_torch_gain_squared_inverse(activation, torch_name, param):
    assert 1 / init.kappa(activation) == pytest.approx(torch.nn.init.calculate_gain(torch_name, param) ** 2, rel=1e-12)


def test_tanh_kappa_is_the_course_odd_case_not_torch_gain():
    assert init.kappa("tanh") == 1.0
    assert torch.nn.init.calculate_gain("tanh") ** 2 == pytest.approx(25 / 9)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0])
def test_he_normal_is_torch_kaiming_normal(slope):
    a, b = torch.empty(200, 300, dtype=torch.float64), torch.empty(200, 300, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(a, a=slope, generator=torch.Generator().manual_seed(3))
    init.fill_(b, "kaiming", activation=f"leaky_relu:{slope}", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)


@pytest.mark.parametrize("activation, gain", [(None, 1.0), ("relu", math.sqrt(2))])
def test_glorot_uniform_is_torch_xavier_uniform(activation, gain):
    a, b = torch.empty(200, 300, dtype=torch.float64), torch.empty(200, 300, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(a, gain=gain, generator=torch.Generator().manual_seed(4))
    init.fill_(b, "xavier", "uniform", activation, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)
    assert b.abs().max() <= math.sqrt(6 / 500) * gain


def test_glorot_normal_and_he_uniform_against_torch():
    a, b = torch.empty(100, 50, dtype=torch.float64), torch.empty(100, 50, dtype=torch.float64)
    torch.nn.init.xavier_normal_(a, generator=torch.Generator().manual_seed(5))
    init.fill_(b, "glorot", generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)
    torch.nn.init.kaiming_uniform_(a, nonlinearity="relu", generator=torch.Generator().manual_seed(6))
    init.fill_(b, "he", "uniform", generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)


def test_fans_are_the_last_two_dimensions():
    assert init.fans(torch.empty(7, 3, 20, 30)) == (30, 20)
    assert init.fans(torch.empty(20, 30)) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(20, 30))
    w = init.fill_(torch.empty(2, 4, 300, 30, dtype=torch.float64), "glorot", "uniform")
    assert w.abs().max() <= math.sqrt(6 / 330)


@pytest.mark.parametrize("scheme, dist, seed", [("he", "normal", 0), ("glorot", "uniform", 1),
                                                ("standard", "uniform", 2), ("lecun", "normal", 3)])
def test_sample_variance_and_ks(scheme, dist, seed):
    generator = torch.Generator().manual_seed(seed)
    w = init.fill_(torch.empty(400, 250, dtype=torch.float64), scheme, dist, generator=generator)
    var, n = init.variance(scheme, 250, 400), w.numel()
    se = var * math.sqrt(2 / (n - 1) if dist == "normal" else 4 / (5 * n))
    assert abs(w.var().item() - var) < 4 * se
    assert abs(w.mean().item()) < 4 * math.sqrt(var / n)
    law = stats.norm(scale=math.sqrt(var)) if dist == "normal" else stats.uniform(-math.sqrt(3 * var),
                                                                                   2 * math.sqrt(3 * var))
    assert stats.kstest(w.flatten().numpy(), law.cdf).pvalue > KS_ALPHA


def test_fill_is_seeded_and_not_recorded():
    w = torch.zeros(30, 20, requires_grad=True)
    init.fill_(w, "he", generator=torch.Generator().manual_seed(9))
    assert w.grad_fn is None and w.requires_grad
    assert torch.equal(w, init.fill_(torch.zeros(30, 20), "he", generator=torch.Generator().manual_seed(9)))


@pytest.mark.parametrize("call, message", [
    (lambda: init.variance("orthogonal", 3, 3), "scheme must be one of 'standard', 'lecun', 'glorot', 'he', 'xavier'"),
    (lambda: init.variance("he", 0), "fan_in must be an integer >= 1"),
    (lambda: init.variance("he", 3, 2.5), "fan_out must be an integer >= 1"),
    (lambda: init.variance("glorot", 3), "fan_out must be a positive integer for scheme 'glorot'"),
    (lambda: init.variance("he", 3, activation="gelu"), "activation must be None or one of 'identity', 'tanh'"),
    (lambda: init.variance("he", 3, activation="leaky_relu:x"), "activation must be None or one of"),
    (lambda: init.variance("standard", 3, activation="relu"), "activation must be None for scheme 'standard'"),
    (lambda: init.fill_(torch.empty(3, 3), "he", dist="cauchy"), "dist must be one of 'normal', 'uniform'"),
    (lambda: init.fill_(torch.empty(3), "he"), "tensor must be a torch.Tensor of at least 2 non-empty dimensions"),
    (lambda: init.fill_(torch.empty(3, 3, dtype=torch.int64), "he"), "tensor must be a floating-point tensor"),
    (lambda: init.fill_(torch.empty(3, 3), "he", generator=0), "generator must be None or a torch.Generator"),
    (lambda: init.path_std("he", 0), "width must be an integer >= 1"),
    (lambda: IID(8, std=2.0, init="he"), "std and init both set the entries' variance: give one, not both"),
    (lambda: IID(8, init="he_uniform"), "scheme must be one of"),
    (lambda: ScaledResNet(2, 4, input_dim=3, layer_init="he:cauchy"), "layer_init must be a scheme"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


@pytest.mark.parametrize("scheme, variance", [("he", 2.0), ("kaiming", 2.0), ("glorot", 1.0), ("standard", 1 / 3)])
def test_iid_path_entry_variance(scheme, variance):
    """Entries of V_k: variance scheme(d, d) = variance / d; 4 SE of the sample variance, seed 0."""
    d, depth = 32, 50
    path = IID(d, 2, init=scheme, seed=0)
    assert path.init == init.scheme_name(scheme) and path.std == pytest.approx(math.sqrt(variance))
    w = path.weights(depth)
    var, n = variance / d, w.numel()
    assert abs(w.var().item() - var) < 4 * var * math.sqrt(2 / (n - 1))
    # init sets std and nothing else: the same numbers as std = sqrt(d variance)
    torch.testing.assert_close(w, IID(d, 2, std=math.sqrt(variance), seed=0).weights(depth), rtol=1e-14, atol=0)


def test_iid_path_uniform_init_bound():
    w = IID(32, init="he", dist="uniform", seed=1).weights(20)
    b = init.bound("he", 32)
    assert w.abs().max().item() <= b and w.abs().max().item() > 0.99 * b


def test_layers_default_unchanged_and_schemes():
    default = ScaledResNet(3, 40, input_dim=60, output_dim=20, ensemble=4, seed=2)
    lecun = ScaledResNet(3, 40, input_dim=60, output_dim=20, ensemble=4, seed=2, layer_init="lecun")
    torch.testing.assert_close(default.A, lecun.A, rtol=1e-14, atol=0)
    torch.testing.assert_close(default.B, lecun.B, rtol=1e-14, atol=0)
    he = ScaledResNet(3, 40, input_dim=60, output_dim=20, ensemble=4, seed=2, layer_init="he")
    torch.testing.assert_close(he.A, default.A * math.sqrt(2), rtol=1e-14, atol=0)
    glorot = ScaledResNet(3, 40, input_dim=60, output_dim=20, ensemble=4, seed=2, layer_init="xavier:uniform")
    # A: (E, width, input_dim), fan_in = 60, fan_out = 40; B: (E, output_dim, width), fan_in = 40, fan_out = 20
    for weight, fan_in, fan_out in ((glorot.A, 60, 40), (glorot.B, 40, 20)):
        b, n = init.bound("glorot", fan_in, fan_out), weight.numel()
        assert weight.abs().max().item() <= b
        var = b**2 / 3
        assert abs(weight.detach().var().item() - var) < 4 * var * math.sqrt(4 / (5 * n))

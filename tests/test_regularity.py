"""reslimit.regularity: the exponent on the package's own paths, the interval, norms, inputs and the file reader.

The statistical checks run the estimator on SEEDS fixed seeds of each path and use a 4-standard-error band
of the seeds' spread (a false alarm about once in 16,000 runs per assertion for a correct estimator).
"""

from functools import cache

import numpy as np
import pytest
import torch

from reslimit.paths import IID, FractionalBrownian, Smooth
from reslimit.regularity import Regularity, describe_file, from_module, regularity

SEEDS = 20
WIDTH, ENSEMBLE, DEPTH, BOOT = 8, 4, 512, 200
HURSTS = (0.1, 0.3, 0.5, 0.7, 0.9)
LENGTHSCALE = 0.1


def make(kind: str, seed: int):
    if kind == "iid":
        return IID(WIDTH, ENSEMBLE, seed=seed)
    if kind == "smooth":
        return Smooth(WIDTH, ENSEMBLE, lengthscale=LENGTHSCALE, seed=seed)
    return FractionalBrownian(WIDTH, ENSEMBLE, hurst=float(kind), resolution=DEPTH, seed=seed)


@cache
def runs(kind: str) -> tuple[Regularity, ...]:
    return tuple(regularity(make(kind, s).weights(DEPTH), boot=BOOT, seed=s) for s in range(SEEDS))


def band(values, target):
    values = np.asarray(values)
    se = values.std(ddof=1) / np.sqrt(len(values))
    return abs(values.mean() - target), 4 * se


@pytest.mark.parametrize("kind, target", [("iid", 0.5)] + [(str(h), h) for h in HURSTS])
def test_exponent_is_the_hurst_index_within_its_spread(kind, target):
    """i.i.d. weights give 1/2 and fBm(H) gives H (mean within 4 SE); each 95% interval covers the target in at
    least 15 of 20 seeds (P(<= 14 covers) = 3e-4 for exact intervals); the bootstrap SE is the seeds' spread."""
    found = runs(kind)
    exponents = [r.exponent for r in found]
    error, tol = band(exponents, target)
    assert error <= tol, f"{kind}: mean exponent {np.mean(exponents):.4f}, target {target} (4 SE = {tol:.4f})"
    covers = sum(r.ci_low <= target <= r.ci_high for r in found)
    assert covers >= 15, f"{kind}: {covers}/{SEEDS} intervals cover {target}"
    # the SD of 20 draws has relative SE 1/sqrt(38) = 0.16: 4 SE on its log is a factor 0.52..1.9
    ratio = np.mean([r.se for r in found]) / np.std(exponents, ddof=1)
    assert 0.52 < ratio < 1.9, f"{kind}: bootstrap SE / seeds' SD = {ratio:.2f}"
    assert all(r.raw_exponent == r.exponent and r.ci_low < r.exponent < r.ci_high for r in found)


def test_smooth_weights_are_capped_at_one():
    """Smooth values make X a C^1 path: raw exponent well above 1 (second differences see up to 2), capped at 1."""
    for r in runs("smooth"):
        assert r.raw_exponent > 1 + 4 * r.se
        assert (r.exponent, r.ci_low, r.ci_high) == (1.0, 1.0, 1.0)
        assert r.implied_beta("res1") == r.implied_beta("res3", "relu") == 1.0
    assert "capped: the path is C^1" in runs("smooth")[0].summary()


def test_implied_beta_is_the_theorys_critical_line():
    """res-1: beta = H; ReLU inner blocks: max(H, 1/2); other inner activations: H from 1/2 on, else no theory."""
    rough, mid = runs("0.3")[0], runs("0.7")[0]
    assert rough.exponent < 0.5 < mid.exponent
    assert rough.implied_beta("res1", "identity") == rough.exponent
    assert rough.implied_beta("res2", "relu") == rough.implied_beta("res3") == 0.5
    assert mid.implied_beta("res3", "relu") == mid.exponent
    assert rough.implied_beta("res2", "tanh") is None and mid.implied_beta("res2", "tanh") == mid.exponent
    with pytest.raises(ValueError, match="activation must be 'relu' for block 'res3'"):
        rough.implied_beta("res3", "tanh")
    with pytest.raises(ValueError, match="block must be one of"):
        rough.implied_beta("res4")
    with pytest.raises(ValueError, match="activation must be"):
        rough.implied_beta("res1", None)


@pytest.mark.parametrize("kind", ["iid", "0.1", "0.9", "smooth"])
def test_quadratic_variation_has_its_mean(kind):
    """E sum_k ||V_k - V_{k-1}||_F^2 = d (L - 1) x 2 (i.i.d.), 4 - 2^(2H) (fBm), 2 (1 - exp(-1 / (2 l^2 L^2))) (RBF)."""
    if kind == "iid":
        per_step = 2.0
    elif kind == "smooth":
        per_step = 2 * (1 - np.exp(-1 / (2 * LENGTHSCALE**2 * DEPTH**2)))
    else:
        per_step = 4 - 2 ** (2 * float(kind))
    expected = per_step * WIDTH * (DEPTH - 1)
    error, tol = band([r.quadratic_variation / expected for r in runs(kind)], 1.0)
    assert error <= tol


def test_max_norm_quadratic_variation_and_exponent_by_hand():
    """V_k = k [[1, 1], [1, -1]], k = 1..8: ||V_k||_2 = k sqrt 2, so max 8 sqrt 2; V_k - V_{k-1} has
    ||.||_F^2 = 4, 7 of them: 28; X_k = k(k+1)/2 [[1, 1], [1, -1]] has second differences m^2 [[1, 1], [1, -1]],
    S(m) = m^4: raw exponent 2 in every bootstrap draw, capped at 1. A second batch member 2 V_k doubles the norm
    and makes the variation the mean (28 + 4 x 28) / 2."""
    V = np.arange(1, 9.0)[:, None, None] * np.array([[1.0, 1.0], [1.0, -1.0]])
    r = regularity(V)
    assert r.max_norm == pytest.approx(8 * np.sqrt(2)) and r.quadratic_variation == pytest.approx(28.0)
    assert r.variogram == pytest.approx((1.0, 16.0)) and r.raw_exponent == pytest.approx(2.0)
    assert r.se == pytest.approx(0.0, abs=1e-12) and (r.exponent, r.ci_low, r.ci_high) == (1.0, 1.0, 1.0)
    assert (r.n_layers, r.n_columns, r.lags) == (8, 4, (1, 2))
    both = regularity(np.stack([V, 2 * V], axis=1))
    assert both.max_norm == pytest.approx(16 * np.sqrt(2)) and both.quadratic_variation == pytest.approx(70.0)
    rng = np.random.default_rng(3)
    W = rng.normal(size=(16, 3, 4, 5))
    r = regularity(W)
    assert r.max_norm == pytest.approx(max(np.linalg.svd(W[i, e], compute_uv=False)[0]
                                           for i in range(16) for e in range(3)))
    assert r.quadratic_variation == pytest.approx(sum(np.sum((W[i] - W[i - 1]) ** 2) for i in range(1, 16)) / 3)


def test_columns_without_roughness_are_left_out():
    """A zero column (an entry never used) and a period-2 one ((-1)^k: X's second differences vanish at even lags)
    leave the exponent, interval and norms of the rest unchanged."""
    rough = np.random.default_rng(6).normal(size=(32, 2, 4, 3))
    padded = np.zeros((32, 2, 4, 4))
    padded[..., :3] = rough
    alone = regularity(rough)
    assert regularity(padded) == alone
    padded[:, 0, 0, 3] = (-1.0) ** np.arange(32)  # a column with a period of 2: vanishes at lag 2
    r = regularity(padded)
    assert (r.exponent, r.ci_low, r.ci_high, r.variogram, r.n_columns) == (
        alone.exponent, alone.ci_low, alone.ci_high, alone.variogram, alone.n_columns)


def test_variogram_and_lags():
    """S(m) is the mean squared second difference of X = cumsum V; default lags are 1, 2, ..., L/8."""
    V = torch.as_tensor(np.random.default_rng(4).normal(size=(64, 2, 3, 3)))
    r = regularity(V, lags=[3, 1, 3, 5])
    X = torch.cat([torch.zeros(1, 2, 3, 3, dtype=V.dtype), V.cumsum(0)]).numpy()
    for m, s in zip((1, 3, 5), r.variogram):
        assert s == pytest.approx(np.mean([(X[k + 2 * m] - 2 * X[k + m] + X[k]) ** 2 for k in range(65 - 2 * m)]))
    slope = np.polyfit(np.log([1, 3, 5]), np.log(r.variogram), 1)[0]
    assert r.raw_exponent == pytest.approx(slope / 2) and r.lags == (1, 3, 5)
    assert regularity(V).lags == (1, 2, 4, 8)
    assert runs("iid")[0].lags == (1, 2, 4, 8, 16, 32, 64)


def test_a_list_an_array_and_a_module_give_the_stacked_tensors_result():
    V = IID(WIDTH, 1, seed=5).weights(32)[:, 0]  # (32, d, d)
    ref = regularity(V, boot=50)
    assert regularity(list(V), boot=50) == ref
    assert regularity(tuple(V.numpy()), boot=50) == ref
    assert regularity(V.numpy(), boot=50) == ref

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Linear(WIDTH, WIDTH)
            self.layers = torch.nn.ModuleList(torch.nn.Linear(WIDTH, WIDTH, dtype=torch.float64) for _ in range(32))

    net = Net()
    with torch.no_grad():
        for layer, w in zip(net.layers, V):
            layer.weight.copy_(w)
    assert from_module(net, "layers.*.weight", boot=50) == ref
    with pytest.raises(ValueError, match=r"pattern 'blocks\.\*' matches no parameter.*embed\.weight"):
        from_module(net, "blocks.*")
    with pytest.raises(ValueError, match="module must be a torch.nn.Module"):
        from_module(V, "layers.*.weight")
    with pytest.raises(ValueError, match="pattern must be a string"):
        from_module(net, 3)
    with pytest.raises(ValueError, match="at least 8 layers"):
        from_module(net, "layers.[0-5].weight")


@pytest.mark.parametrize("weights, match", [
    (np.ones((7, 4, 4)), "at least 8 layers"),
    (np.ones((16, 4)), r"shape \(L, \.\.\., p, q\)"),
    (np.full((16, 2, 2), np.nan), "weights must hold finite numbers; it contains NaN"),
    ([np.ones((3, 3))] * 7 + [np.full((3, 3), np.inf)], r"weights\[7\] must hold finite numbers; it contains inf"),
    (np.ones((16, 2, 2), dtype=complex), "weights must hold real numbers; got an array of dtype complex128"),
    (torch.ones(16, 2, 2, dtype=torch.complex64), "weights must hold real numbers; got a tensor of dtype torch.c"),
    (np.full((16, 2, 2), "a"), "weights must hold real numbers; got an array of dtype <U1"),
    (np.zeros((16, 2, 0, 3)), r"weights must have at least one column \(batch members x p x q\); got shape \(16, 2, 0"),
    (np.full((16, 2, 2), 1e200), r"entries of magnitude at most 1e\+100 .*; got max \|weights\| = 1e\+200"),
    ([np.ones((3, 3))] * 8 + [np.ones((3, 4))], "ragged shapes"),
    ([], "at least one layer"),
    ([np.ones((3, 3)), "x"], r"weights\[1\] must be a tensor"),
    ("weights.npz", "must be a tensor or array"),
    (np.random.default_rng(0).normal(size=(16, 1, 1, 3)), "at least 4 columns .* got 3 of 3"),
    (np.ones((16, 2, 2)), r"got 0 of 4 \(weights constant in k"),
    (np.zeros((16, 2, 2)), "at least 4 columns .* got 0 of 4"),
])
def test_bad_weights_are_refused_naming_them(weights, match):
    with pytest.raises(ValueError, match=match):
        regularity(weights)


@pytest.mark.parametrize("options, match", [
    ({"lags": [1]}, "lags must hold at least two"),
    ({"lags": [1, 9]}, "2m <= L = 16"),
    ({"lags": [0, 1]}, "lags must be an integer >= 1"),
    ({"lags": 4}, "lags must be a sequence"),
    ({"level": 1.0}, "level must be"),
    ({"boot": 5}, "boot must be an integer >= 10"),
    ({"seed": -1}, "seed must be"),
])
def test_bad_options_are_refused_naming_them(options, match):
    with pytest.raises(ValueError, match=match):
        regularity(np.random.default_rng(0).normal(size=(16, 2, 2)), **options)


def test_describe_file_reads_a_saved_simulation(tmp_path):
    """The .npz of reslimit simulate --save: V and W measured, the text is the file's name then the summary."""
    from reslimit.simulate import simulate

    path = tmp_path / "run.npz"
    simulate(block="res3", depth=32, width=8, ensemble=2, samples=2, save=path)
    with np.load(path) as saved:
        V, W = saved["V"], saved["W"]
    text = describe_file(path)
    assert text == f"{path} [V] shape {V.shape}\n{regularity(V).summary()}"
    assert "implied critical beta: res-1" in text and "max operator norm" in text
    assert describe_file(path, key="W", boot=50).endswith(regularity(W, boot=50).summary())
    with pytest.raises(ValueError, match=r"key 'U' is not an array .* it has .*V.*W"):
        describe_file(path, key="U")
    with pytest.raises(ValueError, match="path must be an existing .npz file"):
        describe_file(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_text("not an archive")
    with pytest.raises(ValueError, match=r"not a readable .npz archive: it is not np.savez's zip of arrays: it "
                                         r"starts b'not an'$"):  # said by its first bytes, not as a pickle refused
        describe_file(tmp_path / "bad.npz")
    np.save(tmp_path / "one.npy", V)
    with pytest.raises(ValueError, match=r"it holds a single array \(an .npy file\)"):
        describe_file(tmp_path / "one.npy")

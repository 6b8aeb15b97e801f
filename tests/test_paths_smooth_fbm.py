"""Smooth (RBF Gaussian process), FunctionPath and FractionalBrownian: shapes, determinism, laws, bad input.

Statistical checks use fixed seeds and a 4-standard-error band (a false alarm about once in 16,000 runs per
assertion for a correct implementation); every sample below is of independent entries of the path.
"""

from functools import cache

import numpy as np
import pytest
import torch
from scipy import stats

from reslimit.paths.fbm import FractionalBrownian, circulant_eigenvalues, fgn_autocovariance
from reslimit.paths.smooth import FunctionPath, Smooth

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
KS_ALPHA = 1e-3 / 2  # two KS tests in this file (Bonferroni)


def rho(hurst, k):
    """Autocorrelation of fractional Gaussian noise at lag k."""
    return 0.5 * (abs(k + 1) ** (2 * hurst) - 2 * abs(k) ** (2 * hurst) + abs(k - 1) ** (2 * hurst))


@cache
def fbm(hurst, seed=3):
    """32 x 32 x 16 = 16,384 independent fBm entries on the grid k/256 (cached: the grid is built once)."""
    return FractionalBrownian(32, ensemble=16, hurst=hurst, resolution=256, seed=seed)


def make(cls, **kw):
    return Smooth(**kw) if cls is Smooth else FractionalBrownian(resolution=64, **kw)


# Shapes, determinism, repr ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cls", [Smooth, FractionalBrownian])
def test_shapes_dtype_device_and_chunks(cls, dtype, device):
    p = make(cls, width=5, ensemble=3, seed=2, dtype=dtype, device=device)
    w = p.weights(16)
    assert w.shape == (16, 3, 5, 5) and w.dtype == dtype and w.device.type == device
    # A GEMM may sum Smooth's 39 features in another order for another row count: 39 eps |X| < 1e-4 (float32).
    tol = 1e-4 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(p.weights(16, 4, 9), w[4:9], rtol=0, atol=tol)
    assert p.weights(16, 5, 5).shape == (0, 3, 5, 5)
    assert p.evaluate(0.25).shape == (3, 5, 5) and p.evaluate([0.25, 0.5, 1.0]).shape == (3, 3, 5, 5)
    assert p.evaluate(0.25, 0.5).shape == (3, 5, 5)


@pytest.mark.parametrize("cls", [Smooth, FractionalBrownian])
def test_same_seed_same_numbers_in_any_query_order(cls):
    a, b = make(cls, width=4, ensemble=2, seed=7), make(cls, width=4, ensemble=2, seed=7)
    first = a.weights(16)
    b.evaluate([1.0, 0.5]), b.weights(64), b.weights(4)
    assert torch.equal(first, b.weights(16))
    assert not torch.allclose(first, make(cls, width=4, ensemble=2, seed=8).weights(16))


@pytest.mark.parametrize("cls", [Smooth, FractionalBrownian])
def test_repr_rebuilds_and_std_scales(cls):
    p = make(cls, width=3, ensemble=2, seed=4, std=2.0)
    q = eval(repr(p), {"Smooth": Smooth, "FractionalBrownian": FractionalBrownian, "torch": torch})
    assert torch.equal(p.weights(8), q.weights(8))
    assert torch.equal(p.weights(8), 2 * make(cls, width=3, ensemble=2, seed=4).weights(8))  # *2 is exact


# Smooth ------------------------------------------------------------------------------------------------


def test_smooth_kind_beta_and_feature_count():
    p = Smooth(2)
    assert p.kind == "values" and p.natural_beta == 1.0
    assert [Smooth(2, lengthscale=s).n_features for s in (1.0, 0.1, 0.01)] == [
        19,
        39,
        233,
    ]  # 2K + 1, K = ceil(c P / 2 pi l)


@pytest.mark.parametrize("lengthscale", [10.0, 1.0, 0.3, 0.1, 0.05, 0.01])
def test_smooth_quadrature_covariance_matches_the_rbf_kernel(lengthscale):
    tau = np.linspace(0.0, 1.0, 1001)
    err = np.abs(
        Smooth(1, lengthscale=lengthscale).covariance(tau) - np.exp(-(tau**2) / (2 * lengthscale**2))
    )
    assert err.max() < 1e-8  # the construction's bound is 3e-10; 1e-8 is the requirement


@pytest.mark.parametrize("s,t", [(0.3, 0.3), (0.3, 0.35), (0.5, 0.6), (0.2, 0.4), (0.0, 1.0)])
def test_smooth_empirical_covariance_is_rbf(s, t):
    # 32 x 32 x 64 = 65,536 independent entries; E[X(s) X(t)] = exp(-(s-t)^2 / (2 l^2)), l = 0.1.
    x, y = Smooth(32, ensemble=64, lengthscale=0.1, seed=11).evaluate([s, t]).reshape(2, -1).numpy()
    prod = x * y
    se = prod.std(ddof=1) / np.sqrt(prod.size)
    assert abs(prod.mean() - np.exp(-((s - t) ** 2) / 0.02)) < 4 * se  # 4 SE: see the module docstring


def test_smooth_values_are_standard_gaussian():
    # 32,768 entries: KS rejects at 5e-4 beyond D ~ 1.95 / sqrt(n) = 0.011, and a 10% scale error has D = 0.026
    z = Smooth(32, ensemble=32, seed=2).evaluate(0.37).flatten().numpy()
    assert stats.kstest(z, "norm").pvalue > KS_ALPHA
    assert stats.kstest(1.1 * z, "norm").pvalue < KS_ALPHA  # negative control: a 10% scale error is caught


def test_smooth_derivative_is_the_central_difference():
    p, h = Smooth(8, ensemble=4, lengthscale=0.1, seed=5), 1e-6
    t = np.array([0.1, 0.45, 0.9])
    fd = (p.evaluate(t + h) - p.evaluate(t - h)) / (2 * h)
    # error h^2/6 |X'''| + eps |X| / h ~ 1e-12/6 * 2e4 + 1e-15/1e-6 ~ 1e-8, against |X'| ~ 10
    assert (fd - p.derivative(t)).abs().max() < 1e-6
    assert p.derivative(0.45).shape == (4, 8, 8)


def test_smooth_weights_are_values_at_the_right_ends():
    p, L = Smooth(6, ensemble=2, seed=9, std=1.5), 50
    assert torch.equal(p.weights(L), p.evaluate(np.arange(1, L + 1) / L) / 6**0.5)
    # float32 is the float64 path rounded (normals drawn in float64): |w| < 3, 39 float32 terms, ~1e-5 at most
    p32 = Smooth(6, ensemble=2, seed=9, std=1.5, dtype=torch.float32)
    torch.testing.assert_close(p32.weights(L).double(), p.weights(L), rtol=0, atol=1e-5)


def test_smooth_is_lipschitz_with_the_sup_of_its_derivative():
    p, d = Smooth(8, ensemble=4, lengthscale=0.1, seed=6), 8
    sup = p.derivative(np.linspace(0, 1, 8193)).abs().max().item()
    for L in (64, 512):
        coarse, fine = p.weights(L), p.weights(2 * L)
        torch.testing.assert_close(fine[1::2], coarse, rtol=0, atol=1e-13)  # same times (k+1)/L
        quotient = (coarse - fine[0::2]).abs().max().item() * d**0.5 * 2 * L  # |X(t) - X(t - h)| / h
        # mean value theorem; the 8193-point max misses the sup by < (1/16384)^2 / 2 * |X'''| ~ 1e-4 (0.3%)
        assert quotient <= sup * (1 + 1e-3)
    # and the bound is attained: at h = 1/1024 the quotients come within h^2 |X'''| ~ 0.02 (0.05%) of the sup
    assert quotient > 0.99 * sup


def test_function_path_values_broadcast_and_shape_errors():
    p = FunctionPath(lambda t: torch.eye(3) * t, 3, ensemble=2, derivative=lambda t: torch.eye(3))
    assert p.kind == "values" and p.natural_beta == 1.0
    assert torch.equal(p.weights(4)[:, 1, 0, 0], torch.tensor([0.25, 0.5, 0.75, 1.0]) / 3**0.5)
    assert torch.equal(p.derivative([0.1, 0.2]), torch.eye(3).expand(2, 2, 3, 3))
    assert (
        repr(p) == "FunctionPath(<lambda>, 3, ensemble=2, derivative=<lambda>, std=1.0, "
        "dtype=torch.float64, device='cpu')"
    )
    with pytest.raises(ValueError, match=r"\(2, 3, 3\).*found \(4, 4\)"):
        FunctionPath(lambda t: torch.zeros(4, 4), 3, ensemble=2)
    with pytest.raises(ValueError, match="derivative"):
        FunctionPath(lambda t: torch.zeros(3, 3), 3).derivative(0.5)


# FractionalBrownian --------------------------------------------------------------------------------------


def test_fgn_circulant_embedding_is_nonnegative_and_a_bad_one_raises():
    for hurst in (0.01, 0.3, 0.5, 0.8, 0.99):
        assert circulant_eigenvalues(fgn_autocovariance(hurst, 4096)).min() > 0  # smallest 5.8e-6 (H = 0.01)
    with pytest.raises(ValueError, match="negative eigenvalue"):
        circulant_eigenvalues(np.array([1.0, 0.9, -0.9]))  # eigenvalue 1 - 0.9 - 0.9 - 0.9 = -1.7


@pytest.mark.parametrize("hurst", [0.3, 0.8])
@pytest.mark.parametrize("s,t", [(0.25, 0.25), (0.5, 0.5), (1.0, 1.0), (0.25, 1.0)])
def test_fbm_covariance(hurst, s, t):
    # Cov(B(s), B(t)) = (s^2H + t^2H - |t - s|^2H) / 2 over 16,384 independent entries.
    p = fbm(hurst)
    assert p.natural_beta == hurst and p.kind == "increments"
    x, y = p.evaluate([s, t]).reshape(2, -1).numpy()
    prod = x * y
    se = prod.std(ddof=1) / np.sqrt(prod.size)
    exact = 0.5 * (s ** (2 * hurst) + t ** (2 * hurst) - abs(t - s) ** (2 * hurst))
    assert abs(prod.mean() - exact) < 4 * se  # 4 SE: see the module docstring


def test_fbm_entries_sharing_an_fft_are_independent():
    # Entries j and j + 1024 of a chunk are the real and imaginary parts of one FFT column.
    b = fbm(0.8).evaluate(1.0).reshape(-1, 2, 1024).numpy()  # 8 chunks x (real, imag) x 1024 columns
    prod = b[:, 0] * b[:, 1]
    assert abs(prod.mean()) < 4 * prod.std(ddof=1) / np.sqrt(prod.size)  # 4 SE, 8192 pairs


@pytest.mark.parametrize("hurst", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("depth", [16, 256])
def test_fbm_increments_have_the_fgn_autocorrelation(hurst, depth):
    # One triple of consecutive weights per entry (entries independent): n = 16,384 pairs per lag.
    w = fbm(hurst).weights(depth)[5:8].reshape(3, -1).numpy()
    se = 1 / np.sqrt(w.shape[1])  # SE of a sample correlation is (1 - rho^2) / sqrt(n) <= 1 / sqrt(n)
    for lag in (1, 2):
        assert abs(np.corrcoef(w[0], w[lag])[0, 1] - rho(hurst, lag)) < 4 * se
    if hurst == 0.8:  # negative control: the test tells H = 0.8 from H = 0.5 (0 at lag 1) and from H = 0.7
        r1 = np.corrcoef(w[0], w[1])[0, 1]
        assert abs(r1 - rho(0.5, 1)) > 4 * se and abs(r1 - rho(0.7, 1)) > 4 * se


def test_fbm_weights_are_standard_gaussian():
    z = (fbm(0.3).weights(16)[5] * 32**0.5).flatten().numpy()  # one layer: independent entries
    assert stats.kstest(z, "norm").pvalue > KS_ALPHA
    assert stats.kstest(1.1 * z, "norm").pvalue < KS_ALPHA  # negative control: a 10% scale error is caught


@pytest.mark.parametrize("depth,m", [(4, 4), (16, 16), (8, 2), (1, 256)])
def test_fbm_coarse_weights_are_sums_of_finer_ones(depth, m):
    p = FractionalBrownian(3, ensemble=2, hurst=0.7, resolution=256, seed=1)
    coarse = p.weights(depth) / depth**0.7
    fine = p.weights(m * depth) / (m * depth) ** 0.7
    torch.testing.assert_close(coarse, fine.reshape(depth, m, 2, 3, 3).sum(1), rtol=0, atol=1e-12)


def test_fbm_values_on_the_grid_only():
    p = FractionalBrownian(3, hurst=0.6, resolution=64, seed=2)
    assert torch.equal(p.evaluate(0.0), torch.zeros(1, 3, 3))
    torch.testing.assert_close(
        p.evaluate(0.25, 0.75), p.weights(4)[1:3].sum(0) * 3**0.5 / 4**0.6, rtol=0, atol=1e-13
    )
    # float32 is the float64 path rounded (the grid is built in float64): |B| < 5, so within 5 * 2^-24 per value
    p32 = FractionalBrownian(3, hurst=0.6, resolution=64, seed=2, dtype=torch.float32)
    torch.testing.assert_close(p32.evaluate([0.5, 1.0]).double(), p.evaluate([0.5, 1.0]), rtol=0, atol=3e-7)
    with pytest.raises(ValueError, match="grid k/resolution"):
        p.evaluate(0.3)
    with pytest.raises(ValueError, match=r"depth=3 .*resolution=64.*\[1, 2, 4, 8, 16, 32, 64\]"):
        p.weights(3)


# Bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,bad,name",
    [(FractionalBrownian, {"hurst": h}, "hurst") for h in (0, 1, -0.1, 1.5)]
    + [(Smooth, {"lengthscale": v}, "lengthscale") for v in (0, -1, float("nan"))]
    + [(c, {"width": 0}, "width") for c in (Smooth, FractionalBrownian)]
    + [(c, {"ensemble": 0}, "ensemble") for c in (Smooth, FractionalBrownian)]
    + [(FractionalBrownian, {"resolution": 0}, "resolution")],
)
def test_bad_arguments_raise_naming_them(cls, bad, name):
    with pytest.raises(ValueError, match=name):
        cls(**{"width": 4, **bad})


def test_function_path_needs_a_function():
    with pytest.raises(ValueError, match="fn"):
        FunctionPath(3.0, 3)

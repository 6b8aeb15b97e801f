"""IID and Brownian paths: shapes, determinism, cross-depth consistency, additivity and their laws."""

import numpy as np
import pytest
import torch
from scipy import stats

from reslimit import IID, Brownian, make_path

# KS tests below: 4 of them in this file, each at p > 1e-3 / 4 (Bonferroni).
KS_ALPHA = 1e-3 / 4


@pytest.mark.parametrize("cls", [IID, Brownian])
def test_shapes_dtype_and_chunks(cls):
    p = cls(5, ensemble=3, seed=2, dtype=torch.float32)
    w = p.weights(12)
    assert w.shape == (12, 3, 5, 5) and w.dtype == torch.float32 and w.device.type == "cpu"
    assert torch.equal(p.weights(12, 4, 9), w[4:9])
    assert p.weights(12, 5, 5).shape == (0, 3, 5, 5)


@pytest.mark.parametrize("cls", [IID, Brownian])
def test_same_seed_same_numbers_in_any_query_order(cls):
    a, b = cls(4, ensemble=2, seed=7), cls(4, ensemble=2, seed=7)
    first = a.weights(10)
    b.weights(1000), b.weights(3)
    assert torch.equal(first, b.weights(10))
    assert not torch.allclose(first, cls(4, ensemble=2, seed=8).weights(10))


@pytest.mark.parametrize("depth,m", [(16, 4), (6, 3), (7, 5)])
def test_brownian_increments_are_sums_of_finer_ones(depth, m):
    p = Brownian(3, ensemble=2, seed=1)
    coarse = p.weights(depth) / depth**0.5
    fine = p.weights(m * depth) / (m * depth) ** 0.5
    summed = fine.reshape(depth, m, *fine.shape[1:]).sum(1)
    assert torch.allclose(coarse, summed, rtol=0, atol=1e-13)


def test_brownian_common_times_agree_across_unrelated_depths():
    # B(1/2) read off depths 6 and 4 (cumulative sums of their weights): one path, one value.
    p = Brownian(3, seed=5)
    half = [p.weights(L)[: L // 2].sum(0) / L**0.5 for L in (6, 4)]
    assert torch.allclose(half[0], half[1], rtol=0, atol=1e-13)
    assert torch.allclose(half[0] * 3**0.5, p.evaluate(0.0, 0.5), atol=1e-13)  # weights / sqrt(L) = dB / sqrt(d)


def test_brownian_additivity_and_value_shapes():
    p = Brownian(4, ensemble=2, seed=3)
    a, b, c = 0.1, 0.37, 0.9
    assert torch.allclose(p.evaluate(a, c), p.evaluate(a, b) + p.evaluate(b, c), atol=1e-13)
    assert p.evaluate(0.3).shape == (2, 4, 4)
    assert p.evaluate([0.1, 0.2, 0.3]).shape == (3, 2, 4, 4)
    assert torch.equal(p.evaluate(0.0), torch.zeros(2, 4, 4, dtype=torch.float64))


@pytest.mark.parametrize("s,t", [(0.3, 0.3), (1 / 3, 1 / 3), (0.3, 0.7), (0.5, 1.0), (0.71, 0.9)])
def test_brownian_covariance_is_min(s, t):
    # Entries are independent Brownian motions: E[B(s) B(t)] = min(s, t). n = 64*16*16 samples.
    p = Brownian(16, ensemble=64, seed=11)
    x, y = p.evaluate([s, t]).reshape(2, -1).numpy()
    prod = x * y
    se = prod.std(ddof=1) / np.sqrt(prod.size)
    assert abs(prod.mean() - min(s, t)) < 4 * se  # 4 SE: a false alarm about once in 16,000 runs


def test_brownian_weights_are_standard_gaussian_at_a_non_dyadic_depth():
    p = Brownian(16, ensemble=16, seed=2)
    z = (p.weights(7) * 16**0.5).flatten().numpy()
    assert stats.kstest(z, "norm").pvalue > KS_ALPHA
    # Negative control: a 10% error in the scaling is caught by the same test on the same sample.
    assert stats.kstest(1.1 * z, "norm").pvalue < KS_ALPHA


def test_brownian_disjoint_increments_are_uncorrelated():
    p = Brownian(16, ensemble=64, seed=4)
    w = p.weights(5).reshape(5, -1).numpy()
    r = np.corrcoef(w)[np.triu_indices(5, 1)]
    assert np.max(np.abs(r)) < 4 / np.sqrt(w.shape[1])  # SE of a sample correlation is 1/sqrt(n)


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "rademacher"])
def test_iid_entries_have_unit_variance_and_the_named_law(dist):
    d = 20
    w = IID(d, ensemble=8, dist=dist, seed=3, std=2.0).weights(30) * d**0.5 / 2.0
    z = w.flatten().numpy()
    se_sq = np.sqrt(np.var(z**2) / z.size)  # SE of the mean of z^2 (0 for rademacher, where z^2 = 1)
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(np.mean(z**2) - 1) <= 4 * se_sq + 1e-12
    if dist == "gaussian":
        assert stats.kstest(z, "norm").pvalue > KS_ALPHA
    elif dist == "uniform":
        assert stats.kstest(z, "uniform", args=(-(3**0.5), 2 * 3**0.5)).pvalue > KS_ALPHA
    else:
        assert set(np.unique(z)) == {-1.0, 1.0}


def test_repr_rebuilds_the_path():
    from reslimit import IID as IID_
    from reslimit import Brownian as Brownian_

    for p in (IID(3, ensemble=2, dist="uniform", seed=4), Brownian(3, ensemble=2, seed=9, levels=20)):
        q = eval(repr(p), {"IID": IID_, "Brownian": Brownian_, "torch": torch})
        assert torch.equal(p.weights(5), q.weights(5))


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: IID(0), "width"),
        (lambda: IID(3, 0), "ensemble"),
        (lambda: IID(3, dist="cauchy"), "dist"),
        (lambda: IID(3, seed=-1), "seed"),
        (lambda: IID(3, std=0.0), "std"),
        (lambda: IID(3, dtype=torch.int32), "dtype"),
        (lambda: Brownian(3, levels=0), "levels"),
        (lambda: Brownian(3).weights(0), "depth"),
        (lambda: Brownian(3).weights(4, 3, 2), "stop"),
        (lambda: Brownian(3).weights(4, 5), "start"),
        (lambda: Brownian(3).evaluate(1.5), "s"),
        (lambda: Brownian(3).evaluate(0.5, 0.2), "t"),
        (lambda: IID(3).evaluate(0.5), "no continuous path"),
        (lambda: make_path("levy", 3), "init"),
    ],
)
def test_bad_input_names_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_unknown_path_option_is_a_type_error():
    with pytest.raises(TypeError, match="hurst"):
        make_path("iid", 3, hurst=0.7)


def test_numbers_do_not_depend_on_the_number_of_drawing_threads():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = IID(64, ensemble=16, seed=3).weights(20)  # 1.3M numbers: above the parallel threshold
        torch.set_num_threads(2)
        two = IID(64, ensemble=16, seed=3).weights(20)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)

"""The training-limit study (reslimit.studies.training_limit): the pool, the depth path, the slopes, the folder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import reslimit
from reslimit._rng import substream
from reslimit.paths import Smooth
from reslimit.studies import training_limit as tl

SMALL = dict(width=4, depths=(2, 4), widths=(2, 4), ref_factor=2, seeds=2, samples=20, steps=3)


def _params(**kw):
    return tl.study(**(SMALL | kw)).params


def test_the_network_at_the_pools_width_is_the_pools():
    """M = M_max: every unit of the pool, v = sqrt(M_max) V_path, w = sqrt(d) W_path; a smaller M its first units,
    and the padded member (hidden=M of the pool) is the sub-sampled network."""
    p = _params()
    d, pool, L = p["width"], p["ref_width"], 4
    v, w = tl.initial_units(p, L, pool)
    outer = Smooth(d, seed=substream(p["seed"], "outer"), lengthscale=p["lengthscale"], cols=pool)
    inner = Smooth(pool, seed=substream(p["seed"], "inner"), lengthscale=p["lengthscale"], cols=d)
    torch.testing.assert_close(v[:, :1], outer.weights(L) * math.sqrt(pool), rtol=0, atol=0)
    torch.testing.assert_close(w[:, :1], inner.weights(L) * math.sqrt(d), rtol=0, atol=0)
    assert v.shape == (L, p["seeds"], d, pool) and w.shape == (L, p["seeds"], pool, d)
    v3, w3 = tl.initial_units(p, L, 3)
    assert torch.equal(v3, v[..., :3]) and torch.equal(w3, w[:, :, :3])
    data = tl.dataset(p)
    A, B = tl.layers(p, data.input_dim, data.output_dim)
    x = data.X_test
    out = tl.forward(v3, w3, A, B, x)
    # by hand: h <- h + (1/(L M)) sum_j v_j tanh(w_j . h / sqrt(d))
    h = x @ A[0].T
    for k in range(L):
        h = h + sum(torch.outer(torch.tanh(h @ w3[k, 0, j] / math.sqrt(d)), v3[k, 0, :, j]) for j in range(3)) / (L * 3)
    torch.testing.assert_close(out[0], h @ B[0].T, rtol=1e-12, atol=1e-12)
    padded = v.clone()
    padded[..., 3:] = 0
    torch.testing.assert_close(tl.forward(padded, w, A, B, x, torch.tensor([3, 3])), out, rtol=1e-12, atol=1e-12)
    _, _, loss3 = tl.train_units(v3, w3, A, B, data.X_train, data.y_train, lr0=0.5, steps=3)
    _, _, lossp = tl.train_units(v, w, A, B, data.X_train, data.y_train, lr0=0.5, steps=3, hidden=torch.tensor([3, 3]))
    torch.testing.assert_close(lossp, loss3, rtol=1e-10, atol=1e-12)  # trained alike: the padding stays out


def test_every_depth_is_a_discretisation_of_one_path():
    """Layer k of depth L holds the path at (k+1)/L: layer k of L is layer 2k+1 of 2L, and the path's value there."""
    p = _params()
    v4, w4 = tl.initial_units(p, 4, p["ref_width"])
    v8, w8 = tl.initial_units(p, 8, p["ref_width"])
    torch.testing.assert_close(v4, v8[1::2], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w4, w8[1::2], rtol=1e-12, atol=1e-12)
    outer = Smooth(p["width"], seed=substream(p["seed"] + 1, "outer"), lengthscale=p["lengthscale"],
                   cols=p["ref_width"])
    torch.testing.assert_close(v4[2, 1], outer.evaluate(0.75)[0], rtol=1e-12, atol=1e-12)  # seed 1, t = 3/4
    assert not torch.allclose(v4[:, 0], v4[:, 1])  # the seeds' paths are independent


def test_the_mean_field_step_is_of_order_one_at_every_size():
    """lr0 L M per unit parameter: one step moves the units by O(lr0) whatever (L, M), not by O(1 / (L M))."""
    p = _params(depths=(2, 8), widths=(2, 16))
    data = tl.dataset(p)
    A, B = tl.layers(p, data.input_dim, data.output_dim)
    moves = []
    for L, M in ((2, 2), (16, 32)):
        v, w = tl.initial_units(p, L, M)
        v1, _, _ = tl.train_units(v, w, A, B, data.X_train, data.y_train, lr0=0.5, steps=1)
        moves.append(float((v1 - v).pow(2).mean().sqrt()))
    assert 0.1 < moves[0] / moves[1] < 10, moves


def test_the_slopes_on_a_small_case(tmp_path):
    result = tl.training_limit(tmp_path / "out", width=4, depths=(4, 8), widths=(4, 8, 16), ref_factor=4, seeds=3,
                               samples=40, steps=10, progress=False, figures=False)
    depth, width = result.rate["depth"], result.rate["width"]
    assert -1.5 < depth.slope < -0.8, depth
    assert -1.0 < width.slope < -0.2, width
    assert depth.ci_low <= depth.slope <= depth.ci_high
    assert result.corrected["depth"] < -1 and result.corrected["width"] < -0.5  # the finite reference steepens both
    assert result.errors["depth"].shape == (2, 3) and result.errors["width"].shape == (3, 3)


def test_the_folder_reads_back(tmp_path):
    out = tmp_path / "out"
    result = tl.training_limit(out, **SMALL, progress=False)
    loaded = reslimit.load(out)
    assert loaded.study == "training_limit" and loaded.params == result.params
    again = tl.TrainingLimitResult(loaded.rows(), loaded.params)
    for series in ("depth", "width"):
        np.testing.assert_array_equal(again.errors[series], result.errors[series])
    assert loaded.summary()["depth"]["slope"] == result.summary()["depth"]["slope"]
    fig = loaded.plot()
    assert isinstance(fig, Figure) and all(ax.get_xlabel() and ax.get_legend() for ax in fig.axes)
    assert (out / "training_limit.png").is_file()
    frame = loaded.frame()
    assert set(tl.COLUMNS) <= set(frame.columns) and len(frame) == len(result)
    rerun = tl.training_limit(out, **SMALL, progress=False, figures=False)  # resumed: nothing recomputed
    np.testing.assert_array_equal(rerun.errors["width"], result.errors["width"])


@pytest.mark.parametrize(("option", "value"), [
    ("depths", [4]), ("widths", [8]), ("depths", [0, 4]), ("ref_factor", 1), ("lr0", 0.0), ("lengthscale", -1.0),
    ("steps", 0), ("seeds", 0), ("samples", 5), ("width", 0)])
def test_bad_input_names_the_argument(option, value):
    with pytest.raises(ValueError, match=option):
        tl.study(**(SMALL | {option: value}))


def test_units_beyond_the_pool_are_refused():
    with pytest.raises(ValueError, match="hidden"):
        tl.initial_units(_params(), 4, 100)

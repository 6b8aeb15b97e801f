"""The statements as written: Lemma 1 / Prop. 2 for res-2 and res-3, Props. 5-6 and Cor. 2 (iii) for nonlinear
blocks, the gradients' critical beta and the SDE scaling (3.4)-(3.5). Each check passes at a fixed seed, a wrong
bound or constant is caught, and the exact constants are computed right."""

import math

import numpy as np
import pytest
import torch

from reslimit._rng import normal
from reslimit.claims import CLAIMS, grad_regimes
from reslimit.paths import Brownian
from reslimit.resnet import ScaledResNet
from reslimit.sde import NeuralSDE
from reslimit.studies import bounds as B
from reslimit.studies import sde_scaling as S

IID = {"width": 6, "samples": 1500, "seed": 3}
L = 48


def _one(rows):
    assert len(rows) == 1
    return rows[0]


def test_the_exact_constants():
    lo, up = B.statement_band(64, 0.5)
    assert lo == pytest.approx(0.6455208961566, rel=1e-12)  # (1 + 1/128)^64 - 1
    assert up == pytest.approx(1.6973449525651, rel=1e-12)  # (1 + 1/64)^64 - 1
    assert B.statement_band(64, 0.5, "exact") == (lo, lo)
    assert B.statement_band(64, 0.5, "upper") == (None, up)
    assert B.statement_band(64, 0.3, "document")[0] == pytest.approx((1 + 64**-0.6 / 2) ** 64 - 1)
    c_lo, c_up = B.statement_band(64, 0.5, "corollary2")
    assert c_lo == pytest.approx(0.6487212707001282) and c_up == pytest.approx(53.598150033144236)
    # Cor. 2 (iii)'s lower end is the limit of Prop. 6's (1 + 1/(2L))^L - 1, from below
    finite = [B.statement_band(n, 0.5)[0] for n in (1, 2, 4, 64, 4096)]
    assert finite[:2] == pytest.approx([0.5, 0.5625]) and np.all(np.diff(finite) > 0) and finite[-1] < c_lo
    with pytest.raises(ValueError, match="bound"):
        B.statement_band(64, 0.5, "sharp")


@pytest.mark.parametrize("beta,block,act", [(0.5, "res3", "relu"), (0.5, "res2", "leaky_relu:0.8"),
                                            (0.3, "res2", "leaky_relu:0.75")])
def test_lemma1_blocks_passes(beta, block, act):
    r = _one(B.lemma1_blocks(depth=L, beta=beta, block=block, activation=act, **IID))
    assert (r["lower"], r["upper"]) == pytest.approx(B.statement_band(L, beta))
    assert r["passed"] and r["block"] == block and "hypotheses hold" in r["rule"]
    if block == "res2":  # strictly inside the band: the check is not vacuous
        assert r["lower"] + 4 * r["se"] < r["measured"] < r["upper"] - 4 * r["se"]


def test_lemma1_res3_is_the_lower_end_and_a_wrong_constant_fails():
    r = _one(B.lemma1_blocks(depth=L, beta=0.3, block="res3", bound="exact", **IID))
    assert r["passed"] and abs(r["measured"] - (1 + L**-0.6 / 2) ** L + 1) <= 4 * r["se"]
    # c = 1 (the res-1 identity's constant) instead of 1/2: caught
    wrong = (1 + L**-0.6) ** L - 1
    assert not _one(B.lemma1_blocks(depth=L, beta=0.3, block="res3", claimed=(wrong, wrong), **IID))["passed"]
    # res-2 leaky ReLU 0.8 claimed below (1 + alpha^2/2)^L - 1: caught
    lo = B.statement_band(L, 0.5)[0]
    assert not _one(B.lemma1_blocks(depth=L, beta=0.5, block="res2", activation="leaky_relu:0.8",
                                    claimed=(None, lo), **IID))["passed"]


def test_lemma1_res2_tanh_keeps_the_upper_end_only():
    up = _one(B.lemma1_blocks(depth=L, beta=0.5, block="res2", activation="tanh", bound="upper", **IID))
    assert up["passed"] and up["lower"] is None
    doc = _one(B.lemma1_blocks(depth=L, beta=0.5, block="res2", activation="tanh", **IID))
    assert not doc["passed"] and doc["measured"] < doc["lower"] - 4 * doc["se"] and "hypotheses FAIL" in doc["rule"]


@pytest.mark.parametrize("beta,block,act,bound", [(0.5, "res1", "leaky_relu:0.75", "document"),
                                                  (0.3, "res1", "leaky_relu:0.75", "document"),
                                                  (0.5, "res2", "leaky_relu:0.8", "document"),
                                                  (0.5, "res3", "relu", "exact")])
def test_prop6_passes(beta, block, act, bound):
    r = _one(B.prop6(depth=L, beta=beta, block=block, activation=act, bound=bound, **IID))
    assert r["passed"] and r["check"] == "prop6" and r["quantity"] == "E||p_0-p_L||^2/||p_L||^2"
    if bound == "exact":
        assert r["lower"] == r["upper"] == pytest.approx((1 + L ** (-2 * beta) / 2) ** L - 1)


def test_prop6_wrong_constants_and_tanh_fail():
    # res-3's exact value with c = 1 instead of 1/2
    wrong = (1 + 1 / L) ** L - 1
    assert not _one(B.prop6(depth=L, block="res3", activation="relu", claimed=(wrong, wrong), **IID))["passed"]
    # leaky ReLU 0.75: E(sigma'^2) = (1 + 0.5625)/2 = 0.78, so an upper end with 1/2 is violated
    half = B.statement_band(L, 0.5)[0]
    assert not _one(B.prop6(depth=L, activation="leaky_relu:0.75", claimed=(None, half), **IID))["passed"]
    r = _one(B.prop6(depth=L, activation="tanh", **IID))  # Hypothesis 4 fails, and so does the lower end
    assert not r["passed"] and r["measured"] < r["lower"] - 4 * r["se"]


def test_corollary2_iii_and_its_finite_depth_gap():
    for block, act in (("res1", "leaky_relu:0.75"), ("res3", "relu")):
        r = _one(B.corollary2_iii(depth=64, block=block, activation=act, **IID))
        assert r["passed"] and r["beta"] == 0.5 and r["upper"] == pytest.approx(math.expm1(4))
    # at L = 2, res-3's E ratio is (1 + 1/4)^2 - 1 = 0.5625 (Prop. 6), below e^(1/2) - 1 = 0.6487
    r = _one(B.corollary2_iii(depth=2, block="res3", activation="relu", **IID))
    assert not r["passed"] and r["measured"] < r["lower"] - 4 * r["se"]
    assert abs(r["measured"] - 0.5625) <= 4 * r["se"]
    # a wrong upper end (e^(1/2) - 1 on both sides) is caught at L = 64 for leaky ReLU
    c = math.expm1(0.5)
    assert not _one(B.corollary2_iii(depth=64, claimed=(c, c), **IID))["passed"]


def test_markov_as_written():
    for which, block, act in (("hidden", "res3", "relu"), ("grad", "res1", "leaky_relu:0.75")):
        r = _one(B.markov_document(which=which, depth=L, beta=0.5, delta=0.1, block=block, activation=act, **IID))
        assert r["passed"] and r["measured"] <= 0.1 and r["check"] == ("prop2_blocks" if which == "hidden" else "prop5")
        assert f"threshold {2 * 1 / 0.1:.4g}" in r["quantity"]  # 2 L alpha^2 / delta at beta = 1/2
        bad = _one(B.markov_document(which=which, depth=L, beta=0.5, delta=0.1, block=block, activation=act,
                                     const=0.01, **IID))
        assert not bad["passed"] and bad["measured"] > 0.1 + 4 * bad["se"]
    with pytest.raises(ValueError, match="beta"):
        B.markov_document(depth=L, beta=0.3, **IID)


def test_plan_rows_of_the_statements():
    for quick, (width, samples, depth) in ((True, (8, 4000, 64)), (False, (16, 6000, 256))):
        plan = B.plan(quick)
        assert [c.control for c in plan["lemma1_blocks"]] == [False] * 5 + [True] + [False] * 2
        assert [c.control for c in plan["prop6_nonlinear"]] == [False] * 7 + [True, True]
        for c in plan["lemma1_blocks"] + plan["prop6_nonlinear"]:
            assert (c.kwargs["width"], c.kwargs["samples"]) == (width, samples)
            assert c.kwargs["depth"] in (depth, 2)
        assert CLAIMS["prop6_nonlinear"].quick["checks"] == B.plan(True)["prop6_nonlinear"]


# ---------------------------------------------------------------------------------------------
# the SDE scaling (3.4)-(3.5)

def test_the_network_is_the_euler_scheme_of_the_scaled_sde():
    path = Brownian(5, 3, std=S.STD, seed=11)
    V = path.weights(64)
    var = float(V.var())  # entries N(0, 2/d): 64 * 3 * 25 of them
    assert abs(var - 2 / 5) <= 4 * (2 / 5) * math.sqrt(2 / V.numel())
    h0 = normal((3, 2, 5), 4, "inputs")
    with torch.no_grad():
        h = ScaledResNet(64, 5, beta=0.5, block="res1", activation="tanh", outer=path).trajectory(h0)
        H = NeuralSDE(block="res1", activation="tanh", outer=path, steps=64).trajectory(h0)
    assert torch.allclose(h, H, rtol=0, atol=1e-12)
    # and not the scheme of the default diffusion sqrt(1/d)
    with torch.no_grad():
        H1 = NeuralSDE(block="res1", activation="tanh", outer=Brownian(5, 3, seed=11), steps=64).trajectory(h0)
    assert (h[-1] - H1[-1]).abs().max() > 0.1


def test_sde_scaling_rate_and_control(tmp_path):
    # depths from 16: from 8 the slope carries a pre-asymptotic bias (seeds 0-5: mean -0.46 at depths 8..64,
    # -0.52 at 16..128, the spread of one seed's slope about 0.04)
    r = S.sde_scaling(tmp_path / "s", depths=(16, 32, 64, 128), width=6, samples=32, reference_factor=16, seed=0)
    m = r.rates["matched"]
    assert r.passed and abs(m.slope + 0.5) <= S.TOLERANCE and m.ci_low < -0.5 < m.ci_high
    assert abs(m.slope + 1.0) > S.TOLERANCE  # the ODE's rate -1 is rejected by the same rule
    assert r.rates["mismatched"].slope > S.CONTROL_SLOPE  # the 1/d diffusion is not the limit: error stays O(1)
    assert r.errors["mismatched"][-1].mean() > 3 * r.errors["matched"][-1].mean()
    assert 1.5 < r.constant_ratio < 2.6  # the Milstein term is quadratic in the diffusion: about 2
    assert (tmp_path / "s" / "sde_scaling.png").stat().st_size > 10_000
    fig = r.plot()
    assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() for ax in fig.axes)
    assert any("theory" in t.get_text() for t in fig.axes[1].get_legend().get_texts())
    with pytest.raises(ValueError, match="depths"):
        S.sde_scaling(depths=(8, 12, 16))


def test_gradient_critical_beta_is_judged(tmp_path):
    verdicts = grad_regimes.check(tmp_path, depths=[30, 300], ensemble=10, samples=4)
    assert [v.passed for v in verdicts] == [True, True]
    for v in verdicts:
        assert abs(v.measured - 0.5) <= 0.05 and v.theory == 0.5
        assert abs(v.measured - 1.0) > grad_regimes.WITHIN  # the smooth weights' value would be rejected

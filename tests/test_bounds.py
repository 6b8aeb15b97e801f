"""reslimit bounds: every check passes at a fixed seed, wrong bounds are caught, the study's files and guards."""

import csv
import json

import numpy as np
import pytest

from reslimit.studies import bounds as B

IID = {"width": 6, "samples": 1500, "seed": 3}
SMOOTH = {"width": 6, "samples": 100, "depths": (16, 64, 256), "seed": 3}


def _one(rows):
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("kwargs", [
    {"depth": 48, "beta": 0.5, "activation": "leaky_relu:0.5"},
    {"depth": 48, "beta": 0.3, "activation": "leaky_relu:0.5", "dist": "rademacher"},
    {"depth": 48, "beta": 0.5, "activation": "identity"},
])
def test_lemma1_passes_and_sits_inside(kwargs):
    r = _one(B.lemma1(**kwargs, **IID))
    a, b = B.envelope(kwargs["activation"])
    alpha = 48 ** -kwargs["beta"]
    assert r["lower"] == pytest.approx((1 + a**2 * alpha**2) ** 48 - 1)
    assert r["upper"] == pytest.approx((1 + b**2 * alpha**2) ** 48 - 1)
    assert r["passed"] and r["lower"] - 4 * r["se"] <= r["measured"] <= r["upper"] + 4 * r["se"]
    if a < b:  # leaky ReLU: the mean is strictly inside, so the check is not vacuous
        assert r["lower"] + 4 * r["se"] < r["measured"] < r["upper"] - 4 * r["se"]


def test_lemma1_wrong_envelope_fails():
    # leaky ReLU 0.5 claimed to satisfy |sigma(x)| <= 0.6|x|: the claimed upper bound is below the mean
    r = _one(B.lemma1(depth=48, beta=0.5, activation="leaky_relu:0.5", b=0.6, **IID))
    assert not r["passed"] and r["measured"] > r["upper"] + 4 * r["se"]
    # and a lower slope a = 0.95 (true: 0.5) puts the lower bound above the mean
    assert not _one(B.lemma1(depth=48, beta=0.5, activation="leaky_relu:0.5", a=0.95, **IID))["passed"]


@pytest.mark.parametrize("beta", [0.5, 0.75])
def test_prop2_markov_passes_and_wrong_constant_fails(beta):
    r = _one(B.prop2(depth=48, beta=beta, delta=0.1, **IID))
    assert r["passed"] and r["measured"] <= 0.1
    # b = 0.3 shrinks the threshold (e^0.09 - 1) L alpha^2 / delta below the typical ratio: caught
    bad = _one(B.prop2(depth=48, beta=beta, delta=0.1, b=0.3, **IID))
    assert not bad["passed"] and bad["measured"] > 0.1 + 4 * bad["se"]


def test_prop2_refuses_l_alpha2_above_one():
    with pytest.raises(ValueError, match="beta"):
        B.prop2(depth=48, beta=0.3, **IID)
    with pytest.raises(ValueError, match="delta"):
        B.prop2(depth=48, beta=0.5, delta=1.5, **IID)


def test_prop3_uniform_two_sided_bound():
    rows = B.prop3(depths=(16, 128), **IID)
    assert [r["depth"] for r in rows] == [16, 128]
    for r in rows:
        assert r["passed"] and r["upper"] == pytest.approx(np.e - 1) and r["lower"] >= 0.25
    # the claim "E ratio <= e^{b^2} - 1 with b = 0.5" is false for leaky ReLU 0.5 (b = 1): caught
    assert not any(r["passed"] for r in B.prop3(depths=(16, 128), b=0.5, **IID))


@pytest.mark.parametrize("beta", [0.5, 0.75])
def test_prop5_6_gradient_identity(beta):
    r = _one(B.prop5_6(depth=48, beta=beta, **IID))
    assert r["lower"] == r["upper"] == pytest.approx((1 + 48 ** (-2 * beta)) ** 48 - 1)
    assert r["passed"] and abs(r["measured"] - r["upper"]) <= 4 * r["se"]
    # the constant of res-3 (c = 1/2) instead of 1 is rejected
    wrong = (1 + 0.5 * 48 ** (-2 * beta)) ** 48 - 1
    assert not _one(B.prop5_6(depth=48, beta=beta, claimed=wrong, **IID))["passed"]


def test_corollary2():
    assert all(_one(B.corollary2(depth=48, beta=b, **IID))["passed"] for b in (0.5, 0.75))
    assert not _one(B.corollary2(depth=48, beta=0.5, b=0.3, **IID))["passed"]


@pytest.mark.parametrize("beta,verdict", [(1.5, "identity"), (1.0, "bounded"), (0.5, "explodes")])
def test_prop8_regimes(beta, verdict):
    gron, regime = B.prop8(beta=beta, **SMOOTH)
    assert gron["passed"] and gron["measured"] <= 1.0  # the pathwise Gronwall bound: a theorem, no tolerance
    assert regime["passed"] and regime["verdict"] == verdict
    if beta > 1:  # first order: the ratio decays like L^{1-beta}
        assert regime["measured"] == pytest.approx(1 - beta, abs=0.05)


def test_prop9_explodes_below_one_not_at_one():
    r = _one(B.prop9(beta=0.5, **SMOOTH))
    assert r["passed"] and r["verdict"] == "explodes" and r["measured"] >= 0.25
    # beta = 1 is the neural ODE regime: the same rule must say it does not explode
    r1 = _one(B.prop9(beta=1.0, **SMOOTH))
    assert not r1["passed"] and r1["verdict"] == "does not explode"


def _small_plan(quick=True):
    iid = {"width": 4, "samples": 300}
    smooth = {"width": 4, "samples": 30}
    return {"lemma1": [B.Check(B.lemma1, dict(depth=16, beta=0.5, seed=5, **iid))],
            "prop2": [B.Check(B.prop2, dict(depth=16, beta=0.75, seed=6, **iid))],
            "prop8": [B.Check(B.prop8, dict(beta=1.0, depths=(8, 32), seed=7, **smooth))],
            "prop9": [B.Check(B.prop9, dict(beta=0.5, depths=(8, 32, 128), seed=8, **smooth))]}


def test_one_plan_for_the_study_and_the_report():
    """reslimit bounds and the report's bound claims run the same checks: same functions, sizes and seeds."""
    from reslimit.claims import CLAIMS

    for quick in (True, False):
        plan = B.plan(quick)
        assert list(plan)[:6] == ["lemma1", "prop2", "prop3", "prop5_6", "prop8", "prop9"]
        assert {"lemma1_blocks", "prop6_nonlinear"} <= set(plan)
        assert {"prop3_whp", "cor1_width"} <= set(plan)
        for name, checks in plan.items():
            assert (CLAIMS[name].quick if quick else CLAIMS[name].full)["checks"] == checks
        seeds = [c.kwargs["seed"] for checks in plan.values() for c in checks]
        assert len(set(seeds)) == len(seeds)
        assert sum(len(plan[k]) for k in ("lemma1", "prop2", "prop3", "prop5_6", "prop8", "prop9")) == 25
        assert len(plan["lemma1_blocks"]) == 8 and len(plan["prop6_nonlinear"]) == 9
        # the full plan adds Corollary 1 (iii) on ScaledResNet itself
        assert len(plan["prop3_whp"]) == (6 if quick else 7) and len(plan["cor1_width"]) == 1
        assert [c.control for c in plan["prop9"]] == [False, False, True, True]
    assert B.plan(True)["lemma1"][0].kwargs == {"depth": 64, "beta": 0.5, "activation": "leaky_relu:0.5",
                                               "dist": "gaussian", "seed": 100, "width": 8, "samples": 4000}
    assert B.plan(False)["prop8"][0].kwargs["depths"] == (16, 64, 256, 1024, 4096)


def test_run_check_moves_the_seed_and_inverts_a_control():
    seen = []

    def fake(**kwargs):
        seen.append(kwargs["seed"])
        return [{"passed": False, "rule": "r", "source": "Prop. 9", "measured": 1.5}]

    assert B.run_check(B.Check(fake, {"seed": 910, "beta": 1.0})) == [
        {"passed": False, "rule": "r", "source": "Prop. 9", "measured": 1.5}]
    assert B.run_check(B.Check(fake, {"seed": 910}, control=True), seed=2) == [
        {"passed": True, "rule": "control: r", "source": "Prop. 9 (control)", "measured": 1.5}]
    B.run_check(B.Check(fake, {"seed": 910}), seed=2**63 - 1)
    assert seen == [910, 2910, (910 - 1000) % 2**63]


def test_bounds_writes_csv_manifest_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "plan", _small_plan)
    rows = B.bounds(tmp_path / "b", seed=1, progress=False)
    with open(tmp_path / "b" / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) == 5
    assert list(table[0]) == list(B.COLUMNS)
    for col in ("check", "source", "quantity", "measured", "se", "lower", "upper", "passed", "beta", "depth"):
        assert col in table[0]
    assert {r["check"] for r in table} == {"lemma1", "prop2", "prop8", "prop9"}
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["params"] == {"study": "bounds", "quick": True, "seed": 1, "device": "cpu"}
    assert manifest["passed"] == all(r["passed"] for r in rows)
    assert (tmp_path / "b" / "bounds.png").stat().st_size > 10_000
    assert rows.params == manifest["params"] and rows.passed == manifest["passed"]
    fig = rows.plot()  # one panel per row: the measured value beside its bound(s), labelled, with a legend
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 5 and all(ax.get_ylabel() and ax.get_legend() for ax in panels)
    assert all(any("bound" in t.get_text() or "theory" in t.get_text() for t in ax.get_legend().get_texts())
               for ax in panels)
    # the same study again is allowed (same parameters); another one is refused, nothing overwritten
    before = (tmp_path / "b" / "results.csv").read_text()
    with pytest.raises(ValueError, match="different study"):
        B.bounds(tmp_path / "b", seed=2, progress=False)
    assert (tmp_path / "b" / "results.csv").read_text() == before


def test_bounds_refuses_bad_out(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="out"):
        B.bounds(f, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"params": {"study": "converge"}}))
    with pytest.raises(ValueError, match="different study"):
        B.bounds(other, progress=False)
    with pytest.raises(ValueError, match="seed"):
        B.bounds(tmp_path / "x", seed=-1, progress=False)


# ---------------------------------------------------------------------------------------------
# Prop. 3 / Corollary 1 (iii) in high probability, Corollary 1 (ii)'s width, Prop. 9 with max_k

def test_prop3_constants_as_written():
    c = B.prop3_constants(64, 768, 1 / 768, 0.1)  # C = s = 1
    assert c["alpha2_max_i"] == pytest.approx(1 / 672) and c["alpha2_max_ii"] == pytest.approx(1 / 192)
    assert c["depth_min_cor"] == pytest.approx(768) and c["tail_max"] == pytest.approx(0.1 / 11)
    assert c["tail_cor"] == pytest.approx(2 * 768 * np.exp(-768))
    assert c["upper_cor"] == pytest.approx(np.exp(2.25) + 1)  # exp(1 + sqrt(10 / 6.4)) + 1 = 10.4877
    assert c["lower_cor"] == pytest.approx(np.expm1(3 / 8 - np.sqrt(22 / 6.4))) and c["lower_cor"] < 0
    assert B.prop3_constants(128, 1440, 1 / 1440, 0.5)["depth_min_cor"] == pytest.approx(1440)
    assert B.prop3_constants(128, 1440, 1 / 1440, 0.5)["alpha2_max_i"] == pytest.approx(1 / 1344)
    # Prop. 3 (i) at the plan's d = 64, L alpha^2 = 4, delta = 1/2: exp(3/2 - sqrt(44/32)) - 1 = 0.3874
    c = B.prop3_constants(64, 2688, 1 / 672, 0.5)
    assert c["lower_i"] == pytest.approx(np.expm1(1.5 - np.sqrt(44 / 32))) == pytest.approx(0.38738, abs=1e-4)
    assert c["upper_ii"] == pytest.approx(np.exp(4 + np.sqrt(20 / 32)) + 1)
    assert c["tail_i"] == pytest.approx(2 * 2688 * np.exp(-672))
    # general C, s: sqrt(C) = 2, s^4 = 16
    c = B.prop3_constants(100, 5000, 1e-4, 0.2, C=4.0, s=2.0)
    assert c["alpha2_max_i"] == pytest.approx(2 / (296 * 100)) and c["alpha2_max_ii"] == pytest.approx(1 / (2 * 2148))
    assert c["depth_min_cor"] == pytest.approx(148 * 100 + 3072)
    assert c["tail_i"] == pytest.approx(2 * 5000 * np.exp(-100 / (64 * 1e-4 * 4)))


def test_res1_gaussian_states_has_the_network_law():
    """The O(d) recursion and ScaledResNet give one law (two-sample KS); a wrong alpha is told apart."""
    from scipy.stats import ks_2samp

    net = B._hidden_ratio_sq(32, 6, 0.5, "leaky_relu:0.75", 3000, 8)
    h0, hL, _ = B.res1_gaussian_states(32, 6, 32**-0.5, "leaky_relu:0.75", 3000, 7)
    fast = (((hL - h0) ** 2).sum(-1) / (h0**2).sum(-1)).numpy()
    assert ks_2samp(fast, net).pvalue > 1e-3
    se = np.hypot(fast.std(), net.std()) / np.sqrt(3000)
    assert abs(fast.mean() - net.mean()) <= 4 * se
    h0, hL, _ = B.res1_gaussian_states(32, 6, 1.3 * 32**-0.5, "leaky_relu:0.75", 3000, 7)
    wrong = (((hL - h0) ** 2).sum(-1) / (h0**2).sum(-1)).numpy()
    assert ks_2samp(wrong, net).pvalue < 1e-6


@pytest.mark.parametrize("part,width,depth,factor", [("cor1_iii", 64, 768, 0.1), ("ii", 64, 384, 0.1),
                                                     ("i", 64, 2688, 100.0)])
def test_prop3_whp_passes_and_a_wrong_bound_fails(part, width, depth, factor):
    rows = B.prop3_whp(part=part, width=width, depth=depth, samples=300, seed=5)
    assert [r["delta"] for r in rows] == [0.1, 0.5] and all(r["passed"] for r in rows)
    assert all(r["measured"] <= r["delta"] for r in rows)
    if part == "cor1_iii":  # its lower side is vacuous at d = 64 for every delta < 1 (d delta must exceed 156.4)
        assert all("vacuous" in r["verdict"] for r in rows)
    if part == "i":  # positive (informative) at delta = 1/2 only
        assert "vacuous" in rows[0]["verdict"] and "vacuous" not in rows[1]["verdict"]
    # the upper bounds 10x smaller, Prop. 3 (i)'s lower bound (loose: 3/8 against a growth near 3/4) 100x larger
    bad = B.prop3_whp(part=part, width=width, depth=depth, samples=300, seed=5, factor=factor)
    assert not bad[-1]["passed"] and bad[-1]["measured"] > bad[-1]["delta"] + 4 * bad[-1]["se"]


def test_prop3_whp_refuses_what_the_statement_excludes():
    with pytest.raises(ValueError, match="width"):
        B.prop3_whp(part="i", width=32, depth=100, samples=10)
    with pytest.raises(ValueError, match="alpha2"):
        B.prop3_whp(part="i", width=64, depth=100, alpha2=1 / 600, samples=10)
    with pytest.raises(ValueError, match="alpha2"):
        B.prop3_whp(part="ii", width=64, depth=100, alpha2=1 / 150, samples=10)
    with pytest.raises(ValueError, match="depth"):
        B.prop3_whp(part="cor1_iii", width=64, depth=767, samples=10)  # L >= 10.5 d + 96 = 768
    with pytest.raises(ValueError, match="part"):
        B.prop3_whp(part="iii", samples=10)


def test_corollary1_width_boundary_between_2_and_3():
    rows = B.corollary1_width(widths=(2, 3, 9), depths=(64, 1024, 4096), samples=200, seed=2)
    assert [r["width"] for r in rows] == [2, 3, 9] and all(r["passed"] for r in rows)
    assert [r["verdict"] for r in rows] == ["no explosion", "explodes", "explodes"]
    assert rows[0]["measured"] <= 0.75 and abs(rows[0]["measured"] - 0.5) <= 4 * 0.5 / np.sqrt(200)
    assert rows[1]["measured"] >= 0.9 and rows[2]["measured"] == 1.0
    with pytest.raises(ValueError, match="beta"):
        B.corollary1_width(beta=0.5, samples=10)


def test_prop9_max_k_explodes_with_the_condition_not_without():
    r = _one(B.prop9(beta=0.5, **SMOOTH))
    assert r["passed"] and r["verdict"] == "explodes" and r["measured"] >= 0.25
    assert 50 <= r["samples"] < 100  # the members whose V(0) has a real positive eigenvalue
    v = _one(B.prop9(beta=0.5, condition="violated", **SMOOTH))
    assert not v["passed"] and v["verdict"] == "does not explode" and v["samples"] == 100
    medians = [float(m) for m in v["rule"].rsplit("max_k ratio ", 1)[1].split(", ")]
    assert max(medians) <= 2.0  # ||I + alpha V|| <= 1: max_k ||h_k - h_0|| <= 2 ||h_0||


def test_whp_and_width_figures_draw_the_bounds_beside_the_measurement():
    from reslimit.plots import whp_figure, width_explosion_figure

    runs = []
    B.prop3_whp(part="ii", width=64, depth=384, samples=50, seed=1, detail=runs)
    assert len(runs) == 1 and len(runs[0]["ratios"]) == 50 and [b[0] for b in runs[0]["bounds"]] == [0.1, 0.5]
    fig = whp_figure(runs)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    assert sum("upper bound" in t.get_text() for t in ax.get_legend().get_texts()) == 2
    detail = {}
    B.corollary1_width(widths=(2, 4), depths=(16, 64), samples=20, seed=1, detail=detail)
    assert sorted(detail["median"]) == [2, 4] and detail["depths"] == [16, 64] and detail["beta"] == 0.25
    fig = width_explosion_figure(detail)
    assert all(a.get_xlabel() == "depth L" and a.get_ylabel() and a.get_legend() for a in fig.axes)
    assert any("theory" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_prop9_figure_draws_the_theory_beside_the_medians():
    from reslimit.plots import max_increment_figure

    runs = []
    B.prop9(beta=0.5, depths=(8, 32), width=4, samples=20, seed=1, detail=runs)
    B.prop9(beta=0.5, depths=(8, 32), width=4, samples=20, seed=1, condition="violated", detail=runs)
    assert [r["condition"] for r in runs] == ["imposed", "violated"] and len(runs[0]["median"]) == 2
    assert max(runs[1]["median"]) <= 2.0
    fig = max_increment_figure(runs)
    assert all(a.get_xlabel() == "depth L" and a.get_ylabel() and a.get_legend() for a in fig.axes)
    assert any("theory" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_prop3_whp_on_the_network_itself_agrees_with_the_exact_law():
    """Prop. 3 (ii) at d = 8 (it asks no d >= 64): ScaledResNet and res1_gaussian_states give one frequency."""
    kw = dict(part="ii", width=8, depth=272, samples=600, factor=0.02)  # alpha^2 = 1/136, L alpha^2 = 2
    net = B.prop3_whp(network=True, seed=4, **kw)
    fast = B.prop3_whp(seed=5, **kw)
    assert net[0]["init"] == "iid-gaussian (ScaledResNet)" and net[0]["beta"] == fast[0]["beta"]
    for a, b in zip(net, fast):
        f = (a["measured"] + b["measured"]) / 2
        assert 0.1 < f < 0.95 and abs(a["measured"] - b["measured"]) <= 4 * np.sqrt(2 * f * (1 - f) / 600)
    assert all(r["passed"] for r in B.prop3_whp(part="ii", width=8, depth=272, samples=300, network=True, seed=4))

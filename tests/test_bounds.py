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
        assert list(plan) == ["lemma1", "prop2", "prop3", "prop5_6", "prop8", "prop9"]
        for name, checks in plan.items():
            assert (CLAIMS[name].quick if quick else CLAIMS[name].full)["checks"] == checks
        seeds = [c.kwargs["seed"] for checks in plan.values() for c in checks]
        assert len(set(seeds)) == len(seeds) == 24
        assert [c.control for c in plan["prop9"]] == [False, False, True]
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

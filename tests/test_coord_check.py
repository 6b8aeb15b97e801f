"""reslimit coord-check: the change of h_L made by the blocks' weights after t steps, against depth: slope -gamma
without the rule and 0 with it at the first step (the theory's first-order arithmetic), the folder, the CLI."""

import json

import numpy as np
import pytest

import reslimit
from reslimit.cli import main
from reslimit.studies import coord_check as C


def _result(**options):
    st = C.study(**options)
    return C.CoordCheckResult([r for p in st.points for r in C.compute_point(st.params, p)], st.params)


@pytest.mark.parametrize("options, none", [
    (dict(optimizer="sgd", beta=1.0, init="smooth", lr0=0.05), -1.0),  # lr L alpha^2 = lr / L
    (dict(optimizer="adam", beta=0.5, init="iid", lr0=0.004), 0.5),  # lr L alpha = lr L^1/2
])
def test_first_step_slopes_are_the_theory(options, none):
    result = _result(data="synthetic", width=16, depths=[8, 16, 32, 64], steps=[1], seeds=3, **options)
    assert result.gamma == -none
    s_none, s_rule = result.slope["dh", "none", 1], result.slope["dh", "depth", 1]
    assert s_none["theory"] == none and s_rule["theory"] == 0.0
    # the first-order arithmetic is exact up to the drift of p, g over depth: a tenth of the slope's scale
    assert s_none["slope"] == pytest.approx(none, abs=0.1) and s_rule["slope"] == pytest.approx(0.0, abs=0.1)
    assert s_rule["ci_low"] <= s_rule["slope"] <= s_rule["ci_high"]


def test_rows_folder_cli_and_load(tmp_path, capsys):
    out = tmp_path / "cc"
    code = main(["coord-check", "--data", "synthetic", "--width", "4", "--depths", "2,4", "--seeds", "2",
                 "--steps", "1,2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "dh       rule depth t = 2" in printed and "theory 0" in printed
    rows = reslimit.load(out).rows()
    assert len(rows) == 2 * 2 * 2 * 2  # depths x rules x seeds x steps
    one = [r for r in rows if r["depth"] == 4 and r["seed"] == 1 and r["step"] == 2]
    lrs = {r["rule"]: r["lr"] for r in one}
    assert lrs["depth"] == pytest.approx(lrs["none"] * 2 ** -0.5)  # Adam at beta 1/2: gamma = -1/2, L/L0 = 2
    assert all(np.isfinite(r["dh"]) and r["dh"] > 0 and not r["diverged"] for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["slope"]) == {f"{q}, rule {r}, t = {t}" for q in C.QUANTITIES for r in ("none", "depth")
                                      for t in (1, 2)}
    assert (out / "coord_check.png").exists()
    assert main(["coord-check", "--steps", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "--steps must be" in capsys.readouterr().err


def test_a_member_that_diverges_is_a_row_saying_so():
    result = _result(data="synthetic", width=4, depths=[2, 4], steps=[1, 5], seeds=1, optimizer="sgd", lr0=1e6)
    late = [r for r in result if r["step"] == 5]
    assert late and all(r["diverged"] for r in late)
    assert np.isnan(result.slope["dh", "none", 5]["slope"])


@pytest.mark.slow  # a user block trains through autograd's torch loop: seconds, not milliseconds
def test_a_user_block_takes_the_rule_too():
    import torch.nn.functional as F

    import reslimit as rl

    class PreNormMLP(rl.CustomBlock):
        parameters = {"W1": ("hidden", "width"), "W2": ("width", "hidden")}
        formula = "g = W2 gelu(W1 LN(h))"
        hidden = 16

        def g(self, h, theta):
            return F.gelu(F.layer_norm(h, h.shape[-1:]) @ theta["W1"].mT) @ theta["W2"].mT

    result = _result(block=PreNormMLP(), width=16, data="synthetic", depths=[8, 32], steps=[1], seeds=2)
    assert result.slope["dh", "none", 1]["slope"] == pytest.approx(0.5, abs=0.1)  # Adam at beta 1/2: L^1/2
    assert result.slope["dh", "depth", 1]["slope"] == pytest.approx(0.0, abs=0.1)


def test_every_member_diverging_at_a_measured_step_is_rows_saying_so():
    result = _result(data="synthetic", width=4, depths=[2, 4], steps=[2, 3], seeds=1, optimizer="sgd", lr0=1e6)
    assert len(result) == 2 * 2 * 2 and all(r["diverged"] for r in result)

"""The scaling and phase studies: batched betas, ratios against autograd and theory, divergence, the CLI."""

import json
import math
import re

import numpy as np
import pytest
import torch

from reslimit import IID, ScaledResNet, cli, demo, native, plots, theory
from reslimit._rng import normal
from reslimit.studies import phase, read_rows, scaling, sweep


def _net(depth, block="res3", activation="relu", width=8, ensemble=6, seed=1, dtype=torch.float64):
    inner = IID(width, ensemble, seed=seed + 1, dtype=dtype) if block != "res1" else None
    return ScaledResNet(depth, width, beta=0.0, block=block, activation=activation,
                        outer=IID(width, ensemble, seed=seed, dtype=dtype), inner=inner)


def test_one_draw_serves_every_beta():
    net = _net(40)
    every = scaling.ratios(net, [0.25, 0.5, 1.0], samples=3, seed=4)
    alone = scaling.ratios(net, [0.5], samples=3, seed=4)
    for key in ("hidden", "grad"):
        assert every[key].shape == (3, 6, 3)
        assert np.abs(every[key][1] - alone[key][0]).max() < 1e-12
    assert every["hidden"][0].mean() > every["hidden"][1].mean() > every["hidden"][2].mean()


def test_gradient_ratio_is_that_of_autograd():
    """p_0 = dLoss/dh_0 for Loss = 1/2 sum (B h_L - y)^2, B and y keyed by the seed as the study keys them."""
    depth, d, E, n, seed = 30, 8, 6, 3, 4
    net = _net(depth, block="res2", activation="tanh")
    got = scaling.ratios(net, [0.5], samples=n, seed=seed)
    h0 = normal((E, n, d), seed, "inputs").requires_grad_(True)
    B = normal((E, 1, d), seed, "readout") / math.sqrt(d)
    y = normal((E, n, 1), seed, "targets")
    hL = net(h0, alpha=torch.full((n,), depth**-0.5, dtype=torch.float64))
    hL.retain_grad()
    (((torch.bmm(hL, B.mT) - y) ** 2).sum() / 2).backward()
    expected = (h0.grad - hL.grad).norm(dim=-1) / hL.grad.norm(dim=-1)
    assert np.abs(got["grad"][0] - expected.detach().numpy()).max() < 1e-10
    assert np.abs(got["hidden"][0] - ((hL - h0).norm(dim=-1) / h0.norm(dim=-1)).detach().numpy()).max() < 1e-12


@pytest.mark.parametrize("beta", [0.25, 0.5, 1.0])
def test_hidden_ratio_second_moment_is_exact(beta):
    """i.i.d. res-3: E ratio^2 = (1 + alpha^2/2)^L - 1, within 4 standard errors over 400 draws."""
    depth, E = 64, 400
    r = scaling.ratios(_net(depth, width=16, ensemble=E, seed=9), [beta], samples=2, seed=3)["hidden"][0]
    per_draw = (r**2).mean(1)  # inputs of one draw are dependent: the SE is over draws
    expected = (1 + depth ** (-2 * beta) / 2) ** depth - 1
    se = per_draw.std(ddof=1) / math.sqrt(E)
    assert abs(per_draw.mean() - expected) < 4 * se, (per_draw.mean(), expected, se)


def test_overflow_is_a_status_not_a_crash():
    net = _net(3000, block="res1", activation="identity", width=8, ensemble=4, dtype=torch.float32)
    got = scaling.ratios(net, [0.0, 1.0], samples=2, seed=0)
    assert got["diverged"][0].all() and not got["diverged"][1].any()
    assert np.isfinite(got["hidden"][1]).all()


def test_growth_curve_is_the_exact_identity_where_it_holds():
    """The theory's facts of a study's path come from the path class: exact for IID and Brownian, first order at
    its natural beta (1 for smooth, H for fBm)."""
    params = scaling.theory_params({"init": "iid", "block": "res3", "activation": "relu"})
    curve, label = theory.growth(params, 0.5, [100])
    assert curve[0] == pytest.approx(math.sqrt(1.005**100 - 1)) and label.startswith("theory")
    assert scaling.theory_params({"init": "brownian", "block": "res1", "activation": "identity"})["exact"]
    params = scaling.theory_params({"init": "smooth", "block": "res1", "activation": "tanh"})
    curve, label = theory.growth(params, 0.5, [4, 16])
    assert curve[1] / curve[0] == pytest.approx(2.0) and "first order" in label  # L^(1 - beta)
    params = scaling.theory_params({"init": "fbm", "hurst": 0.7, "block": "res3", "activation": "relu"})
    assert (params["exact"], params["first_order"]) == (False, 0.7)
    assert theory.growth(params, 0.5, [4, 16])[0][1] / theory.growth(params, 0.5, [4, 16])[0][0] == \
        pytest.approx(4**0.2)


def test_sign_change_is_interpolated():
    assert scaling._sign_change([0.0, 0.5, 1.0], [2.0, 1.0, -1.0]) == pytest.approx(0.75)
    assert scaling._sign_change([0.0, 0.5], [math.inf, -0.5]) == 0.5
    assert scaling._sign_change([0.0, 0.5], [1.0, 0.5]) is None


def _run(args, capsys):
    code = cli.main(args)
    return code, capsys.readouterr()


def test_scaling_cli_writes_resumes_and_refuses(tmp_path, capsys):
    out = str(tmp_path / "s")
    args = ["scaling", "--depths", "4,16", "--betas", "0.5,1", "--width", "6", "--ensemble", "3", "--samples", "2",
            "--out", out]
    code, cap = _run(args, capsys)
    assert code == 0, cap.err
    rows = read_rows(tmp_path / "s" / "results.csv")
    assert len(rows) == 2 * 2 * 3 * 2
    assert {"depth", "beta", "hidden_ratio", "grad_ratio", "status", "draw", "input", "init", "block", "width",
            "seed"} <= set(rows[0])
    assert {r["width"] for r in rows} == {6} and {r["init"] for r in rows} == {"iid"}
    for name in ("scaling.png", "scaling.pdf", "histograms.png", "manifest.json"):
        assert (tmp_path / "s" / name).stat().st_size > 0
    before = (tmp_path / "s" / "results.csv").read_text()
    assert _run(args, capsys)[0] == 0  # resumed: nothing left to compute, same file
    assert (tmp_path / "s" / "results.csv").read_text() == before
    code, cap = _run(args[:-2] + ["--width", "7", "--out", out], capsys)
    assert code == 2 and "different study" in cap.err and "width" in cap.err and "Traceback" not in cap.err
    assert (tmp_path / "s" / "results.csv").read_text() == before


@pytest.mark.parametrize("args,needle", [
    (["--betas", "0.5,,1"], "--betas"),
    (["--betas", "-0.5"], "--betas"),
    (["--betas", "0:1:0"], "--betas"),
    (["--depths", "0,10"], "--depths"),
    (["--init", "fbm", "--hurst", "1.5"], "hurst"),
    (["--init", "gauss"], "init"),
])
def test_scaling_cli_bad_input(tmp_path, capsys, args, needle):
    code, cap = _run(["scaling", "--out", str(tmp_path / "s"), "--depths", "4", "--ensemble", "2", *args], capsys)
    assert code == 2 and needle in cap.err and "Traceback" not in cap.err


def test_phase_finds_half_below_one_half_and_h_above(tmp_path, capsys):
    """Critical beta = max(H, 1/2): 1/2 for H = 0.3 (the second-order term), near H for H = 0.8."""
    code, cap = _run(["phase", "--hursts", "0.3,0.8", "--betas", "0.2:1.1:10", "--depths", "64,512", "--width", "12",
                      "--ensemble", "4", "--samples", "4", "--out", str(tmp_path / "p")], capsys)
    assert code == 0, cap.err
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    found = manifest["critical_beta"]
    assert abs(found["0.3"] - 0.5) < 0.1 and abs(found["0.8"] - 0.8) < 0.15, found
    assert (tmp_path / "p" / "phase.png").stat().st_size > 0
    code, cap = _run(["phase", "--hursts", "0.3", "--depths", "997,1000", "--out", str(tmp_path / "q")], capsys)
    assert code == 2 and "least common multiple" in cap.err


@pytest.mark.slow  # a process pool and a Dask cluster
def test_same_numbers_in_process_in_a_pool_and_on_dask(tmp_path):
    distributed = pytest.importorskip("distributed")
    options = dict(init="brownian", block="res2", activation="tanh", betas=[0.5, 1.0], depths=[8, 32], width=12,
                   ensemble=4, samples=3, progress=False, figures=False)
    here = scaling.scaling(tmp_path / "here", **options)
    pool = scaling.scaling(tmp_path / "pool", workers=2, **options)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = scaling.scaling(tmp_path / "dask", scheduler=cluster.scheduler_address, **options)
    assert len(here) == 2 * 2 * 4 * 3 and here == pool == dask


@pytest.mark.parametrize("init", scaling.INITS)
def test_scaling_cli_runs_every_init_over_several_depths(tmp_path, capsys, init):
    """A scaling study's rows carry a "hurst" column with fBm weights: it is not an axis of the medians."""
    out = tmp_path / init
    args = ["scaling", "--init", init, "--depths", "2,4", "--width", "4", "--ensemble", "2", "--betas", "0.5,1",
            "--out", str(out)] + (["--hurst", "0.7"] if init == "fbm" else [])
    code, cap = _run(args, capsys)
    assert code == 0 and "Traceback" not in cap.err, cap.err
    assert len(read_rows(out / "results.csv")) == 2 * 2 * 2
    assert "critical_beta" in json.loads((out / "manifest.json").read_text())
    assert phase.medians(read_rows(out / "results.csv"), scaling.study(
        init=init, depths=[2, 4], width=4, ensemble=2, betas=[0.5, 1], hurst=0.7 if init == "fbm" else None
    ).params).shape == (1, 2, 2)


def test_scaling_refuses_to_resume_with_another_engine(tmp_path, monkeypatch):
    options = dict(depths=[2, 4], betas=[0.5], width=4, ensemble=2, progress=False, figures=False)
    scaling.scaling(tmp_path, **options)
    was = json.loads((tmp_path / "manifest.json").read_text())["engine"]
    other = {"compiled": "torch", "torch": "compiled"}[was]
    monkeypatch.setattr(native, "engine", lambda block, activation, dtype: other)
    with pytest.raises(ValueError, match=f"computed with {re.escape(sweep.ENGINES[was])} on torch .*; this run "
                                         f"would use {re.escape(sweep.ENGINES[other])} on torch"):
        scaling.scaling(tmp_path, **options)


def test_scaling_result_plots_median_and_exact_theory(tmp_path):
    result = scaling.scaling(tmp_path, init="iid", betas=[0.5, 1.0], depths=[4, 16], width=4, ensemble=3, samples=2,
                             progress=False, figures=False)
    assert result.critical_beta_theory == 0.5 and result.params["dist"] == "gaussian"
    assert result.medians().shape == (2, 2)
    fig, hist = result.plot()
    assert list(tmp_path.glob("*.png")) == []  # saved only when asked
    for ax, ratio in zip(fig.axes, ("hidden_ratio", "grad_ratio")):
        assert ax.get_xlabel() == "depth L" and ax.get_ylabel() == plots.RATIOS[ratio]
        medians = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
        theory_lines = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(medians) == len(theory_lines) == 2  # one of each per beta
    # i.i.d. res-3: the exact sqrt((1 + alpha^2/2)^L - 1), alpha = L^-beta, beside the hidden medians
    for line, beta in zip([x for x in fig.axes[0].get_lines() if x.get_linestyle() == "--"], [0.5, 1.0]):
        np.testing.assert_allclose(line.get_ydata(), [math.sqrt((1 + L ** (-2 * beta) / 2) ** L - 1) for L in (4, 16)])
    np.testing.assert_allclose([x.get_ydata() for x in fig.axes[0].get_lines() if x.get_linestyle() == "-"],
                               result.medians().T)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(text.startswith("theory") for text in labels) and "median over samples" in labels
    assert [ax.get_ylabel() for ax in hist.axes] == ["samples", "samples"]


def test_scaling_dist_uniform_is_recorded_and_refused_elsewhere(tmp_path):
    options = dict(betas=[0.5], depths=[4], width=4, ensemble=2, progress=False, figures=False)
    uniform = scaling.scaling(tmp_path / "u", dist="uniform", **options)
    gaussian = scaling.scaling(tmp_path / "g", **options)
    assert json.loads((tmp_path / "u" / "manifest.json").read_text())["params"]["dist"] == "uniform"
    assert [r["hidden_ratio"] for r in uniform] != [r["hidden_ratio"] for r in gaussian]
    outer, _ = scaling.paths(uniform.params)
    assert outer.dist == "uniform" and outer.weights(4).abs().max() * 2 <= math.sqrt(3)  # sqrt(d) |V| <= sqrt 3
    with pytest.raises(ValueError, match="dist is for init 'iid'"):
        scaling.study(init="brownian", dist="uniform")
    with pytest.raises(ValueError, match="dist must be one of"):
        scaling.study(dist="cauchy")
    assert scaling.study(init="brownian").params["dist"] is None


def test_phase_result_plots_measured_and_theory_lines(tmp_path):
    result = phase.phase(tmp_path, hursts=[0.3, 0.7], betas=[0.25, 0.5, 1.0], depths=[4, 8], width=4, ensemble=2,
                         samples=2, progress=False, figures=False)
    assert result.theory == {0.3: 0.5, 0.7: 0.7} and set(result) == {"rows", "critical_beta", "critical_beta_grad"}
    fig = result.plot()
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 2
    for ax in axes:
        assert ax.get_xlabel().startswith(r"$\beta$") and ax.get_ylabel() == "Hurst index H"
        lines = {line.get_label(): line for line in ax.get_lines()}
        first = lines[r"first-order theory $\beta = H$"]
        np.testing.assert_allclose(first.get_xdata(), [0.3, 0.7])
        inner = lines[r"the block's critical $\beta$ (theory)"]
        np.testing.assert_allclose(inner.get_xdata(), [0.5, 0.7])  # res-3: max(H, 1/2)
        assert any(label.startswith(r"measured critical $\beta$") for label in lines)


def test_demo_result_plots_measured_beside_theory():
    rows = demo.run_demo(blocks=(("res3", "relu"),), betas=(0.5, 1.0), depths=(4, 16), ensemble=4, inputs=2)
    assert rows.settings["depths"] == [4, 16] and "verdict" in rows.table()
    fig = rows.plot()
    (ax,) = fig.axes
    assert ax.get_xlabel() == "depth L" and ax.get_ylabel() == "E||h_L - h_0||^2 / ||h_0||^2"
    theory_lines = [line for line in ax.get_lines() if line.get_label().startswith("theory")]
    assert len(theory_lines) == 2 and len(ax.containers) == 2  # a curve and error bars per beta
    for line, beta in zip(theory_lines, (0.5, 1.0)):  # (1 + c alpha^2)^L - 1 at L = 16, c = 1/2
        assert line.get_ydata()[-1] == pytest.approx((1 + 0.5 * 16 ** (-2 * beta)) ** 16 - 1, rel=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "measured, beta = 0.5" in labels and "theory, beta = 1" in labels

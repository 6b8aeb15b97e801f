"""reslimit transfer: the best lr0 per depth refined in log lr, its slope against depth with a bootstrap interval,
the regret; a member of the batched grid is the run ``reslimit train`` makes; the folder, the CLI's refusals."""

import csv
import json
import math

import numpy as np
import pytest

import reslimit
from reslimit.cli import main
from reslimit.studies import transfer as T
from reslimit.train import run as train_run

X = np.arange(-6.0, 3.0)  # log2 lr0: 2^-6 .. 2^2


def test_best_lr0_is_the_vertex_of_a_parabola_and_says_an_edge():
    got = T.best_lr0(X, (X + 1.3) ** 2 + 0.5)
    assert math.log2(got["lr0"]) == pytest.approx(-1.3, abs=1e-12) and got["edge"] is None
    assert T.best_lr0(X, -X) == {"lr0": 4.0, "loss": -2.0, "edge": "high"}
    assert T.best_lr0(X, X)["edge"] == "low" and T.best_lr0(X, X)["lr0"] == 2.0**-6
    assert T.best_lr0(X, np.full(len(X), np.inf))["edge"] == "none"
    curve = (X + 1.3) ** 2
    curve[-3:] = np.inf  # divergence beside the minimum: that grid point, not a parabola through inf
    assert T.best_lr0(X, np.where(X > -1.5, np.inf, curve))["lr0"] == 2.0**-2


def _rows(params, centre, seeds_noise):
    """Rows whose loss at depth L is a parabola in log2 lr0 centred on centre(L) + the seed's shift."""
    rows = []
    for rule in params["rules"]:
        for s, shift in zip(range(params["seeds"]), seeds_noise):
            for L in params["depths"]:
                for lr0 in params["lr0s"]:
                    loss = (math.log2(lr0) - centre(rule, L) - shift) ** 2 + 1.0
                    rows.append({"depth": L, "rule": rule, "lr0": lr0, "lr": lr0, "seed": s, "train_loss": loss,
                                 "test_loss": loss, "diverged": "False"})
    return rows


def test_slope_interval_and_regret_of_known_curves():
    params = T.study(depths=[8, 16, 32, 64], lr0s=list(2.0**X), seeds=4, optimizer="adam", beta=0.5,
                     layers="frozen").params
    centre = lambda rule, L: -1.0 - (0.5 * math.log2(L / 8) if rule == "none" else 0.0)  # noqa: E731
    result = T.TransferResult(_rows(params, centre, [0.2, -0.1, 0.05, -0.15]), params)
    assert result.gamma == -0.5 and result.slope["none"]["theory"] == -0.5 and result.slope["depth"]["theory"] == 0
    # the mean of parabolas is a parabola centred on the mean shift: the refined optimum is exact
    assert result.slope["none"]["slope"] == pytest.approx(-0.5, abs=1e-9)
    assert result.slope["depth"]["slope"] == pytest.approx(0.0, abs=1e-9)
    assert result.slope["none"]["ci_low"] <= -0.5 <= result.slope["none"]["ci_high"]
    best = [b["lr0"] for b in result.best["none"]]
    assert np.log2(best) == pytest.approx(-1.0 - 0.5 * np.log2([1, 2, 4, 8]) - 0.0, abs=1e-9)
    # regret at depth L with the base depth's best grid lr0 (2^-1): (log2 lr0 - centre)^2 differences on the grid
    loss = result.loss["none"].mean(0)
    assert result.regret["none"][0] == 0.0
    assert result.regret["none"][3] == pytest.approx(loss[3][X.tolist().index(-1.0)] - loss[3].min(), abs=1e-12)
    assert result.regret["none"][3] > 1.0 and max(result.regret["depth"]) == pytest.approx(0.0, abs=1e-12)
    trained = T.TransferResult(list(result), {**params, "layers": "trained"})  # the layers' pull: no number
    assert trained.slope["none"]["theory"] is None and trained.slope["depth"]["theory"] == 0.0


def test_a_member_is_the_run_reslimit_train_makes(tmp_path):
    params = T.study(data="synthetic", width=6, depths=[3, 6], lr0s=[0.02, 0.1, 0.5], seeds=2, epochs=2,
                     batch_size=32, dtype="float64", rules=["none", "depth"], beta=1.0).params
    rows = T.compute_point(params, {"depth": 6})
    assert len(rows) == 2 * 3 * 2
    row = next(r for r in rows if r["rule"] == "depth" and r["lr0"] == 0.1 and r["seed"] == 1)
    assert row["lr"] == pytest.approx(0.1 * 2.0)  # gamma = 2 beta - 1 = 1 for SGD, L / L0 = 2
    history = train_run(tmp_path / "one", data="synthetic", width=6, depth=6, epochs=2, lr=0.1, rule="depth",
                        base_depth=3, batch_size=32, seed=1, dtype="float64", beta=1.0, progress=False)
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["params"]["lr"] == row["lr"] and manifest["params"]["layer_lr"] == 0.1
    last = history.rows[-1]
    assert row["train_loss"] == pytest.approx(last["train_loss"], rel=1e-9)
    assert row["test_loss"] == pytest.approx(last["test_loss"], rel=1e-9)
    assert row["test_accuracy"] is None  # regression


def test_the_study_folder_diverged_rows_resume_and_load(tmp_path):
    out = tmp_path / "tr"
    options = dict(data="synthetic", width=4, depths=[2, 4], lr0s=[0.01, 0.1, 1e5], seeds=2, epochs=1,
                   progress=False)
    result = T.transfer(out, **options)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert set(T.COLUMNS) <= set(rows[0])
    assert len(rows) == 2 * 2 * 3 * 2  # depths x rules x lr0s x seeds (a run the rules share at L0: both rows)
    diverged = [r for r in rows if float(r["lr0"]) == 1e5]
    assert diverged and all(r["diverged"] == "True" for r in diverged)
    assert all(r["diverged"] == "False" for r in rows if float(r["lr0"]) == 0.01)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["slope"]["none"]["theory"] is None and manifest["slope"]["depth"]["theory"] == 0.0
    assert (out / "transfer.png").exists()
    again = T.transfer(out, **options)  # resumes: nothing left to run, the same rows
    assert np.array_equal([float(r["train_loss"]) for r in again], [float(r["train_loss"]) for r in result],
                          equal_nan=True)
    with pytest.raises(ValueError, match="other"):
        T.transfer(out, **{**options, "epochs": 2})
    loaded = reslimit.load(out)
    assert loaded.study == "transfer" and len(loaded.rows()) == len(rows)


@pytest.mark.parametrize("flags, message", [
    (["--lr0s", "0,0.1,1"], "lr0s must be"),
    (["--lr0s", "0.1,1"], "lr0s must hold at least three"),
    (["--depths", "8"], "depths must hold at least two"),
    (["--base-depth", "0"], "base_depth must be"),
    (["--optimizer", "adam", "--momentum", "0.5"], "momentum is SGD's"),
    (["--rules", "none,muP"], "rules must be"),
    (["--rules="], "rules must be a comma list of none, depth; got ''"),
    (["--optimizer", "lbfgs"], "invalid choice"),
])
def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys, flags, message):
    try:
        code = main(["transfer", "--data", "synthetic", "--out", str(tmp_path / "x"), *flags])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "x").exists()


def test_a_member_with_a_hidden_width_is_reslimit_trains_run(tmp_path):
    params = T.study(data="synthetic", block="res2", width=4, hidden=12, depths=[2, 4], lr0s=[0.01, 0.05, 0.2],
                     seeds=1, epochs=2, batch_size=32, dtype="float64", rules=["none"], optimizer="adam").params
    row = next(r for r in T.compute_point(params, {"depth": 4}) if r["lr0"] == 0.05)
    last = train_run(tmp_path / "one", data="synthetic", block="res2", width=4, hidden=12, depth=4, epochs=2,
                     lr=0.05, batch_size=32, seed=0, dtype="float64", optimizer="adam", progress=False).rows[-1]
    assert row["train_loss"] == pytest.approx(last["train_loss"], rel=1e-9)
    with pytest.raises(ValueError, match="hidden must be None for block 'res1'"):
        T.study(block="res1", hidden=8)


@pytest.mark.slow  # a process pool and a Dask cluster
def test_same_rows_in_process_in_a_pool_and_on_dask(tmp_path):
    distributed = pytest.importorskip("distributed")
    options = dict(data="synthetic", width=4, depths=[2, 4], lr0s=[0.01, 0.1, 1.0], seeds=2, epochs=1,
                   dtype="float64", progress=False, figures=False)
    here = T.transfer(tmp_path / "here", **options)
    pool = T.transfer(tmp_path / "pool", workers=2, **options)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = T.transfer(tmp_path / "dask", scheduler=cluster.scheduler_address, **options)
    key = lambda r: (r["depth"], r["rule"], r["lr0"], r["seed"])  # noqa: E731
    rows = [sorted(map(dict, result), key=key) for result in (here, pool, dask)]
    assert len(rows[0]) == 2 * 2 * 3 * 2
    losses = [np.array([float(r["train_loss"]) for r in result]) for result in rows]
    assert np.array_equal(losses[0], losses[1], equal_nan=True) and np.array_equal(losses[0], losses[2],
                                                                                   equal_nan=True)
    assert np.isnan(losses[0]).any() and np.isfinite(losses[0]).any()  # lr0 = 1 diverges at L = 4: both kinds


def test_every_run_diverged_is_said_and_drawn_not_a_crash(tmp_path, capsys):
    """lr0s that all diverge (transfer) and a lr0 that does (coord-check): exit 0, the rows say diverged, the
    summary says so, and the figure is drawn (an empty log axis cannot be: it says "every run diverged")."""
    assert main(["transfer", "--depths", "2,4", "--width", "4", "--lr0s", "2:8:3", "--seeds", "1", "--epochs", "1",
                 "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "rule depth: best lr0 L=2: every lr0 diverged, L=4: every lr0 diverged" in out
    rows = (tmp_path / "t" / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 3 and all(",True," in r for r in rows[1:])
    assert (tmp_path / "t" / "transfer.png").stat().st_size > 10_000
    assert main(["coord-check", "--depths", "2,4", "--width", "4", "--steps", "1,2", "--seeds", "1", "--lr0", "1000",
                 "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "coord_check.png").stat().st_size > 10_000


def test_a_resume_under_another_thread_count_says_so_and_records_both(tmp_path, monkeypatch, capsys):
    """A threaded study (its rows follow torch's thread count in the last digits) interrupted after one point and
    resumed with another count: one note on stderr, the manifest's threads [first, second]; a rerun under a count
    already recorded says nothing."""
    import torch

    argv = ["transfer", "--depths", "2,4", "--width", "4", "--lr0s", "0.01,0.1,1", "--seeds", "1", "--epochs", "1",
            "--out", str(tmp_path)]
    compute, calls = T.compute_point, []

    def once(params, point):
        if calls:
            raise KeyboardInterrupt
        calls.append(point)
        return compute(params, point)

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setattr(T, "compute_point", once)
        assert main(argv) == 130
        monkeypatch.setattr(T, "compute_point", compute)
        capsys.readouterr()
        torch.set_num_threads(2)
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert "finished points were computed with 1 torch thread(s) a point, the rest will be with 2" in err
        assert json.loads((tmp_path / "manifest.json").read_text())["threads"] == [1, 2]
        assert main(argv) == 0 and "note" not in capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)

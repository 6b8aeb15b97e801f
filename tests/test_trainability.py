"""The trainability and learning-rate studies at tiny sizes."""

import math

import pytest

from reslimit.cli import main
from reslimit.data import get_data
from reslimit.studies import learning_rate as lr_study
from reslimit.studies.trainability import margin, trainability


def test_cell_far_below_the_line_does_not_train_and_one_above_does(tmp_path):
    # H = 0.7: critical beta 0.7; beta = 0 is far below (L^0.7 = 18 at L = 64), beta = 1 above
    result = trainability(tmp_path, hursts=[0.7], betas=[0.0, 1.0], depth=64, lrs=[0.01, 0.1], epochs=1,
                          progress=False)
    below, above = result.best[0]
    assert math.isnan(below) or below < 0.3
    assert above >= 0.8
    assert margin(100) == pytest.approx(0.5)
    # resumes: a rerun computes nothing and returns the same rows
    again = trainability(tmp_path, hursts=[0.7], betas=[0.0, 1.0], depth=64, lrs=[0.01, 0.1], epochs=1,
                         progress=False)
    assert repr(list(again)) == repr(list(result))


def test_search_returns_the_largest_grid_lr_that_trains():
    params = lr_study.study(betas=[1.0], depths=[16, 32], epochs=1).params
    data = get_data("synthetic", seed=0, dtype="float32")
    rows = lr_study.search(params, data, 1.0, 16)
    best = lr_study.largest(rows)
    assert best is not None
    assert lr_study.attempt(params, data, 1.0, 16, best)["trains"] == 1
    assert lr_study.too_large(lr_study.attempt(params, data, 1.0, 16, best * params["ratio"]))


def test_slope_and_tolerance():
    assert lr_study.slope([16, 64], [1.0, 4.0]) == pytest.approx(1.0)
    # depths 16..512 by 2, r = 2^(1/2): (log r)(4.5 log 2) / (17.5 log^2 2) = 0.5 * 4.5 / 17.5
    assert lr_study.tolerance([16, 32, 64, 128, 256, 512], 2**0.5) == pytest.approx(4.5 / 35)
    with pytest.raises(ValueError, match="depths"):
        lr_study.study(depths=[16])


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["trainability", "--lrs", "0,1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lrs" in err[0]


def test_a_depth_beyond_memory_is_refused_naming_it_before_the_folder_is_made(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["trainability", "--depth", str(2**62), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"reslimit: error: depth={2**62} needs about")
    assert main(["trainability", "--depth", str(2**63), "--out", str(out)]) == 2  # past any int64
    assert capsys.readouterr().err == f"reslimit: error: depth must be an integer in [2, 2^63 - 1]; got {2**63}\n"
    assert not out.exists()

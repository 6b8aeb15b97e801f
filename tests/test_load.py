"""reslimit.load and Convergence.load: every study folder read back, its rows exactly as a DataFrame, and errors."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

import reslimit
from reslimit import Convergence, cli, converge, store
from reslimit.studies import bounds as B
from reslimit.studies.bounds import bounds

TABLE = {"demo": "demo.csv"}


def _small_bounds_plan(quick=True):
    """Checks with a delta and without, at one depth and fitted on several (the depth column's int and str)."""
    iid, smooth = {"width": 4, "samples": 300}, {"width": 4, "samples": 30}
    return {"lemma1": [B.Check(B.lemma1, dict(depth=16, beta=0.5, seed=5, **iid))],
            "prop2": [B.Check(B.prop2, dict(depth=16, beta=0.75, seed=6, **iid))],
            "prop8": [B.Check(B.prop8, dict(beta=1.0, depths=(8, 32), seed=7, **smooth))],
            "prop9": [B.Check(B.prop9, dict(beta=0.5, depths=(8, 32, 128), seed=8, **smooth))]}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One tiny folder of each kind: {kind: path}, and the Convergence that converge returned."""
    root = tmp_path_factory.mktemp("studies")
    out = {kind: root / kind for kind in ("scaling", "phase", "bounds", "converge", "demo")}
    assert cli.main(["scaling", "--out", str(out["scaling"]), "--depths", "2,4", "--width", "4", "--ensemble", "2",
                     "--betas", "0.5,1"]) == 0
    assert cli.main(["phase", "--out", str(out["phase"]), "--hursts", "0.3,0.7", "--depths", "2,4", "--width", "4",
                     "--ensemble", "2", "--samples", "2", "--betas", "0.5,1"]) == 0
    with pytest.MonkeyPatch.context() as m:  # its files are what is read back: 4 small checks, not the plan's 25
        m.setattr(B, "plan", _small_bounds_plan)
        bounds(out["bounds"], quick=True, progress=False)
    conv = converge("sde", width=2, depths=[4, 8, 16], samples=4, out=out["converge"])
    cli.main(["demo", "--quick", "--out", str(out["demo"])])  # 1 if a row fails its 4 SE: the files are written
    return out, conv


def _header(path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))


def _same(frame: pd.DataFrame, rows: list[dict]) -> None:
    """Every cell of ``frame`` is store.read_rows' cell exactly: '' missing, 'True'/'False' a bool column's."""
    assert len(frame) == len(rows)
    for name in frame.columns:
        values = frame[name].tolist()
        for value, row in zip(values, rows):
            cell = row[name]
            if cell == "":
                assert pd.isna(value), (name, value)
            elif pd.api.types.is_bool_dtype(frame[name]):
                assert value is (cell == "True"), (name, value, cell)
            elif isinstance(cell, float) and math.isnan(cell):
                assert isinstance(value, float) and math.isnan(value), (name, value)
            else:
                assert type(value) is type(cell) and value == cell, (name, value, cell)


def _check(folder, kind, frame):
    table = folder / TABLE.get(kind, "results.csv")
    rows = store.read_rows(table)
    assert frame.shape == (len(rows), len(_header(table)))
    assert list(frame.columns) == _header(table)
    _same(frame, rows)
    manifest = json.loads((folder / ("demo.json" if kind == "demo" else "manifest.json")).read_text())
    assert frame.attrs["study"] == kind
    assert frame.attrs["manifest"] == manifest
    assert frame.attrs["params"] == manifest["settings" if kind == "demo" else "params"]


@pytest.mark.parametrize("kind", ["scaling", "phase"])
def test_load_sweep(folders, kind):
    out, _ = folders
    frame = reslimit.load(out[kind]).frame()
    _check(out[kind], kind, frame)
    assert frame.columns[0] == "point"
    for name in ("point", "depth", "draw", "input", "width", "seed"):
        assert frame[name].dtype == np.int64, name
    for name in ("beta", "hidden_ratio", "grad_ratio") + (("hurst",) if kind == "phase" else ()):
        assert frame[name].dtype == np.float64, name
    for name in ("init", "block", "activation", "dtype", "status"):
        assert pd.api.types.is_string_dtype(frame[name]), name
    assert frame.attrs["params"]["betas"] == [0.5, 1.0] and frame.attrs["manifest"]["complete"] is True
    assert sorted(frame["depth"].unique()) == [2, 4] and sorted(frame["beta"].unique()) == [0.5, 1.0]
    assert len(frame.groupby(["beta", "depth"])) == 4


def test_load_bounds(folders):
    out, _ = folders
    frame = reslimit.load(out["bounds"]).frame()
    _check(out["bounds"], "bounds", frame)
    assert frame.attrs["params"] == {"study": "bounds", "quick": True, "seed": 0, "device": "cpu"}
    assert frame["passed"].dtype == bool and frame["passed"].tolist() == [
        r["passed"] == "True" for r in store.read_rows(out["bounds"] / "results.csv")]
    for name in ("measured", "se", "lower", "upper", "delta", "beta"):
        assert frame[name].dtype == np.float64, name
    assert frame["delta"].isna().any() and frame["delta"].notna().any()  # written as '' where a check has none
    assert frame["depth"].dtype == object  # an int, or the depths a slope was fitted on
    assert {type(v) for v in frame["depth"]} == {int, str}


def test_load_converge(folders):
    out, conv = folders
    frame = reslimit.load(out["converge"]).frame()
    _check(out["converge"], "converge", frame)
    assert list(frame.columns) == ["point", "depth", "sample", "path_error", "terminal_error", "grad_error"]
    assert frame.shape == (3 * 4, 6) and frame["point"].tolist() == [0] * 12  # one point: chunk = samples
    assert frame.attrs["params"] == conv.params
    assert frame.attrs["manifest"]["slope"] == conv.rate.slope
    assert frame["path_error"].to_numpy().reshape(3, 4).tolist() == conv.path_error.tolist()


def test_load_demo(folders):
    out, _ = folders
    frame = reslimit.load(out["demo"]).frame()
    _check(out["demo"], "demo", frame)
    assert frame.attrs["params"]["depths"] == [4, 16, 64] and frame.attrs["params"]["seed"] == 0
    assert frame["depth"].dtype == np.int64 and frame["measured"].dtype == np.float64
    assert pd.api.types.is_string_dtype(frame["verdict"])


def test_load_is_exported():
    from reslimit.results import load

    assert reslimit.load is load and "load" in reslimit.__all__


def test_convergence_load(folders):
    out, conv = folders
    back = Convergence.load(out["converge"])
    manifest = store.read_manifest(out["converge"])
    assert back.params == conv.params == manifest["params"]
    assert back.depths.tolist() == conv.depths.tolist() == [4, 8, 16]
    for name in ("path_error", "terminal_error", "grad_error"):
        assert getattr(back, name).shape == (3, 4)
        assert np.array_equal(getattr(back, name), getattr(conv, name)), name  # exact: floats written with repr
    assert (back.rate.slope, back.rate.ci_low, back.rate.ci_high) == (
        manifest["slope"], manifest["ci_low"], manifest["ci_high"])
    assert back.rate == conv.rate and back.grad_rate == conv.grad_rate
    assert back.summary() == {k: manifest[k] for k in back.summary()}
    assert manifest["study"] == "converge" and manifest["complete"] is True


def test_convergence_load_grid_checked(folders, tmp_path):
    out, _ = folders
    copy = shutil.copytree(out["converge"], tmp_path / "cut")
    lines = (copy / "results.csv").read_text().splitlines(keepends=True)
    (copy / "results.csv").write_text("".join(lines[:-1]))  # one depth x sample short
    with pytest.raises(ValueError, match=r"does not hold one row per depth in \[4, 8, 16\].*11 rows for 12"):
        Convergence.load(copy)
    (copy / "results.csv").write_text("depth,sample,path_error\n4,0,0.5\n")
    with pytest.raises(ValueError, match=r"cut/results.csv' has no column terminal_error, grad_error"):
        Convergence.load(copy)


def test_errors(folders, tmp_path):
    out, _ = folders
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"'.*nowhere' does not exist.*reslimit scaling"):
        reslimit.load(missing)
    with pytest.raises(ValueError, match="does not exist"):
        Convergence.load(missing)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="a_file' is a file, not a study folder"):
        reslimit.load(tmp_path / "a_file")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"'.*empty' has no manifest.json \(nor demo.json\).*reslimit demo"):
        reslimit.load(empty)
    orphan = shutil.copytree(out["scaling"], tmp_path / "orphan")
    (orphan / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"'.*orphan' holds results.csv but has no manifest.json.*points.jsonl"):
        reslimit.load(orphan)

    for kind, command in (("scaling", "reslimit scaling"), ("bounds", "reslimit bounds"),
                          ("converge", "reslimit converge"), ("demo", "reslimit demo")):
        copy = shutil.copytree(out[kind], tmp_path / f"no-table-{kind}")
        table = TABLE.get(kind, "results.csv")
        (copy / table).unlink()
        with pytest.raises(ValueError, match=rf"no-table-{kind}' holds a {kind} study's .* but no {table}.*{command}"):
            reslimit.load(copy)
    with pytest.raises(ValueError, match=r"no-table-converge' .* but no results.csv.*reslimit converge"):
        Convergence.load(tmp_path / "no-table-converge")

    garbage = shutil.copytree(out["converge"], tmp_path / "garbage")
    (garbage / "manifest.json").write_bytes(b"\xff{not json")
    with pytest.raises(ValueError, match=r"garbage/manifest.json is unreadable \(not a JSON object\)"):
        reslimit.load(garbage)
    with pytest.raises(ValueError, match="unreadable"):
        Convergence.load(garbage)
    bad_demo = shutil.copytree(out["demo"], tmp_path / "bad-demo")
    (bad_demo / "demo.json").write_text("[1, 2")
    with pytest.raises(ValueError, match=r"bad-demo/demo.json is unreadable.*reslimit demo"):
        reslimit.load(bad_demo)
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"params": {"x": 1}}))
    with pytest.raises(ValueError, match=r"other/manifest.json' names no study: not the manifest of a study folder"):
        reslimit.load(other)

    torn = shutil.copytree(out["scaling"], tmp_path / "torn")
    with open(torn / "results.csv", "a") as f:
        f.write("8,4,1.0,0\n")  # a row cut short
    with pytest.raises(ValueError, match=r"torn/results.csv' is unreadable.*reslimit scaling.*ledger"):
        reslimit.load(torn)

    for kind in ("scaling", "phase", "bounds", "demo"):
        with pytest.raises(ValueError, match=rf"holds a {kind} study, not a converge one.*reslimit converge"):
            Convergence.load(out[kind])

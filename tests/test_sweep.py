"""Sweeps: resume after an interruption or a kill, damaged files on resume, the three executors, the guards,
and grids typed on a command line."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from reslimit import store
from reslimit._rng import mix
from reslimit.studies import Study, parse_grid, read_rows, run_study
from reslimit.studies.grid import format_grid
from reslimit.studies.sweep import Interrupted

CALLS = []  # the points computed in this process
FAIL_AT = None  # a point whose computation raises, to interrupt a sweep
CTRL_C_AT = None  # a point whose computation is interrupted by Ctrl-C


def toy(params, point):
    """Rows of seeded normal draws: an int, a float that needs all 17 digits, a string."""
    if point["i"] == FAIL_AT:
        raise RuntimeError(f"interrupted at point {point['i']}")
    if point["i"] == CTRL_C_AT:
        raise KeyboardInterrupt
    CALLS.append(point["i"])
    time.sleep(params.get("sleep", 0))
    g = torch.Generator().manual_seed(mix(params["seed"], point["i"]))
    draws = torch.randn(params["rows"], generator=g, dtype=torch.float64).tolist()
    return [{"k": k, "x": x / 3, "label": f"p{point['i']}"} for k, x in enumerate(draws)]


def study(n=6, seed=7, engine="torch", **params) -> Study:
    return Study("toy", {"seed": seed, "rows": 3, **params}, [{"i": i} for i in range(n)], toy, engine)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    CALLS.clear()
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    monkeypatch.setattr(sys.modules[__name__], "CTRL_C_AT", None)


def _ledger(out) -> list[int]:
    """The points of the complete lines of the ledger."""
    lines = (Path(out) / "points.jsonl").read_text().split("\n")[:-1]
    return [json.loads(line)["point"] for line in lines]


def test_rows_are_typed_in_grid_order_and_exact(tmp_path, capsys):
    rows = run_study(study(), tmp_path)
    expected = [{"point": i, **row} for i in range(6) for row in toy(study().params, {"i": i})]
    assert rows == expected and read_rows(tmp_path / "results.csv") == expected
    assert [type(v) for v in rows[0].values()] == [int, int, float, str]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["params"] == study().params and manifest["study"] == "toy" and manifest["points"] == 6
    assert manifest["complete"] is True
    err = capsys.readouterr().err
    assert "6/6" in err and "point" in err  # the progress bar


def test_resume_computes_only_missing_points(tmp_path, monkeypatch):
    reference = run_study(study(), tmp_path / "ref", progress=False)
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", 4)
    with pytest.raises(RuntimeError, match="interrupted at point 4"):
        run_study(study(), tmp_path / "cut", progress=False)
    assert _ledger(tmp_path / "cut") == [0, 1, 2, 3]
    assert json.loads((tmp_path / "cut" / "manifest.json").read_text())["complete"] is False
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    CALLS.clear()
    assert run_study(study(), tmp_path / "cut", progress=False) == reference
    assert CALLS == [4, 5]
    CALLS.clear()
    assert run_study(study(), tmp_path / "cut", progress=False) == reference
    assert CALLS == []


@pytest.mark.slow  # kill -9 of a sweep in a subprocess
def test_killed_sweep_resumes_to_the_same_rows(tmp_path):
    slow = study(n=12, sleep=0.1)
    reference = run_study(slow, tmp_path / "ref", progress=False)
    out = tmp_path / "killed"
    script = ("import sys; from test_sweep import run_study, study; "
              "run_study(study(n=12, sleep=0.1), sys.argv[1], progress=False)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], env=env)
    deadline = time.monotonic() + 60
    while not ((out / "points.jsonl").exists() and len(_ledger(out)) >= 3) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = set(_ledger(out))
    assert 3 <= len(finished) < 12
    CALLS.clear()
    with warnings.catch_warnings(record=True) as caught:  # a kill between a point's rows and its ledger line
        warnings.simplefilter("always")
        rows = run_study(slow, out, progress=False)
    assert all("not recorded as finished" in str(w.message) for w in caught)
    assert rows == reference
    assert CALLS == sorted(set(range(12)) - finished)


def _cut(data: bytes) -> bytes:
    return data[:-7]  # mid-way through the last row (point 5)


def _altered_value(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[8] = lines[8].replace(b"p2", b"p3")  # the last row of point 2 (line 0 is the header)
    return b"\n".join(lines)


def _garbage_line(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[8] = b"\xff\x00@@ garbage"
    return b"\n".join(lines)


def _missing_row(data: bytes) -> bytes:
    lines = data.split(b"\n")
    del lines[8]
    return b"\n".join(lines)


def _foreign_line(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(json.loads(lines[2])["study"].encode(), b"0" * 64)  # point 2's line
    return b"\n".join(lines)


@pytest.mark.parametrize("file, damage, recomputed, said", [
    ("results.csv", _cut, [5], "a line cut short"),
    ("points.jsonl", _foreign_line, [2], "1 line(s) of points.jsonl of another study"),
    ("results.csv", _altered_value, [2], "3 row(s) of point(s) missing, altered"),
    ("results.csv", _garbage_line, [2], "1 unreadable line(s); 2 row(s)"),
    ("results.csv", _missing_row, [2], "2 row(s) of point(s) missing"),
    ("points.jsonl", _cut, [5], "1 unreadable line(s) of points.jsonl"),
])
def test_damaged_files_are_reported_and_their_points_recomputed(tmp_path, capsys, file, damage, recomputed, said):
    reference = run_study(study(), tmp_path, progress=False)
    path = tmp_path / file
    path.write_bytes(damage(path.read_bytes()))
    CALLS.clear()
    with pytest.warns(UserWarning, match="was damaged") as caught:
        assert run_study(study(), tmp_path, progress=False) == reference
    message = str(caught[0].message)
    assert said in message and "kept 15 valid row(s) of 5 finished point(s)" in message, message
    assert message in capsys.readouterr().err
    assert CALLS == recomputed
    CALLS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten files are whole again
        assert run_study(study(), tmp_path, progress=False) == reference
    assert CALLS == [] and sorted(_ledger(tmp_path)) == list(range(6))


@pytest.mark.slow  # a process pool and a Dask cluster
def test_executors_give_identical_rows(tmp_path):
    from distributed import LocalCluster

    grid = study(n=5)
    local = run_study(grid, tmp_path / "local", progress=False)
    CALLS.clear()
    assert run_study(grid, tmp_path / "pool", workers=2, progress=False) == local
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert run_study(grid, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False) == local
    assert CALLS == []  # the pool and the cluster computed elsewhere
    assert (tmp_path / "pool" / "results.csv").read_bytes() != b""


def test_a_directory_of_another_study_is_refused_untouched(tmp_path):
    run_study(study(seed=1), tmp_path, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match="different study .*seed"):
        run_study(study(seed=2), tmp_path, progress=False)
    with pytest.raises(ValueError, match="holds study .toy. of 6 points, not .toy. on this grid of 7"):
        run_study(study(n=7, seed=1), tmp_path, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("kwargs, match", [
    ({"workers": 0}, "workers must be an integer >= 1; got 0"),
    ({"workers": 2.5}, "workers must be an integer"),
    ({"workers": True}, "workers must be an integer"),
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "not both"),
    ({"scheduler": "127.0.0.1:8786"}, "tcp://HOST:PORT"),
    ({"scheduler": "http://host:8786"}, "tcp://HOST:PORT"),
    ({"scheduler": "tcp://host"}, "tcp://HOST:PORT"),
    ({"scheduler": "tcp://host:99999"}, "tcp://HOST:PORT"),
])
def test_bad_executors_are_refused_before_anything_is_written(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        run_study(study(), tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_missing_distributed_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    with pytest.raises(ValueError, match=r'pip install "reslimit\[dask\]"'):
        run_study(study(), tmp_path, scheduler="tcp://127.0.0.1:8786")


def test_an_empty_grid_is_refused():
    with pytest.raises(ValueError, match="^points: "):
        Study("toy", {"seed": 1}, [], toy)


def test_parse_grid():
    assert parse_grid("--betas", "0.25, 0.5,1") == [0.25, 0.5, 1.0]
    assert parse_grid("--betas", "0:1:5", low=0) == [0.0, 0.25, 0.5, 0.75, 1.0]  # inclusive
    assert parse_grid("--betas", "0.3:0.9:1") == [0.3]
    paper = parse_grid("--depths", "10:1e3:10", integer=True)
    assert paper == [10, 120, 230, 340, 450, 560, 670, 780, 890, 1000]
    assert all(type(d) is int for d in paper)
    assert parse_grid("--depths", "1:3:7", integer=True) == [1, 2, 3]  # duplicates of the cast removed
    assert parse_grid("--depths", "16,1e3,16", integer=True) == [16, 1000]
    assert parse_grid("--depths", "8:1024:x2", integer=True) == [8, 16, 32, 64, 128, 256, 512, 1024]
    assert parse_grid("--depths", "1e1:1e3:x10", integer=True) == [10, 100, 1000]
    assert parse_grid("--depths", "5:5:x3", integer=True) == [5]


@pytest.mark.parametrize("values,text", [([16, 32, 64, 128, 256, 512, 1024], "16:1024:x2"), ([3, 9, 27, 81], "3:81:x3"),
                                         ([1, 2, 3, 4], "1:4:4"), ([2, 4, 8], "2,4,8"), ([4, 8, 16, 33], "4,8,16,33")])
def test_format_grid_reads_back(values, text):
    assert format_grid(values) == text and parse_grid("--depths", text, integer=True) == values


@pytest.mark.parametrize("text, kwargs, says", [
    ("", {}, "it is empty"),
    ("0.5,,1", {}, "'' is not a number"),
    ("0.5,abc", {}, "'abc' is not a number"),
    ("nan", {}, "'nan' is not a finite number"),
    ("0:1", {}, "a range needs exactly start:stop:num"),
    ("0:1:0", {}, r"num must be an integer in \[1, 10000\], not '0'"),
        ("0:1:10001", {}, r"num must be an integer in \[1, 10000\], not '10001'"),
        (",".join(["1"] * 10001), {}, "it lists more than 10000 values"),
    ("0:1:2.5", {}, r"num must be an integer in \[1, 10000\], not '2.5'"),
    ("0,0.5", {"low": 0, "low_open": True}, r"0.0 is outside \(0, inf\]"),
    ("0.5,1", {"high": 1, "high_open": True}, r"1.0 is outside \[-inf, 1\)"),
    ("0,10", {"integer": True}, r"0 is outside \[1, 2\^63 - 1\]"),
    ("1," + "1" * 400, {"integer": True}, r"an integer of 400 digits is outside \[1, 2\^63 - 1\]"),
    (f"2:{2**64}:3", {"integer": True}, r"1.8446744073709552e\+19 is outside \[1, 2\^63 - 1\]"),
    ("2.5", {"integer": True}, "2.5 is not an integer"),
    ("8:1024:x1", {"integer": True}, "a geometric range start:stop:xK needs an integer factor K >= 2, not 'x1'"),
    ("8:1024:x0", {"integer": True}, "a geometric range start:stop:xK needs an integer factor K >= 2, not 'x0'"),
    ("8:1024:x-2", {"integer": True}, "a geometric range start:stop:xK needs an integer factor K >= 2, not 'x-2'"),
    ("8:4:x2", {"integer": True}, "a geometric range start:stop:xK needs start <= stop, not 8 > 4"),
    ("8:1000:x2", {"integer": True}, r"a geometric range start:stop:xK needs a stop that is start x K\^n: 1000 is "
     r"not 8 x 2\^n \(the nearest are 512 and 1024: 8:512:x2 or 8:1024:x2\)"),
    ("-8:16:x2", {"integer": True}, "a geometric range start:stop:xK needs integers 1 <= start <= stop"),
    ("8:1024:k2", {"integer": True}, r"num must be an integer in \[1, 10000\], not 'k2' \(or xK, K >= 2"),
    ("0.5:8:x2", {}, r"start:stop:xK \(a geometric range\) is for integer grids such as --depths; use start:stop:num"),
])
def test_parse_grid_errors_name_the_argument(text, kwargs, says):
    shown = re.escape(repr(text)) if len(text) <= 40 else re.escape(f"{text[:12]!r}... ({len(text)} characters)")
    with pytest.raises(ValueError, match=rf"^--grid must be .* got {shown}: {says}"):
        parse_grid("--grid", text, **kwargs)


def test_ctrl_c_raises_interrupted_with_the_finished_points_on_disk(tmp_path, monkeypatch):
    reference = run_study(study(), tmp_path / "ref", progress=False)
    monkeypatch.setattr(sys.modules[__name__], "CTRL_C_AT", 4)
    with pytest.raises(Interrupted) as caught:
        run_study(study(), tmp_path / "cut", progress=False)
    assert isinstance(caught.value, KeyboardInterrupt) and isinstance(caught.value.__cause__, KeyboardInterrupt)
    assert (caught.value.done, caught.value.total, caught.value.out) == (4, 6, str(tmp_path / "cut"))
    assert str(caught.value) == (f"interrupted: 4 of 6 points kept in {tmp_path / 'cut'}; rerun the same command "
                                 f"to resume")
    assert _ledger(tmp_path / "cut") == [0, 1, 2, 3]
    monkeypatch.setattr(sys.modules[__name__], "CTRL_C_AT", None)
    CALLS.clear()
    assert run_study(study(), tmp_path / "cut", progress=False) == reference and CALLS == [4, 5]


def _without_manifest(out, seed=7):
    """Run the toy study in ``out``, then delete its manifest; the bytes of the other files."""
    run_study(study(seed=seed), out, progress=False)
    (out / "manifest.json").unlink()
    return {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.parametrize("other", [study(seed=1), study(n=7), study(engine="compiled"),
                                   Study("other", study().params, study().points, toy)])
def test_rows_without_a_manifest_are_not_adopted_by_another_study(tmp_path, other):
    before = _without_manifest(tmp_path)
    results, ledger = tmp_path / "results.csv", tmp_path / "points.jsonl"
    with pytest.raises(ValueError, match=re.escape(
            f"{results} holds rows of another study (its ledger points.jsonl: it does not match these parameters, "
            f"grid, engine and torch version) and {tmp_path / 'manifest.json'} is missing; move or delete {results} "
            f"and {ledger}, or choose another directory")):
        run_study(other, tmp_path, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before and CALLS == list(range(6))


def test_rows_without_a_manifest_are_resumed_by_their_own_study(tmp_path):
    reference = run_study(study(), tmp_path / "ref", progress=False)
    out = tmp_path / "lost"
    _without_manifest(out)
    (out / "points.jsonl").write_text("".join((out / "points.jsonl").read_text().splitlines(True)[:4]))
    CALLS.clear()
    with pytest.warns(UserWarning, match=r"kept 12 valid row\(s\) of 4 finished point\(s\); point\(s\) 4, 5 will"):
        assert run_study(study(), out, progress=False) == reference
    assert CALLS == [4, 5]  # the ledger proved points 0-3 (points 4-5, no longer in it, were dropped and redone)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"] == study().params and manifest["complete"] is True


def test_an_old_ledger_without_study_hashes(tmp_path):
    """Vouched for by its manifest it is resumed; without one it cannot prove its parameters: refused."""
    reference = run_study(study(), tmp_path, progress=False)
    ledger = tmp_path / "points.jsonl"
    old = "".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "study"}) + "\n"
                  for line in ledger.read_text().splitlines())
    ledger.write_text(old)
    CALLS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_study(study(), tmp_path, progress=False) == reference and CALLS == []
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ValueError, match="its ledger points.jsonl: it predates study hashes, so it cannot prove its "
                                         "parameters"):
        run_study(study(), tmp_path, progress=False)


def test_another_engine_or_torch_version_is_refused(tmp_path, monkeypatch):
    run_study(study(engine="compiled"), tmp_path, progress=False)
    torch_version = store.versions()["torch"]
    with pytest.raises(ValueError, match=re.escape(
            f"out {str(tmp_path)!r} was computed with the compiled kernel on torch {torch_version}; this run would "
            f"use the torch loop (RESLIMIT_NATIVE=0 or no C compiler) on torch {torch_version}: its rows would "
            f"differ by rounding. Rerun with the same engine and torch, or choose another directory")):
        run_study(study(engine="torch"), tmp_path, progress=False)
    monkeypatch.setattr(store, "versions", lambda: {"python": "3", "torch": "9.9.9"})
    with pytest.raises(ValueError, match=re.escape(f"on torch {torch_version}; this run would use the compiled "
                                                   f"kernel on torch 9.9.9")):
        run_study(study(engine="compiled"), tmp_path, progress=False)
    with pytest.raises(ValueError, match="^engine must be one of 'compiled', 'torch'; got 'gpu'"):
        study(engine="gpu")


def test_ctrl_c_after_the_last_point_says_every_point_is_kept(tmp_path, monkeypatch, capsys):
    """A Ctrl-C while the figures are drawn (every point done) is reported as a sweep's interrupt, 2 of 2 points
    kept, and the rerun finishes: the robustness probes caught a bare 'reslimit: interrupted' there."""
    from reslimit.cli import main
    from reslimit.studies import scaling

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    args = ["scaling", "--depths", "2,4", "--width", "3", "--ensemble", "2", "--betas", "0.5,1", "--out", str(tmp_path)]
    monkeypatch.setattr(scaling.ScalingResult, "plot", interrupted)
    assert main(args) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (f"reslimit: interrupted: 2 of 2 points kept in "
                                                                f"{tmp_path}; rerun the same command to resume")
    monkeypatch.undo()
    assert main(args) == 0 and (tmp_path / "scaling.png").exists()

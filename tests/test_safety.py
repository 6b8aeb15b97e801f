"""No file read from disk, and no planted library or module, runs a stranger's code; no write follows a link.

Each way in is planted with a marker: a pickle whose loading creates a file, a shared library whose constructor
creates one, a ``numpy.py`` that creates one when imported. The package must refuse (one line, exit 2) or ignore
what is planted, and the marker must not exist after; a link planted under a name the package writes must be
refused naming it, the file it leads to left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from reslimit import native, store
from reslimit.cli import main
from reslimit.report import report

COMPILER = os.environ.get("CC", "cc")
TRAIN = ["train", "--depth", "4", "--width", "4", "--epochs", "1", "--data", "synthetic"]
SCALING = ["scaling", "--depths", "2,4", "--width", "4", "--ensemble", "2", "--samples", "2", "--betas", "0.5"]
PROPAGATION = ["propagation", "--depth", "4", "--width", "8", "--activations", "relu", "--inits", "he",
               "--ensemble", "2", "--samples", "2"]
COMMANDS = {"train": TRAIN, "scaling": SCALING, "propagation": PROPAGATION}
PRECIOUS = b"a file outside the folder\n"


class Marker:
    """Unpickled, it creates the file ``path`` (builtins.open in mode "w"): the stand-in for a stranger's code."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("reslimit: error: "), err
    assert "Traceback" not in err and all(f in err for f in fragments), err
    return err


def test_the_marker_pickle_runs_its_code_when_unpickled(tmp_path):
    """The stand-in works: unpickling it (what weights_only=False or allow_pickle=True would do) makes the file."""
    pickle.loads(pickle.dumps(Marker(tmp_path / "marker")))
    assert (tmp_path / "marker").exists()


def _pickle_file(path: Path, marker: Path) -> None:
    torch.save(Marker(marker), path)  # torch.save pickles it: torch.load(weights_only=False) would run it


def _bare_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Marker(marker), protocol=2))  # pickle.load or np.load(allow_pickle=True) would run it


def _object_npz(path: Path, marker: Path) -> None:
    np.savez(path, X=np.array([Marker(marker)], dtype=object), y=np.zeros(1))  # np.load(allow_pickle=True) runs it


READS = {  # name: (the file planted, how it is made, the command that reads it, what its one line says)
    "train's checkpoint.pt": ("out/checkpoint.pt", _pickle_file, [*TRAIN, "--out", "{out}"],
                              "checkpoint.pt' is unreadable (UnpicklingError); delete it"),
    "train's checkpoint.pt, a bare pickle": ("out/checkpoint.pt", _bare_pickle, [*TRAIN, "--out", "{out}"],
                                             "checkpoint.pt' is unreadable (UnpicklingError); delete it"),
    "train's manifest.json": ("out/manifest.json", _pickle_file, [*TRAIN, "--out", "{out}"],
                              "manifest.json is unreadable (not a JSON object)"),
    "train --data FILE.npz": ("data.npz", _object_npz, [*TRAIN[:-2], "--data", "{file}", "--out", "{out}"],
                              "Object arrays cannot be loaded when allow_pickle=False"),
    "train --data, a pickle named .npz": ("data.npz", _bare_pickle, [*TRAIN[:-2], "--data", "{file}", "--out",
                                                                     "{out}"], "it is not np.savez's zip of arrays"),
    "regularity FILE.npz": ("run.npz", _object_npz, ["regularity", "{file}"],
                            "Object arrays cannot be loaded when allow_pickle=False"),
    "a sweep's manifest.json": ("out/manifest.json", _pickle_file, [*SCALING, "--out", "{out}"],
                                "manifest.json is unreadable (not a JSON object)"),
}


@pytest.mark.parametrize("case", list(READS))
def test_a_planted_pickle_is_refused_in_one_line_and_never_unpickled(tmp_path, capsys, case):
    where, make, command, fragment = READS[case]
    file, marker = tmp_path / where, tmp_path / "marker"
    argv = [a.format(out=tmp_path / "out", file=file) for a in command]
    if case.startswith("train's checkpoint"):  # a real run first: a folder of no manifest is refused unread
        assert main(argv) == 0
        capsys.readouterr()
    file.parent.mkdir(exist_ok=True)
    make(file, marker)
    planted = file.read_bytes()
    assert main(argv) == 2
    _one_line_error(capsys, fragment)
    assert not marker.exists()
    assert file.read_bytes() == planted  # refused before anything replaced it


def test_load_refuses_a_pickled_manifest(tmp_path):
    import reslimit

    _pickle_file(tmp_path / "manifest.json", tmp_path / "marker")
    with pytest.raises(ValueError, match="manifest.json is unreadable"):
        reslimit.load(tmp_path)
    assert not (tmp_path / "marker").exists()


# --- the kernel cache: a library runs its constructors when opened ---------------------------------------------

def _plant_library(folder: Path, marker: Path) -> Path:
    """A library under the name the float64 kernel has, whose constructor creates ``marker``, with its own sha256
    beside it (so the digest alone would let it through)."""
    source = folder.parent / "planted.c"
    source.write_text(textwrap.dedent(f"""
        #include <stdio.h>
        __attribute__((constructor)) static void planted(void) {{
            FILE *f = fopen("{marker}", "w");
            if (f) fclose(f);
        }}
    """))
    so = folder / native._recipe("double")[2]
    subprocess.run([COMPILER, "-shared", "-fPIC", str(source), "-o", str(so)], check=True, capture_output=True)
    so.chmod(0o755)
    native._digest_file(so).write_text(f"{hashlib.sha256(so.read_bytes()).hexdigest()}  {so.name}\n")
    return so


def _status_with_cache(monkeypatch, cache: Path | None) -> str:
    if cache is None:
        monkeypatch.delenv("RESLIMIT_CACHE", raising=False)
    else:
        monkeypatch.setenv("RESLIMIT_CACHE", str(cache))
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setattr(native.subprocess, "run", lambda *a, **k: pytest.fail("a build in a refused folder"))
    return native.status(torch.float64)


def _status_stubbed(monkeypatch, cache: Path) -> str:
    """status in float64 with ``cache``, a build there failing at once with OSError("no build here")."""

    def no_build(*args):
        raise OSError("no build here")

    monkeypatch.setattr(native, "_build", no_build)
    monkeypatch.setenv("RESLIMIT_CACHE", str(cache))
    monkeypatch.setattr(native, "_libraries", {})
    return native.status(torch.float64)


def test_a_planted_library_in_a_folder_others_may_write_is_never_opened(monkeypatch, tmp_path):
    """A cache folder of mode 777 (as one of another user's would be: tests cannot chown): refused, whatever
    digest lies beside the library; the torch loop serves and says why."""
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    cache.mkdir()
    _plant_library(cache, marker)
    cache.chmod(0o777)
    got = _status_with_cache(monkeypatch, cache)
    assert got == (f"torch loop (could not build the kernel: no private folder for the compiled kernel: {cache} may "
                   f"be written by others (mode 777): refused, as it may hold another's code; chmod go-w it, or set "
                   f"RESLIMIT_CACHE to a private folder)")
    assert not marker.exists()


@pytest.mark.parametrize("mode", [0o775, 0o757], ids=["group-writable", "world-writable"])
def test_a_planted_library_others_may_write_is_never_opened(monkeypatch, tmp_path, mode):
    """The folder private, the library itself writable by the group or anyone: not opened (it is rebuilt in its
    place, a file of this user's alone; here the build is stubbed to fail, and the torch loop serves)."""
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    cache.mkdir(mode=0o700)
    so = _plant_library(cache, marker)
    so.chmod(mode)
    got = _status_stubbed(monkeypatch, cache)
    assert got.startswith(f"torch loop (could not build the kernel: no build here (rebuilding {so.name}, which did "
                          f"not verify: {so} may be written by others (mode {mode:o})"), got
    assert not marker.exists()


def test_a_link_to_a_library_others_may_write_is_never_opened(monkeypatch, tmp_path):
    """The library a link (this user's) to a file anyone may write: stat of where it leads refuses it."""
    cache, marker, elsewhere = tmp_path / "cache", tmp_path / "marker", tmp_path / "elsewhere"
    cache.mkdir(mode=0o700)
    elsewhere.mkdir()
    so = _plant_library(elsewhere, marker)
    so.chmod(0o777)
    (cache / so.name).symlink_to(so)
    native._digest_file(cache / so.name).write_text(native._digest_file(so).read_text())
    got = _status_stubbed(monkeypatch, cache)
    assert f"{cache / so.name} (where its link leads) may be written by others (mode 777)" in got, got
    assert not marker.exists()


def test_a_planted_library_in_another_users_folder_is_never_opened(monkeypatch, tmp_path):
    """A private folder (0o700) that is another user's (tests cannot chown: this process is made to see itself as
    another uid): refused by its owner, the library never opened."""
    cache, marker = tmp_path / "cache", tmp_path / "marker"
    cache.mkdir(mode=0o700)
    _plant_library(cache, marker)
    me = os.getuid()
    monkeypatch.setattr(native, "_uid", lambda: me + 1)
    got = _status_with_cache(monkeypatch, cache)
    assert got == (f"torch loop (could not build the kernel: no private folder for the compiled kernel: {cache} "
                   f"belongs to uid {me}, not to this user (uid {me + 1}): refused, as it may hold another's code; "
                   f"set RESLIMIT_CACHE to a folder of your own)")
    assert not marker.exists()


def test_the_temp_folder_fallback_refuses_a_folder_made_first_by_another(monkeypatch, tmp_path):
    """The home cannot be written, and TMPDIR/reslimit-<uid> exists already, mode 777, a library planted in it:
    refused (never opened, never built into); the torch loop serves."""
    (tmp_path / "home").write_text("a file, so no folder can be made below it")
    monkeypatch.setattr(native.Path, "home", staticmethod(lambda: tmp_path / "home"))
    monkeypatch.setattr(native.tempfile, "tempdir", str(tmp_path / "tmp"))
    squatted, marker = tmp_path / "tmp" / f"reslimit-{os.getuid()}", tmp_path / "marker"
    squatted.mkdir(parents=True)
    _plant_library(squatted, marker)
    squatted.chmod(0o777)
    got = _status_with_cache(monkeypatch, None)
    assert got.startswith("torch loop (could not build the kernel: no private folder for the compiled kernel: "
                          f"{tmp_path / 'home' / '.cache' / 'reslimit'} cannot be made"), got
    assert f"{squatted} may be written by others (mode 777): refused" in got, got
    assert not marker.exists()


def test_a_cache_folder_that_is_a_link_anyone_may_write_through_is_refused(monkeypatch, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o777)
    (tmp_path / "cache").symlink_to(target)
    got = _status_with_cache(monkeypatch, tmp_path / "cache")
    assert f"{tmp_path / 'cache'} (where its link leads) may be written by others (mode 777)" in got, got


# --- writes follow no link -----------------------------------------------------------------------------------

TMP_NAMES = ["checkpoint.pt.tmp", "manifest.json.tmp", "history.csv.tmp", "weights.pt.tmp", "results.csv.tmp",
             "points.jsonl.tmp"]  # the fixed temporary names the package used to write through
OUTPUTS = {"train": ["manifest.json", "checkpoint.pt", "history.csv", "weights.pt", "training.png", "weights.pdf",
                     ".lock"],
           "scaling": ["manifest.json", "results.csv", "points.jsonl", ".lock"],
           "propagation": ["manifest.json", "results.csv", "propagation.png", ".lock"]}


def _link_out(folder: Path, name: str) -> Path:
    outside = folder.parent / f"outside-{name}"
    outside.write_bytes(PRECIOUS)
    folder.mkdir(exist_ok=True)
    (folder / name).symlink_to(outside)
    return outside


@pytest.mark.parametrize("command, name", [(c, n) for c, names in OUTPUTS.items() for n in names])
def test_an_output_name_that_is_a_link_is_refused_and_its_target_kept(tmp_path, capsys, command, name):
    out = tmp_path / "out"
    outside = _link_out(out, name)
    assert main([*COMMANDS[command], "--out", str(out)]) == 2
    _one_line_error(capsys, f"{out / name} is a symbolic link (to {str(outside)!r}); reslimit writes no file "
                            f"through a link")
    assert outside.read_bytes() == PRECIOUS


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_link_planted_under_an_old_temporary_name_is_not_written_through(tmp_path, capsys, command):
    """Temporary files are fresh names (O_EXCL): links planted under the names once used are never opened."""
    out = tmp_path / "out"
    outsides = [_link_out(out, name) for name in TMP_NAMES]
    assert main([*COMMANDS[command], "--out", str(out)]) == 0
    assert [p.read_bytes() for p in outsides] == [PRECIOUS] * len(TMP_NAMES)
    assert (out / "manifest.json").is_file() and not (out / "manifest.json").is_symlink()
    left = sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp") and p.name not in TMP_NAMES)
    assert left == []  # no temporary file left behind


def test_replacing_writes_a_fresh_file_and_leaves_the_target_on_error(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with store.replacing(target) as f:
            f.write(b"half")
            raise RuntimeError("a crash mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]
    store.write_text(target, "new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


@pytest.mark.parametrize("write", [lambda p: store.write_text(p, "x"), lambda p: store.append_bytes(p, b"x"),
                                   lambda p: store.write_rows(p, [{"a": 1}])], ids=["write_text", "append_bytes",
                                                                                   "write_rows"])
def test_every_store_writer_refuses_a_link(tmp_path, write):
    outside = _link_out(tmp_path / "out", "file")
    with pytest.raises(ValueError, match="file is a symbolic link"):
        write(tmp_path / "out" / "file")
    assert outside.read_bytes() == PRECIOUS


def test_simulate_save_and_figures_refuse_a_link(tmp_path, capsys):
    outside = _link_out(tmp_path / "out", "run.npz")
    assert main(["simulate", "--depth", "4", "--width", "2", "--ensemble", "1", "--samples", "1",
                 "--save", str(tmp_path / "out" / "run.npz")]) == 2
    _one_line_error(capsys, "run.npz is a symbolic link")
    assert outside.read_bytes() == PRECIOUS
    from reslimit import plots

    fig, _ = plots.subplots()
    outside = _link_out(tmp_path / "figs", "f.pdf")
    with pytest.raises(ValueError, match="f.pdf is a symbolic link"):
        plots.save(fig, tmp_path / "figs" / "f.png")
    assert outside.read_bytes() == PRECIOUS


# --- the report's claims import nothing planted in OUT -------------------------------------------------------

PROBE = """import json, os, sys
from pathlib import Path
import numpy  # a numpy.py planted in OUT/probe, the working folder of old, must not be the one imported
out = Path(sys.argv[-1])
(out / "claims.json").write_text(json.dumps([dict(claim="probe", source="s", theory=0, measured=0, tolerance=0,
    passed=True, figure="fig.png", note=json.dumps([os.getcwd(), sys.path[0], numpy.__file__]))]))
"""


def test_a_claim_runs_from_a_folder_of_its_own_and_imports_nothing_planted(tmp_path):
    """The claim's process starts outside OUT with -P: a numpy.py planted in OUT/NAME (its old working folder) or
    beside the script is not imported; a relative figure is read under OUT/NAME."""
    scripts, out, marker = tmp_path / "validation", tmp_path / "out", tmp_path / "marker"
    for folder in (scripts, out / "probe"):
        folder.mkdir(parents=True)
        (folder / "numpy.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (scripts / "probe.py").write_text(PROBE)
    (claim,) = report(out, scripts=["probe"], progress=False, validation_dir=scripts)
    assert claim["passed"] and not marker.exists()
    cwd, first, numpy_file = json.loads(claim["note"])
    assert not Path(cwd).resolve().is_relative_to(out.resolve()) and not Path(cwd).exists()  # its own, removed
    assert Path(numpy_file).resolve() == Path(np.__file__).resolve()
    assert Path(first).resolve() != scripts.resolve() and claim["figure"] == str(out.resolve() / "probe" / "fig.png")
    assert str(scripts / "probe.py") in claim["command"] and "python -P " in claim["command"]


@pytest.mark.slow  # a real claim's process
def test_reslimit_report_imports_no_numpy_planted_in_its_claim_folder(tmp_path, capsys):
    out, marker = tmp_path / "report", tmp_path / "marker"
    (out / "second_moment").mkdir(parents=True)
    (out / "second_moment" / "numpy.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n")
    assert main(["report", "--only", "second_moment", "--quick", "--out", str(out)]) == 0
    assert not marker.exists()
    assert json.loads((out / "claims.json").read_text())[0]["passed"] is True


def test_a_claim_folder_that_is_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "probe").symlink_to(elsewhere)
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "probe.py").write_text(PROBE)
    with pytest.raises(ValueError, match="probe is a symbolic link"):
        report(tmp_path / "out", scripts=["probe"], progress=False, validation_dir=tmp_path / "validation")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name, sub", [("ode_rate", "res3"), ("coord_check", "adam_iid")])
def test_a_claim_refuses_a_link_in_its_folder_before_any_work(tmp_path, name, sub):
    """A claim's studies write in OUT/<block> (ode_rate) or OUT/<setting> (coord_check): a link there is refused
    in one line, nothing written where it leads."""
    from reslimit.claims import main as claims_main

    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    out.mkdir()
    (out / sub).symlink_to(elsewhere)
    with pytest.raises(SystemExit) as exit_:
        claims_main([name, "--quick", "--out", str(out)])
    assert exit_.value.code == 2 and list(elsewhere.iterdir()) == []


def test_the_cache_folder_made_is_private(monkeypatch, tmp_path):
    """Made with mode 0o700 (no build needed to see it: the folder is made first)."""
    monkeypatch.setenv("RESLIMIT_CACHE", str(tmp_path / "new" / "cache"))
    assert native._cache_folder() == tmp_path / "new" / "cache"
    assert stat.S_IMODE((tmp_path / "new" / "cache").stat().st_mode) == 0o700


"""The study protocol, from its registry: every command that writes a folder (found from the parser) and every
study written from Python writes one that ``reslimit.load`` reads back as its own study, whose manifest says which
study and version wrote it, with its rows as a DataFrame, a summary, a figure and a byte-exact save; a folder that
is none is refused in one line; a new study is one file.
"""

import argparse
import json
import shutil
import sys
import textwrap

import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_load import _small_bounds_plan

import reslimit
from reslimit import cli, studies
from reslimit.studies import KINDS, discover
from reslimit.studies import bounds as B
from reslimit.studies.critical_periods import KIND as CRITICAL_PERIODS
from reslimit.studies.critical_periods import critical_periods
from reslimit.studies.learning_rate import learning_rate
from reslimit.studies.sde_scaling import sde_scaling
from reslimit.studies.training_limit import training_limit

# Every command that writes a folder, at the smallest sizes it takes; its folder is of the study of that name (the
# command's, "-" read "_": reslimit coord-check writes a coord_check folder).
COMMANDS = {
    "scaling": ["--depths", "2,4", "--width", "3", "--ensemble", "2", "--betas", "0.5,1"],
    "phase": ["--hursts", "0.3,0.7", "--depths", "2,4", "--width", "3", "--ensemble", "2", "--samples", "2",
              "--betas", "0.5,1"],
    "converge": ["--limit", "sde", "--width", "2", "--depths", "4,8,16", "--samples", "4"],
    "demo": ["--quick"],
    "train": ["--data", "synthetic", "--depth", "4", "--width", "4", "--epochs", "1", "--block", "res1"],
    "trainability": ["--hursts", "0.3", "--betas", "0.5", "--depth", "4", "--lrs", "0.1", "--epochs", "1"],
    "propagation": ["--depth", "4", "--width", "8", "--activations", "tanh", "--inits", "he", "--ensemble", "2",
                    "--samples", "2"],
    "transfer": ["--data", "synthetic", "--depths", "2,4", "--width", "4", "--lr0s", "0.01,0.1,1", "--seeds", "1",
                 "--epochs", "1"],
    "coord_check": ["--data", "synthetic", "--depths", "2,4", "--width", "4", "--seeds", "1", "--steps", "1"],
    "bounds": [],  # its plan of checks made small below
}
NOT_STUDIES = {"report": "a report of claims (claims.json, index.html), read by reslimit.claims"}


def _critical_periods(out):
    result = critical_periods(deficits=[1], recovery=1, seeds=[0], depth=2, width=4)
    CRITICAL_PERIODS.save(out, result.rows, result.params)


# The studies the claims run from Python, at small sizes.
PYTHON = {
    "learning_rate": lambda out: learning_rate(out, betas=[1.0], depths=[2, 4], width=4, epochs=1, ratio=4.0,
                                               progress=False, figures=False),
    "sde_scaling": lambda out: sde_scaling(out, depths=[4, 8, 16], width=2, samples=2, reference_factor=2),
    "critical_periods": _critical_periods,
    "training_limit": lambda out: training_limit(out, width=4, depths=[2, 4], widths=[2, 4], ref_factor=2, seeds=2,
                                                 samples=20, steps=3, progress=False),
}


def _commands_with_out() -> set[str]:
    (sub,) = [a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name.replace("-", "_") for name, parser in sub.choices.items()
            if any("--out" in a.option_strings for a in parser._actions)}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{study: the folder it wrote}, every command of COMMANDS and every study of PYTHON."""
    root = tmp_path_factory.mktemp("protocol")
    out = {}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(B, "plan", _small_bounds_plan)
        for command, flags in COMMANDS.items():
            out[command] = root / command
            # demo, converge may exit 1: a verdict
            cli.main([command.replace("_", "-"), *flags, "--out", str(out[command])])
    for name, write in PYTHON.items():
        out[name] = root / name
        write(out[name])
    return out


def test_every_command_that_writes_a_folder_writes_a_study():
    assert _commands_with_out() == set(COMMANDS) | set(NOT_STUDIES)


def test_every_declared_study_is_written_here():
    """The registry is discovered (the modules of reslimit.studies, train, demo): nothing is listed by hand."""
    assert set(discover()) == set(COMMANDS) | set(PYTHON)


@pytest.mark.parametrize("study", sorted(COMMANDS) + sorted(PYTHON))
def test_each_folder_loads_as_its_study(written, study):
    result = reslimit.load(written[study])
    kind = KINDS[study]
    assert result.kind is kind and result.study == study and result.version == kind.version == 1
    manifest = json.loads((written[study] / kind.manifest).read_text())
    assert (manifest["study"], manifest["version"]) == (study, kind.version)
    assert result.manifest == manifest and result.params == manifest[kind.params]
    frame = result.frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0 and len(frame) == len(result.rows())
    assert frame.attrs["study"] == study and frame.attrs["params"] == result.params
    summary = result.summary()
    assert isinstance(summary, dict) and summary
    json.dumps(summary, allow_nan=True)  # plain values, as a manifest holds
    assert isinstance(result.plot(), Figure)


def test_manifests_record_the_specs_of_their_network(written):
    manifest = json.loads((written["scaling"] / "manifest.json").read_text())
    assert manifest["net"] == {"block": "res3", "activation": "relu", "width": 3, "depth": None, "beta": None,
                               "dtype": "float32"}
    assert manifest["path"]["kind"] == "iid"
    train = json.loads((written["train"] / "manifest.json").read_text())
    assert train["net"]["depth"] == 4 and train["net"]["block"] == "res1"


def test_summaries_say_what_the_study_found(written):
    scaling = reslimit.load(written["scaling"])
    assert set(scaling.summary()) == {"critical_beta", "critical_beta_grad", "critical_beta_theory"}
    assert scaling.summary()["critical_beta_theory"] == 0.5  # res-3 on i.i.d. weights
    conv = reslimit.load(written["converge"]).summary()
    assert conv["theory"] == -0.5 and conv["tolerance"] == 0.07 and conv["ci_low"] <= conv["slope"] <= conv["ci_high"]
    demo = reslimit.load(written["demo"])
    assert demo.summary() == {"rows": 18, "within_4_se": sum(v == "pass" for v in demo.frame()["verdict"])}
    for network in ("mlp", "resnet"):
        entry = reslimit.load(written["propagation"]).summary()[f"{network} tanh he"]
        assert set(entry) == {"act_std", "act_std_theory", "grad_rms", "grad_rms_theory"}
    periods = reslimit.load(written["critical_periods"]).summary()["costs"]
    assert [c["deficit"] for c in periods] == [1] and periods[0]["seeds"] == 1


def test_rows_are_what_the_writer_had(written):
    """An empty cell (a None when written) is None, a column of True / False bools."""
    train = reslimit.load(written["train"]).rows()
    assert train[0]["epoch"] == 0 and train[0]["train_loss"] is None and isinstance(train[1]["train_loss"], float)
    checks = reslimit.load(written["bounds"]).rows()
    assert {type(r["passed"]) for r in checks} == {bool} and any(r["delta"] is None for r in checks)


@pytest.mark.parametrize("study", ["scaling", "train", "demo", "converge"])
def test_a_saved_result_is_the_same_folder(written, tmp_path, study):
    result = reslimit.load(written[study])
    copy = result.save(tmp_path / "copy")
    back = reslimit.load(copy)
    assert back.study == study and back.manifest == result.manifest
    pd.testing.assert_frame_equal(back.frame(), result.frame())
    assert (copy / result.kind.table).read_bytes() == (written[study] / result.kind.table).read_bytes()
    assert result.save(copy) == copy and back.save(copy) == copy  # the same files again: nothing changes
    with pytest.raises(ValueError, match=r"copy' holds other files \(.*\); choose an empty directory"):
        reslimit.load(written["phase"]).save(copy)
    assert reslimit.load(copy).manifest == result.manifest


@pytest.mark.parametrize("study, strip", [
    ("converge", {"study", "version"}), ("bounds", {"study", "version"}), ("demo", {"study", "version"}),
    ("scaling", {"version"}),
])
def test_folders_of_an_earlier_reslimit_load_by_their_keys(written, tmp_path, study, strip):
    """Manifests written before they named their study and version: bounds and converge by their keys, a demo by
    its demo.json, a sweep (which always named its study) at version 1."""
    copy = shutil.copytree(written[study], tmp_path / "old")
    path = copy / KINDS[study].manifest
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k not in strip}))
    result = reslimit.load(copy)
    assert result.study == study and result.version == 1 and len(result.frame()) > 0


def _manifest(tmp_path, written, change):
    copy = shutil.copytree(written["scaling"], tmp_path / "copy")
    path = copy / "manifest.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return copy


@pytest.mark.parametrize("make, message", [
    (lambda tmp, w: tmp / "nowhere", r"'.*nowhere' does not exist; a study folder is written by a command"),
    (lambda tmp, w: (tmp / "a_file").write_text("x") and tmp / "a_file", r"a_file' is a file, not a study folder"),
    (lambda tmp, w: (tmp / "empty").mkdir() or tmp / "empty",
     r"empty' has no manifest.json \(nor demo.json\): not a study folder"),
    (lambda tmp, w: (shutil.copytree(w["scaling"], tmp / "junk") / "manifest.json").write_bytes(b"\xff{")
     and tmp / "junk", r"junk/manifest.json is unreadable \(not a JSON object\)"),
    (lambda tmp, w: _manifest(tmp, w, lambda m: m | {"study": "nonesuch"}),
     r"names the study 'nonesuch', which this reslimit does not know \(it knows "),
    (lambda tmp, w: _manifest(tmp, w, lambda m: m | {"version": 2}),
     r"holds a scaling study of version 2; this reslimit reads versions 1 to 1: upgrade reslimit"),
    (lambda tmp, w: _manifest(tmp, w, lambda m: {"params": m["params"]}), r"names no study: not the manifest of"),
    (lambda tmp, w: (_manifest(tmp, w, lambda m: m) / "results.csv").unlink() or tmp / "copy",
     r"holds a scaling study's manifest.json but no results.csv; rerun `reslimit scaling"),
])
def test_a_folder_that_is_no_study_is_refused_in_one_line(written, tmp_path, make, message):
    folder = make(tmp_path, written)
    with pytest.raises(ValueError, match=message) as err:
        reslimit.load(folder)
    assert "\n" not in str(err.value)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A folder added to reslimit.studies' path: a module written there is one of src/reslimit/studies/. The
    registry and the modules are as they were after the test."""
    folder = tmp_path / "studies"
    folder.mkdir()
    monkeypatch.setattr(studies, "__path__", [*studies.__path__, str(folder)])
    kinds, modules = dict(KINDS), set(sys.modules)
    yield folder
    for name in set(KINDS) - set(kinds):
        del KINDS[name]
    for name in set(sys.modules) - modules:
        if name.startswith("reslimit.studies."):
            del sys.modules[name]


def test_a_new_study_is_one_file(package, tmp_path):
    """A module of reslimit/studies/ is the whole study: discover finds it, and load reads its folder back."""
    source = textwrap.dedent('''\
        """Squares: y = x^power at each x of a grid, one point of the sweep per x."""

        from .protocol import Kind
        from .sweep import Study, run_study

        KIND = Kind("squares", "reslimit.studies.squares.squares(DIR)", plot=lambda rows, params: figure(rows),
                    summary=lambda rows, params: {"total": sum(r["y"] for r in rows)})


        def compute_point(params, point):
            return [{"x": point["x"], "y": point["x"] ** params["power"]}]


        def squares(out, xs=(1, 2, 3), power=2):
            params = {"xs": list(xs), "power": power}
            return run_study(Study("squares", params, [{"x": x} for x in xs], compute_point), out, progress=False)


        def figure(rows):
            from ..plots import subplots

            fig, ax = subplots()
            ax.plot([r["x"] for r in rows], [r["y"] for r in rows], "o-")
            return fig
        ''')
    (package / "squares.py").write_text(source)  # as if it were src/reslimit/studies/squares.py

    assert "squares" in discover()
    from reslimit.studies.squares import squares

    squares(tmp_path / "out")
    result = reslimit.load(tmp_path / "out")
    assert (result.study, result.version, result.params) == ("squares", 1, {"xs": [1, 2, 3], "power": 2})
    assert result.frame()["y"].tolist() == [1, 4, 9] and result.summary() == {"total": 14}
    assert isinstance(result.plot(), Figure)


def test_the_registry_is_back_after_the_new_study():
    assert "squares" not in KINDS and "reslimit.studies.squares" not in sys.modules


def test_a_study_is_declared_once():
    with pytest.raises(ValueError, match="a study named 'scaling' is registered already"):
        reslimit.studies.Kind("scaling", "another writer", plot=lambda rows, params: None)
    with pytest.raises(ValueError, match="version must be an integer >= 1; got 0"):
        reslimit.studies.Kind("zero", "a test", plot=lambda rows, params: None, version=0)
    assert "zero" not in KINDS

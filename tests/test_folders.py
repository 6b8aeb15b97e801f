"""No command overwrites another's folder (reslimit.studies.protocol.claimed): every command that writes a folder,
run into a folder of every other command, of its own kind with other settings, or of a user's files without a
manifest, is refused in one line naming the folder and what holds it, exit 2, every byte of the folder unchanged
(no lock file made in it either). Train's resume refuses other inputs."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_protocol import COMMANDS

import reslimit
from reslimit import cli
from reslimit.data import get_data
from reslimit.studies import KINDS, discover
from reslimit.train import train

discover()
WRITERS = {**COMMANDS, "report": ["--quick", "--only", "prop2"]}  # every command with --out, at tiny sizes
RECORDS = {name: KINDS[name].manifest for name in COMMANDS} | {"report": "manifest.json"}
# What a user might keep in a folder of each writer's file names (the table, a figure; train's weights).
USER_FILES = {name: [KINDS[name].table, KINDS[name].files[0]] for name in COMMANDS} | {
    "train": ["history.csv", "training.png", "weights.pt"], "report": ["claims.json", "index.html"]}


def _plant(folder: Path, holder: str, params: dict | None = None) -> Path:
    """A folder as ``holder`` leaves it: its record naming it (with ``params``) and a table."""
    folder.mkdir(parents=True)
    key = "settings" if holder == "demo" else "params"
    record = {key: {"seed": 12345} if params is None else params, "study": holder, "version": 1}
    (folder / RECORDS[holder]).write_text(json.dumps(record))
    (folder / (KINDS[holder].table if holder in KINDS else "claims.json")).write_text("a,b\n1,2\n")
    return folder


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def _refused(capsys, writer: str, folder: Path) -> str:
    """Run ``writer`` into ``folder``: it must exit 2 with one error line, leaving every byte as it was."""
    before = _snapshot(folder)
    code = cli.main([writer.replace("_", "-"), *WRITERS[writer], "--out", str(folder)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("reslimit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert _snapshot(folder) == before  # not even a .lock
    return err


@pytest.mark.parametrize("writer, holder", [(w, h) for w in sorted(WRITERS) for h in sorted(WRITERS) if w != h])
def test_no_command_overwrites_another_commands_folder(tmp_path, capsys, writer, holder):
    folder = _plant(tmp_path / "held", holder)
    err = _refused(capsys, writer, folder)
    assert f"out {str(folder)!r} holds a different study: a {holder} study ({RECORDS[holder]}" in err, err
    assert f"not a {writer} one; choose another directory, nothing was overwritten" in err, err


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_folder_of_other_settings_is_refused(tmp_path, capsys, writer):
    folder = _plant(tmp_path / "other", writer)
    err = _refused(capsys, writer, folder)
    assert f"out {str(folder)!r} holds a different study (parameters differ: " in err and "seed" in err, err


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_folder_of_user_files_is_refused(tmp_path, capsys, writer):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in USER_FILES[writer]:
        (folder / name).write_bytes(b"my own " + name.encode())
    err = _refused(capsys, writer, folder)
    listed = ", ".join(sorted(USER_FILES[writer]))
    assert f"out {str(folder)!r} holds files it would overwrite ({listed}) and no {RECORDS[writer]} of a " in err, err


@pytest.mark.slow  # two runs of propagation with its figure
def test_a_folder_of_unrelated_files_is_written_beside_them(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert cli.main(["propagation", *COMMANDS["propagation"], "--out", str(folder)]) == 0
    assert (folder / "notes.txt").read_text() == "mine" and reslimit.load(folder).study == "propagation"
    # the same command and settings again: let in (it resumes or rewrites its own folder)
    assert cli.main(["propagation", *COMMANDS["propagation"], "--out", str(folder)]) == 0
    assert cli.main(["propagation", *COMMANDS["propagation"], "--seed", "1", "--out", str(folder)]) == 2


def test_a_sweep_without_its_manifest_is_judged_by_its_ledger(tmp_path, capsys):
    """A folder that holds a sweep's ledger but no manifest is the sweep's to judge (it resumes from a ledger of
    its own study, refuses another's); another command is refused, naming the ledger."""
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "points.jsonl").write_text('{"point": 0, "rows": 1, "sha256": "x", "study": "y"}\n')
    err = _refused(capsys, "propagation", folder)
    assert "holds files it would overwrite (points.jsonl) and no manifest.json of a propagation study" in err
    before = (folder / "points.jsonl").read_bytes()
    assert cli.main(["scaling", *COMMANDS["scaling"], "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "holds rows of another study (its ledger points.jsonl: it does not match these parameters" in err, err
    assert (folder / "points.jsonl").read_bytes() == before and not (folder / "results.csv").exists()


def _npz(path: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    np.savez(path, X=rng.standard_normal((40, 4)), y=np.arange(40) % 2)
    return hashlib.sha256(path.read_bytes()).hexdigest()


TRAIN = ["train", "--depth", "2", "--width", "4", "--block", "res1", "--batch-size", "16", "--epochs", "1"]


@pytest.mark.slow  # trains and draws the figures
def test_a_resume_on_replaced_data_is_refused_naming_the_file(tmp_path, capsys):
    data, out = tmp_path / "data.npz", tmp_path / "run"
    old = _npz(data, 0)
    assert cli.main([*TRAIN, "--data", str(data), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["data_sha256"] == old and manifest["versions"]["reslimit"] == reslimit.__version__
    assert manifest["engine"] in ("compiled", "torch") and manifest["threads"] == torch.get_num_threads()
    new = _npz(data, 1)  # other data under the same name
    capsys.readouterr()
    before = _snapshot(out)
    assert cli.main([*TRAIN, "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"data file {str(data)!r} changed since the run started (sha256 {new} vs {old})" \
        in err, err
    assert _snapshot(out) == before


@pytest.mark.slow  # trains and draws the figures
def test_a_resume_under_another_version_is_refused_and_another_thread_count_noted(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*TRAIN, "--data", "synthetic", "--out", str(out)]) == 0
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"threads": 99}))
    capsys.readouterr()
    assert cli.main([*TRAIN, "--data", "synthetic", "--out", str(out)]) == 0  # resumed: the checkpoint holds it all
    err = capsys.readouterr().err
    assert f"reslimit: note: {out} ran under the {manifest['engine']} engine with 99 threads; it continues under " \
           f"the {manifest['engine']} engine with {torch.get_num_threads()} threads, so the last digits" in err, err
    path.write_text(json.dumps(manifest | {"versions": manifest["versions"] | {"reslimit": "0.0.1"}}))
    before = _snapshot(out)
    assert cli.main([*TRAIN, "--data", "synthetic", "--out", str(out)]) == 2
    assert f"holds a run started by reslimit 0.0.1; this is reslimit {reslimit.__version__}: resume it with that " \
           f"version" in capsys.readouterr().err
    assert _snapshot(out) == before


def test_train_refuses_a_checkpoint_of_more_epochs_than_asked(tmp_path):
    _npz(tmp_path / "data.npz", 0)
    data = get_data(str(tmp_path / "data.npz"), seed=0, dtype="float64")
    checkpoint = tmp_path / "c.pt"

    def net():
        return reslimit.ScaledResNet(2, 4, block="res1", input_dim=data.input_dim, output_dim=data.output_dim, seed=0)

    train(net(), data, epochs=3, checkpoint=checkpoint)
    before = checkpoint.read_bytes()
    with pytest.raises(ValueError, match=re.escape(f"checkpoint {str(checkpoint)!r} holds 3 epochs, more than "
                                                   f"epochs=1")):
        train(net(), data, epochs=1, checkpoint=checkpoint)
    assert checkpoint.read_bytes() == before
    assert len(train(net(), data, epochs=3, checkpoint=checkpoint).rows) == 4  # as many: the history as it was
    assert checkpoint.read_bytes() == before
    _npz(tmp_path / "data.npz", 1)  # other data of the same shapes under the same name: only its digest tells
    other = get_data(str(tmp_path / "data.npz"), seed=0, dtype="float64")
    with pytest.raises(ValueError, match=r"holds a run with other settings \(dataset_sha256\)"):
        train(net(), other, epochs=3, checkpoint=checkpoint)

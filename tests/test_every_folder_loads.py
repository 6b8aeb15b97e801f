"""reslimit.load reads the folder of every command that writes one, named by its manifest's study and version;
a folder that is none says in one line what it is not."""

import json
import shutil

import pytest

import reslimit
from reslimit import cli, store
from reslimit.studies import KINDS, Kind, discover

# Every command that writes a folder, at the smallest sizes it takes.
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
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("every")
    out = {}
    for command, flags in COMMANDS.items():
        out[command] = root / command
        cli.main([command, *flags, "--out", str(out[command])])  # demo may exit 1 (a row off by 4 SE): files written
    return out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_commands_folder_loads_as_its_study(written, command):
    frame = reslimit.load(written[command]).frame()
    kind = KINDS[command]
    assert frame.attrs["study"] == command and frame.attrs["version"] == kind.version
    manifest = json.loads((written[command] / kind.manifest).read_text())
    assert (manifest["study"], manifest["version"]) == (command, kind.version)
    assert len(frame) > 0 and isinstance(frame.attrs["params"], dict)


def test_every_registered_kind_is_a_command_here_or_a_claims_study():
    """The registry is discovered (no hand list in load): the commands above, the bounds command (tests/test_load)
    and the studies the claims run from Python."""
    assert set(discover()) == set(COMMANDS) | {"bounds", "learning_rate", "sde_scaling", "critical_periods"}


def test_manifests_record_the_specs_of_their_network(written):
    manifest = json.loads((written["scaling"] / "manifest.json").read_text())
    assert manifest["net"] == {"block": "res3", "activation": "relu", "width": 3, "depth": None, "beta": None,
                               "dtype": "float32"}
    assert manifest["path"]["kind"] == "iid"
    train = json.loads((written["train"] / "manifest.json").read_text())
    assert train["net"]["depth"] == 4 and train["net"]["block"] == "res1"


@pytest.mark.parametrize("change, message", [
    (lambda m: m | {"study": "nonesuch"}, "names the study 'nonesuch', which this reslimit does not know"),
    (lambda m: m | {"version": 99}, "holds a scaling study of version 99; this reslimit reads versions 1 to 1"),
    (lambda m: m | {"version": "1"}, "holds a scaling study of version '1'"),
    (lambda m: {k: v for k, v in m.items() if k != "params"}, "has no \"params\""),
])
def test_a_manifest_this_reslimit_cannot_read_is_refused_in_one_line(written, tmp_path, change, message):
    copy = shutil.copytree(written["scaling"], tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(change(manifest)))
    with pytest.raises(ValueError) as err:
        reslimit.load(copy)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_new_kind_of_folder_is_one_declaration(tmp_path):
    """What a new study adds so that load reads its folders: one Kind in its module."""
    kind = Kind("toy", "toy(out) in a test", table="toy.csv", plot=lambda rows, params: None)
    try:
        store.write_rows(tmp_path / "toy.csv", [{"x": 1, "y": 0.5}, {"x": 2, "y": 0.25}])
        store.write_manifest(tmp_path, {"n": 2}, study=kind)
        frame = reslimit.load(tmp_path).frame()
        assert frame.attrs["study"] == "toy" and frame.attrs["version"] == kind.version == 1
        assert frame["y"].tolist() == [0.5, 0.25] and frame.attrs["params"] == {"n": 2}
    finally:
        del KINDS["toy"]

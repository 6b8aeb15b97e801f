"""Training: the history, a resume equal to an uninterrupted run, divergence recorded, the study folder and CLI."""

import json
import math

import pytest
import torch

from reslimit import ScaledResNet, get_data, train
from reslimit.cli import main
from reslimit.train import COLUMNS, run

DIGITS = get_data("digits", seed=0)


def _net(depth=16, width=16, data=DIGITS, block="res3", seed=0, **kwargs):
    return ScaledResNet(depth, width, beta=0.5, block=block, seed=seed, dtype=torch.float32,
                        input_dim=data.input_dim, output_dim=data.output_dim, **kwargs)


def _same(a, b):
    """The rows of two histories agree in every column but the timing."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in a] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in b]


def test_training_on_digits_goes_from_chance_to_over_85_percent():
    history = train(_net(), DIGITS, epochs=4, lr=0.05, seed=0)
    rows = history.rows
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4] and list(rows[0]) == list(COLUMNS)
    assert rows[0]["test_accuracy"] < 0.3  # 10 classes: chance is 0.1
    assert rows[-1]["test_accuracy"] > 0.85 and rows[-1]["test_loss"] < 0.5 * rows[0]["test_loss"]
    assert all(r["status"] == "ok" and math.isfinite(r["grad_norm_V"]) and r["grad_norm_W"] > 0 for r in rows[1:])
    assert rows[0]["train_loss"] is None and rows[0]["grad_norm_V"] is None
    assert sorted(history.snapshots) == [0, 4] and history.snapshots[0]["V"].shape == (16, 1, 16, 16)
    assert not torch.equal(history.snapshots[0]["V"], history.snapshots[4]["V"])
    assert history.frame().shape == (5, len(COLUMNS)) and history.frame().attrs["params"]["lr"] == 0.05


def test_regression_on_synthetic_data_lowers_the_squared_error():
    data = get_data("synthetic", seed=1, n=400, input_dim=4)
    history = train(_net(data=data, block="res1", activation="tanh"), data, epochs=5, lr=0.05, seed=1)
    first, last = history.rows[0], history.rows[-1]
    assert first["test_accuracy"] is None and last["test_loss"] < 0.5 * first["test_loss"]


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    whole = train(_net(), DIGITS, epochs=3, seed=2)
    train(_net(), DIGITS, epochs=1, seed=2, checkpoint=tmp_path / "ck.pt")  # "killed" after epoch 1
    net = _net()
    resumed = train(net, DIGITS, epochs=3, seed=2, checkpoint=tmp_path / "ck.pt")
    assert _same(resumed.rows, whole.rows)
    assert torch.equal(resumed.snapshots[3]["V"], whole.snapshots[3]["V"]) and torch.equal(net.V.detach().cpu(),
                                                                                           whole.snapshots[3]["V"])
    with pytest.raises(ValueError, match=r"holds a run with other settings \(lr\)"):
        train(_net(), DIGITS, epochs=3, lr=0.1, seed=2, checkpoint=tmp_path / "ck.pt")
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt' is unreadable"):
        train(_net(), DIGITS, epochs=1, checkpoint=tmp_path / "bad.pt")


def test_a_diverging_run_stops_and_is_recorded():
    history = train(_net(), DIGITS, epochs=5, lr=1e8, seed=0)
    assert history.diverged and history.final["status"] == "diverged" and history.final["epoch"] < 5
    assert history.rows[0]["status"] == "ok" and history.final["epoch"] in history.snapshots


@pytest.mark.parametrize("kwargs,message", [
    (dict(lr=0.0), "lr must be"), (dict(epochs=0), "epochs must be"), (dict(optimizer="rmsprop"), "optimizer must be"),
    (dict(momentum=1.0), "momentum must be"), (dict(batch_size=0), "batch_size must be"),
])
def test_bad_settings_are_refused_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(_net(), DIGITS, **({"epochs": 1} | kwargs))


def test_a_network_that_does_not_fit_the_data_is_refused():
    with pytest.raises(ValueError, match=r"net must have input_dim=64 and output_dim=10 for the data 'digits'; "
                                         r"got input_dim=None, output_dim=None"):
        train(ScaledResNet(4, 8), DIGITS, epochs=1)
    with pytest.raises(ValueError, match="stream=False"):
        train(_net(stream=True), DIGITS, epochs=1)


def test_run_writes_the_study_and_the_cli_resumes_it(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--depth", "16", "--width", "8", "--epochs", "2", "--init", "smooth", "--beta", "1",
            "--out", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "epoch   2: train loss" in first and "trained; wrote" in first
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["epochs_done"] == 2 and manifest["params"]["init"] == "smooth"
    assert manifest["regularity"]["before"][0] == 1.0  # a smooth path's weights: exponent capped at 1
    assert {"history.csv", "weights.pt", "checkpoint.pt", "training.png", "weights.png"} <= {p.name for p in
                                                                                            out.iterdir()}
    weights = torch.load(out / "weights.pt")
    assert weights["before"]["V"].shape == (16, 1, 8, 8) and not torch.equal(weights["before"]["V"],
                                                                            weights["after"]["V"])
    assert main(args) == 0  # the checkpoint holds every epoch: the same lines again, nothing recomputed
    assert capsys.readouterr().out == first
    assert main([*args[:-2], "--lr", "0.2", "--out", str(out)]) == 2
    assert "different study" in capsys.readouterr().err


def test_run_records_a_diverged_run(tmp_path, capsys):
    assert main(["train", "--depth", "8", "--width", "8", "--epochs", "3", "--lr", "1e8", "--out", str(tmp_path)]) == 1
    assert "DIVERGED" in capsys.readouterr().out
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "diverged"


def test_refusals_come_before_the_folder(tmp_path, capsys):
    for bad in (["--lr", "-1"], ["--epochs", "0"], ["--data", str(tmp_path / "none.npz")], ["--init", "nope"]):
        assert main(["train", *bad, "--out", str(tmp_path / "d")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("reslimit: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "d").exists()


def test_regularity_command_reads_saved_weights(tmp_path, capsys):
    saved = str(tmp_path / "r.npz")
    assert main(["simulate", "--depth", "64", "--width", "4", "--ensemble", "2", "--save", saved]) == 0
    capsys.readouterr()
    assert main(["regularity", str(tmp_path / "r.npz")]) == 0
    text = capsys.readouterr().out
    exponent = float(text.split("exponent ")[1].split(",")[0])
    assert abs(exponent - 0.5) < 0.1 and "implied critical beta" in text  # i.i.d. weights: 1/2
    assert main(["regularity", str(tmp_path / "r.npz"), "--key", "X"]) == 2
    assert "X" in capsys.readouterr().err


def test_run_is_the_library_call(tmp_path):
    history = run(tmp_path, depth=8, width=8, epochs=1, progress=False)
    assert history.final["epoch"] == 1 and history.params["depth"] == 8


def test_a_width_1_network_trains_and_draws_its_one_weight(tmp_path):
    """The weights figure draws the entries that exist (a width-1 run used to end in an IndexError)."""
    history = run(tmp_path, depth=4, width=1, epochs=1, progress=False)
    assert history.final["status"] == "ok" and (tmp_path / "weights.png").stat().st_size > 5_000


def test_run_refuses_a_path_option_its_init_does_not_take(tmp_path):
    from reslimit.train import run

    with pytest.raises(ValueError, match="hurst is not an option of path 'iid', which takes dist; got hurst=0.7"):
        run(tmp_path / "t", data="synthetic", init="iid", hurst=0.7, depth=4, width=4, epochs=1, progress=False)
    assert not (tmp_path / "t").exists()


class _Planted:
    """An object whose unpickling would run code: it writes a file named in its state."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_planted_checkpoint_is_not_unpickled(tmp_path):
    """checkpoint.pt is read with weights_only=True: a file whose unpickling would run code is refused, not run."""
    import torch

    from reslimit.train import run

    out = tmp_path / "t"
    run(out, data="synthetic", depth=4, width=4, epochs=1, progress=False)  # a train folder: its resume reads it
    torch.save({"params": _Planted(tmp_path / "ran")}, out / "checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint .* is unreadable"):
        run(out, data="synthetic", depth=4, width=4, epochs=1, progress=False)
    assert not (tmp_path / "ran").exists()

"""Critical learning periods: the blur, the runs the study compares, its summary, its claim's files, bad input."""

import csv
import math

import pytest
import torch

from reslimit import ScaledResNet
from reslimit.claims import critical_periods as claim
from reslimit.data import digits, get_data
from reslimit.studies.critical_periods import blur, critical_periods
from reslimit.train import train


def test_blur_averages_blocks_and_leaves_the_test_set():
    data = digits()
    blurred = blur(data, 2)
    image = data.X_train[7].reshape(8, 8)
    want = image.reshape(4, 2, 4, 2).mean((1, 3)).repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert torch.allclose(blurred.X_train[7].reshape(8, 8), want, atol=1e-6)
    assert torch.equal(blurred.X_test, data.X_test) and torch.equal(blurred.y_train, data.y_train)
    assert torch.equal(blur(data, 1).X_train, data.X_train)
    assert torch.allclose(blur(data, 8).X_train[3], data.X_train[3].mean().expand(64), atol=1e-6)  # one block


@pytest.mark.parametrize("data, factor, message", [
    ("synthetic", 2, "not a square"), ("digits", 3, "8 x 8 pixels, factor = 3"), ("digits", 0, "factor")])
def test_blur_refuses_what_is_not_a_square_image_it_can_divide(data, factor, message):
    with pytest.raises(ValueError, match=message):
        blur(get_data(data), factor)


SIZES = dict(deficits=(2, 1), recovery=1, seeds=(0, 5), depth=2, width=4)


@pytest.fixture(scope="module")
def result():
    return critical_periods(**SIZES)


def test_each_row_is_the_runs_it_names(result):
    """The control's accuracies at epochs T and T + R, and the deficit run (T blurred epochs, then R clean ones
    from where it stood), are those of the same trainings done by hand: the same numbers exactly."""
    data = digits()
    settings = dict(lr=0.05, batch_size=64, optimizer="sgd")

    def net(seed):
        return ScaledResNet(2, 4, beta=0.5, block="res3", activation="relu", seed=seed, dtype=torch.float32,
                            input_dim=64, output_dim=10)

    assert [(r["seed"], r["deficit"]) for r in result.rows] == [(0, 1), (0, 2), (5, 1), (5, 2)]
    for r in result.rows:
        control = train(net(r["seed"]), data, epochs=2 + 1, seed=r["seed"], **settings)
        assert r["control_during"] == control.rows[r["deficit"]]["test_accuracy"]
        assert r["control_after"] == control.rows[r["deficit"] + 1]["test_accuracy"]
        n = net(r["seed"])
        assert r["during"] == train(n, blur(data), epochs=r["deficit"], seed=r["seed"], **settings).final[
            "test_accuracy"]
        assert r["after"] == train(n, data, epochs=1, seed=r["seed"], **settings).final["test_accuracy"]


def test_summary_is_the_mean_and_standard_error_of_the_costs(result):
    for s in result.summary():
        rows = [r for r in result.rows if r["deficit"] == s["deficit"]]
        for name in ("during", "after"):
            costs = [r[f"control_{name}"] - r[name] for r in rows]
            mean = sum(costs) / 2
            assert s[f"cost_{name}"] == pytest.approx(mean)
            assert s[f"se_{name}"] == pytest.approx(math.sqrt(sum((c - mean) ** 2 for c in costs) / 1) / math.sqrt(2))
            assert s[f"positive_{name}"] == sum(c > 0 for c in costs)


def test_the_claim_writes_its_rows_and_judges_the_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(claim, "critical_periods", lambda **kw: critical_periods(**kw, depth=2, width=4))
    monkeypatch.setattr(claim, "CLAIMED", 2)
    verdicts = claim.check(tmp_path, deficits=[1, 2], recovery=1, seeds=[0, 1])
    with open(tmp_path / "critical_periods_summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert (tmp_path / "critical_periods.png").exists() and (tmp_path / "critical_periods.pdf").exists()
    # claim 1 for both deficits, claim 2 only for T >= CLAIMED
    assert len(verdicts) == 3 and ["T = 2 " in v.claim for v in verdicts] == [False, True, True]
    for v, (s, name) in zip(verdicts, [(summary[0], "during"), (summary[1], "during"), (summary[1], "after")]):
        cost, se = float(s[f"cost_{name}"]), float(s[f"se_{name}"])
        assert v.measured == pytest.approx(cost)
        assert v.passed == (int(s[f"positive_{name}"]) == 2 and cost > 4 * se)


@pytest.mark.parametrize("kwargs, message", [
    ({"deficits": [0]}, "deficits"), ({"deficits": []}, "deficits and seeds must be non-empty"),
    ({"seeds": []}, "deficits and seeds must be non-empty"), ({"recovery": 0}, "recovery"), ({"lr": 0}, "lr"),
    ({"beta": -1}, "beta"), ({"deficit": "noise"}, "deficit"), ({"deficit": "dropout", "dropout": 1}, "dropout")])
def test_bad_input_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        critical_periods(**kwargs)


def test_early_dropout_is_the_same_weights_trained_with_dropout_first(result):
    """deficit="dropout": the first T epochs with dropout in the residual branches, then the plain network; the
    control is the blur study's (the same initial weights, no dropout), so its accuracies are the same numbers."""
    dropped = critical_periods(**SIZES, deficit="dropout", dropout=0.5)
    assert [r["control_during"] for r in dropped.rows] == [r["control_during"] for r in result.rows]
    assert [r["control_after"] for r in dropped.rows] == [r["control_after"] for r in result.rows]
    data = digits()
    r = dropped.rows[0]
    net = ScaledResNet(2, 4, beta=0.5, block="res3", activation="relu", seed=r["seed"], dtype=torch.float32,
                       input_dim=64, output_dim=10, dropout=0.5)
    settings = dict(lr=0.05, batch_size=64, optimizer="sgd", seed=r["seed"])
    assert r["during"] == train(net, data, epochs=r["deficit"], **settings).final["test_accuracy"]
    net.dropout = 0.0
    assert r["after"] == train(net, data, epochs=1, **settings).final["test_accuracy"]
    assert dropped.plot().axes[0].get_xlabel() == "deficit T (epochs with dropout)"

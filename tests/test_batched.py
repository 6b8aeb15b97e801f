"""reslimit.batched: a grid of trainings as one ensemble equals the trainings one at a time."""

import math

import pytest
import torch

from reslimit import ScaledResNet, native
from reslimit.batched import Grid, train_grid
from reslimit.data import get_data
from reslimit.paths import Stacked
from reslimit.specs import NetSpec, PathSpec
from reslimit.train import train

DEPTH, WIDTH = 6, 8


def _single(seed, data):
    paths = NetSpec("res3", None, WIDTH, dtype="float64").paths(PathSpec("iid"), seed=seed)
    return ScaledResNet(DEPTH, WIDTH, beta=0.5, block="res3", outer=paths[0], inner=paths[1], seed=seed,
                        input_dim=data.input_dim, output_dim=data.output_dim, dtype=torch.float64)


def _grid_net(seeds, data):
    singles = [_single(s, data) for s in seeds]
    net = ScaledResNet(DEPTH, WIDTH, beta=0.5, block="res3", outer=Stacked([n.outer for n in singles]),
                       inner=Stacked([n.inner for n in singles]), input_dim=data.input_dim,
                       output_dim=data.output_dim, dtype=torch.float64)
    with torch.no_grad():
        net.A.copy_(torch.cat([n.A for n in singles]))
        net.B.copy_(torch.cat([n.B for n in singles]))
    return net


@pytest.mark.parametrize("optimizer, momentum, lrs, compiled", [
    ("sgd", 0.0, (0.05, 0.2, 0.05), True), ("sgd", 0.9, (0.01, 0.05, 0.02), True),
    ("adam", 0.0, (1e-3, 1e-2, 3e-3), True), ("adam", 0.0, (1e-3, 1e-2, 3e-3), False)])
def test_each_member_is_the_training_of_its_lr_and_seed(monkeypatch, optimizer, momentum, lrs, compiled):
    if not compiled:  # Adam's step in torch's operations instead of the compiled library's one pass
        monkeypatch.setattr(native, "adam_step", lambda *args: False)
    seeds = (0, 0, 1)
    data = {s: get_data("synthetic", seed=s, dtype=torch.float64) for s in set(seeds)}
    rows = train_grid(_grid_net(seeds, data[0]), [data[s] for s in seeds], lrs, seeds, epochs=2, batch_size=32,
                      optimizer=optimizer, momentum=momentum)
    for row, lr, s in zip(rows, lrs, seeds):
        history = train(_single(s, data[s]), data[s], epochs=2, lr=lr, batch_size=32, optimizer=optimizer,
                        momentum=momentum, seed=s)
        last = history.rows[-1]
        assert not row["diverged"] and row["epochs"] == 2
        assert row["train_loss"] == pytest.approx(last["train_loss"], rel=1e-10)
        assert row["test_loss"] == pytest.approx(last["test_loss"], rel=1e-10)


def test_a_diverged_member_is_frozen_and_the_others_go_on():
    seeds = (0, 0)
    data = get_data("synthetic", seed=0, dtype=torch.float64)
    net = _grid_net(seeds, data)
    rows = train_grid(net, [data, data], (0.05, 1e6), seeds, epochs=2, batch_size=64)
    assert rows[1]["diverged"] and rows[1]["epochs"] == 1 and math.isnan(rows[1]["train_loss"])
    alone = train(_single(0, data), data, epochs=2, lr=0.05, batch_size=64, seed=0).rows[-1]
    assert not rows[0]["diverged"] and rows[0]["train_loss"] == pytest.approx(alone["train_loss"], rel=1e-10)


def test_grid_checks_its_arguments():
    data = get_data("synthetic", seed=0, dtype=torch.float64)
    net = _grid_net((0, 1), data)
    with pytest.raises(ValueError, match=r"lrs must have one entry per member of the ensemble \(2\); got 1"):
        Grid(net, [data, data], [0.1], [0, 1])
    with pytest.raises(ValueError, match="lrs must be"):
        Grid(net, [data, data], [0.1, -1.0], [0, 1])
    with pytest.raises(ValueError, match="momentum is SGD's"):
        Grid(net, [data, data], [0.1, 0.1], [0, 1], optimizer="adam", momentum=0.5)


def test_stacked_and_members_give_the_paths_numbers():
    from reslimit.paths import IID, Brownian, Members

    a, b = Brownian(4, seed=1, ensemble=2), Brownian(4, seed=2)
    stack = Stacked([a, b, a])
    assert stack.ensemble == 5 and stack.limit == a.limit
    assert torch.equal(stack.weights(10), torch.cat([a.weights(10), b.weights(10), a.weights(10)], dim=1))
    assert torch.equal(stack.evaluate(0.25, 0.5), torch.cat([a.evaluate(0.25, 0.5), b.evaluate(0.25, 0.5),
                                                             a.evaluate(0.25, 0.5)]))
    some = Members(stack, [4, 2])
    assert torch.equal(some.weights(10, 3, 7), stack.weights(10)[3:7, [4, 2]])
    with pytest.raises(ValueError, match=r"index must hold distinct members in \[0, 5\); got \[1, 1\]"):
        Members(stack, [1, 1])
    with pytest.raises(ValueError, match="paths must share class"):
        Stacked([a, IID(4)])


def test_keep_members_keeps_their_outputs():
    data = get_data("synthetic", seed=0, dtype=torch.float64)
    net = _grid_net((0, 1, 2), data)
    before = net(data.X_test).detach()
    net.keep_members([2, 0])
    assert net.ensemble == 2 and net.V.shape[1] == 2 and net.A.shape[0] == 2
    assert torch.equal(net(data.X_test).detach(), before[[2, 0]])


def test_every_member_diverging_is_rows_saying_so():
    data = get_data("synthetic", seed=0, dtype=torch.float64)
    rows = train_grid(_grid_net((0, 1), data), [data, data], (1e6, 1e7), (0, 1), epochs=2, batch_size=64)
    assert all(r["diverged"] and r["epochs"] == 1 and math.isnan(r["test_loss"]) for r in rows)

"""Critical learning periods: a deficit in the first epochs of training, then clean data.

A network trained for its first T epochs on degraded inputs and then on clean ones may not recover what a
network trained on clean data throughout reaches: the early epochs are a *critical period* (Achille, Rovere,
Soatto, "Critical learning periods in deep networks", ICLR 2019, whose deficit is blurred images). Here the
network is a scaled ResNet (res-3, ReLU, i.i.d. weights, beta = 1/2 by default) with input and output layers,
trained by :func:`reslimit.train.train` (SGD) on scikit-learn's digits, and the deficit is a blur (:func:`blur`):
each 8 x 8 training image is averaged over ``factor`` x ``factor`` blocks, i.e. seen at resolution 8 / factor
(4 x 4 at factor 2). The test images stay sharp: every accuracy is on clean data.

For each seed (which fixes the initial weights, shared by every run of that seed, and the mini-batches):

- the control: clean training for max(T) + R epochs, its test accuracy after every epoch;
- for each deficit T > 0: T epochs on blurred images, then R (``recovery``) epochs on clean ones.

Measured per (seed, T): the clean test accuracy at the end of the deficit beside the control's at epoch T
(what the deficit costs while it lasts), and after the R clean epochs beside the control's at epoch T + R
(the same number of epochs: what it costs for good). The deficit T = 0 is the control itself. With a few
seeds the lasting cost on digits is of the order of the test set's binomial standard error (1 point at
95% of 360 images): :mod:`reslimit.claims.critical_periods` claims only what holds in every seed, the rest is
reported with its spread.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import _checks
from ..data import Dataset, get_data
from ..resnet import ScaledResNet
from ..train import train
from .protocol import Kind

KIND = Kind("critical_periods", "reslimit.studies.critical_periods.KIND.save(DIR, result.rows, result.params)",
            plot=lambda rows, params: CriticalPeriods(rows, params).plot(),
            summary=lambda rows, params: {"costs": CriticalPeriods(rows, params).summary()})


def blur(data: Dataset, factor: int = 2) -> Dataset:
    """``data`` with its training images blurred: averaged over ``factor`` x ``factor`` blocks and stretched back
    (nearest), so an image of s x s pixels is seen at (s / factor) x (s / factor). The test set is unchanged.

    Raises:
        ValueError: the inputs are not square images (input_dim = s^2) whose side ``factor`` divides, or
            ``factor`` is not an integer >= 1.
    """
    factor = _checks.positive_int("factor", factor)
    side = math.isqrt(data.input_dim)
    if side * side != data.input_dim or side % factor:
        raise ValueError(f"factor must divide the side of square images; the data's {data.input_dim} features are "
                         f"{'not a square' if side * side != data.input_dim else f'{side} x {side} pixels'}, "
                         f"factor = {factor}")
    images = data.X_train.reshape(-1, 1, side, side)
    small = torch.nn.functional.avg_pool2d(images, factor)
    sharp = torch.nn.functional.interpolate(small, scale_factor=factor, mode="nearest")
    return dataclasses.replace(data, X_train=sharp.reshape(len(data.X_train), -1), name=f"{data.name}, blurred")


@dataclasses.dataclass(frozen=True)
class CriticalPeriods:
    """The rows of :func:`critical_periods` (one per seed and deficit T > 0) and its params; ``plot()`` draws them.

    Row keys: seed, deficit (T), during (clean test accuracy after the T blurred epochs), control_during (the
    control's after T epochs), after (after the R clean epochs that follow), control_after (the control's after
    T + R epochs).
    """

    rows: list[dict]
    params: dict

    def summary(self) -> list[dict]:
        """Per deficit T: the mean over seeds of the costs during = control_during - during and after =
        control_after - after, their standard errors over seeds, and in how many seeds each is positive."""
        out = []
        for T in sorted({r["deficit"] for r in self.rows}):
            rows = [r for r in self.rows if r["deficit"] == T]
            entry = {"deficit": T, "seeds": len(rows)}
            for name in ("during", "after"):
                cost = np.array([r[f"control_{name}"] - r[name] for r in rows])
                se = float(cost.std(ddof=1) / math.sqrt(len(cost))) if len(cost) > 1 else math.nan
                entry |= {f"cost_{name}": float(cost.mean()), f"se_{name}": se,
                          f"positive_{name}": int((cost > 0).sum())}
            out.append(entry)
        return out

    def plot(self, out=None):
        """Accuracy against the deficit's length: :func:`reslimit.plots.critical_periods_figure`."""
        from ..plots import critical_periods_figure

        return critical_periods_figure(self, out)


def critical_periods(*, deficits=(10, 20, 40), recovery: int = 20, seeds=(0, 1, 2), depth: int = 16,
                     width: int = 32, beta: float = 0.5, lr: float = 0.05, batch_size: int = 64, factor: int = 2,
                     data: str = "digits", deficit: str = "blur", dropout: float = 0.5) -> CriticalPeriods:
    """Train with a deficit for each T in ``deficits`` then ``recovery`` plain epochs, beside the plain control,
    for each seed (module docstring). ``data``: a spec of :func:`reslimit.data.get_data` whose inputs are square
    images (for the blur). ``deficit``: "blur" (blurred training images, :func:`blur` by ``factor``) or
    "dropout" (early dropout: the first T epochs with dropout of probability ``dropout`` in the residual
    branches, ``ScaledResNet(dropout=)``, then none; a "cost" < 0 is then a gain).

    Raises:
        ValueError: a deficit, recovery, depth, width or batch_size that is not an integer >= 1, no deficits or
            seeds, beta < 0, lr <= 0, deficit not "blur" or "dropout", dropout outside (0, 1), or data that
            :func:`blur` refuses.
    """
    deficits = sorted({_checks.positive_int("deficits", T) for T in deficits})
    seeds = list(dict.fromkeys(_checks.seed("seeds", s) for s in seeds))
    if not deficits or not seeds:
        raise ValueError(f"deficits and seeds must be non-empty; got deficits={deficits}, seeds={seeds}")
    params = dict(deficits=deficits, recovery=_checks.positive_int("recovery", recovery), seeds=seeds,
                  depth=_checks.positive_int("depth", depth), width=_checks.positive_int("width", width),
                  beta=_checks.real("beta", beta, low=0.0), lr=_checks.learning_rate("lr", lr),
                  batch_size=_checks.positive_int("batch_size", batch_size), factor=factor, data=data, block="res3",
                  activation="relu", init="iid", optimizer="sgd",
                  deficit=_checks.choice("deficit", deficit, ("blur", "dropout")),
                  dropout=_checks.real("dropout", dropout, low=0.0, high=1.0, low_open=True, high_open=True))
    dataset = get_data(data)
    degraded = blur(dataset, factor) if deficit == "blur" else dataset
    recovery = params["recovery"]
    settings = dict(lr=lr, batch_size=batch_size, optimizer="sgd")

    def network(seed: int, dropout: float | None = None) -> ScaledResNet:
        return ScaledResNet(depth, width, beta=beta, block="res3", activation="relu", seed=seed, dtype=torch.float32,
                            input_dim=dataset.input_dim, output_dim=dataset.output_dim, dropout=dropout)

    rows = []
    for seed in seeds:
        control = train(network(seed), dataset, epochs=deficits[-1] + recovery, seed=seed, **settings)
        accuracy = [r["test_accuracy"] for r in control.rows]  # index = epoch
        for T in deficits:
            net = network(seed, params["dropout"] if deficit == "dropout" else None)  # the same weights
            during = train(net, degraded, epochs=T, seed=seed, **settings).final["test_accuracy"]
            net.dropout = 0.0  # the plain network from here on
            after = train(net, dataset, epochs=recovery, seed=seed, **settings).final["test_accuracy"]
            rows.append(dict(seed=seed, deficit=T, during=during, control_during=accuracy[T], after=after,
                             control_after=accuracy[T + recovery]))
    return CriticalPeriods(rows, params)

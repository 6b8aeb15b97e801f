"""Trainability over (beta, H) for fBm weights: the best test accuracy over a grid of learning rates.

For each Hurst index H, one pair of fBm paths (outer V, inner W, the same H; seeds ``substream(seed, "outer")``
and ``substream(seed, "inner")``, sampled at resolution L, as :func:`reslimit.studies.scaling.paths` draws them
for the phase study) serves every beta and learning rate: the network is ScaledResNet(L, d, beta) with input and
output layers of the data's sizes, trained by :func:`reslimit.train.train` (SGD) for a few epochs at each lr. A
cell (beta, H) scores the best final test accuracy over the lrs that did not diverge; a cell where every lr
diverged has none (drawn as 0).

The initialisation's phase diagram (:mod:`reslimit.studies.phase`) puts the critical beta at
beta_c(H) = the block's ``critical_beta(H)`` (max(H, 1/2) for res-3 ReLU). Below it the hidden state at
initialisation grows like L^(beta_c - beta) and gradient descent cannot start; at or above it the network is
close to a trainable limit (Marion, Fermanian, Biau, Vert 2022, Section 5 and Figure 9). At a finite depth the
blow-up is only the factor L^(beta_c - beta): a cell counts as *well below* the line when that factor is at
least ten, beta <= beta_c - 1 / log10 L (:func:`margin`), the cells the claim says do not train.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks, _memory, native, store
from ..blocks import get_block
from ..data import get_data
from ..resnet import ScaledResNet
from ..specs import NetSpec, PathSpec, takes_specs
from ..train import train
from . import scaling
from .protocol import LEDGER, Kind, claimed, figures
from .sweep import Study, check_executor, finishing, one_thread, run_study

# The grids of ``reslimit trainability`` by default: H = 0.2:0.8:4, beta = 0:1:9, lr = 0.01, 0.1, 1.
KIND = Kind("trainability", "`reslimit trainability --out DIR` (reslimit.studies.trainability.trainability)",
            plot=lambda rows, params: TrainabilityResult(rows, params).plot(),
            files=(*figures("trainability"), LEDGER))
HURSTS = (0.2, 0.4, 0.6, 0.8)
BETAS = tuple(np.linspace(0.0, 1.0, 9).tolist())
LRS = (0.01, 0.1, 1.0)
DATA = ("digits", "synthetic")


def margin(depth: int) -> float:
    """How far below the critical line a cell is "well below": 1 / log10 L, where L^(beta_c - beta) >= 10."""
    return 1.0 / math.log10(depth)


def compute_point(params: dict, point: dict) -> list[dict]:
    """One Hurst index: every beta and learning rate on one pair of fBm paths, one row per (beta, lr), on one torch
    thread (:func:`reslimit.studies.sweep.one_thread`: the same numbers in-process and on a pool)."""
    with one_thread():
        return _point(params, point)


def _point(params: dict, point: dict) -> list[dict]:
    data = get_data(params["data"], seed=params["seed"], dtype=params["dtype"])
    spec = NetSpec(block=params["block"], activation=params["activation"], width=params["width"],
                   dtype=params["dtype"])
    outer, inner = spec.paths(PathSpec(kind="fbm", hurst=point["hurst"], resolution=params["depth"]),
                              seed=params["seed"])
    rows = []
    for beta in params["betas"]:
        for lr in params["lrs"]:
            net = ScaledResNet(params["depth"], params["width"], beta=beta, block=params["block"],
                               activation=params["activation"], outer=outer, inner=inner, seed=params["seed"],
                               input_dim=data.input_dim, output_dim=data.output_dim)
            history = train(net, data, epochs=params["epochs"], lr=lr, batch_size=params["batch_size"],
                            seed=params["seed"])
            final = history.final
            rows.append({"hurst": point["hurst"], "beta": beta, "lr": lr, "status": final["status"],
                         "untrained_accuracy": history.rows[0]["test_accuracy"],
                         "test_accuracy": math.nan if history.diverged else final["test_accuracy"],
                         "test_loss": final["test_loss"], "epochs": final["epoch"]})
    return rows


@takes_specs
def study(block="res3", activation="relu", hursts=HURSTS, betas=BETAS, depth=128, lrs=LRS, epochs=3, width=32,
          batch_size=64, data="digits", seed=0, dtype="float32") -> Study:
    """The trainability study as a sweep: one point per Hurst index (every beta and lr on its paths).

    Args:
        block, activation: the residual block (res3 ReLU by default, whose critical line is max(H, 1/2)).
        hursts: in (0, 1).  betas: >= 0.  depth: L >= 2.  lrs: > 0.  epochs, width, batch_size: >= 1.
        data: "digits" (classification) or "synthetic" (regression: no accuracy, the figure shows none).
        seed: of the paths, the layers, the split and the batches.  dtype: "float32" or "float64".
    """
    get_block(block, activation)
    if not isinstance(activation, str):
        raise TypeError("activation must be a name for a study (it is stored in the manifest)")
    params = {"block": block, "activation": activation,
              "hursts": _grid("hursts", hursts, low=0.0, high=1.0, low_open=True, high_open=True),
              "betas": sorted(_grid("betas", betas, low=0.0)),
              "depth": _checks.positive_int("depth", depth, 2),
              "lrs": sorted(_grid("lrs", lrs, low=0.0, high=_checks.LR_MAX, low_open=True)),
              "epochs": _checks.positive_int("epochs", epochs), "width": _checks.positive_int("width", width),
              "batch_size": _checks.positive_int("batch_size", batch_size),
              "data": _checks.choice("data", data, DATA), "seed": _checks.seed("seed", seed),
              "dtype": _checks.choice("dtype", dtype, tuple(scaling.DTYPES))}
    depth, width, itemsize = params["depth"], params["width"], scaling.DTYPES[params["dtype"]].itemsize
    _memory.require(depth * (64 + 4 * width**2 * itemsize), "a point's two fBm paths at resolution depth and the "
                    "network's weights (about (64 + 4 x width^2 x itemsize) x depth bytes)", f"depth={depth}",
                    "use a smaller depth or width")  # before the sweep makes the folder
    _memory.require_steps(params["epochs"] * depth * len(params["hursts"]), "the training loops (at least a step "
                          "an epoch for each H, a layer a step)", f"epochs={params['epochs']}",
                          "use fewer epochs, a smaller depth or fewer hursts")
    engine = native.engine(block, activation, scaling.DTYPES[params["dtype"]])
    return Study("trainability", params, [{"hurst": h} for h in params["hursts"]], compute_point, engine)


def _grid(name: str, values, **interval) -> list[float]:
    """A non-empty list of reals in the interval, duplicates removed; a ValueError naming ``name``."""
    out = list(dict.fromkeys(_checks.real(name, v, **interval) for v in values))
    if not out:
        raise ValueError(f"{name} must be non-empty")
    return out


class TrainabilityResult(list):
    """The rows of a trainability study (one per H x beta x lr) and what they show.

    Attributes:
        params: the study's params.
        best: array (hursts, betas) of the best final test accuracy over the lrs that did not diverge; NaN
            where every lr diverged.
        line: {H: the block's critical beta, ``critical_beta(H)``}.
        margin: :func:`margin` of the depth.
    """

    def __init__(self, rows, params: dict):
        super().__init__(rows)
        self.params = params
        acc: dict[tuple, list[float]] = {}
        for r in rows:
            acc.setdefault((r["hurst"], r["beta"]), []).append(r["test_accuracy"])
        with np.errstate(all="ignore"):
            self.best = np.array([[_nanmax(acc[h, b]) for b in params["betas"]] for h in params["hursts"]])
        block = get_block(params["block"], params["activation"])
        self.line = {h: block.critical_beta(h) for h in params["hursts"]}
        self.margin = margin(params["depth"])

    def plot(self, out=None):
        """The heatmap of best accuracies with the critical line: :func:`reslimit.plots.trainability_figure`."""
        from ..plots import trainability_figure

        return trainability_figure(self.best, self.params, self.line, self.margin, out)


def _nanmax(values) -> float:
    finite = [v for v in values if isinstance(v, float) and not math.isnan(v)]
    return max(finite) if finite else math.nan


def trainability(out, *, workers=None, scheduler=None, progress=True, figures=True,
                 **options) -> TrainabilityResult:
    """Run (or resume) the trainability study in ``out`` (locked throughout): results.csv, manifest.json (the best
    accuracy of every cell, the critical line, the margin) and trainability.png.

    ``options`` are those of :func:`study`.
    """
    st = study(**options)
    check_executor(workers, scheduler)  # before the folder is made
    with claimed(out, KIND, st.params), finishing(st, out):
        result = TrainabilityResult(run_study(st, out, workers=workers, scheduler=scheduler, progress=progress),
                                    st.params)
        store.update_manifest(out, best_accuracy={str(h): [None if math.isnan(a) else a for a in row]
                                                  for h, row in zip(st.params["hursts"], result.best)},
                             critical_beta_theory={str(h): b for h, b in result.line.items()}, margin=result.margin)
        if figures:
            result.plot(out)
    return result

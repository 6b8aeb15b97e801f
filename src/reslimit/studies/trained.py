"""Trained weights: their regularity after training, and the neural ODE the trained network is close to.

Both studies train res-3 (ReLU) networks h_{k+1} = h_k + L^-beta V_{k+1} ReLU(W_{k+1} h_k), with input and
output layers, on scikit-learn's digits (:func:`reslimit.data.get_data`) by :func:`reslimit.train.train`.

Learning rate. The optimizer is Adam, whose step moves every entry by about ``lr`` whatever the size of its
gradient (dLoss/dV_k = alpha_L sum_n p_{k+1,n} g_{k,n}^T is O(L^-beta), :mod:`reslimit.gradients`). A step
then moves the output by about sum_k alpha_L |dV_k| |g| ~ L^(1-beta) lr, so the rate that changes the
function by the same amount at every depth is

    lr = LR0 * L^(beta - 1)        (LR0 = 0.01: 1e-2 at beta = 1, 6.25e-4 at L = 256 and beta = 1/2)

(with SGD the gradient's own alpha_L adds a factor L^-beta: lr ~ L^(2 beta - 1)). The input and output layers
get the same rate; SGD would need L^(2 beta - 1) = 256 times the rate of A and B for V at beta = 1, L = 256.
The relative change of V_k is then ~ lr * steps * sqrt(d): of order one at beta = 1, L^-1/2 smaller at
beta = 1/2 (the lazy regime of i.i.d. weights).

:func:`weights_study` (Marion et al. 2022, arXiv:2206.06929, Figure 8): for (smooth, beta = 1), (i.i.d.,
beta = 1), (i.i.d., beta = 1/2), the Hölder exponent (:func:`reslimit.regularity.regularity`) of V before
and after training and of the change V(after) - V(before).

:func:`ode_study` (Marion et al. 2024, "Implicit regularization of deep residual networks towards neural
ODEs", ICLR): from one Smooth path at beta = 1, trained at several depths on the same data and seed; each
depth's trained weights made a piecewise-linear path (:func:`interpolated`) and the neural ODE on it
(:class:`reslimit.ode.NeuralODE`, rk4) compared with the network layer by layer.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import compare, plots, store
from .._rng import substream
from ..data import Dataset, get_data
from ..ode import NeuralODE
from ..paths import FunctionPath, make_path
from ..rates import Rate, fit_rate
from ..regularity import regularity
from ..resnet import ScaledResNet
from ..train import train
from .sweep import one_thread

LR0 = 0.01  # Adam's rate at beta = 1 (see the module docstring)
SETTINGS = (("smooth", 1.0), ("iid", 1.0), ("iid", 0.5))  # (init, beta) of Figure 8
ENTRIES = ((0, 0), (0, 1), (1, 0))  # the entries V_k[i, j] drawn


def learning_rate(depth: int, beta: float) -> float:
    """Adam's rate LR0 * L^(beta - 1): the same change of the function per step at every depth."""
    return LR0 * depth ** (beta - 1.0)


def network(data: Dataset, depth: int, width: int, init: str, beta: float, seed: int) -> ScaledResNet:
    """res-3 (ReLU) of depth L on the paths ``init`` ("smooth": Smooth, lengthscale 0.1; "iid") seeded by the
    sub-streams "outer" and "inner" of ``seed``, float64, with the data's input and output layers."""
    def path(stream: str):
        return make_path(init, width, 1, seed=substream(seed, stream))

    return ScaledResNet(depth, width, beta=beta, block="res3", activation="relu", outer=path("outer"),
                        inner=path("inner"), seed=seed, input_dim=data.input_dim, output_dim=data.output_dim)


def interpolate(weights: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """The piecewise-linear X with X((k+1)/L) = sqrt(d) weights[k] (k = 0..L-1), constant on [0, 1/L], at
    ``times`` (T,): shape (T, E, d, d). Its Lipschitz constant is max_k L ||X_{k+1} - X_k||, the weights'."""
    L, d = weights.shape[0], weights.shape[-1]
    u = times.to(weights.dtype) * L - 1.0
    k = u.floor().clamp(0, max(L - 2, 0)).long()
    frac = (u - k).clamp(0.0, 1.0).view(-1, *([1] * (weights.dim() - 1)))
    upper = (k + 1).clamp(max=L - 1)
    return (weights[k] * (1.0 - frac) + weights[upper] * frac) * d**0.5


def interpolated(weights: torch.Tensor) -> FunctionPath:
    """The FunctionPath of :func:`interpolate`: its ``weights(L)`` are ``weights`` (L, E, d, d) again."""
    L, E, d, _ = weights.shape

    def fn(t: float) -> torch.Tensor:
        return interpolate(weights, torch.tensor([t], dtype=torch.float64))[0]

    return FunctionPath(fn, d, E, dtype=weights.dtype)


def _exponent(weights: torch.Tensor, seed: int) -> dict:
    r = regularity(weights, boot=400, seed=seed)
    return {"exponent": r.exponent, "raw": r.raw_exponent, "ci_low": r.ci_low, "ci_high": r.ci_high, "se": r.se}


def weights_study(out: Path, *, depth: int, width: int, epochs: int, seed: int = 0) -> list[dict]:
    """Train res-3 at each (init, beta) of SETTINGS; one row per setting, written to ``out/weights.csv``.

    A row: init, beta, depth, width, lr, epochs, seconds, test accuracy before and after, the relative change
    ||V_after - V_before||_F / ||V_before||_F, and for "before", "after" and "change" (V_after - V_before) the
    regularity's exponent, raw exponent, interval and bootstrap SE (keys ``{which}_{quantity}``). Figure
    ``out/trained_weights.png`` (:func:`reslimit.plots.trained_weights_figure`): three entries V_k[i, j]
    against k/L, one row of panels per setting.
    """
    data = get_data("digits", seed=seed, dtype=torch.float64)
    rows, panels = [], []
    for init, beta in SETTINGS:
        net = network(data, depth, width, init, beta, seed)
        lr = learning_rate(depth, beta)
        start = time.perf_counter()
        with one_thread():  # (64, d) x (d, d) products: too small to share between threads
            history = train(net, data, epochs=epochs, lr=lr, optimizer="adam", seed=seed)
        seconds = time.perf_counter() - start
        before, after = history.snapshots[0]["V"], history.snapshots[max(history.snapshots)]["V"]
        row = {"init": init, "beta": beta, "depth": depth, "width": width, "lr": lr, "epochs": epochs,
               "seconds": seconds, "accuracy_before": history.rows[0]["test_accuracy"],
               "accuracy_after": history.final["test_accuracy"], "status": history.final["status"],
               "relative_change": float((after - before).norm() / before.norm())}
        for which, w in (("before", before), ("after", after), ("change", after - before)):
            row |= {f"{which}_{k}": v for k, v in _exponent(w, substream(seed, "bootstrap")).items()}
        rows.append(row)
        exponents = {w: (row[f"{w}_exponent"], row[f"{w}_ci_low"], row[f"{w}_ci_high"]) for w in ("before", "after")}
        panels.append((f"{init}, beta = {beta:g}", before.numpy(), after.numpy(), exponents))
        print(f"{init}, beta={beta:g}, L={depth}: lr {lr:.3g}, accuracy {row['accuracy_before']:.3f} -> "
              f"{row['accuracy_after']:.3f}, ||dV||/||V|| {row['relative_change']:.3f}, exponent before "
              f"{row['before_raw']:.3f}, after {row['after_raw']:.3f}, change {row['change_raw']:.3f} (raw; "
              f"{seconds:.1f} s)")
    out.mkdir(parents=True, exist_ok=True)
    store.write_rows(out / "weights.csv", rows)
    plots.trained_weights_figure(panels, ENTRIES, out / "trained_weights.png")
    return rows


@dataclass
class TrainedODE:
    """What :func:`ode_study` measured.

    Attributes:
        depths: (K,) depths L.
        errors: (K, M) max_k ||H_{k/L} - h_k|| per depth and test input.
        rate: the fitted slope of log mean error on log L with its bootstrap interval over the inputs.
        rows: one per depth: depth, lr, test accuracy, relative change of V, the Lipschitz constant
            max_k L ||X_{k+1} - X_k||_F of the trained X = sqrt(d) V (and of W), the mean error and the
            distance to the next depth (None for the last; see :func:`ode_study`).
    """

    depths: np.ndarray
    errors: np.ndarray
    rate: Rate
    rows: list[dict]


def ode_study(out: Path, *, depths, width: int, epochs: int, samples: int, factor: int = 4,
              seed: int = 0) -> TrainedODE:
    """Train res-3 from one Smooth path (beta = 1) at each depth; compare each with the neural ODE on its weights.

    Every depth draws the same paths (Smooth, lengthscale 0.1, seeds of ``seed``), so the networks differ by
    their grid only, and trains on the same mini-batches (Adam, lr = LR0). For the trained weights,
    X_L = :func:`interpolate` of V and of W, H solves dH/dt = X_L(t) ReLU(X_W(t) H / sqrt(d)) / sqrt(d) by rk4
    with ``factor`` L steps (a grid through the kinks k/L, so rk4 sees a smooth field on each step), and the
    error is max_k ||H_{k/L} - h_k|| for h_0 = A x, x the first ``samples`` test images. The distance of
    depths L and 2L is that of their changes by training, Delta X = X(after) - X(before):

        D(L) = max_t ||Delta X_L(t) - Delta X_{2L}(t)||_F / max_t ||Delta X_{2L}(t)||_F,   t = j / max(depths).

    Writes ``out/errors.csv`` (depth, sample, path_error), ``out/depths.csv`` (TrainedODE.rows) and
    ``out/trained_ode.png`` (:func:`reslimit.plots.trained_ode_figure`).
    """
    data = get_data("digits", seed=seed, dtype=torch.float64)
    x = data.X_test[:samples]
    grid = torch.arange(1, max(depths) + 1, dtype=torch.float64) / max(depths)
    errors, rows, changes = [], [], []
    for L in depths:
        net = network(data, L, width, "smooth", 1.0, seed)
        with one_thread():
            history = train(net, data, epochs=epochs, lr=learning_rate(L, 1.0), optimizer="adam", seed=seed)
        first, last = history.snapshots[0], history.snapshots[max(history.snapshots)]
        with torch.no_grad():
            h = net.trajectory(x)[:, 0]  # (L + 1, M, d)
            ode = NeuralODE(block="res3", activation="relu", outer=interpolated(last["V"]),
                            inner=interpolated(last["W"]), method="rk4", steps=factor * L)
            with one_thread():
                H = ode.solve(net.embed(x), torch.arange(L + 1, dtype=torch.float64) / L)[:, 0]
        errors.append(compare.path_error(H, h).numpy())
        changes.append(interpolate(last["V"] - first["V"], grid))
        lipschitz = {k: float(L * (w[1:] - w[:-1]).flatten(1).norm(dim=1).max() * w.shape[-1] ** 0.5)
                     for k, w in last.items()}
        rows.append({"depth": L, "lr": learning_rate(L, 1.0), "epochs": epochs,
                     "accuracy": history.final["test_accuracy"], "status": history.final["status"],
                     "relative_change": float((last["V"] - first["V"]).norm() / first["V"].norm()),
                     "lipschitz_V": lipschitz["V"], "lipschitz_W": lipschitz["W"],
                     "mean_error": float(errors[-1].mean())})
        print(f"L={L}: accuracy {rows[-1]['accuracy']:.3f}, ||dV||/||V|| {rows[-1]['relative_change']:.3f}, "
              f"Lipschitz V {lipschitz['V']:.3g}, W {lipschitz['W']:.3g}, error {rows[-1]['mean_error']:.3g}")
    for row, a, b in zip(rows, changes, changes[1:] + [None]):
        row["distance_next"] = None if b is None else float(
            (a - b).flatten(1).norm(dim=1).max() / b.flatten(1).norm(dim=1).max())
    result = TrainedODE(np.array(depths), np.array(errors), fit_rate(depths, np.array(errors),
                                                                   seed=substream(seed, "bootstrap")), rows)
    out.mkdir(parents=True, exist_ok=True)
    store.write_rows(out / "errors.csv", [{"depth": L, "sample": m, "path_error": float(e)}
                                          for L, err in zip(depths, errors) for m, e in enumerate(err)])
    store.write_rows(out / "depths.csv", rows)
    plots.trained_ode_figure(result.depths, result.errors, result.rate, rows, out / "trained_ode.png")
    return result


def distance_slope(rows: list[dict]) -> float:
    """The least-squares slope of log D(L) on log L over the rows that have a next depth (see :func:`ode_study`)."""
    pairs = [(math.log(r["depth"]), math.log(r["distance_next"])) for r in rows if r["distance_next"]]
    return float(np.polyfit(*zip(*pairs), 1)[0])

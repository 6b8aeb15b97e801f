"""Speed of the paper's scaling grids, beside a reference-style per-sample loop on a slice of each grid.

    python benchmarks/studies.py            # Figure 1 grid (target < 20 s) and Figure 7 grid (target < 3 min)
    python benchmarks/studies.py --fig1     # Figure 1 only

Figure 1 (Marion et al. 2022): res-3, i.i.d. weights, betas 0.25, 0.5, 1, 10 depths from 10 to 1000, 50 draws,
width 40, hidden and gradient ratios. Figure 7: fBm weights, 70 betas in [0, 1.3] x 51 Hurst indices in
[0.05, 0.97] x 5 draws x 10 inputs, L = 1000 (and L = 100 for the critical beta), width 40.
The reference builds a model per sample and runs it at batch 1 with autograd, as the published code does;
it runs on a slice of the grid and is extrapolated by its share of the grid's layer-samples.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from torch import nn

from reslimit.paths import FractionalBrownian
from reslimit.studies.phase import phase
from reslimit.studies.scaling import scaling

FIG1 = {"init": "iid", "block": "res3", "betas": [0.25, 0.5, 1.0],
        "depths": np.linspace(10, 1000, 10, dtype=int).tolist(), "width": 40, "ensemble": 50, "samples": 1}
FIG7 = {"block": "res3", "betas": np.linspace(0, 1.3, 70).tolist(), "hursts": np.linspace(0.05, 0.97, 51).tolist(),
        "depths": [100, 1000], "width": 40, "ensemble": 5, "samples": 10}


class _RefNet(nn.Module):
    """The published style: L blocks of two nn.Linear, res-3, run at batch 1 with autograd."""

    def __init__(self, V, W, alpha):
        super().__init__()
        self.V, self.W, self.alpha = V, W, alpha

    def forward(self, h):
        for V, W in zip(self.V, self.W):
            h = h + self.alpha * V(torch.relu(W(h)))
        return h


def _linear_layers(weights):
    layers = nn.ModuleList(nn.Linear(weights.shape[-1], weights.shape[-1], bias=False) for _ in range(len(weights)))
    with torch.no_grad():
        for layer, w in zip(layers, weights):
            layer.weight.copy_(w)
    return layers


def reference_sample(depth, beta, width, weights=None) -> tuple[float, float]:
    """One sample the published way: build the model (drawing its weights), one input, loss, backward."""
    if weights is None:
        V, W = (torch.randn(depth, width, width) / width**0.5 for _ in range(2))
    else:
        V, W = weights
    net = _RefNet(_linear_layers(V), _linear_layers(W), depth**-beta)
    h0 = torch.randn(1, width, requires_grad=True)
    hL = net(h0)
    hL.retain_grad()
    ((hL @ torch.randn(width, 1) / width**0.5 - torch.randn(1)) ** 2).sum().backward()
    with torch.no_grad():
        return float((hL - h0).norm() / h0.norm()), float((h0.grad - hL.grad).norm() / hL.grad.norm())


def fig1() -> tuple[float, float]:
    """(seconds for the grid, reference seconds extrapolated to the grid)."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        scaling(out, progress=False, figures=False, **FIG1)
        ours = time.perf_counter() - t
    sl = {"depths": [10, 1000], "samples": 2}  # the slice: beta 1/2, the smallest and largest depth, 2 samples
    t = time.perf_counter()
    for L in sl["depths"]:
        for _ in range(sl["samples"]):
            reference_sample(L, 0.5, FIG1["width"])
    ref = time.perf_counter() - t
    share = sum(sl["depths"]) * sl["samples"] / (sum(FIG1["depths"]) * FIG1["ensemble"] * len(FIG1["betas"]))
    return ours, ref / share


def fig7() -> tuple[float, float]:
    """(seconds for the grid, reference seconds extrapolated to the grid)."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        phase(out, progress=True, figures=False, **FIG7)
        ours = time.perf_counter() - t
    L, d, samples = 1000, FIG7["width"], 3  # the slice: H = 0.5, beta = 0.5, L = 1000, 3 samples on fBm weights
    t = time.perf_counter()
    for s in range(samples):
        V, W = (FractionalBrownian(d, hurst=0.5, resolution=L, seed=2 * s + i, dtype=torch.float32).weights(L)[:, 0]
                for i in range(2))
        reference_sample(L, 0.5, d, (V, W))
    ref = time.perf_counter() - t
    grid_samples = len(FIG7["betas"]) * len(FIG7["hursts"]) * FIG7["ensemble"] * FIG7["samples"]
    share = L * samples / (sum(FIG7["depths"]) * grid_samples)
    return ours, ref / share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fig1", action="store_true", help="the Figure 1 grid only")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    ours, ref = fig1()
    print(f"Figure 1 grid: {ours:.1f} s (target < 20 s); reference style, extrapolated from a slice: {ref:.0f} s "
          f"= {ref / ours:.0f}x slower")
    if not args.fig1:
        ours, ref = fig7()
        print(f"Figure 7 grid: {ours:.1f} s (target < 180 s); reference style, extrapolated from a slice: "
              f"{ref / 3600:.1f} h = {ref / ours:.0f}x slower")


if __name__ == "__main__":
    main()

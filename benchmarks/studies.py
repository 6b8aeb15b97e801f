"""Speed of the paper's scaling grids, beside a reference-style per-sample loop on a slice of each grid.

    python benchmarks/studies.py              # Figure 1 grid (target < 3 s) and Figure 7 grid (target < 60 s)
    python benchmarks/studies.py --fig1       # Figure 1 only
    python benchmarks/studies.py --workers 2  # the Figure 7 grid on a pool of 2 processes too

Figure 1 (Marion et al. 2022): res-3, i.i.d. weights, betas 0.25, 0.5, 1, 10 depths from 10 to 1000, 50 draws,
width 40, hidden and gradient ratios. Figure 7: fBm weights, 70 betas in [0, 1.3] x 51 Hurst indices in
[0.05, 0.97] x 5 draws x 10 inputs, L = 1000 (and L = 100 for the critical beta), width 40.
The reference builds a model per sample and runs it at batch 1 with autograd, as the published code does;
it runs on a slice of the grid and is extrapolated by its share of the grid's layer-samples.

Each grid's floating-point operations are counted (4 products of 2 d^2 per layer and input: W x, V g forward,
V^T p, W^T q back) and set against the float32 GEMM peak (a 1024^2 matmul on all threads) measured in the same
run; for Figure 7, the fBm paths the grid draws (51 x 2 at resolution 1000) are timed alone, also in the run.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from engine import gemm_peak
from torch import nn

from reslimit import native
from reslimit.paths import FractionalBrownian
from reslimit.studies import scaling as scaling_module
from reslimit.studies.phase import phase, study
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


def flops(grid: dict, hursts: int = 1) -> float:
    """The grid's floating-point operations: 4 products of 2 d^2 per layer, input, beta, draw (and Hurst index)."""
    inputs = len(grid["betas"]) * grid["ensemble"] * grid["samples"] * hursts
    return 8 * grid["width"] ** 2 * sum(grid["depths"]) * inputs


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


def fig7(workers: int | None = None) -> float:
    """Seconds for the Figure 7 grid, in this process (``workers`` None) or on a pool of ``workers`` processes."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        phase(out, progress=False, figures=False, workers=workers, **FIG7)
        return time.perf_counter() - t


def fig7_fbm() -> float:
    """Seconds to draw the Figure 7 grid's fBm paths (outer and inner, every H) in this process."""
    params = study(**FIG7).params
    t = time.perf_counter()
    for hurst in FIG7["hursts"]:
        for path in scaling_module.paths(params, hurst=hurst, resolution=params["resolution"]):
            path.weights(max(FIG7["depths"]))  # draws the grid
    return time.perf_counter() - t


def fig7_reference() -> float:
    """The reference style's seconds, extrapolated to the Figure 7 grid from a slice of it."""
    L, d, samples = 1000, FIG7["width"], 3  # the slice: H = 0.5, beta = 0.5, L = 1000, 3 samples on fBm weights
    t = time.perf_counter()
    for s in range(samples):
        V, W = (FractionalBrownian(d, hurst=0.5, resolution=L, seed=2 * s + i, dtype=torch.float32).weights(L)[:, 0]
                for i in range(2))
        reference_sample(L, 0.5, d, (V, W))
    ref = time.perf_counter() - t
    grid_samples = len(FIG7["betas"]) * len(FIG7["hursts"]) * FIG7["ensemble"] * FIG7["samples"]
    share = L * samples / (sum(FIG7["depths"]) * grid_samples)
    return ref / share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fig1", action="store_true", help="the Figure 1 grid only")
    parser.add_argument("--workers", type=int, help="also run the Figure 7 grid on a pool of this many processes")
    args = parser.parse_args()
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be an integer >= 1; got {args.workers}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, compiled kernel: {native.status()}")
    peak = gemm_peak()
    print(f"float32 GEMM peak (1024^2 matmul): {peak:.1f} GFLOP/s")
    cold, ref = fig1()
    ours, _ = fig1()
    gflop = flops(FIG1) / 1e9
    print(f"Figure 1 grid: {ours:.2f} s (target < 3 s; {cold:.2f} s the first time in the process: the kernel's "
          f"library loaded, the first huge pages of the weights made), {gflop:.0f} GFLOP = {gflop / ours / peak:.0%} "
          f"of peak; reference style, extrapolated from a slice: {ref:.0f} s = {ref / ours:.0f}x slower")
    if args.fig1:
        return
    gflop = flops(FIG7, len(FIG7["hursts"])) / 1e9
    fbm = fig7_fbm()
    runs = [("in this process", None)] + ([(f"on {args.workers} processes", args.workers)] if args.workers else [])
    for where, workers in runs:
        ours = fig7(workers)
        print(f"Figure 7 grid {where}: {ours:.1f} s (target < 60 s), {gflop:.0f} GFLOP = {gflop / ours / peak:.0%} of "
              f"peak; its fBm paths drawn alone: {fbm:.1f} s = {fbm / ours:.0%} of it (target < 20%)")
    ref = fig7_reference()
    print(f"Figure 7, reference style, extrapolated from a slice: {ref / 3600:.1f} h = {ref / ours:.0f}x slower")


if __name__ == "__main__":
    main()

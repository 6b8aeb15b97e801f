"""Where the engine's torch loop spends its time: the same loop with parts taken away, beside the kernel.

    python benchmarks/engine_parts.py [--rounds 15]

Shapes as in engine.py (L = 1000, d = 40, 32 draws x 32 inputs, res-3, float32). The torch loop is what the
engine runs where the compiled kernel of reslimit.native does not serve (RESLIMIT_NATIVE=0, no compiler,
autograd recording). Rounds are interleaved, so the machine's swings hit every variant alike; the minimum
and median of each are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from engine import D, E, L, N, four_bmm, torch_loop

from reslimit import IID, ScaledResNet

mask_backward = torch.ops.aten.threshold_backward.grad_input  # the kernel the engine's ReLU backward runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    net = ScaledResNet(L, D, beta=0.5, block="res3", outer=IID(D, E, seed=0, dtype=torch.float32),
                       inner=IID(D, E, seed=1, dtype=torch.float32)).requires_grad_(False)
    V, W, a = net.V.detach(), net.W.detach(), net.alpha
    Vs, Ws, VT, WT = V.unbind(0), W.unbind(0), V.mT.unbind(0), W.mT.unbind(0)
    h0, pL = torch.randn(E, N, D), torch.ones(E, N, D)

    def bare_gemms():
        """The four bmm per layer, into reused buffers: the bound."""
        four_bmm(V, W, h0)

    def without_cache():
        """ReLU, its mask in the backward and both in-place updates, the engine's kernels, but the backward
        reads the last layer's activation for every layer: the engine without its activation cache."""
        x, p = h0.mT.contiguous(), pL.mT.contiguous()  # states as columns, as the engine holds them
        z, t = torch.empty_like(x), torch.empty_like(x)
        for k in range(L):
            torch.bmm(Ws[k], x, out=z).relu_()
            x.baddbmm_(Vs[k], z, alpha=a)
        for k in range(L - 1, -1, -1):
            mask_backward(torch.bmm(VT[k], p, out=t), z, 0, grad_input=t)
            p.baddbmm_(WT[k], t, alpha=a)

    def engine_torch_loop():
        """ScaledResNet.adjoint's torch loop: the activation of every layer cached for the backward pass."""
        torch_loop(net, h0, pL)

    def compiled_kernel():
        """ScaledResNet.adjoint as it runs by default: the compiled kernel (reslimit.native)."""
        net.adjoint(h0, pL, every=L)

    variants = (bare_gemms, without_cache, engine_torch_loop, compiled_kernel)
    times = {f.__name__: [] for f in variants}
    for _ in range(rounds):
        for f in variants:
            start = time.perf_counter()
            f()
            times[f.__name__].append(time.perf_counter() - start)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {rounds} interleaved rounds")
    for name, t in times.items():
        print(f"  {name:17s} min {min(t):.3f} s, median {statistics.median(t):.3f} s, "
              f"{statistics.median(t) / statistics.median(times['bare_gemms']):.2f}x the bare GEMMs (medians)")


if __name__ == "__main__":
    main()

"""The fine SDE reference: torchsde on the package's path vs a hand-written Euler loop, as ratios in one run.

    python benchmarks/limits.py [--steps 16384]

All three integrate dH = dB g(H) / sqrt(d) (res-1, tanh, width 16, 64 samples) with step 1/steps:
  hand loop      batched Euler over the path's increments, read in chunks of the grid (what the engine does);
  reslimit       NeuralSDE.solve: torchsde.sdeint with PathBrownian and g_prod (no d x d^2 matrix);
  plain torchsde sdeint with its own BrownianInterval and a dense (batch, d, d^2) diffusion g.
The first two read the same increments of one Brownian path and agree to rounding.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torchsde

from reslimit import Brownian, NeuralSDE

D, E = 16, 64


def hand_loop(path, h0, steps, chunk=512):
    h = h0
    for start in range(0, steps, chunk):
        x = path.evaluate(np.arange(start, min(start + chunk, steps) + 1) / steps)
        for dB in torch.diff(x, dim=0):
            h = torch.baddbmm(h, torch.tanh(h), dB.mT, alpha=D**-0.5)
    return h


class _DenseSDE(torch.nn.Module):
    noise_type, sde_type = "general", "ito"

    def f(self, t, y):
        return torch.zeros_like(y)

    def g(self, t, y):  # (batch, d, d^2): dH_i = sum_j dB_ij tanh(H_j) / sqrt(d)
        out = y.new_zeros(y.shape[0], D, D, D)
        out[:, torch.arange(D), torch.arange(D), :] = torch.tanh(y)[:, None, :] / D**0.5
        return out.view(y.shape[0], D, D * D)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2**14)
    steps = parser.parse_args().steps
    h0 = torch.randn(E, 1, D, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hand, t_hand = timed(lambda: hand_loop(Brownian(D, E, seed=0), h0, steps))
        ours, t_ours = timed(lambda: NeuralSDE(block="res1", activation="tanh", outer=Brownian(D, E, seed=0)).solve(
            h0, steps=steps, every=steps)[-1])
        plain_steps = steps // 16
        bm = torchsde.BrownianInterval(0.0, 1.0, size=(E, D * D), dtype=torch.float64, entropy=0)
        _, t_plain = timed(lambda: torchsde.sdeint(_DenseSDE(), h0[:, 0], torch.tensor([0.0, 1.0]), bm=bm,
                                                   dt=1.0 / plain_steps, method="euler"))
    x = Brownian(D, E, seed=0)
    _, t_draw = timed(lambda: [x.evaluate(np.arange(s, s + 513) / steps) for s in range(0, steps, 512)])
    print(f"width {D}, {E} samples, {steps} steps, float64, {torch.get_num_threads()} threads")
    print(f"  hand-written Euler loop: {t_hand:.2f} s (of which reading the path: {t_draw:.2f} s)")
    print(f"  reslimit NeuralSDE (torchsde + PathBrownian): {t_ours:.2f} s = {t_ours / t_hand:.2f}x the loop; "
          f"same result to {(ours - hand).abs().max().item():.1e}")
    print(f"  plain torchsde (BrownianInterval, dense d x d^2 g) at {plain_steps} steps: {t_plain:.2f} s "
          f"= {t_plain * 16 / t_hand:.1f}x the loop per step")


if __name__ == "__main__":
    main()

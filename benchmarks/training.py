"""One training step from the explicit adjoint, as ratios measured in one run (machines are noisy).

    python benchmarks/training.py             # res-3, res-2 (ReLU), res-1 (tanh), res-3 with M = 4d; 7 rounds
    python benchmarks/training.py --rounds 3 --blocks res3
    python benchmarks/training.py --threads 1 --clock cpu   # work, not wall time: a busy machine's figure

A training step is: forward pass of x (batch 128) through the input layer A, L = 1000 layers of width 40 and
the output layer B (10 classes), the cross-entropy loss, and the gradients of every parameter (A, V_k, W_k,
B); "res3 M=4d" is res-3 with the hidden width M = 160 (V_k 40 x 160, W_k 160 x 40). Compared, float32, E = 1,
on the same weights:

  (a) reslimit: ``ScaledResNet.forward``, whose backward is the explicit adjoint (reslimit.gradients; the
      compiled kernel of reslimit.native for res-3, and res-1, res-2 with ReLU, tanh, identity, leaky ReLU);
  (b) autograd through the same network's torch loop (``gradients.ENABLED = False``);
  (c) the published code's style: a list of per-layer nn.Linear modules, h = h + alpha V(sigma(W h)), one
      input at a time (batch 1, as experiment_scaling_initialization.py of Marion et al. feeds it). It is
      timed on ``REFERENCE_INPUTS`` inputs and scaled to the batch (its cost is linear in the inputs);
  (c') the same modules on the whole batch at once, for scale.

Each round times every engine once, one after the other (the machine's swings hit all alike), after one
warm-up step each; the figures are medians over the rounds. ``--clock cpu`` times the process's CPU time
instead of the wall clock: with ``--threads 1`` that is each engine's work, which other processes on a shared
machine do not inflate (they stretch wall times, and autograd's thousands of small parallel kernels most).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from reslimit import ScaledResNet, gradients, native

L, D, N, CLASSES = 1000, 40, 128, 10
REFERENCE_INPUTS = 4
BLOCKS = {"res3": ("res3", "relu", None), "res2 relu": ("res2", "relu", None), "res1 tanh": ("res1", "tanh", None),
          "res3 M=4d": ("res3", "relu", 4 * D)}  # name -> (block, activation, hidden width)


class Reference(nn.Module):
    """The published code's style: per layer nn.Linear modules W_k, V_k, h = h + alpha V_k(sigma(W_k h))
    (res-1: h + alpha V_k(sigma(h))), between an input and an output nn.Linear."""

    def __init__(self, net: ScaledResNet):
        super().__init__()
        self.alpha, self.sigma, self.inner = net.alpha, net.block.activation.fn, net.W is not None
        M = net.hidden
        linear = [nn.Linear(M, D, bias=False) for _ in range(L)] + [nn.Linear(D, M, bias=False)
                                                                      for _ in range(L if self.inner else 0)]
        for module, weight in zip(linear, [*net.V[:, 0]] + ([*net.W[:, 0]] if self.inner else [])):
            module.weight.data.copy_(weight)
        self.V, self.W = nn.ModuleList(linear[:L]), nn.ModuleList(linear[L:])
        self.A, self.B = nn.Linear(D, D, bias=False), nn.Linear(D, CLASSES, bias=False)
        self.A.weight.data.copy_(net.A[0])
        self.B.weight.data.copy_(net.B[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.A(x)
        for k in range(L):
            h = h + self.alpha * self.V[k](self.sigma(self.W[k](h) if self.inner else h))
        return self.B(h)


def steps(block: str, activation: str, hidden: int | None) -> dict:
    """The engines' training steps on one network: name -> a function running one step."""
    net = ScaledResNet(L, D, beta=0.5, block=block, activation=activation, dtype=torch.float32, seed=0,
                       input_dim=D, output_dim=CLASSES, hidden=hidden)
    reference = Reference(net)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(N, D, generator=g), torch.randint(CLASSES, (N,), generator=g)
    loss = nn.functional.cross_entropy

    def ours() -> None:
        net.zero_grad(set_to_none=True)
        loss(net(x)[0], y).backward()

    def autograd() -> None:
        gradients.ENABLED = False
        try:
            ours()
        finally:
            gradients.ENABLED = True

    def published() -> None:
        reference.zero_grad(set_to_none=True)
        for i in range(REFERENCE_INPUTS):
            loss(reference(x[i:i + 1]), y[i:i + 1], reduction="sum").backward()

    def batched() -> None:
        reference.zero_grad(set_to_none=True)
        loss(reference(x), y).backward()

    h0 = net.embed(x)
    print(f"  {block} ({activation}, M = {net.hidden}): reslimit runs {net._engine(h0)!r} "
          f"({native.status(torch.float32)})")
    return {"reslimit": ours, "autograd": autograd, "published": published, "batched": batched}


def check_gradients(block: str, activation: str, hidden: int | None) -> float:
    """||grad (a) - grad (b)|| / ||grad (b)|| over all parameters at once, float32: the same step.

    Norm-wise, since the largest entry-wise difference is not a measure of the engine here: where a ReLU's
    pre-activation is within float32 rounding of 0, the two engines may take its mask differently, and one
    sample's contribution to a row of dW_k changes by O(1) (0.4% of the largest entry was seen).
    """
    net = ScaledResNet(L, D, beta=0.5, block=block, activation=activation, dtype=torch.float32, seed=0,
                       input_dim=D, output_dim=CLASSES, hidden=hidden)
    x, y = torch.randn(N, D), torch.randint(CLASSES, (N,))
    got = []
    for explicit in (True, False):
        gradients.ENABLED = explicit
        net.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x)[0], y).backward()
        got.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    gradients.ENABLED = True
    return float((got[0] - got[1]).norm() / got[1].norm())


def main(rounds: int, blocks: list[str], threads: int | None = None, clock: str = "wall") -> None:
    if threads:
        torch.set_num_threads(threads)
    now = time.process_time if clock == "cpu" else time.perf_counter
    print(f"one training step, L={L}, d={D}, batch {N}, E=1, float32, cross-entropy on {CLASSES} classes; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {rounds} rounds, {clock} clock")
    for name in blocks:
        block, activation, hidden = BLOCKS[name]
        print(f"  {name}: float32 gradients of (a) and (b) differ by {check_gradients(block, activation, hidden):.1e}"
              " (relative, in norm over all parameters)")
        runs = steps(block, activation, hidden)
        times = {engine: [] for engine in runs}
        for run in runs.values():
            run()  # warm-up
        for _ in range(rounds):
            for engine, run in runs.items():
                start = now()
                run()
                times[engine].append(now() - start)
        a, b = statistics.median(times["reslimit"]), statistics.median(times["autograd"])
        c = statistics.median(times["published"]) * N / REFERENCE_INPUTS
        c_batched = statistics.median(times["batched"])
        print(f"  {name}: (a) reslimit {a * 1e3:.1f} ms   (b) autograd {b * 1e3:.1f} ms   (c) published style "
              f"{c:.2f} s ({REFERENCE_INPUTS} inputs x {N // REFERENCE_INPUTS})   (c') its batch at once "
              f"{c_batched * 1e3:.1f} ms")
        print(f"  {name}: (b)/(a) = {b / a:.1f}x (target 5x)   (c)/(a) = {c / a:.0f}x (target 200x)   "
              f"(c')/(a) = {c_batched / a:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--blocks", nargs="+", choices=list(BLOCKS), default=list(BLOCKS))
    parser.add_argument("--threads", type=int, help="torch's threads (and the kernel's); default: torch's")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="wall, or the CPU time")
    args = parser.parse_args()
    for flag, value in (("--rounds", args.rounds), ("--threads", args.threads)):
        if value is not None and value < 1:
            parser.error(f"{flag} must be an integer >= 1; got {value}")
    main(args.rounds, args.blocks, args.threads, args.clock)

"""What the size checks cost on the calls that run most often, as ratios in one run.

    python benchmarks/checks.py [--rounds 7]

Every path query and every pass first estimates its memory (reslimit._memory.require). Here the same calls
run with the checks and with ``require`` replaced by a no-op, in interleaved rounds (best of each):
  Smooth.evaluate(t)   one time, width 16, 8 draws: what NeuralODE's right-hand side calls at every step;
  ScaledResNet(x)      res-3, L = 10, width 16, 8 draws x 4 inputs: a short pass, where a fixed cost shows most;
  available()          the reading of free memory that require makes (cached SYSTEM_TTL seconds), and one
                       uncached reading of /proc and the cgroup files.
"""

from __future__ import annotations

import argparse
import time

import torch

from reslimit import ScaledResNet, Smooth, _memory


def best_us(fn, calls: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    path = Smooth(16, 8, seed=0)
    net = ScaledResNet(10, 16, ensemble=8, block="res3")
    x = torch.randn(8, 4, 16, dtype=torch.float64)
    calls = {"Smooth.evaluate": (lambda: path.evaluate(0.3), 2000), "ScaledResNet(x), L=10": (lambda: net(x), 500)}
    real, times = _memory.require, {}
    with torch.no_grad():
        for _ in range(args.rounds):
            for variant, require in (("checks", real), ("no checks", lambda *a, **k: None)):
                _memory.require = require
                for name, (fn, n) in calls.items():
                    t = best_us(fn, n)
                    times[name, variant] = min(times.get((name, variant), t), t)
    _memory.require = real
    for name in calls:
        with_, without = times[name, "checks"], times[name, "no checks"]
        print(f"{name:24s} {with_:8.1f} us with the checks, {without:8.1f} us without: ratio {with_ / without:.3f}")
    cached = best_us(_memory.available, 20000)

    def uncached():
        _memory._system = (-float("inf"), [])
        return _memory.available()

    print(f"available(): {cached:.2f} us cached, {best_us(uncached, 2000):.1f} us reading the files")


if __name__ == "__main__":
    main()

"""The transfer sweep trained as one batched ensemble per depth, against the same runs one at a time.

    python benchmarks/transfer.py              # the issue's sweep: 4 settings x 6 depths x 17 lr0s x 5 seeds
    python benchmarks/transfer.py --settings 1 --sample 3

The sweep is the one ``reslimit transfer`` runs for each setting (res-3, width 32, the digits, 5 epochs, batch 64,
rule none, lr0 = 2^-12 .. 2^4, depths 8 .. 256, 5 seeds: 17 x 5 = 85 runs per depth, 510 per setting, 2040 for
the four settings Adam at beta = 1/2 on iid weights, SGD at beta = 1 on smooth weights, SGD at beta = 1/2 on iid
weights and Adam at beta = 1 on smooth weights). Batched: ``reslimit.studies.transfer.compute_point``, one ensemble
of the 85 runs per depth (:class:`reslimit.batched.Grid`). One at a time: :func:`reslimit.train.train` of the
same network (the member it equals, tested in tests/test_transfer.py) for ``--sample`` lr0s evenly spread over the
grid at each depth, seed 0, of the first setting, timed in the same run and scaled to the 85 runs of the depth
(a run's time depends on its lr0 only through divergence, which stops both engines early). The ratio is the
one-at-a-time estimate over the batched time, for the first setting; the GEMM peak of the run (a 1024^2 float32
matmul, benchmarks/engine.py) is printed beside it.
"""

from __future__ import annotations

import argparse
import time

import torch
from engine import gemm_peak  # benchmarks/engine.py, beside this script

from reslimit.data import get_data
from reslimit.studies import transfer as T
from reslimit.train import train

SETTINGS = [dict(optimizer="adam", beta=0.5, init="iid"), dict(optimizer="sgd", beta=1.0, init="smooth"),
            dict(optimizer="sgd", beta=0.5, init="iid"), dict(optimizer="adam", beta=1.0, init="smooth")]
DEPTHS = (8, 16, 32, 64, 128, 256)
LR0S = tuple(2.0**k for k in range(-12, 5))


def one_at_a_time(params: dict, depth: int, sample: int) -> float:
    """Seconds of ``sample`` runs of ``train`` at ``depth``, lr0 evenly spread over the grid, seed 0, scaled to
    every (lr0, seed) of the depth."""
    lr0s = params["lr0s"]
    picks = [lr0s[round(i * (len(lr0s) - 1) / max(sample - 1, 1))] for i in range(sample)]
    data = get_data(params["data"], seed=0, dtype=torch.float32)
    total = 0.0
    for lr0 in picks:
        net = T.network(params, depth, [0], data.input_dim, data.output_dim)
        t = time.perf_counter()
        train(net, data, epochs=params["epochs"], lr=lr0, batch_size=params["batch_size"],
              optimizer=params["optimizer"], seed=0)
        total += time.perf_counter() - t
    return total / sample * len(lr0s) * params["seeds"]


def main(settings: int, sample: int) -> None:
    print(f"float32 GEMM peak (1024^2): {gemm_peak():.1f} GFLOP/s, {torch.get_num_threads()} threads")
    batched_total, single_total = 0.0, 0.0
    for i, setting in enumerate(SETTINGS[:settings]):
        params = T.study(depths=DEPTHS, lr0s=LR0S, seeds=5, epochs=5, rules=["none"], **setting).params
        for depth in DEPTHS:
            t = time.perf_counter()
            T.compute_point(params, {"depth": depth})
            batched = time.perf_counter() - t
            batched_total += batched
            line = f"{setting}, L = {depth}: batched {batched:.1f} s for {len(LR0S) * 5} runs"
            if i == 0:
                single = one_at_a_time(params, depth, sample)
                single_total += single
                line += f"; one at a time {single:.1f} s (estimated from {sample}): ratio {single / batched:.1f}"
            print(line, flush=True)
        if i == 0:
            print(f"setting 1: batched {batched_total:.1f} s, one at a time {single_total:.1f} s (estimate), ratio "
                  f"{single_total / batched_total:.1f}", flush=True)
    runs = settings * len(DEPTHS) * len(LR0S) * 5
    print(f"{settings} setting(s), {runs} runs of 5 epochs: batched {batched_total:.1f} s in all")
    print(f"float32 GEMM peak (1024^2) after: {gemm_peak():.1f} GFLOP/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=int, default=4, help="how many of the four settings (default 4)")
    parser.add_argument("--sample", type=int, default=5, help="one-at-a-time runs per depth (default 5)")
    args = parser.parse_args()
    main(args.settings, args.sample)

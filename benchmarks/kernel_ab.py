"""res-3 on this checkout's compiled kernel against an older revision's, in one run (machines are noisy).

    python benchmarks/kernel_ab.py                  # against 2c166a1 (before the kernel served other activations)
    python benchmarks/kernel_ab.py --rev REV --members 32 --rounds 21

Builds ``REV``'s src/reslimit/native.c (``git show``) with the flags of reslimit.native, loads it beside this
checkout's kernel and times both on the same res-3 network (float32, L = 1000, d = 40, 32 inputs), forward and
forward + adjoint, in interleaved rounds (the order alternates), on 1 thread by its CPU time (``time.thread_time``:
preemption by other processes does not count). Prints best and median per pass, the ratios new/old, and whether
the outputs are equal bit for bit. The old kernel must have the old entry point ``reslimit_relu_threads``.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from reslimit import ScaledResNet, native

L, D, N = 1000, 40, 32


def old_kernel(rev: str, folder: Path):
    """``rev``'s float32 kernel, as an object with this checkout's entry points (an old one's ReLU pass under the new
    name, the activation arguments dropped; a revision with the new entry point as it is: ``--rev HEAD`` times this
    kernel against itself, the noise floor of the comparison)."""
    source = folder / "old_native.c"
    source.write_text(subprocess.run(["git", "show", f"{rev}:src/reslimit/native.c"], capture_output=True, text=True,
                                     check=True, cwd=Path(__file__).parent).stdout)
    subprocess.run(["cc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-DT=float", str(source), "-o",
                    str(folder / "old.so")], check=True)
    lib = ctypes.CDLL(str(folder / "old.so"))
    if hasattr(lib, "reslimit_pass_threads"):
        return native._typed(lib)
    P, I, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t  # noqa: E741
    lib.reslimit_relu_threads.argtypes = [I, I, P, P, S, P, P, P, P] + [I] * 5 + [P] * 4 + [I, S, P, I, P, P, I, I, I]
    for name in ("reslimit_tile_columns", "reslimit_openmp"):
        getattr(lib, name).argtypes, getattr(lib, name).restype = [], I

    class Old:
        reslimit_tile_columns, reslimit_openmp = lib.reslimit_tile_columns, lib.reslimit_openmp

        @staticmethod
        def reslimit_pass_threads(*args):
            lib.reslimit_relu_threads(*args[:-2])

    return Old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="2c166a1")
    parser.add_argument("--members", type=int, default=1, help="ensemble members (1: one unit, short runs)")
    parser.add_argument("--rounds", type=int, default=301)
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = ScaledResNet(L, D, beta=0.5, block="res3", ensemble=args.members, dtype=torch.float32).requires_grad_(False)
    V, W = net.V.detach(), net.W.detach()
    h0, pL = torch.randn(args.members, N, D), torch.ones(args.members, N, D)
    real = native._library
    with tempfile.TemporaryDirectory() as folder:
        kernels = {"old": old_kernel(args.rev, Path(folder)), "new": real(torch.float32)}
        times = {(k, p): [] for k in kernels for p in ("forward", "forward + adjoint")}
        outs = {}
        for r in range(args.rounds + 1):  # round 0 warms up
            for k in ("old", "new") if r % 2 else ("new", "old"):
                native._library = lambda dtype, lib=kernels[k]: lib
                try:
                    for p in ("forward", "forward + adjoint"):
                        start = time.thread_time()
                        outs[k, p] = native.run_pass(V, W, h0, net.alpha, L, grad_output=pL if "adjoint" in p else None)
                        if r:
                            times[k, p].append(time.thread_time() - start)
                finally:
                    native._library = real
    print(f"res-3, float32, L={L}, d={D}, {args.members} member(s) x {N} inputs, 1 thread, CPU time, {args.rounds} "
          f"interleaved rounds; old = {args.rev}")
    for p in ("forward", "forward + adjoint"):
        old, new = times["old", p], times["new", p]
        same = all(torch.equal(a, b) for a, b in zip(outs["old", p], outs["new", p]) if a is not None)
        print(f"  {p}: old best {min(old) * 1e3:.2f} ms, median {statistics.median(old) * 1e3:.2f}; new best "
              f"{min(new) * 1e3:.2f} ms, median {statistics.median(new) * 1e3:.2f}; new/old best "
              f"{min(new) / min(old):.3f}, median {statistics.median(new) / statistics.median(old):.3f}; "
              f"outputs bit-equal: {same}")


if __name__ == "__main__":
    main()

"""Engine speed and memory, as ratios measured in one run (machines are noisy).

    python benchmarks/engine.py            # throughput vs a per-layer nn.Linear loop, GEMM efficiency
    python benchmarks/engine.py --memory   # peak memory at depth 10,000 (run in a fresh process)
    python benchmarks/engine.py --blocks   # only the blocks' table: res-1, res-2, res-3 on the kernel and the loop
    python benchmarks/engine.py --blocks --threads 1 --clock cpu   # the same, each engine's work (a busy machine)

Throughput counts layer-samples per second (one layer applied to one input of one weight draw) for
forward + backward (the backward states p_k), the weights' drawing included.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
from torch import nn

from reslimit import IID, ScaledResNet, native
from reslimit._rng import generate, mix

L, D, E, N = 1000, 40, 32, 32
ROUNDS_DRAW = 9


def gemm_peak(size=1024, rounds=5, repeats=10) -> float:
    """float32 GFLOP/s of a size x size matmul on this machine (best of ``rounds``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - t) / repeats)
    return 2 * size**3 / best / 1e9


class _RefBlock(nn.Module):
    """res-3 block as the published reference code writes it: two nn.Linear per layer."""

    def __init__(self, d, alpha):
        super().__init__()
        self.W, self.V, self.alpha = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False), alpha
        nn.init.normal_(self.W.weight, std=d**-0.5)
        nn.init.normal_(self.V.weight, std=d**-0.5)

    def forward(self, h):
        return h + self.alpha * self.V(torch.relu(self.W(h)))


def reference(draws=3, inputs=1) -> float:
    """Layer-samples/s of the reference style: per draw build L modules, then batch-1 fwd + bwd per input.

    ``inputs=1`` is what the published code does (experiment_scaling_initialization.py of Marion et al.
    builds a new model for every sample); more inputs per draw amortise the building. Best of ``draws``.
    """
    best = float("inf")
    for _ in range(draws):
        t = time.perf_counter()
        model = nn.Sequential(*[_RefBlock(D, L**-0.5) for _ in range(L)])
        for _ in range(inputs):
            model(torch.randn(1, D, requires_grad=True)).sum().backward()
        best = min(best, time.perf_counter() - t)
    return inputs * L / best


def ours(repeats=7) -> dict:
    """Draw V, W (float32) + forward + adjoint, batched over E draws x N inputs, ``repeats`` times.

    The throughput is the best round's; the drawing and the pass are medians, and ``ratio`` the median of
    each round's drawing / pass (the two measured back to back: the machine's swings hit both alike)."""
    rounds = []
    for r in range(repeats):
        t0 = time.perf_counter()
        outer, inner = IID(D, E, seed=r, dtype=torch.float32), IID(D, E, seed=r + 100, dtype=torch.float32)
        net = ScaledResNet(L, D, beta=0.5, block="res3", outer=outer, inner=inner).requires_grad_(False)
        t1 = time.perf_counter()
        h0 = torch.randn(E, N, D)
        net.adjoint(h0, torch.ones(E, N, D), every=L)  # forward + backward states p_0, p_L for loss <1, h_L>
        t2 = time.perf_counter()
        rounds.append((t1 - t0, t2 - t1))
        del outer, inner, net
    flops = 2 * E * N * D * D * L * 4  # bmm per layer: forward W h, V g; backward V^T p, W^T q
    draw, run = (statistics.median(x) for x in zip(*rounds))
    return {"draw_s": draw, "pass_s": run, "flops": flops, "ratio": statistics.median(a / b for a, b in rounds),
            "throughput": E * N * L / min(a + b for a, b in rounds)}


def drawing(rounds=ROUNDS_DRAW) -> dict:
    """Medians of ``rounds`` interleaved rounds, each timing V's drawing (L E d^2 = 51.2 M normals) four ways:
    reslimit's generator into memory already mapped (the bare generator, on torch's threads); torch's
    ``normal_`` (Mersenne Twister) into the same memory, on one thread as reslimit drew before (one generator
    per thread); the generator into fresh memory, as ScaledResNet draws (it marks the memory for huge pages);
    the page faults of fresh memory alone (one write per 4 KiB page, no hint: what they cost without it)."""
    numel, keys = L * E * D * D, [mix(7, k) for k in range(L)]
    kept = torch.empty(L, E * D * D)
    one = kept.view(-1)[:numel // torch.get_num_threads()]  # one thread's share, as reslimit drew it before

    def bare_torch():
        with _threads(1):
            one.normal_()

    parts = {"bare": lambda: generate(kept, keys), "torch": bare_torch,
             "fresh": lambda: generate(torch.empty(L, E * D * D), keys),
             "faults": lambda: torch.empty(numel).view(-1, 1024)[:, 0].fill_(0.0)}
    times = {name: [] for name in parts}
    for _ in range(rounds):
        for name, run in parts.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    threads = torch.get_num_threads()
    return {"bare_ns": 1e9 * med["bare"] * threads / numel, "torch_ns": 1e9 * med["torch"] / one.numel(),
            "fresh_s": med["fresh"], "bare_s": med["bare"], "faults_s": med["faults"],
            "bare_vs_torch": statistics.median(a * threads / numel / (b / one.numel())
                                               for a, b in zip(times["bare"], times["torch"]))}


class _threads:
    """torch.set_num_threads(n) within the block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


ROUNDS = 7


def efficiency(rounds=ROUNDS) -> dict:
    """Best-of-``rounds`` seconds of the pass and of its bare GEMMs, interleaved with the peak's matmuls.

    Each round times, one after the other (so the machine's swings hit all alike): the 1024^2 matmul peak;
    the pass's four bmm per layer alone, weights cache-resident (one layer's V, W for every layer: what the
    kernel does on these shapes when its operands are hot); the same four bmm streaming every layer's
    weights from memory as the pass must (the bound for any engine built on torch.bmm); the engine's pass
    (``adjoint``) on the same weights, which runs the compiled kernel of ``reslimit.native``; and the engine's
    torch loop (``RESLIMIT_NATIVE=0``). Both passes are warmed by one call first (the first call of a process
    also pays the page faults of the torch loop's 164 MB activation cache).
    """
    net = ScaledResNet(L, D, beta=0.5, block="res3", outer=IID(D, E, seed=0, dtype=torch.float32),
                       inner=IID(D, E, seed=1, dtype=torch.float32)).requires_grad_(False)
    V, W = net.V.detach(), net.W.detach()
    h0, pL = torch.randn(E, N, D), torch.ones(E, N, D)
    parts = {
        "hot": lambda: four_bmm(V[:1].expand_as(V), W[:1].expand_as(W), h0),
        "streamed": lambda: four_bmm(V, W, h0),
        "pass": lambda: net.adjoint(h0, pL, every=L),
        "torch loop": lambda: torch_loop(net, h0, pL),
    }
    parts["pass"]()
    parts["torch loop"]()
    best = dict.fromkeys(parts, float("inf"))
    peak = 0.0
    for _ in range(rounds):
        peak = max(peak, gemm_peak(rounds=2))
        for name, run in parts.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {"peak": peak, **best}


def torch_loop(net, h0, pL) -> None:
    """The engine's pass with the compiled kernel switched off: its torch loop of bmm and elementwise kernels."""
    native.ENABLED = False
    try:
        net.adjoint(h0, pL, every=L)
    finally:
        native.ENABLED = True


def four_bmm(V, W, h) -> None:
    """Per layer, forward W x and V z, backward V^T p and W^T q, as bmm into two reused buffers.

    States as columns, x = h^T of shape (E, D, N), weights the left operands: the engine's layout.
    """
    Vs, Ws, VT, WT = V.unbind(0), W.unbind(0), V.mT.unbind(0), W.mT.unbind(0)
    x = h.mT.contiguous()
    z, t = torch.empty_like(x), torch.empty_like(x)
    for k in range(len(Vs)):
        torch.bmm(Ws[k], x, out=z)
        torch.bmm(Vs[k], z, out=t)
    for k in range(len(Vs) - 1, -1, -1):
        torch.bmm(VT[k], x, out=z)
        torch.bmm(WT[k], z, out=t)


BLOCKS = [("res1", "tanh"), ("res2", "tanh"), ("res2", "leaky_relu:0.1"), ("res3", "relu")]


def _peak(clock, size=1024, repeats=10) -> float:
    """float32 GFLOP/s of a size x size matmul timed by ``clock``, one round (blocks_efficiency takes the best)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = clock()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (clock() - start) / 1e9


def blocks_efficiency(rounds=ROUNDS, clock=time.perf_counter) -> dict:
    """% of the float32 GEMM peak of each block of BLOCKS on the compiled kernel and on the torch loop, forward
    (``net(h0)``) and forward + adjoint (``net.adjoint(h0, pL, every=L)``), all in interleaved rounds with the peak's
    matmul (best of ``rounds`` each), on L x (E draws x N inputs) at width D, float32, timed by ``clock``
    (``time.thread_time`` with 1 thread: the work, which other processes on the cores do not stretch).

    Flops: 2 D^2 N per product per member and layer; res-1 runs 1 product forward and 1 back, res-2 and res-3 2
    and 2. Returns {(block, activation, engine, pass): % of peak} with "peak" in GFLOP/s.
    """
    nets, parts = {}, {}
    h0, pL = torch.randn(E, N, D, generator=torch.Generator().manual_seed(0)), torch.ones(E, N, D)
    for block, activation in BLOCKS:
        nets[block, activation] = net = ScaledResNet(L, D, beta=0.5, block=block, activation=activation, ensemble=E,
                                                     seed=0, dtype=torch.float32).requires_grad_(False)
        products = 1 if block == "res1" else 2
        for engine in ("compiled", "torch"):
            parts[block, activation, engine, "forward"] = (lambda net=net: net(h0), products)
            parts[block, activation, engine, "forward + adjoint"] = (
                lambda net=net: net.adjoint(h0, pL, every=L), 2 * products)
    best = dict.fromkeys(parts, float("inf"))
    peak = 0.0
    for r in range(rounds + 1):  # round 0 warms every pass (page faults of the torch loop's cache) untimed
        peak = max(peak, _peak(clock), _peak(clock)) if r else peak
        for key, (run, _) in parts.items():
            native.ENABLED = key[2] == "compiled"
            try:
                start = clock()
                with torch.no_grad():
                    run()
                seconds = clock() - start
            finally:
                native.ENABLED = True
            if r:
                best[key] = min(best[key], seconds)
    share = {key: 100 * products * 2 * D * D * N * E * L / best[key] / 1e9 / peak for key, (_, products) in
             parts.items()}
    return {"peak": peak, **share}


def print_blocks(rounds=ROUNDS, cpu=False) -> None:
    """The table of :func:`blocks_efficiency`: one row per block and pass, the kernel beside the torch loop; ``cpu``:
    timed by the thread's CPU time (run with 1 thread)."""
    eff = blocks_efficiency(rounds, time.thread_time if cpu else time.perf_counter)
    print(f"blocks on the kernel and the torch loop (L={L}, d={D}, {E} draws x {N} inputs, float32, "
          f"{torch.get_num_threads()} thread(s), {'CPU' if cpu else 'wall'} time, {rounds} interleaved rounds, best "
          f"of each): % of the float32 GEMM peak ({eff['peak']:.1f} GFLOP/s)")
    for block, activation in BLOCKS:
        for what in ("forward", "forward + adjoint"):
            kernel, loop = eff[block, activation, "compiled", what], eff[block, activation, "torch", what]
            print(f"  {block} {activation:>14} {what:>17}: kernel {kernel:4.0f}%, torch loop {loop:4.0f}% "
                  f"({kernel / loop:.2f}x)")


def memory(depth=10_000, width=64, ensemble=64, batch=16) -> None:
    """Peak resident memory of a depth-10,000 streamed forward pass, no trajectory kept."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    net = ScaledResNet(depth, width, beta=0.5, block="res1", activation="tanh", ensemble=ensemble,
                       dtype=torch.float32, stream=True)
    t = time.perf_counter()
    with torch.no_grad():
        hL = net(torch.randn(ensemble, batch, width))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"depth {depth}, width {width}, ensemble {ensemble} x {batch} inputs, float32, streamed: "
          f"{time.perf_counter() - t:.1f} s, peak RSS {peak:.2f} GiB (torch and Python alone: {base:.2f} GiB), "
          f"all weights at once would need {depth * ensemble * width**2 * 4 / 2**30:.1f} GiB; "
          f"finite: {bool(torch.isfinite(hL).all())}")


def on_device(device: str, rounds=ROUNDS) -> None:
    """The engine on ``device`` (its torch loop off the CPU: the kernel is CPU only): the pass's % of that device's
    float32 matmul peak (4096^2), and the weights' drawing (on the CPU, then copied: the same numbers on every
    device)."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def timed(run) -> float:
        sync()
        start = time.perf_counter()
        run()
        sync()
        return time.perf_counter() - start

    a, b = torch.randn(4096, 4096, device=dev), torch.randn(4096, 4096, device=dev)
    draws, passes, peak = [], [], 0.0
    for r in range(rounds):
        peak = max(peak, 2 * 4096**3 / timed(lambda: a @ b) / 1e9)
        made = {}
        draws.append(timed(lambda: made.update(net=ScaledResNet(
            L, D, beta=0.5, block="res3", outer=IID(D, E, seed=r, dtype=torch.float32, device=dev),
            inner=IID(D, E, seed=r + 100, dtype=torch.float32, device=dev)).requires_grad_(False))))
        h0, pL = torch.randn(E, N, D, device=dev), torch.ones(E, N, D, device=dev)
        passes.append(timed(lambda: made["net"].adjoint(h0, pL, every=L)))
    flops = 2 * E * N * D * D * L * 4
    run = min(passes[1:] or passes)  # the first pass pays the device's warm-up
    engine = native.engine("res3", "relu", torch.float32) if dev.type == "cpu" else "torch"
    print(f"{device}: float32 matmul peak (4096^2) {peak:.0f} GFLOP/s; the pass (L={L}, d={D}, {E} x {N}, res-3, "
          f"{engine} engine) best {run * 1e3:.1f} ms = {100 * flops / run / 1e9 / peak:.2f}% of peak, "
          f"{E * N * L / run:,.0f} layer-samples/s; drawing V, W and copying them: median "
          f"{statistics.median(draws) * 1e3:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--device", help="time the engine on this device (e.g. cuda) instead")
    parser.add_argument("--blocks", action="store_true", help="only the table of blocks on the kernel and the loop")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="the blocks' table timed by the wall clock or, with --threads 1, the thread's CPU time")
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be an integer >= 1; got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory:
        return memory()
    if args.device is not None:
        try:
            torch.empty(1, device=args.device)
        except (RuntimeError, ValueError, AssertionError) as error:  # AssertionError: torch built without CUDA
            parser.error(f"--device {args.device!r} cannot be used here: {str(error).splitlines()[0]}")
        return on_device(args.device)
    if args.blocks:
        return print_blocks(cpu=args.clock == "cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of several rounds each")
    print(f"the ReLU pass runs on: {native.status(torch.float32)}")
    published, reused = reference(inputs=1), reference(draws=2, inputs=4)
    res = ours()
    eff = efficiency()
    peak, flops = eff["peak"], res["flops"]

    def share(seconds):
        return f"{seconds:.3f} s = {100 * flops / seconds / 1e9 / peak:.0f}% of GEMM peak"

    print(f"reference, as published (per-layer nn.Linear, batch 1, a new model per sample): "
          f"{published:,.0f} layer-samples/s")
    print(f"reference, one model per draw reused for 4 inputs: {reused:,.0f} layer-samples/s")
    print(f"reslimit (L={L}, d={D}, {E} draws x {N} inputs, res-3, fwd + bwd, drawing included): "
          f"{res['throughput']:,.0f} layer-samples/s = {res['throughput'] / published:.0f}x the published "
          f"reference, {res['throughput'] / reused:.0f}x the reused one")
    print(f"  drawing V, W: {res['draw_s']:.3f} s; the pass on freshly drawn weights: {share(res['pass_s'])}; "
          f"{100 * flops / (res['draw_s'] + res['pass_s']) / 1e9 / peak:.0f}% with the drawing (medians of 7)")
    print(f"  drawing / pass, median of the rounds' ratios: {res['ratio']:.2f} (target <= 1)")
    dr = drawing()
    print(f"drawing V alone ({L * E * D * D / 1e6:.1f} M normals), medians of {ROUNDS_DRAW} interleaved rounds: "
          f"the bare generator {dr['bare_ns']:.2f} ns/number/thread ({dr['bare_s']:.3f} s), torch's normal_ "
          f"{dr['torch_ns']:.2f}: {dr['bare_vs_torch']:.2f}x its time per number and thread; into fresh memory "
          f"{dr['fresh_s']:.3f} s; the 4 KiB page faults of fresh memory alone {dr['faults_s']:.3f} s")
    print(f"GEMM efficiency, {ROUNDS} interleaved rounds: float32 GEMM peak (1024^2 matmul) {peak:.1f} GFLOP/s")
    print(f"  the pass's four bmm per layer alone, weights cache-resident: {share(eff['hot'])}")
    print(f"  the same, streaming each layer's weights from memory: {share(eff['streamed'])}")
    print(f"  the engine's pass (warm): {share(eff['pass'])}: "
          f"{eff['pass'] / eff['streamed']:.2f}x the bare streamed GEMMs")
    print(f"  the engine's torch loop (warm, RESLIMIT_NATIVE=0): {share(eff['torch loop'])}: "
          f"{eff['torch loop'] / eff['pass']:.2f}x the pass")
    print_blocks(cpu=args.clock == "cpu")


if __name__ == "__main__":
    main()

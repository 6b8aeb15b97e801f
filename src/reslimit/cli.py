"""The command line ``reslimit``: one network, the demo, convergence, scaling regimes, phase, bounds.

    reslimit simulate --block res3 --init iid --depth 100 --width 16 --beta 0.5 --save run.npz
    reslimit demo --out results/demo [--quick]
    reslimit converge --limit sde --out results/sde
    reslimit scaling --init iid --betas 0.25,0.5,1 --depths 10:1000:10 --out results/scaling [--workers 2]
    reslimit phase --hursts 0.1:0.9:9 --betas 0:1.3:27 --depths 100,1000 --out results/phase
    reslimit bounds --out results/bounds
    reslimit report --out results/report [--quick|--full]

Exit status: 0 on success; 2 on bad input (argparse's usage errors, and a ValueError or TypeError raised by
the package: a bad depth, width, beta, block, activation, option...); 1 when a verdict fails or on any
other error (a file that cannot be written, torch's RuntimeError, MemoryError...); 130 on Ctrl-C. An error
is printed as one line ``reslimit: error: <message>`` on stderr, without a traceback, as argparse's own
errors are; an interrupt as ``reslimit: <message>`` (``reslimit: interrupted`` when it has none).
``reslimit --debug COMMAND ...``, or the environment variable RESLIMIT_DEBUG=1, re-raises instead, to show
the traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

from . import __version__, _checks, _memory, demo, store, theory
from .blocks import ACTIVATIONS, BLOCKS, get_block
from .paths import PATHS, make_path
from .resnet import ScaledResNet

INNER_SEED_OFFSET = 1_000_003  # the inner path W gets seed s + INNER_SEED_OFFSET (mod 2^63), the outer path V seed s
PATH_OPTIONS = ("dist", "hurst", "lengthscale", "resolution")  # passed to make_path only when given


def main(argv=None) -> int:
    """The ``reslimit`` console script.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 success, 1 a failed verdict or an error other than bad input, 2 bad input
        (ValueError, TypeError), 130 an interrupt (see the module's docstring).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version (0) or a usage error (2)
        return exit_.code
    try:
        return args.run(args)
    except KeyboardInterrupt as err:  # Ctrl-C, or a study's own interrupt saying what was kept
        if args.debug or os.environ.get("RESLIMIT_DEBUG") == "1":
            raise
        print(f"reslimit: {_one_line(err) or 'interrupted'}", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug or os.environ.get("RESLIMIT_DEBUG") == "1":
            raise
        print(f"reslimit: error: {_message(err)}", file=sys.stderr)
        return 2 if isinstance(err, (ValueError, TypeError)) else 1


def _one_line(err: BaseException) -> str:
    """str(err) and its notes on one line, whitespace runs (newlines included) collapsed to one space."""
    return " ".join(" ".join([str(err), *getattr(err, "__notes__", ())]).split())


def _message(err: Exception) -> str:
    """What ``reslimit: error:`` prints of an exception: its message, prefixed by its type unless it is bad
    input or an OSError (whose messages say what they are), and the file it names when the message does not."""
    text = _one_line(err)
    if not isinstance(err, (ValueError, TypeError, OSError)) or not text:
        text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    filename = getattr(err, "filename", None)
    if filename is not None and str(filename) not in text:
        text += f" (file {str(filename)!r})"
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, its usage errors as one line like the package's own: ``reslimit: error: <message> (see --help)``."""

    def error(self, message):
        print(f"reslimit: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reslimit", description="Very deep scaled ResNets h_{k+1} = h_k + "
                                     "L^-beta V_{k+1} g(h_k) beside their continuous-depth limits.")
    parser.add_argument("--version", action="version", version=f"reslimit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the traceback (also: environment variable RESLIMIT_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser("simulate", help="run one network at initialisation, summarise ||h_L - h_0||",
                              description="Run one scaled ResNet on n standard normal inputs per ensemble "
                                          "member and summarise r = ||h_L - h_0|| / ||h_0||.")
    sim.add_argument("--block", default="res3", help=f"one of {', '.join(BLOCKS)} (default res3)")
    sim.add_argument("--init", default="iid", help=f"weight path, one of {', '.join(PATHS)} (default iid)")
    sim.add_argument("--depth", type=int, default=100, help="L (default 100)")
    sim.add_argument("--width", type=int, default=16, help="d (default 16)")
    sim.add_argument("--beta", type=_finite_float, default=0.5, help="alpha_L = L^-beta (default 0.5)")
    sim.add_argument("--ensemble", type=int, default=8, help="E independent weight draws (default 8)")
    sim.add_argument("--samples", type=int, default=16, help="n inputs h_0 per ensemble member (default 16)")
    sim.add_argument("--seed", type=int, default=0, help="seed of the weights and the inputs (default 0)")
    sim.add_argument("--activation", default="relu",
                     help=f"sigma: one of {', '.join(ACTIVATIONS)} or leaky_relu:<slope> (default relu)")
    sim.add_argument("--dtype", choices=sorted(_checks.DTYPES), default="float64", help="(default float64)")
    sim.add_argument("--dist", help="law of the entries, for --init iid: gaussian, uniform or rademacher")
    sim.add_argument("--hurst", type=_finite_float, help="Hurst index H, for --init fbm")
    sim.add_argument("--resolution", type=int, help="grid of the fractional Brownian path, for --init fbm")
    sim.add_argument("--lengthscale", type=_finite_float, help="length scale of the path, for --init smooth")
    sim.add_argument("--save", type=_nonempty, metavar="RUN.npz",
                     help="write V, W, h (every layer), alpha, beta, params")
    sim.set_defaults(run=_simulate)

    dem = commands.add_parser("demo", help="check E||h_L - h_0||^2/||h_0||^2 = (1 + c alpha^2)^L - 1",
                              description=demo.__doc__.split("\n\n")[0])
    dem.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for demo.csv, demo.png, demo.json")
    depths = ", ".join(map(str, demo.QUICK["depths"]))
    dem.add_argument("--quick", action="store_true",
                     help=f"depths {depths}, {demo.QUICK['ensemble']} draws x {demo.QUICK['inputs']} inputs")
    dem.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    dem.set_defaults(run=_demo)

    con = commands.add_parser("converge", help="errors of depth-L networks against their continuous limit",
                              description="Measure max_k ||H_{k/L} - h_k|| over depths, fit the rate, judge it.")
    con.add_argument("--limit", default="sde", help="ode, sde or fbm (default sde)")
    con.add_argument("--block", default="res1", help=f"one of {', '.join(BLOCKS)} (default res1)")
    con.add_argument("--activation", help="sigma (default relu for res3, its only one; tanh otherwise)")
    con.add_argument("--width", type=int, default=16, help="d (default 16)")
    con.add_argument("--depths", default="16,32,64,128,256,512,1024",
                     help="comma list or start:stop:num of integers, each dividing the largest "
                          "(default 16,32,...,1024)")
    con.add_argument("--samples", type=int, default=64, help="independent path draws (default 64)")
    con.add_argument("--seed", type=int, default=0)
    con.add_argument("--hurst", type=_finite_float, default=0.8, help="for --limit fbm (default 0.8)")
    con.add_argument("--lengthscale", type=_finite_float, default=0.1, help="of the smooth paths (default 0.1)")
    con.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, png")
    con.set_defaults(run=_converge)

    sca = commands.add_parser("scaling", help="hidden and gradient ratios against L for several betas",
                              description="Per sample ||h_L - h_0||/||h_0|| and ||p_0 - p_L||/||p_L|| over a grid "
                                          "of depths x betas, at initialisation; figures and a tidy CSV.")
    sca.add_argument("--init", default="iid", help=f"weight path, one of {', '.join(PATHS)} (default iid)")
    _study_arguments(sca, betas="0.25,0.5,1", depths="10:1000:10", ensemble=50, samples=1)
    sca.add_argument("--hurst", type=_finite_float, help="Hurst index H, for --init fbm")
    sca.add_argument("--lengthscale", type=_finite_float, default=0.1, help="for --init smooth (default 0.1)")
    sca.set_defaults(run=_scaling)

    pha = commands.add_parser("phase", help="fBm weights: heatmaps over (beta, H) and the critical beta of each H",
                              description="For each Hurst index, both ratios at every beta and depth on one fBm "
                                          "draw; the critical beta where the hidden ratio stops depending on L.")
    pha.add_argument("--hursts", default="0.1:0.9:9", help="comma list or start:stop:num (default 0.1:0.9:9)")
    _study_arguments(pha, betas="0:1.3:27", depths="100,1000", ensemble=5, samples=10)
    pha.set_defaults(run=_phase)

    bnd = commands.add_parser("bounds", help="Monte-Carlo checks of the theory's bounds (Lemma 1, Props 2-9)",
                              description="Each check: the measured value, its bound(s), a verdict.")
    bnd.add_argument("--full", action="store_true", help="paper-scale sizes (default: quick)")
    bnd.add_argument("--seed", type=int, default=0)
    bnd.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, bounds.png")
    bnd.set_defaults(run=_bounds)

    rep = commands.add_parser("report", help="run every validation script; claims.json + self-contained index.html",
                              description="Run validation/*.py, gather their claims, write OUT/claims.json, "
                                          "OUT/figures/ and OUT/index.html (figures embedded).")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (default)")
    size.add_argument("--full", action="store_true", help="the acceptance sizes")
    rep.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for claims.json, index.html, figures/")
    rep.set_defaults(run=_report)
    return parser


def _finite_float(text: str) -> float:
    """An argparse type: a finite real (float() alone takes nan, inf and 1e400)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite real number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite real number; got {text!r}")
    return value


def _nonempty(text: str) -> str:
    """An argparse type for file and folder names: an empty one would mean the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path; got an empty string")
    return text


def _study_arguments(cmd, *, betas, depths, ensemble, samples) -> None:
    """The arguments the sweep studies share."""
    cmd.add_argument("--block", default="res3", help=f"one of {', '.join(BLOCKS)} (default res3)")
    cmd.add_argument("--activation", default="relu", help="sigma (default relu)")
    cmd.add_argument("--betas", default=betas, help=f"comma list or start:stop:num, inclusive (default {betas})")
    cmd.add_argument("--depths", default=depths, help=f"comma list or start:stop:num of integers (default {depths})")
    cmd.add_argument("--width", type=int, default=40, help="d (default 40)")
    cmd.add_argument("--ensemble", type=int, default=ensemble, help=f"weight draws per point (default {ensemble})")
    cmd.add_argument("--samples", type=int, default=samples, help=f"inputs per draw (default {samples})")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(default float32)")
    cmd.add_argument("--workers", type=int, help="run points in a local pool of N processes")
    cmd.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run points on a Dask cluster")
    cmd.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, figures")


def _grids(args) -> dict:
    from .studies.grid import parse_grid

    return {"betas": parse_grid("--betas", args.betas, low=0.0),
            "depths": parse_grid("--depths", args.depths, low=1, integer=True)}


def _common(args) -> dict:
    return {"block": args.block, "activation": args.activation, "width": args.width, "ensemble": args.ensemble,
            "samples": args.samples, "seed": args.seed, "dtype": args.dtype} | _grids(args)


def _scaling(args) -> int:
    """``reslimit scaling``: run or resume the sweep, print the medians per beta and depth."""
    from .studies.scaling import scaling

    rows = scaling(args.out, workers=args.workers, scheduler=args.scheduler, init=args.init, hurst=args.hurst,
                   lengthscale=args.lengthscale, **_common(args))
    diverged = sum(r["status"] != "ok" for r in rows)
    for beta in sorted({r["beta"] for r in rows}):
        med = {L: np.median([r["hidden_ratio"] if r["status"] == "ok" else np.inf for r in rows
                             if r["beta"] == beta and r["depth"] == L]) for L in sorted({r["depth"] for r in rows})}
        print(f"beta = {beta:g}: median ||h_L - h_0||/||h_0|| " + ", ".join(f"L={L}: {m:.3g}" for L, m in med.items()))
    manifest = store.read_manifest(args.out)
    if manifest["critical_beta"] is not None:
        theory = manifest["critical_beta_theory"]
        print(f"critical beta (the median ratio stops depending on L): {manifest['critical_beta']:.3f} measured, "
              f"{'none claimed' if theory is None else f'{theory:g}'} in theory")
    print(f"{len(rows)} rows, {diverged} diverged; wrote {Path(args.out) / 'results.csv'}, scaling.png, histograms.png")
    return 0


def _phase(args) -> int:
    """``reslimit phase``: run or resume the sweep, print the critical beta of each H beside beta = H."""
    from .studies.grid import parse_grid
    from .studies.phase import critical_theory, phase

    hursts = parse_grid("--hursts", args.hursts, low=0.0, high=1.0, low_open=True, high_open=True)
    found = phase(args.out, workers=args.workers, scheduler=args.scheduler, hursts=hursts, **_common(args))
    for h, b in found["critical_beta"].items():
        g = found["critical_beta_grad"][h]
        t = critical_theory(args.block, args.activation, h)
        print(f"H = {h:.3g}: critical beta {'none on the grid' if b is None else f'{b:.3f}'} (hidden), "
              f"{'none on the grid' if g is None else f'{g:.3f}'} (gradient); theory "
              f"{'none claimed' if t is None else f'{t:.3g}'}, first order {h:.3g}")
    print(f"wrote {Path(args.out) / 'results.csv'}, manifest.json (critical_beta), phase.png")
    return 0


def _bounds(args) -> int:
    """``reslimit bounds``: every check with its measured value, bound(s) and verdict."""
    from .studies.bounds import bounds

    checks = bounds(args.out, quick=not args.full, seed=args.seed)
    failed = [c for c in checks if not c["passed"]]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks pass; wrote {args.out}")
    return 1 if failed else 0


def _converge(args) -> int:
    """``reslimit converge``: run the study with a progress bar, print the verdict, write DIR."""
    from .compare import converge
    from .studies.grid import parse_grid

    depths = parse_grid("--depths", args.depths, low=1, integer=True)
    c = converge(args.limit, block=args.block, activation=args.activation, width=args.width, depths=depths,
                 samples=args.samples, seed=args.seed, hurst=args.hurst, lengthscale=args.lengthscale,
                 out=args.out, progress=True)
    for L, e in zip(c.depths, c.path_error.mean(1)):
        print(f"L = {L:5d}: mean max_k ||H_k/L - h_k|| = {e:.4g}")
    print(f"slope {c.rate.slope:.3f} [{c.rate.ci_low:.3f}, {c.rate.ci_high:.3f}] (95% bootstrap), theory "
          f"{c.theory:g} +- {c.tolerance:g}: {'PASS' if c.passed else 'FAIL'}; gradient slope "
          f"{c.grad_rate.slope:.3f}; wrote {args.out}")
    return 0 if c.passed else 1


def _simulate(args) -> int:
    """``reslimit simulate``: build the network, run it, print the summary, save the run."""
    samples = _checks.positive_int("samples", args.samples)
    seed = _checks.seed("seed", args.seed)
    if args.save and not Path(args.save).resolve().parent.is_dir():  # refused before the run, not after it
        raise ValueError(f"--save: the folder of {args.save!r} does not exist; create it or save elsewhere")
    dtype = _checks.dtype(args.dtype)
    has_inner = get_block(args.block, args.activation).inner
    options = {k: getattr(args, k) for k in PATH_OPTIONS if getattr(args, k) is not None}
    path = functools.partial(make_path, args.init, args.width, args.ensemble, dtype=dtype, **options)
    inner_seed = (seed + INNER_SEED_OFFSET) % 2**63  # a seed, as the outer one
    inner = path(seed=inner_seed) if has_inner else None
    net = ScaledResNet(args.depth, args.width, beta=args.beta, block=args.block, activation=args.activation,
                       outer=path(seed=seed), inner=inner, stream=False)
    layers = net.depth + 1 if args.save else 3  # every state for --save; else h_0, h_L and a working copy
    _memory.require(layers * net.ensemble * samples * net.width * dtype.itemsize, "the states h",
                    f"samples={samples} with ensemble={net.ensemble}, width={net.width}" +
                    (f", depth={net.depth} (--save keeps every layer)" if args.save else ""),
                    "use fewer samples" + (" or no --save" if args.save else ""))
    h0 = torch.randn((net.ensemble, samples, net.width), generator=torch.Generator().manual_seed(seed), dtype=dtype)
    with torch.no_grad():
        h = net.trajectory(h0) if args.save else None
        stats = demo.sample_statistics(h0, net(h0) if h is None else h[-1])
    print(f"reslimit simulate: {net.block!r} on {args.init} weights, L = {net.depth}, d = {net.width}, "
          f"E = {net.ensemble} x n = {samples} inputs, {args.dtype}")
    print(f"alpha = L^-beta = {net.depth}^-{net.beta:g} = {net.alpha:.6g}")
    exact = args.init in demo.IID_INITS  # the identity needs i.i.d. weights; then c depends on the block
    c = demo.SECOND_MOMENT_C.get((net.block.name, net.block.activation.name)) if exact else None
    _print_statistics(stats, c, net)
    if args.save:
        params = {k: v for k, v in vars(args).items() if k != "run"}
        params.update(alpha=net.alpha, inner_seed=inner_seed if has_inner else None,
                      reslimit=__version__, torch=torch.__version__)
        arrays = {"V": net.V, "h": h} | ({"W": net.W} if has_inner else {})
        tmp = Path(f"{args.save}.tmp")  # renamed into place once whole: a Ctrl-C leaves no half-written run
        try:
            with open(tmp, "wb") as f:  # a file object: np.savez then adds no suffix
                np.savez(f, alpha=net.alpha, beta=net.beta, params=json.dumps(params),
                         **{k: v.detach().cpu().numpy() for k, v in arrays.items()})
            os.replace(tmp, args.save)
        finally:
            tmp.unlink(missing_ok=True)
        print(f"saved {', '.join(sorted(arrays))}, alpha, beta, params to {args.save}")
    return 0


def _print_statistics(stats: dict, c: float | None, net: ScaledResNet) -> None:
    """The lines of the simulate summary on r = ||h_L - h_0|| / ||h_0||, and the theory where it is exact."""
    n, k = stats["samples"], stats["diverged"]
    if k < n:
        over = f"over all {n} samples" if k == 0 else f"over the {n - k} samples that did not diverge"
        print(f"r = ||h_L - h_0|| / ||h_0|| {over}: median {stats['median']:.6g}, "
              f"quartiles {stats['q25']:.6g} .. {stats['q75']:.6g}")
    print(f"diverged: {k} of {n} samples (non-finite h_L)")
    if k:
        print("E r^2: not estimated, some samples diverged")
        return
    line = f"E r^2: measured {stats['mean_sq']:.6g} +- {stats['se_sq']:.3g} (SE over the ensemble)"
    if c is not None:
        expected = theory.second_moment(c, net.alpha, net.depth)
        line += f", theory (1 + {c:g} alpha^2)^L - 1 = {expected:.6g}"
    print(line)


def _demo(args) -> int:
    """``reslimit demo``: run the study, print the table, write csv, png and a JSON manifest."""
    seed = _checks.seed("seed", args.seed)
    settings = (demo.QUICK if args.quick else demo.DEMO) | {"seed": seed}
    with store.writing(args.out) as out:
        rows = demo.run_demo(**settings)
        print(demo.format_table(rows))
        demo.write_csv(rows, out / "demo.csv")
        demo.plot(rows, out / "demo.png")
        manifest = {"command": "reslimit demo", "settings": settings, "reslimit": __version__,
                    "torch": torch.__version__, "numpy": np.__version__}
        (out / "demo.json").write_text(json.dumps(manifest, indent=2))
    failed = sum(r["verdict"] == "fail" for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} rows within 4 SE of theory; wrote {out / 'demo.csv'}, "
          f"{out / 'demo.png'}")
    return 1 if failed else 0


def _report(args) -> int:
    """``reslimit report``: every validation claim in one page; exit status 1 if any failed."""
    from .report import report

    claims = report(args.out, quick=not args.full)
    failed = [c for c in claims if not c["passed"]]
    print(f"{len(claims) - len(failed)} of {len(claims)} claims pass; wrote {Path(args.out) / 'index.html'}")
    return 1 if failed else 0

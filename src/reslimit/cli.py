"""The command line ``reslimit``: one network, the demo, convergence, scaling regimes, phase, bounds, training.

    reslimit simulate --block res3 --init iid --depth 100 --width 16 --beta 0.5 --save run.npz
    reslimit demo --out results/demo [--quick]
    reslimit converge --limit sde --out results/sde
    reslimit scaling --init iid --betas 0.25,0.5,1 --depths 10:1000:10 --out results/scaling [--workers 2]
    reslimit phase --hursts 0.1:0.9:9 --betas 0:1.3:27 --depths 100,1000 --out results/phase
    reslimit trainability --hursts 0.2:0.8:4 --betas 0:1:9 --depth 128 --lrs 0.01,0.1,1 --out results/trainability
    reslimit transfer --optimizer adam --beta 0.5 --depths 8,16,32,64 --lr0s 2.44e-4:4:15 --out results/transfer
    reslimit bounds --out results/bounds
    reslimit report --out results/report [--quick|--full] [--only NAME,...]
    reslimit train --data digits --block res3 --init smooth --beta 1 --depth 64 --epochs 10 --out results/train
    reslimit regularity run.npz [--key W]

Exit status: 0 on success; 2 on bad input (argparse's usage errors, and a ValueError or TypeError raised by
the package: a bad depth, width, beta, block, activation, option...; and a full disk, said as "no space left on
the device of DIR"); 1 when a verdict fails or on any
other error (a file that cannot be written, torch's RuntimeError, MemoryError...); 130 on Ctrl-C. An error
is printed as one line ``reslimit: error: <message>`` on stderr, without a traceback, as argparse's own
errors are; an interrupt as ``reslimit: <message>`` (``reslimit: interrupted`` when it has none).
``reslimit --debug COMMAND ...``, or the environment variable RESLIMIT_DEBUG=1, re-raises instead, to show
the traceback.

Each handler parses, makes one library call and prints what it returns. A flag not given is not passed, so
the library's default applies: defaults live once, in the signatures of :func:`reslimit.simulate.simulate`,
:func:`reslimit.demo.run_demo`, :func:`reslimit.converge` and the studies' ``study`` (the help shows them).
"""

from __future__ import annotations

import argparse
import errno
import inspect
import math
import os
import re
import signal
import sys
from pathlib import Path

from . import __version__, _checks, demo
from .blocks import BLOCKS
from .depth_rule import RULES
from .regularity import describe_file
from .simulate import simulate
from .specs import NetSpec, PathSpec, add_arguments
from .studies import bounds as bounds_study
from .studies import converge as converge_study
from .studies import coord_check as coord_check_study
from .studies import phase as phase_study
from .studies import propagation as propagation_study
from .studies import scaling as scaling_study
from .studies import trainability as trainability_study
from .studies import transfer as transfer_study
from .studies.converge import converge
from .studies.grid import format_grid, parse_grid
from .train import OPTIMIZERS
from .train import run as train_run

# How each grid flag is read (reslimit.studies.grid.parse_grid): a comma list or start:stop:num (geometric for lr0s);
# the integer ones (depths, steps) also start:stop:xK, geometric (8:1024:x2).
GRIDS = {"betas": {"low": 0.0}, "depths": {"low": 1, "integer": True},
         "hursts": {"low": 0.0, "high": 1.0, "low_open": True, "high_open": True},
         "lrs": {"low": 0.0, "high": _checks.LR_MAX, "low_open": True},
         "lr0s": {"low": 0.0, "high": _checks.LR_MAX, "low_open": True, "geometric": True},
         "steps": {"low": 1, "integer": True}}
DISK_FULL = ("enforce fail at inline_container", "No space left")  # torch.save's words for a full disk


def run(argv: list[str] | None = None) -> int:
    """The ``reslimit`` console script and ``python -m reslimit``: :func:`main`, then Ctrl-C ignored while the
    process exits. A command's files are written when it returns; a Ctrl-C while the interpreter shuts down (a
    pool's workers joined) would otherwise end a finished run as killed by SIGINT, its status lost."""
    code = main(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def main(argv=None) -> int:
    """What the ``reslimit`` console script runs (:func:`run`), in-process.

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
        full = _disk_full(err)
        where = getattr(args, "out", None) or getattr(args, "save", None) or os.getcwd()
        print(f"reslimit: error: no space left on the device of {where} ({_message(err)}); free some and rerun the "
              "same command" if full else f"reslimit: error: {_message(err)}", file=sys.stderr)
        return 2 if full or isinstance(err, (ValueError, TypeError)) else 1


def _disk_full(err: Exception) -> bool:
    """Whether ``err`` says the disk is full: an OSError ENOSPC, or torch.save's RuntimeError ("enforce fail at
    inline_container.cc", where its writer ran out of room)."""
    if isinstance(err, OSError):
        return err.errno == errno.ENOSPC
    return isinstance(err, RuntimeError) and any(text in str(err) for text in DISK_FULL)


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
        flag = re.fullmatch(r"argument (--[\w-]+): expected one argument", message)
        if flag:  # argparse takes a value such as -0,1 for an option: it must be glued to its flag
            message += f"; a value that starts with '-' is given as {flag[1]}=VALUE (e.g. {flag[1]}=-0,1)"
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
    add_arguments(sim, NetSpec, simulate, real=_finite_float)
    add_arguments(sim, PathSpec, simulate, real=_finite_float)
    _option(sim, simulate, "ensemble", "E independent weight draws", type=int)
    _option(sim, simulate, "samples", "n inputs h_0 per ensemble member", type=int)
    _option(sim, simulate, "seed", "seed of the weights and the inputs", type=int)
    sim.add_argument("--save", type=_nonempty, metavar="RUN.npz",
                     help="write V, W, h (every layer), alpha, beta, params")
    _option(sim, simulate, "device", "where to run: cpu, cuda, cuda:1...")
    sim.set_defaults(run=_simulate)

    dem = commands.add_parser("demo", help="check E||h_L - h_0||^2/||h_0||^2 = (1 + c alpha^2)^L - 1",
                              description=demo.__doc__.split("\n\n")[0])
    dem.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for demo.csv, demo.png, demo.json")
    depths = ", ".join(map(str, demo.QUICK["depths"]))
    dem.add_argument("--quick", action="store_true",
                     help=f"depths {depths}, {demo.QUICK['ensemble']} draws x {demo.QUICK['inputs']} inputs")
    _option(dem, demo.run_demo, "seed", "seed of the weights and inputs", type=int)
    dem.set_defaults(run=_demo)

    con = commands.add_parser("converge", help="errors of depth-L networks against their continuous limit",
                              description="Measure max_k ||H_{k/L} - h_k|| over depths, fit the rate, judge it.")
    _option(con, converge, "limit", "ode, sde or fbm")
    _option(con, converge, "block", f"one of {', '.join(BLOCKS)}")
    con.add_argument("--activation", help="sigma (default relu for res3, its only one; tanh otherwise)")
    _option(con, converge, "width", "d", type=int)
    _option(con, converge, "depths", "comma list, start:stop:num or start:stop:xK (geometric: 8:1024:x2) of "
            "integers, any: the reference is read on the grid of their least common multiple")
    _option(con, converge, "samples", "independent path draws", type=int)
    _option(con, converge, "seed", "", type=int)
    con.add_argument("--hurst", type=_finite_float, help="Hurst index H in (1/2, 1), for --limit fbm (default "
                     f"{converge_study.HURST})")
    _option(con, converge, "lengthscale", "of the smooth paths", type=_finite_float)
    _option(con, converge, "reference_factor", "refinement of the reference grid over the largest depth, >= 2; "
            "None is the limit's own: ode 2, sde 64, fbm 8", type=int)
    _option(con, converge, "chunk", "samples per point of the sweep, None for all (one point); the numbers "
            "depend on it, not on --workers", type=int)
    _option(con, converge, "dtype", "", choices=sorted(_checks.DTYPES))
    _option(con, converge, "device", "where to run: cpu, cuda, cuda:1...")
    _executors(con)
    con.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, png (rerun to resume)")
    con.set_defaults(run=_converge)

    sca = commands.add_parser("scaling", help="hidden and gradient ratios against L for several betas",
                              description="Per sample ||h_L - h_0||/||h_0|| and ||p_0 - p_L||/||p_L|| over a grid "
                                          "of depths x betas, at initialisation; figures and a tidy CSV.")
    add_arguments(sca, PathSpec, scaling_study.study, only=("kind", "dist", "hurst", "lengthscale"),
                  real=_finite_float)
    _study_arguments(sca, scaling_study.study)
    sca.set_defaults(run=_scaling)

    pha = commands.add_parser("phase", help="fBm weights: heatmaps over (beta, H) and the critical beta of each H",
                              description="For each Hurst index, both ratios at every beta and depth on one fBm "
                                          "draw; the critical beta where the hidden ratio stops depending on L.")
    _option(pha, phase_study.study, "hursts", "comma list or start:stop:num, in (0, 1)")
    _study_arguments(pha, phase_study.study)
    pha.set_defaults(run=_phase)

    tra = commands.add_parser("trainability", help="fBm weights: best test accuracy over lrs on a (beta, H) grid",
                              description="For each Hurst index, train at every beta and learning rate on one fBm "
                                          "draw; a heatmap of the best test accuracy with the critical line.")
    _option(tra, trainability_study.study, "hursts", "comma list or start:stop:num, in (0, 1)")
    _option(tra, trainability_study.study, "betas", "comma list or start:stop:num, inclusive")
    _option(tra, trainability_study.study, "depth", "L", type=int)
    _option(tra, trainability_study.study, "lrs", "SGD learning rates, comma list or start:stop:num")
    _option(tra, trainability_study.study, "epochs", "", type=int)
    _option(tra, trainability_study.study, "seed", "", type=int)
    _executors(tra)
    tra.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, trainability.png")
    tra.set_defaults(run=_trainability)

    tsf = commands.add_parser("transfer", help="does the lr tuned at one depth work at another? best lr0 against "
                              "depth, with the depth rule and without",
                              description="At each depth, train every lr0 of a log grid and every seed (batched "
                              "ensembles), with the rule lr = lr0 (L/L0)^gamma and without; the best lr0 per depth, "
                              "its slope against depth with a bootstrap interval over seeds, the regret, and the "
                              "muP-style figure.")
    _across_depth(tsf, transfer_study.study)
    _option(tsf, transfer_study.study, "lr0s", "learning rates lr0, comma list or start:stop:num "
            "(geometric: 2.44e-4:4:15 is 2^-12..2^2)")
    _option(tsf, transfer_study.study, "epochs", "", type=int)
    _option(tsf, transfer_study.study, "layers", "the input and output layers: trained at lr0, or frozen",
            choices=transfer_study.LAYERS)
    _option(tsf, transfer_study.study, "metric", "the loss the best lr0 minimises", choices=transfer_study.METRICS)
    _executors(tsf)
    tsf.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, transfer.png (rerun to resume)")
    tsf.set_defaults(run=_transfer)

    cc = commands.add_parser("coord-check", help="how much t steps move h_L and the logits, against depth, with "
                             "the depth rule and without", description="At each depth, train every (rule, seed) "
                             "for a few steps (one batched ensemble) and measure the rms change of h_L that the "
                             "blocks' weights make and of the logits after each of the step counts; the slope of "
                             "log(change) against log(L), 0 under the rule, -gamma without.")
    _across_depth(cc, coord_check_study.study)
    _option(cc, coord_check_study.study, "steps", "comma list of step counts t >= 1")
    _option(cc, coord_check_study.study, "lr0", "the learning rate at the base depth", type=_finite_float)
    _executors(cc)
    cc.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                    help="folder for results.csv, manifest.json, coord_check.png (rerun to resume)")
    cc.set_defaults(run=_coord_check)

    pro = commands.add_parser("propagation", help="per-layer std of activations and gradients: MLP and ResNet, "
                              "per activation and initialization", description="A plain MLP and a scaled ResNet "
                              "(res-2) at initialization: the std of the activations and the rms of the gradients "
                              "per layer, beside the mean-field theory, for each activation and scheme.")
    _option(pro, propagation_study.propagation, "depth", "L", type=int)
    _option(pro, propagation_study.propagation, "width", "n", type=int)
    for name, text in (("activations", "tanh, relu, leaky_relu[:slope], sigmoid, identity"),
                       ("inits", "schemes: standard, lecun, glorot (xavier), he (kaiming)"),
                       ("networks", "mlp, resnet")):
        default = ",".join(inspect.signature(propagation_study.propagation).parameters[name].default)
        pro.add_argument(f"--{name}", help=f"comma list of {text} (default {default})")
    _option(pro, propagation_study.propagation, "beta", "the ResNet's alpha_L = L^-beta", type=_finite_float)
    _option(pro, propagation_study.propagation, "ensemble", "independent weight draws", type=int)
    _option(pro, propagation_study.propagation, "samples", "inputs per draw", type=int)
    _option(pro, propagation_study.propagation, "dist", "the weights' law", choices=sorted(propagation_study.DISTS))
    _option(pro, propagation_study.propagation, "seed", "", type=int)
    pro.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, propagation.png")
    pro.set_defaults(run=_propagation)

    bnd = commands.add_parser("bounds", help="Monte-Carlo checks of the theory's bounds (Lemma 1, Props 2-9)",
                              description="Each check: the measured value, its bound(s), a verdict.")
    bnd.add_argument("--full", action="store_true", help="paper-scale sizes (default: quick)")
    _option(bnd, bounds_study.bounds, "seed", "added (x 1000) to the seeds of the plan", type=int)
    _option(bnd, bounds_study.bounds, "device", "where to run: cpu, cuda, cuda:1...")
    bnd.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, bounds.png")
    bnd.set_defaults(run=_bounds)

    trn = commands.add_parser("train", help="train a network on digits, synthetic data or FILE.npz; history, weights",
                              description="Train a scaled ResNet with input and output layers by SGD or Adam; write "
                                          "history.csv, manifest.json, weights.pt, training.png, weights.png. The "
                                          "same command resumes a killed run from its checkpoint.")
    _option(trn, train_run, "data", "digits, synthetic or FILE.npz (arrays X and y)", type=_nonempty)
    add_arguments(trn, NetSpec, train_run, real=_finite_float)
    add_arguments(trn, PathSpec, train_run, only=("kind", "hurst", "lengthscale"), real=_finite_float)
    _option(trn, train_run, "epochs", "", type=int)
    _option(trn, train_run, "lr", "learning rate; with --rule depth, lr0: the rate tuned at --base-depth",
            type=_finite_float)
    _option(trn, train_run, "optimizer", "", choices=OPTIMIZERS)
    _option(trn, train_run, "momentum", "SGD's, in [0, 1)", type=_finite_float)
    _option(trn, train_run, "rule", "depth: train with lr0 (depth / base_depth)^gamma, gamma = 2 beta - 1 (SGD), "
            "beta - 1 (Adam); none: the lr as given", choices=RULES)
    _option(trn, train_run, "base_depth", "the depth lr0 was tuned at (with --rule depth)", type=int)
    _option(trn, train_run, "batch_size", "", type=int)
    _option(trn, train_run, "seed", "of the weights, the split and the batches", type=int)
    _option(trn, train_run, "device", "where to run: cpu, cuda, cuda:1...")
    trn.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for history.csv, manifest.json, weights.pt, checkpoint.pt, figures")
    trn.set_defaults(run=_train)

    reg = commands.add_parser("regularity", help="Hölder exponent, max norm, quadratic variation of saved weights",
                              description="The Hölder (Hurst) exponent of the path whose increments are the weights "
                                          "V_k, with its interval and the critical beta it implies.")
    reg.add_argument("file", type=_nonempty, metavar="FILE.npz", help="weights saved by reslimit simulate --save")
    reg.add_argument("--key", default="V", help="the array of FILE to measure (default V; W for inner weights)")
    reg.set_defaults(run=_regularity)

    rep = commands.add_parser("report", help="check every claim of the theory; claims.json + self-contained index.html",
                              description="Check the claims of reslimit.claims, gather them, write OUT/claims.json, "
                                          "OUT/figures/ and OUT/index.html (figures embedded).")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (default)")
    size.add_argument("--full", action="store_true", help="the acceptance sizes")
    rep.add_argument("--only", type=_nonempty, metavar="NAME[,NAME...]",
                     help="check these claims only (comma list of names of reslimit.claims, e.g. ode_rate)")
    rep.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for claims.json, index.html, figures/")
    rep.add_argument("--workers", type=int, metavar="N",
                     help="claims run at a time, each with cores // N torch threads (default: one per core)")
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


def _rules(text: str) -> list[str]:
    """An argparse type for --rules: a comma list of the rules of reslimit.depth_rule."""
    rules = [r.strip() for r in text.split(",")]
    if not text or any(r not in RULES for r in rules):
        raise argparse.ArgumentTypeError(f"rules must be a comma list of {', '.join(RULES)}; got {text!r}")
    return rules


def _option(cmd, fn, name: str, text: str, **kwargs) -> None:
    """Add ``--name``, left out of the call when not given: ``fn``'s default applies, and the help shows it."""
    default = inspect.signature(fn).parameters[name].default
    shown = format_grid(default) if isinstance(default, (tuple, list)) else default
    cmd.add_argument(f"--{name.replace('_', '-')}", help=f"{text} (default {shown})".lstrip(), **kwargs)


def _study_arguments(cmd, study) -> None:
    """The arguments the sweep studies share; ``study`` the study's constructor, which holds their defaults."""
    add_arguments(cmd, NetSpec, study, only=("block", "activation", "width", "dtype"))
    _option(cmd, study, "betas", "comma list or start:stop:num, inclusive")
    _option(cmd, study, "depths", "comma list, start:stop:num or start:stop:xK (geometric: 8:1024:x2) of integers")
    _option(cmd, study, "ensemble", "weight draws per point", type=int)
    _option(cmd, study, "samples", "inputs per draw", type=int)
    _option(cmd, study, "seed", "", type=int)
    _option(cmd, study, "device", "where to run: cpu, cuda, cuda:1...")
    _executors(cmd)
    cmd.add_argument("--out", type=_nonempty, required=True, metavar="DIR",
                     help="folder for results.csv, manifest.json, figures")


def _across_depth(cmd, fn) -> None:
    """The options the studies of training across depth share (:func:`reslimit.studies.transfer.training_params`)."""
    add_arguments(cmd, NetSpec, fn, only=("block", "activation", "width", "hidden", "beta", "dtype"),
                  real=_finite_float)
    add_arguments(cmd, PathSpec, fn, only=("kind", "hurst", "lengthscale"), real=_finite_float)
    _option(cmd, fn, "depths", "comma list, start:stop:num or start:stop:xK (geometric: 8:1024:x2) of integers, at "
            "least two")
    _option(cmd, fn, "seeds", "how many seeds (seed, seed + 1, ...)", type=int)
    _option(cmd, fn, "seed", "the first seed", type=int)
    _option(cmd, fn, "batch_size", "", type=int)
    _option(cmd, fn, "optimizer", "", choices=OPTIMIZERS)
    _option(cmd, fn, "momentum", "SGD's", type=_finite_float)
    _option(cmd, fn, "base_depth", "L0, the depth lr0 is tuned at (default: the smallest depth)", type=int)
    cmd.add_argument("--rules", type=_rules, help=f"comma list of {', '.join(RULES)} (default "
                     f"{','.join(RULES)})")
    _option(cmd, fn, "data", "", choices=transfer_study.DATA)


def _executors(cmd) -> None:
    """--workers and --scheduler: where the points of a sweep are computed (the same numbers everywhere)."""
    cmd.add_argument("--workers", type=int, help="run points in a local pool of N processes")
    cmd.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run points on a Dask cluster")


def _given(args) -> dict:
    """The command's flags given on the command line, as keyword arguments of its library call: grids read by
    parse_grid (see GRIDS); a flag not given is left out, so that the library's default applies."""
    options = {}
    for name, value in vars(args).items():
        if name not in ("run", "command", "debug") and value is not None:
            options[name] = parse_grid(f"--{name}", value, **GRIDS[name]) if name in GRIDS else value
    return options


def _scaling(args) -> int:
    """``reslimit scaling``: run or resume the sweep, print the medians per beta and depth."""
    result = scaling_study.scaling(**_given(args))
    params = result.params
    medians = result.medians()  # (depths, betas)
    for j, beta in enumerate(params["betas"]):
        print(f"beta = {beta:g}: median ||h_L - h_0||/||h_0|| "
              + ", ".join(f"L={L}: {m:.3g}" for L, m in zip(params["depths"], medians[:, j])))
    if result.critical_beta is not None:
        theory = result.critical_beta_theory
        print(f"critical beta (the median ratio stops depending on L): {result.critical_beta:.3f} measured, "
              f"{'none claimed' if theory is None else f'{theory:g}'} in theory")
    diverged = sum(r["status"] != "ok" for r in result)
    print(f"{len(result)} rows, {diverged} diverged; wrote {Path(args.out) / 'results.csv'}, scaling.png, "
          f"histograms.png")
    return 0


def _phase(args) -> int:
    """``reslimit phase``: run or resume the sweep, print the critical beta of each H beside beta = H."""
    found = phase_study.phase(**_given(args))
    for h, b in found["critical_beta"].items():
        g, t = found["critical_beta_grad"][h], found.theory[h]
        print(f"H = {h:.3g}: critical beta {'none on the grid' if b is None else f'{b:.3f}'} (hidden), "
              f"{'none on the grid' if g is None else f'{g:.3f}'} (gradient); theory "
              f"{'none claimed' if t is None else f'{t:.3g}'}, first order {h:.3g}")
    print(f"wrote {Path(args.out) / 'results.csv'}, manifest.json (critical_beta), phase.png")
    return 0


def _trainability(args) -> int:
    """``reslimit trainability``: run or resume the sweep, print the best accuracy of each cell beside the line."""
    result = trainability_study.trainability(**_given(args))
    for h, row in zip(result.params["hursts"], result.best):
        print(f"H = {h:.3g} (critical beta {result.line[h]:g}): best accuracy "
              + ", ".join(f"beta={b:g}: {a:.3f}" for b, a in zip(result.params["betas"], row)))
    print(f"wrote {Path(args.out) / 'results.csv'}, manifest.json (best_accuracy), trainability.png")
    return 0


def _transfer(args) -> int:
    """``reslimit transfer``: run or resume the sweep, print the best lr0 per depth and rule, and the slopes."""
    result = transfer_study.transfer(**_given(args))
    for rule in result.params["rules"]:
        best = ", ".join(f"L={b['depth']}: " + ("every lr0 diverged" if b["edge"] == "none" else f"{b['lr0']:.3g}"
                                                  + (f" ({b['edge']} edge)" if b["edge"] else ""))
                         for b in result.best[rule])
        s = result.slope[rule]
        print(f"rule {rule}: best lr0 {best}; slope of log2(best lr0) on log2(L) {s['slope']:.3f} "
              f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}] (theory {_theory(s['theory'])})")
    print(f"wrote {Path(args.out) / 'results.csv'}, manifest.json, transfer.png")
    return 0


def _coord_check(args) -> int:
    """``reslimit coord-check``: run or resume the sweep, print the slope of each change against depth."""
    result = coord_check_study.coord_check(**_given(args))
    for (q, rule, t), s in result.slope.items():
        print(f"{q:8s} rule {rule:5s} t = {t:<3d}: slope of log2(change) on log2(L) {s['slope']:.3f} "
              f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}] (theory {_theory(s['theory'])})")
    print(f"wrote {Path(args.out) / 'results.csv'}, manifest.json, coord_check.png")
    return 0


def _theory(value: float | None) -> str:
    return "none: the input and output layers' steps mix in" if value is None else format(value, "g")


def _propagation(args) -> int:
    """``reslimit propagation``: run the study into DIR, print the last layer's std and the input's gradient."""
    result = propagation_study.propagation(**_given(args), progress=True)
    depth, rows = result.params["depth"], result.rows()  # depth + 1 rows per (network, activation, init)
    for first, last in zip(rows[::depth + 1], rows[depth::depth + 1]):
        print(f"{last['network']:6s} {last['activation']:14s} {last['init']:8s}: std of the activations at layer "
              f"{depth} {last['act_std']:.4g} (theory {last['act_std_theory']:.4g}); rms gradient at the input "
              f"{first['grad_rms']:.4g} (theory {first['grad_rms_theory']:.4g})")
    print(f"wrote {Path(args.out) / 'results.csv'}, manifest.json, propagation.png")
    return 0


def _bounds(args) -> int:
    """``reslimit bounds``: every check with its measured value, bound(s) and verdict."""
    checks = bounds_study.bounds(args.out, quick=not args.full, progress=True,
                                 **{k: v for k, v in _given(args).items() if k in ("seed", "device")})
    failed = [c for c in checks if not c["passed"]]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks pass; wrote {args.out}")
    return 1 if failed else 0


def _converge(args) -> int:
    """``reslimit converge``: run the study with a progress bar, print the verdict, write DIR."""
    c = converge(**_given(args), progress=True)
    for L, e in zip(c.depths, c.path_error.mean(1)):
        print(f"L = {L:5d}: mean max_k ||H_k/L - h_k|| = {e:.4g}")
    print(f"slope {c.rate.slope:.3f} [{c.rate.ci_low:.3f}, {c.rate.ci_high:.3f}] (95% bootstrap), theory "
          f"{c.theory:g} +- {c.tolerance:g}: {'PASS' if c.passed else 'FAIL'}; gradient slope "
          f"{c.grad_rate.slope:.3f}; wrote {args.out}")
    return 0 if c.passed else 1


def _train(args) -> int:
    """``reslimit train``: train (or resume), print one line per epoch and the verdict."""
    history = train_run(**_given(args), progress=True)
    for r in history.rows:
        acc = "" if r["test_accuracy"] is None else f", test accuracy {r['test_accuracy']:.4f}"
        train = "-" if r["epoch"] == 0 else f"{r['train_loss']:.4g}"
        print(f"epoch {r['epoch']:3d}: train loss {train}, test loss {r['test_loss']:.4g}{acc}"
              f"{'  DIVERGED' if r['status'] == 'diverged' else ''}")
    print(f"{'diverged at epoch ' + str(history.final['epoch']) if history.diverged else 'trained'}; wrote "
          f"{Path(args.out) / 'history.csv'}, manifest.json, weights.pt, training.png, weights.png")
    return 1 if history.diverged else 0


def _regularity(args) -> int:
    """``reslimit regularity FILE``: the exponent of the saved weights, its interval and implied beta."""
    print(describe_file(args.file, key=args.key))
    return 0


def _simulate(args) -> int:
    """``reslimit simulate``: run the network (reslimit.simulate), print the summary, say where it was saved."""
    run = simulate(**_given(args))
    net, p = run.net, run.params
    print(f"reslimit simulate: {net.block!r} on {run.init} weights, L = {net.depth}, d = {net.width}, "
          f"E = {net.ensemble} x n = {p['samples']} inputs, {p['dtype']}")
    print(f"alpha = L^-beta = {net.depth}^-{net.beta:g} = {net.alpha:.6g}")
    _print_statistics(run)
    if args.save:
        print(f"saved {', '.join(sorted(['V', 'h'] + (['W'] if net.inner else [])))}, alpha, beta, params to "
              f"{args.save}")
    return 0


def _print_statistics(run) -> None:
    """The lines of the simulate summary on r = ||h_L - h_0|| / ||h_0||, and the theory where it is exact."""
    stats = run.statistics
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
    if run.c is not None:
        line += f", theory (1 + {run.c:g} alpha^2)^L - 1 = {run.theory:.6g}"
    print(line)


def _demo(args) -> int:
    """``reslimit demo``: run the study into DIR (csv, png, JSON manifest), print the table."""
    options = _given(args)
    rows = demo.run_demo(**(demo.QUICK if options.pop("quick") else {}), **options)
    print(rows.table())
    failed = sum(r["verdict"] == "fail" for r in rows)
    out = Path(args.out)
    print(f"{len(rows) - failed} of {len(rows)} rows within 4 SE of theory; wrote {out / 'demo.csv'}, "
          f"{out / 'demo.png'}")
    return 1 if failed else 0


def _report(args) -> int:
    """``reslimit report``: every validation claim in one page; exit status 1 if any failed."""
    from .report import report

    claims = report(args.out, quick=not args.full, scripts=args.only and args.only.split(","), workers=args.workers)
    failed = [c for c in claims if not c["passed"]]
    print(f"{len(claims) - len(failed)} of {len(claims)} claims pass; wrote {Path(args.out) / 'index.html'}")
    return 1 if failed else 0

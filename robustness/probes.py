"""Throw hundreds of bad inputs and faults at reslimit, as a demanding user would, and count what happens.

    python robustness/probes.py                 # every probe, two at a time; a table of outcomes
    python robustness/probes.py --only simulate  # probes whose name contains "simulate"
    python robustness/probes.py --only fault:    # the faults alone
    python robustness/probes.py --list           # the probes, without running them

Each probe is one command line (run through ``reslimit.cli.main`` in a worker process) or one snippet of the
Python API, with what a careful user would expect: ``refuse`` (bad input: a one-line message naming the
argument, a non-zero exit or a ValueError/TypeError), ``accept`` (a valid input: it runs) or ``either`` (a
corner where refusing and running are both fine, as long as it is clean). A worker runs probes one after
another under a memory cap (RLIMIT_AS, 8 GiB by default); one that does not answer within the timeout is
counted as a hang and its worker killed; a worker that dies is counted as a crash. Faults (kill -9 and SIGINT
during a sweep, two writers on one folder, a damaged kernel cache, a damaged ledger) run as real processes.

Outcomes: ``ok``; ``traceback`` (an exception escaped the CLI, or the API raised something other than
ValueError/TypeError); ``crash``; ``hang``; ``accepted`` (bad input taken); ``refused`` (valid input turned
down); ``unclear`` (refused, but the message does not name the argument or spans several lines); ``lost``
(a fault lost a finished point or changed a number). Exit status 1 if any probe is not ``ok``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TIMEOUT = 60.0  # seconds a probe may take before it counts as a hang
MEMORY = 8 * 2**30  # RLIMIT_AS of a worker
PYTHON = sys.executable

# Bad and corner values tried on every flag of a kind; each kind says which of them are valid.
NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1", "0.5", "1e400", "1e-300", str(2**63), str(2**64), "",
           "abc", " ", "1,2", "2:8:3", "0x10", "1_000", "1e39", "1e308", "1e-320", "1" + "0" * 400]
HUGE, SUBNORMAL = 1e30, 1e-300  # a finite number beyond these may be refused for its size (float32's range, ...)


def _int(text: str):
    """The int that argparse's type=int makes of ``text`` (Python's int(): "1_000" and " 5" are numbers)."""
    try:
        return int(text)
    except ValueError:
        return None


def _float(text: str):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def positive(text, limit=None):
    """An integer >= 1; ``limit``: above it the request may be refused for its size (any above 2^63 is)."""
    v = _int(text)
    if v is None or v < 1:
        return "refuse"
    return "either" if (limit is not None and v > limit) or v >= 2**63 else "accept"


def never(text):
    """A flag that does not belong to the choice made (``--hurst`` with ``--init iid``): refused, whatever it is."""
    return "refuse"


def seed(text):
    v = _int(text)
    return "accept" if v is not None and 0 <= v < 2**63 else "refuse"


def real(low=None, high=None, low_open=False, high_open=False, tiny=None):
    def rule(text):
        v = _float(text)
        if v is None or (low is not None and (v < low or (low_open and v == low))) or \
                (high is not None and (v > high or (high_open and v == high))):
            return "refuse"
        if abs(v) > HUGE or 0 < abs(v) < SUBNORMAL:
            return "either"
        return "either" if tiny is not None and v < tiny else "accept"
    return rule


def grid(low=None, high=None, low_open=False, integer=False, big=None, ran="accept"):
    """A comma list or start:stop:num in the interval; values above ``big`` may be refused for their size,
    and ``ran`` is what a valid grid gives (``either`` where the command adds its own conditions)."""
    def rule(text):
        if not text.strip():
            return "refuse"
        items = text.split(":") if ":" in text else text.split(",")
        if ":" in text:
            if len(items) != 3 or _int(items[2]) is None or _int(items[2]) < 1:
                return "refuse"
            items = items[:2]
        values = [_float(x) for x in items]
        if any(v is None for v in values):
            return "refuse"
        if integer and ":" not in text and any(v != int(v) for v in values):
            return "refuse"
        if any((low is not None and (v < low or (low_open and v == low))) or (high is not None and v >= high)
               for v in values):
            return "refuse"
        if any(abs(v) > HUGE or 0 < abs(v) < SUBNORMAL for v in values):
            return "either"
        return "either" if big is not None and max(values) > big else ran
    return rule


def choice(*allowed):
    return lambda text: "accept" if text in allowed else "refuse"


def choices(*allowed, slope=False):
    """A comma list of names from ``allowed`` (with ``slope``, also leaky_relu:s for a finite s, a negative one
    either way); a repeated name may be taken or refused."""
    def item(text):
        if text in allowed:
            return "accept"
        name, _, value = text.partition(":")
        if slope and name == "leaky_relu" and _float(value) is not None:
            return "accept" if _float(value) >= 0 else "either"
        return "refuse"

    def rule(text):
        items = text.split(",")
        verdicts = [item(x) for x in items]
        if "refuse" in verdicts:
            return "refuse"
        return "either" if "either" in verdicts or len(set(items)) < len(items) else "accept"
    return rule


def path_rule(text):
    return "refuse" if not text else "accept"  # " " is a name like any other


ACTIVATIONS = ("relu", "tanh", "identity", "leaky_relu", "leaky_relu:0.1", "leaky_relu:-1")  # res1; res3: relu
# command -> (a small valid invocation, {flag: rule}); "{out}" is replaced by a fresh folder.
COMMANDS = {
    "simulate": (["--depth", "4", "--width", "4", "--ensemble", "2", "--samples", "2"], {
        "--depth": lambda t: positive(t, 10**6), "--width": lambda t: positive(t, 1000),
        "--beta": real(low=0.0), "--ensemble": lambda t: positive(t, 10**4),
        "--samples": lambda t: positive(t, 10**5), "--seed": seed, "--block": choice("res1", "res2", "res3"),
        "--init": choice("iid", "brownian", "smooth", "fbm"),
        "--activation": choice("relu"), "--dtype": choice("float32", "float64"),
        "--save": path_rule,
    }),
    "simulate --init smooth": (["--init", "smooth", "--depth", "4", "--width", "4", "--ensemble", "2",
                                "--samples", "2"], {"--lengthscale": real(low=0.0, low_open=True, tiny=1e-3)}),
    "simulate --init fbm": (["--init", "fbm", "--depth", "4", "--width", "4", "--ensemble", "2", "--samples", "2"],
                            {"--hurst": real(low=0.0, high=1.0, low_open=True, high_open=True),
                             "--resolution": lambda t: "either" if positive(t) != "refuse" else "refuse"}),
    "simulate --init iid": (["--depth", "4", "--width", "4", "--ensemble", "2", "--samples", "2"],
                            {"--dist": choice("gaussian", "uniform", "rademacher")}),
    "converge": (["--width", "4", "--depths", "4,8,16", "--samples", "4", "--out", "{out}"], {
        "--limit": choice("sde"), "--width": lambda t: positive(t, 64),
        "--depths": grid(low=1, integer=True, ran="either"),  # >= 3 depths, any (the reference on their lcm's grid)
        "--samples": lambda t: positive(t, 64), "--seed": seed, "--out": path_rule,
        "--activation": choice(*ACTIVATIONS), "--block": choice("res1"),
        "--chunk": lambda t: "refuse" if positive(t) == "refuse" or _int(t) > 4 else "accept",  # <= samples
        "--workers": lambda t: positive(t, 2), "--device": choice("cpu"), "--dtype": choice("float32", "float64"),
        "--reference-factor": lambda t: "refuse" if _int(t) is None or _int(t) < 2 else (
            "accept" if _int(t) <= 64 else "either"),
    }),
    "converge --limit ode": (["--limit", "ode", "--width", "4", "--depths", "4,8,16", "--samples", "4",
                              "--out", "{out}"], {"--lengthscale": real(low=0.0, low_open=True, tiny=1e-2)}),
    "converge --limit fbm": (["--limit", "fbm", "--width", "4", "--depths", "4,8,16", "--samples", "4",
                              "--out", "{out}"], {"--hurst": real(low=0.5, high=1.0, low_open=True, high_open=True)}),
    "scaling": (["--depths", "2,4", "--width", "4", "--ensemble", "2", "--betas", "0.5,1", "--out", "{out}"], {
        "--init": choice("iid", "brownian", "smooth", "fbm"), "--block": choice("res1", "res2", "res3"),
        "--activation": choice("relu"), "--betas": grid(low=0.0),
        "--depths": grid(low=1, integer=True, big=10**6),
        "--width": lambda t: positive(t, 256), "--ensemble": lambda t: positive(t, 256),
        "--samples": lambda t: positive(t, 256), "--seed": seed, "--dtype": choice("float32", "float64"),
        "--workers": lambda t: positive(t, 2), "--scheduler": choice(), "--out": path_rule,
        "--device": choice("cpu"),
    }),
    "scaling --init smooth": (["--init", "smooth", "--depths", "2,4", "--width", "4", "--ensemble", "2",
                               "--betas", "0.5,1", "--out", "{out}"],
                              {"--lengthscale": real(low=0.0, low_open=True, tiny=1e-3)}),
    "scaling --init fbm": (["--init", "fbm", "--depths", "2,4", "--width", "4", "--ensemble", "2",
                            "--betas", "0.5,1", "--out", "{out}"],
                           {"--hurst": real(low=0.0, high=1.0, low_open=True, high_open=True)}),
    "phase": (["--hursts", "0.3,0.7", "--depths", "2,4", "--betas", "0.5,1", "--width", "4", "--ensemble", "2",
               "--samples", "2", "--out", "{out}"], {
        "--hursts": grid(low=0.0, high=1.0, low_open=True), "--betas": grid(low=0.0),
        "--depths": grid(low=1, integer=True, big=2**16), "--width": lambda t: positive(t, 256), "--seed": seed,
        "--block": choice("res1", "res2", "res3"), "--out": path_rule,
    }),
    "bounds": (["--out", "{out}"], {"--seed": seed, "--out": path_rule, "--device": choice("cpu")}),
    "train": (["--depth", "4", "--width", "4", "--epochs", "1", "--out", "{out}"], {
        "--data": choice("digits", "synthetic"), "--block": choice("res1", "res2", "res3"),
        "--init": choice("iid", "brownian", "smooth", "fbm"), "--beta": real(low=0.0),
        "--depth": lambda t: positive(t, 64), "--width": lambda t: positive(t, 64),
        "--epochs": lambda t: positive(t, 3), "--lr": real(low=0.0, low_open=True),
        "--optimizer": choice("sgd", "adam"), "--batch-size": lambda t: positive(t, 2000), "--seed": seed,
        "--dtype": choice("float32", "float64"), "--device": choice("cpu"), "--out": path_rule,
        "--hidden": lambda t: positive(t, 256), "--momentum": real(low=0.0, high=1.0, high_open=True),
        "--rule": choice("none", "depth"), "--base-depth": never,  # read only with --rule depth
    }),
    "train --rule depth": (["--rule", "depth", "--depth", "4", "--width", "4", "--epochs", "1", "--out", "{out}"],
                           {"--base-depth": lambda t: positive(t, 10**4)}),
    # options of another choice (issue 27, class 4): refused whatever their value
    "train --init iid": (["--init", "iid", "--depth", "4", "--width", "4", "--epochs", "1", "--out", "{out}"],
                         {"--hurst": never, "--lengthscale": never}),
    "train --init smooth": (["--init", "smooth", "--depth", "4", "--width", "4", "--epochs", "1", "--out", "{out}"],
                            {"--hurst": never, "--lengthscale": real(low=0.0, low_open=True, tiny=1e-3)}),
    "train --init fbm": (["--init", "fbm", "--depth", "4", "--width", "4", "--epochs", "1", "--out", "{out}"],
                         {"--lengthscale": never, "--hurst": real(low=0.0, high=1.0, low_open=True, high_open=True)}),
    "train --optimizer adam": (["--optimizer", "adam", "--depth", "4", "--width", "4", "--epochs", "1",
                                "--out", "{out}"], {"--momentum": lambda t: "either" if _float(t) == 0 else "refuse"}),
    "transfer": (["--depths", "2,4", "--width", "4", "--lr0s", "0.01,0.1,1", "--seeds", "1", "--epochs", "1",
                  "--out", "{out}"], {
        "--depths": grid(low=1, integer=True, big=64, ran="either"), "--lr0s": grid(low=0.0, low_open=True,
                                                                                     ran="either"),
        "--seeds": lambda t: positive(t, 4), "--epochs": lambda t: positive(t, 2),
        "--base-depth": lambda t: positive(t, 10**4), "--momentum": real(low=0.0, high=1.0, high_open=True),
        "--hidden": lambda t: positive(t, 64), "--width": lambda t: positive(t, 64),
        "--beta": lambda t: "either" if real(low=0.0)(t) == "accept" and _float(t) > 10 else real(low=0.0)(t),
        "--rules": choices("none", "depth"), "--out": path_rule,  # a huge beta: the rule's lr overflows, refused
    }),
    "coord-check": (["--depths", "2,4", "--width", "4", "--steps", "1,2", "--seeds", "1", "--out", "{out}"], {
        "--depths": grid(low=1, integer=True, big=64, ran="either"), "--steps": grid(low=1, integer=True, big=20),
        "--lr0": real(low=0.0, low_open=True), "--seeds": lambda t: positive(t, 4), "--out": path_rule,
    }),
    "propagation": (["--depth", "4", "--width", "8", "--ensemble", "2", "--samples", "2", "--activations", "tanh",
                     "--inits", "he", "--out", "{out}"], {
        "--depth": lambda t: positive(t, 10**4), "--width": lambda t: positive(t, 10**4),
        "--activations": choices("tanh", "relu", "leaky_relu", "sigmoid", "identity", slope=True),
        "--inits": choices("standard", "lecun", "glorot", "xavier", "he", "kaiming"),
        "--networks": choices("mlp", "resnet"), "--beta": real(low=0.0),
        "--ensemble": lambda t: "refuse" if _int(t) == 1 else positive(t, 10**3),  # a std needs 2 draws
        "--samples": lambda t: positive(t, 10**3), "--dist": choice("normal", "uniform"), "--seed": seed,
        "--out": path_rule,
    }),
    "trainability": (["--hursts", "0.5", "--betas", "0.5", "--depth", "4", "--lrs", "0.1", "--epochs", "1",
                      "--out", "{out}"], {
        "--hursts": grid(low=0.0, high=1.0, low_open=True), "--betas": grid(low=0.0),
        "--depth": lambda t: "refuse" if _int(t) == 1 else positive(t, 256),  # L >= 2
        "--lrs": grid(low=0.0, low_open=True),
        "--epochs": lambda t: positive(t, 3), "--seed": seed, "--workers": lambda t: positive(t, 2),
        "--out": path_rule,
    }),
    "report": (["--quick", "--out", "{out}"], {"--out": path_rule}),
    "demo": (["--quick", "--out", "{out}"], {"--seed": seed, "--out": path_rule}),
}
SLOW = {"bounds", "report", "demo"}  # only their refusals are probed: an accepted run takes minutes
TEXTS = ["", " ", "abc", "RES3", "res3 ", "nan", "leaky_relu:nan", "leaky_relu:inf", "leaky_relu:-1",
         "leaky_relu:abc", "leaky_relu:", "relu:0.1", "../x", "-", "é"]

def _ode(options: str) -> str:
    """A NeuralODE of width 4 built with ``options`` and solved on [0, 1]."""
    return (f"rl.NeuralODE(block='res1', outer=rl.Smooth(4), {options}).solve(torch.zeros(2, 4, dtype=torch.float64), "
            "torch.linspace(0, 1, 3, dtype=torch.float64))")


# Python API probes: code, expectation, the word the message must name.
API = [
    ("ScaledResNet depth 0", "rl.ScaledResNet(0, 4)", "refuse", "depth"),
    ("ScaledResNet depth 1e9", "rl.ScaledResNet(10**9, 4)", "refuse", "depth"),
    ("ScaledResNet depth 1e9 stream", "rl.ScaledResNet(10**9, 4, stream=True)", "either", "depth"),
    ("ScaledResNet width 1e5", "rl.ScaledResNet(10, 100000)", "refuse", "width"),
    ("ScaledResNet width float", "rl.ScaledResNet(10, 4.5)", "refuse", "width"),
    ("ScaledResNet beta nan", "rl.ScaledResNet(10, 4, beta=float('nan'))", "refuse", "beta"),
    ("ScaledResNet beta str", "rl.ScaledResNet(10, 4, beta='0.5')", "refuse", "beta"),
    ("ScaledResNet block", "rl.ScaledResNet(10, 4, block='res9')", "refuse", "block"),
    ("ScaledResNet activation", "rl.ScaledResNet(10, 4, activation='leaky_relu:nan')", "refuse", "activation"),
    ("ScaledResNet ensemble 0", "rl.ScaledResNet(10, 4, ensemble=0)", "refuse", "ensemble"),
    ("ScaledResNet seed huge", "rl.ScaledResNet(10, 4, seed=2**64)", "refuse", "seed"),
    ("ScaledResNet seed negative", "rl.ScaledResNet(10, 4, seed=-1)", "refuse", "seed"),
    ("ScaledResNet dtype", "rl.ScaledResNet(10, 4, dtype=torch.int32)", "refuse", "dtype"),
    ("ScaledResNet outer str", "rl.ScaledResNet(10, 4, outer='iid')", "refuse", "outer"),
    ("forward nan", "rl.ScaledResNet(10, 4)(torch.full((1, 2, 4), float('nan'), dtype=torch.float64))",
     "refuse", "h0"),
    ("forward wrong width", "rl.ScaledResNet(10, 4)(torch.zeros(2, 5, dtype=torch.float64))", "refuse", "h0"),
    ("forward numpy", "rl.ScaledResNet(10, 4)(np.zeros((2, 4)))", "either", "h0"),
    ("forward list", "rl.ScaledResNet(10, 4)([[0.0] * 4])", "either", "h0"),
    ("forward 4-d", "rl.ScaledResNet(10, 4)(torch.zeros(1, 1, 2, 4, dtype=torch.float64))", "refuse", "h0"),
    ("trajectory every 0", "n = rl.ScaledResNet(10, 4); n.trajectory(torch.zeros(2, 4, dtype=torch.float64), 0)",
     "refuse", "every"),
    ("trajectory every huge", "n = rl.ScaledResNet(10, 4); n.trajectory(torch.zeros(2, 4, dtype=torch.float64), "
     "10**12)", "either", "every"),
    ("adjoint grad shape", "n = rl.ScaledResNet(10, 4); h = torch.zeros(2, 4, dtype=torch.float64); "
     "n.adjoint(h, torch.zeros(3, 4, dtype=torch.float64))", "refuse", "grad_output"),
    ("IID width 0", "rl.IID(0)", "refuse", "width"),
    ("IID dist", "rl.IID(4, dist='cauchy')", "refuse", "dist"),
    ("IID std nan", "rl.IID(4, std=float('nan'))", "refuse", "std"),
    ("IID std negative", "rl.IID(4, std=-1.0)", "refuse", "std"),
    ("Brownian levels 0", "rl.Brownian(4, levels=0)", "refuse", "levels"),
    ("Smooth lengthscale 1e-7", "rl.Smooth(4, 1, lengthscale=1e-7).weights(10)", "refuse", "lengthscale"),
    ("Smooth lengthscale 0", "rl.Smooth(4, 1, lengthscale=0)", "refuse", "lengthscale"),
    ("Smooth lengthscale str", "rl.Smooth(4, 1, lengthscale='abc')", "refuse", "lengthscale"),
    ("Smooth lengthscale inf", "rl.Smooth(4, 1, lengthscale=float('inf'))", "refuse", "lengthscale"),
    ("fBm hurst 0", "rl.FractionalBrownian(4, hurst=0)", "refuse", "hurst"),
    ("fBm hurst 1", "rl.FractionalBrownian(4, hurst=1)", "refuse", "hurst"),
    ("fBm hurst nan", "rl.FractionalBrownian(4, hurst=float('nan'))", "refuse", "hurst"),
    ("fBm resolution 1e10", "rl.FractionalBrownian(4, hurst=0.7, resolution=10**10).weights(10)", "refuse",
     "resolution"),
    ("weights depth 0", "rl.IID(4).weights(0)", "refuse", "depth"),
    ("weights start > stop", "rl.IID(4).weights(10, 5, 2)", "refuse", "start"),
    ("evaluate s nan", "rl.Brownian(4).evaluate(float('nan'))", "refuse", "s"),
    ("evaluate s 2", "rl.Brownian(4).evaluate(2.0)", "refuse", "s"),
    ("NeuralODE outer None", "rl.NeuralODE(block='res1', outer=None)", "refuse", "outer"),
    ("NeuralODE numpy h0", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(np.zeros((2, 4)), "
     "torch.linspace(0, 1, 5, dtype=torch.float64))", "either", "h0"),
    ("NeuralODE list ts", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(torch.zeros(2, 4, "
     "dtype=torch.float64), [0.0, 0.5, 1.0])", "either", "ts"),
    ("NeuralODE inf h0", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(torch.full((2, 4), "
     "float('inf'), dtype=torch.float64), torch.linspace(0, 1, 5, dtype=torch.float64))", "refuse", "h0"),
    ("NeuralODE nan h0", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(torch.full((2, 4), "
     "float('nan'), dtype=torch.float64), torch.linspace(0, 1, 5, dtype=torch.float64))", "refuse", "h0"),
    ("NeuralODE nan ts", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(torch.zeros(2, 4, "
     "dtype=torch.float64), torch.tensor([0.0, float('nan'), 1.0], dtype=torch.float64))", "refuse", "ts"),
    ("NeuralODE ts decreasing", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(torch.zeros(2, 4, "
     "dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64))", "refuse", "ts"),
    ("NeuralODE ts outside", "rl.NeuralODE(block='res1', outer=rl.Smooth(4)).solve(torch.zeros(2, 4, "
     "dtype=torch.float64), torch.tensor([0.0, 2.0], dtype=torch.float64))", "refuse", "ts"),
    ("NeuralSDE outer None", "rl.NeuralSDE(block='res1', outer=None)", "refuse", "outer"),
    ("NeuralSDE nan h0", "rl.NeuralSDE(block='res1', outer=rl.Brownian(4)).solve(torch.full((2, 4), "
     "float('nan'), dtype=torch.float64), steps=8)", "refuse", "h0"),
    ("NeuralSDE numpy h0", "rl.NeuralSDE(block='res1', outer=rl.Brownian(4)).solve(np.zeros((2, 4)), steps=8)",
     "either", "h0"),
    ("NeuralSDE steps 0", "rl.NeuralSDE(block='res1', outer=rl.Brownian(4)).solve(torch.zeros(2, 4, "
     "dtype=torch.float64), steps=0)", "refuse", "steps"),
    ("NeuralSDE wrong path", "rl.NeuralSDE(block='res1', outer=rl.Smooth(4))", "refuse", "outer"),
    ("converge float32", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=4, dtype=torch.float32)", "accept",
     "dtype"),
    ("converge dtype str", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=4, dtype='float64')", "accept",
     "dtype"),
    ("converge dtype int", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=4, dtype=torch.int64)", "refuse",
     "dtype"),
    ("converge reference_factor 0", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=4, reference_factor=0)",
     "refuse", "reference_factor"),
    ("converge lengthscale str", "rl.converge('ode', width=4, depths=[4, 8, 16], samples=4, lengthscale='abc')",
     "refuse", "lengthscale"),
    ("converge limit", "rl.converge('pde', width=4, depths=[4, 8, 16], samples=4)", "refuse", "limit"),
    ("converge depths not dividing", "rl.converge('sde', width=4, depths=[3, 8, 16], samples=4)", "accept", "depths"),
    ("converge depths prime", "rl.converge('sde', width=4, depths=[1021, 1031, 1033], samples=4)", "refuse",
     "depths"),
    ("converge depths empty", "rl.converge('sde', width=4, depths=[], samples=4)", "refuse", "depths"),
    ("converge samples 1", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=1)", "either", "samples"),
    ("converge hurst 0.3", "rl.converge('fbm', width=4, depths=[4, 8, 16], samples=4, hurst=0.3)", "refuse", "hurst"),
    ("converge seed huge", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=4, seed=2**70)", "refuse", "seed"),
    ("fit_rate one depth", "rl.fit_rate([4], [[1.0, 2.0]])", "refuse", "depths"),
    ("fit_rate nan", "rl.fit_rate([4, 8], [[float('nan'), 1.0], [1.0, 1.0]])", "either", "errors"),
    ("ScaledResNet device tpu", "rl.ScaledResNet(10, 4, device='tpu')", "refuse", "device"),
    ("ScaledResNet device cuda", "rl.ScaledResNet(10, 4, device='cuda')", "either", "device"),
    ("path to tpu", "rl.IID(4).to('tpu')", "refuse", "device"),
    ("solve off grid", "rl.ScaledResNet(8, 4).solve(torch.zeros(2, 4, dtype=torch.float64), [0.3])", "refuse", "ts"),
    ("converge chunk 0", "rl.converge('sde', width=4, depths=[4, 8, 16], samples=4, chunk=0)", "refuse", "chunk"),
    ("get_data unknown", "rl.get_data('mnist')", "refuse", "data"),
    ("get_data missing npz", "rl.get_data('/nonexistent/x.npz')", "refuse", "x.npz"),
    ("train lr nan", "d = rl.get_data('digits'); rl.train(rl.ScaledResNet(4, 4, input_dim=64, output_dim=10, "
     "dtype=torch.float32), d, lr=float('nan'))", "refuse", "lr"),
    ("train no layers", "rl.train(rl.ScaledResNet(4, 4), rl.get_data('digits'))", "refuse", "input_dim"),
    ("train epochs huge", "d = rl.get_data('digits'); rl.train(rl.ScaledResNet(4, 4, input_dim=64, output_dim=10, "
     "dtype=torch.float32), d, epochs=10**9)", "refuse", "epochs"),
    ("regularity 3 layers", "rl.regularity(torch.zeros(3, 4, 4))", "refuse", "weights"),
    ("regularity nan", "rl.regularity(torch.full((32, 4, 4), float('nan')))", "refuse", "weights"),
    # issue 27: big numbers, options of another choice, sizes with no end, solver options, smaller ones
    ("variance fan_in 10^400", "rl.init.variance('he', 10**400)", "refuse", "fan_in"),
    ("train adam momentum", "d = rl.get_data('digits'); rl.train(rl.ScaledResNet(4, 4, input_dim=64, output_dim=10, "
     "dtype=torch.float32), d, optimizer='adam', momentum=0.9)", "refuse", "momentum"),
    ("NeuralODE steps 1e9", _ode("steps=10**9"), "refuse", "steps"),
    ("NeuralSDE steps 1e9", "rl.NeuralSDE(block='res1', outer=rl.Brownian(4)).solve(torch.zeros(2, 4, "
     "dtype=torch.float64), steps=10**9)", "refuse", "steps"),
    ("regularity boot 1e8", "rl.regularity(torch.randn(64, 4, 4), boot=10**8)", "refuse", "boot"),
    ("NeuralODE rtol -1", _ode("rtol=-1.0"), "refuse", "rtol"),
    ("NeuralODE rtol nan", _ode("rtol=float('nan')"), "refuse", "rtol"),
    ("NeuralODE rtol 0 atol 0", _ode("rtol=0.0, atol=0.0"), "refuse", "tol"),
    ("NeuralODE rtol str", _ode("rtol='1e-6'"), "refuse", "rtol"),
    ("NeuralODE options list", _ode("options=[1]"), "refuse", "options"),
    ("NeuralODE rk4 step 0", _ode("method='rk4', options={'step_size': 0}"), "refuse", "step_size"),
    ("NeuralODE euler step -0.1", _ode("method='euler', options={'step_size': -0.1}"), "refuse", "step_size"),
    ("NeuralODE scale nan", _ode("scale=lambda s: float('nan')"), "refuse", "scale"),
    ("trajectory every 3 of depth 8", "n = rl.ScaledResNet(8, 4); t = n.trajectory(torch.zeros(2, 4, "
     "dtype=torch.float64), 3); assert t is not None and t.shape[0] == 4, t", "accept", "every"),
    ("ScaledResNet seed uint64", "rl.ScaledResNet(10, 4, seed=np.uint64(5))", "accept", "seed"),
    ("train checkpoint of more epochs", "import tempfile, os; d = rl.get_data('digits'); "
     "c = os.path.join(tempfile.mkdtemp(), 'c.pt'); mk = lambda: rl.ScaledResNet(4, 4, input_dim=64, output_dim=10, "
     "dtype=torch.float32, seed=1); rl.train(mk(), d, epochs=3, checkpoint=c); "
     "rl.train(mk(), d, epochs=1, checkpoint=c)", "refuse", "epochs"),
    ("train checkpoint in a missing folder", "d = rl.get_data('digits'); rl.train(rl.ScaledResNet(4, 4, input_dim=64, "
     "output_dim=10, dtype=torch.float32), d, epochs=1, checkpoint='/nonexistent/dir/c.pt')", "refuse", "checkpoint"),
    ("regularity complex", "rl.regularity(torch.ones(32, 4, 4, dtype=torch.complex64))", "refuse", "weights"),
    ("regularity overflow", "rl.regularity(torch.full((32, 4, 4), 1e200, dtype=torch.float64))", "refuse",
     "weights"),
    ("ScaledResNet depth 1e400", "rl.ScaledResNet(10**400, 4)", "refuse", "depth"),
    ("Smooth lengthscale 1e308", "rl.Smooth(4, 1, lengthscale=1e308)", "refuse", "lengthscale"),
    ("leaky_relu slope 1e200", "rl.get_activation('leaky_relu:1e200')", "refuse", "activation"),
]


def probes(scratch: Path) -> list[dict]:
    """Every probe: {name, kind, argv or code, expect, names}."""
    out = []
    counter = iter(range(10**9))

    def fresh() -> str:
        return str(scratch / f"out{next(counter)}")

    for command, (base, rules) in COMMANDS.items():
        name = command.split()[0]
        for flag, rule in rules.items():
            values = LISTS if flag in _LIST_FLAGS else TEXTS if flag in _TEXT_FLAGS else NUMBERS
            for value in values:
                expect = rule(value)
                if name in SLOW and expect != "refuse":
                    continue
                argv = [name, *_without(base, flag), flag, value]
                label = value if len(value) < 24 else f"{value[:4]}...({len(value)} characters)"
                out.append({"name": f"{command} {flag} {label!r}", "kind": "cli", "expect": expect,
                            "argv": [fresh() if a == "{out}" else a for a in argv], "names": flag.lstrip("-")})
    for name, code, expect, names in API:
        out.append({"name": f"api: {name}", "kind": "api", "code": code, "expect": expect, "names": names})
    return out


_TEXT_FLAGS = {"--block", "--init", "--activation", "--dtype", "--dist", "--limit", "--scheduler", "--save",
               "--out", "--device", "--data", "--optimizer"}
_LIST_FLAGS = {"--activations", "--inits", "--networks", "--rules"}  # comma lists of names
LISTS = TEXTS + ["tanh,relu", "tanh,,relu", "tanh,tanh", "tanh,", "he,glorot", "xavier,kaiming", "mlp", "resnet,mlp",
                 "leaky_relu:0.2,sigmoid", "identity", "none,depth", "depth", "none,none"]


def _without(base: list, flag: str) -> list:
    """``base`` less ``flag`` and its value (and a bare --quick when the flag is --out)."""
    out, skip = [], False
    for i, a in enumerate(base):
        if skip:
            skip = False
        elif a == flag:
            skip = True
        else:
            out.append(a)
    return out


# Worker ---------------------------------------------------------------------------------------------------
def worker() -> None:
    """Read probes as JSON lines on stdin, answer one JSON line each on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    os.environ["RESLIMIT_NATIVE"] = os.environ.get("RESLIMIT_NATIVE", "1")
    import numpy as np
    import torch

    import reslimit as rl
    from reslimit.cli import main

    answer, scratch = sys.stdout, Path.cwd()
    for line in sys.stdin:
        probe = json.loads(line)
        here = Path(tempfile.mkdtemp(dir=scratch)) / "cwd"  # a relative --out or --save, "../x" included, of one
        here.mkdir()  # probe meets no other probe's files
        os.chdir(here)
        err, out = io.StringIO(), io.StringIO()
        result = {"name": probe["name"]}
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                if probe["kind"] == "cli":
                    result["rc"] = main(probe["argv"])
                else:
                    exec(probe["code"], {"rl": rl, "torch": torch, "np": np})
                    result["rc"] = 0
            except (ValueError, TypeError) as error:
                result["rc"] = None if probe["kind"] == "cli" else 2
                result["error"] = f"{type(error).__name__}: {error}"
                result["escaped"] = probe["kind"] == "cli"
            except BaseException as error:  # noqa: BLE001 - a probe's whole point
                result["rc"] = None
                result["error"] = f"{type(error).__name__}: {error}"
                result["escaped"] = True
                result["trace"] = traceback.format_exc()[-2000:]
        result["stderr"] = err.getvalue()[-2000:]
        answer.write(json.dumps(result) + "\n")
        answer.flush()


class Worker:
    """One worker process; restarted after a hang or a crash."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.proc = None

    def run(self, probe: dict, timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([PYTHON, __file__, "--worker"], cwd=self.cwd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                         env=os.environ | {"OMP_NUM_THREADS": "1"})
        self.proc.stdin.write(json.dumps(probe) + "\n")
        self.proc.stdin.flush()
        start = time.monotonic()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout + 15)  # + the first import
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return {"name": probe["name"], "hang": time.monotonic() - start}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"name": probe["name"], "crash": code}
        return json.loads(line)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def judge(probe: dict, result: dict) -> str:
    """The outcome of one probe (see the module docstring)."""
    if "hang" in result:
        return "hang"
    if "crash" in result:
        return "crash"
    if result.get("escaped"):
        return "traceback"
    ran = result["rc"] == 0 or (result["rc"] == 1 and "reslimit: error" not in result.get("stderr", ""))
    refused = not ran  # exit 1 without an error line: the command ran and its verdict failed
    message = result.get("error") or result.get("stderr", "")
    if not refused:
        return "accepted" if probe["expect"] == "refuse" else "ok"
    if probe["expect"] == "accept":
        return "refused"
    lines = [x for x in message.strip().splitlines() if x.strip()]
    if probe["kind"] == "cli":
        if not lines or not lines[-1].startswith("reslimit: error:") or len(lines) > 1 + _extra_lines(message):
            return "unclear"
    named = probe["names"].replace("-", "_").lower()
    text = message.lower().replace("-", "_")
    return "ok" if named in text else "unclear"


def _extra_lines(message: str) -> int:
    """Lines a refused command may print before its error (a usage line of argparse, a progress bar)."""
    return sum(1 for x in message.splitlines() if x.startswith("usage:") or x.startswith(" ") or "%|" in x)


# Faults -------------------------------------------------------------------------------------------------
SWEEP = ["scaling", "--depths", "2:64:12", "--width", "8", "--ensemble", "4", "--betas", "0.5,1"]


def _cli(argv: list, **kw) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-c", "import sys; from reslimit.cli import main; sys.exit(main(sys.argv[1:]))",
                             *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _rows(folder: Path) -> list[str]:
    lines = (folder / "results.csv").read_text().splitlines()
    return sorted(lines[1:])


def _wait_points(folder: Path, n: int, timeout: float = 60) -> bool:
    ledger = folder / "points.jsonl"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= n:
            return True
        time.sleep(0.05)
    return False


def faults(scratch: Path, groups: set[str] | None = None) -> list[tuple[str, str, str]]:
    """(name, outcome, detail) for each fault injected into real processes; ``groups``: those of FAULTS to run
    (None: all)."""
    run = {name: fn for name, fn in FAULTS.items() if groups is None or name in groups}
    found = []
    clean = scratch / "clean"
    if {"sweep", "ledger"} & set(run):
        _cli([*SWEEP, "--out", str(clean)]).communicate(timeout=300)
    for name, fn in run.items():
        found += fn(scratch)
    return found


def _sweep_faults(scratch: Path) -> list[tuple[str, str, str]]:
    """A scaling sweep killed, interrupted or terminated after 1, 3, 6 points, rerun; parents killed; two writers."""
    found = []
    reference = _rows(scratch / "clean")
    for sig, name, workers in ((signal.SIGKILL, "kill -9", []), (signal.SIGINT, "Ctrl-C", []),
                               (signal.SIGINT, "Ctrl-C", ["--workers", "2"]), (signal.SIGTERM, "SIGTERM", [])):
        for after in (1, 3, 6):
            folder = scratch / f"{name.replace(' ', '')}-{len(workers)}-{after}"
            proc = _cli([*SWEEP, *workers, "--out", str(folder)], start_new_session=True)
            if not _wait_points(folder, after):
                proc.kill()
            os.killpg(proc.pid, sig) if name == "Ctrl-C" else proc.send_signal(sig)  # Ctrl-C: the whole group
            _, err = proc.communicate(timeout=120)
            clean = "Traceback" not in err and (name != "Ctrl-C" or proc.returncode == 0 or (
                proc.returncode == 130 and err.strip().splitlines()[-1].startswith("reslimit: interrupted: ")))
            rerun = _cli([*SWEEP, "--out", str(folder)])
            _, err2 = rerun.communicate(timeout=300)
            same = rerun.returncode == 0 and _rows(folder) == reference
            outcome = "traceback" if not clean or "Traceback" in err2 else ("ok" if same else "lost")
            found.append((f"fault: {name} {' '.join(workers)} after {after} point(s), rerun", outcome,
                          err.strip()[-200:]))
    for workers in ("1", "2"):
        folder = scratch / f"kill-parent-{workers}"
        proc = _cli([*SWEEP, "--workers", workers, "--out", str(folder)], start_new_session=True)
        _wait_points(folder, 1)
        children = _children(proc.pid)
        proc.kill()
        proc.wait()
        time.sleep(10)
        left = [pid for pid in children if _alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        found.append((f"fault: kill -9 of a --workers {workers} parent, workers exit within 10 s",
                      "ok" if not left else "hang", f"{len(left)} of {len(children)} children left"))
    for seeds in (("0", "0"), ("0", "1")):
        folder = scratch / f"two-writers-{'-'.join(seeds)}"
        procs = [_cli([*SWEEP, "--seed", s, "--out", str(folder)]) for s in seeds]
        results = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        tb = any("Traceback" in err for _, err in results)
        lines = (folder / "results.csv").read_text().splitlines()
        headers = sum(line.startswith("point,") for line in lines)
        winner = codes.index(0) if 0 in codes else None
        ok = (sorted(codes) == [0, 2] and headers == 1 and winner is not None
              and any("another" in err for _, err in results)
              and (seeds[winner] != "0" or sorted(lines[1:]) == reference))
        found.append((f"fault: two writers on one folder, seeds {seeds}", "traceback" if tb else
                      ("ok" if ok else "lost"), f"exit codes {codes}, {headers} header(s), {len(lines) - 1} rows"))
    return found


# One small run of each command that writes a folder; "{out}" is the folder.
WRITERS = {
    "scaling": SWEEP[:1] + ["--depths", "2,4", "--width", "4", "--ensemble", "2", "--betas", "0.5,1"],
    "propagation": ["propagation", "--depth", "4", "--width", "8", "--ensemble", "2", "--samples", "2",
                    "--activations", "tanh", "--inits", "he"],
    "train": ["train", "--depth", "4", "--width", "4", "--epochs", "1"],
    "trainability": ["trainability", "--hursts", "0.5", "--betas", "0.5", "--depth", "4", "--lrs", "0.1",
                     "--epochs", "1"],
    "converge": ["converge", "--width", "4", "--depths", "4,8,16", "--samples", "4"],
    "phase": ["phase", "--hursts", "0.3,0.7", "--depths", "2,4", "--betas", "0.5,1", "--width", "4", "--ensemble", "2",
              "--samples", "2"],
    "transfer": ["transfer", "--depths", "2,4", "--width", "4", "--lr0s", "0.01,0.1,1", "--seeds", "1",
                 "--epochs", "1"],
    "coord-check": ["coord-check", "--depths", "2,4", "--width", "4", "--steps", "1,2", "--seeds", "1"],
    "report": ["report", "--quick", "--only", "lemma1"],
}
USER_FILES = {"history.csv": b"epoch,loss\n0,1.0\n", "weights.pt": b"mine", "training.png": b"mine",
              "results.csv": b"a,b\n1,2\n", "index.html": b"<p>mine</p>", "claims.json": b"{}"}


def _snapshot(folder: Path) -> dict:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()
            and f.name != ".lock"}


def _folder_faults(scratch: Path) -> list[tuple[str, str, str]]:
    """Every command into a folder another command wrote, one of its own with other settings, and a folder of a
    user's own files: refused in one line (exit 2), not a byte of the folder changed (issue 27, class 1)."""
    found, made = [], {}
    for name, argv in WRITERS.items():
        made[name] = scratch / f"own-{name}"
        done = _cli([*argv, "--seed", "1", "--out", str(made[name])] if name != "report" else
                    [*argv, "--out", str(made[name])])
        done.communicate(timeout=600)
    made["user files"] = scratch / "own-user-files"
    made["user files"].mkdir()
    for file, data in USER_FILES.items():
        (made["user files"] / file).write_bytes(data)
    for writer, argv in WRITERS.items():
        for kind, source in made.items():
            if kind == writer and writer == "report":
                continue  # a report's folder is its own to rewrite (it has no seed)
            folder = scratch / f"into-{writer}-{kind.replace(' ', '-')}"
            shutil.copytree(source, folder)
            before = _snapshot(folder)
            done = _cli([*argv, "--out", str(folder)])
            _, err = done.communicate(timeout=600)
            lines = [x for x in err.strip().splitlines() if x.strip() and "%|" not in x]
            same = _snapshot(folder) == before
            clean = done.returncode == 2 and len(lines) == 1 and lines[0].startswith("reslimit: error:")
            outcome = "traceback" if "Traceback" in err else ("ok" if same and clean else
                                                              "lost" if not same else "unclear")
            what = "its own kind, another seed" if kind == writer else kind
            found.append((f"fault: {writer} --out a folder of {what}", outcome,
                          f"exit {done.returncode}, {'unchanged' if same else 'CHANGED'}: {err.strip()[-160:]}"))
    return found


def _input_faults(scratch: Path) -> list[tuple[str, str, str]]:
    """A run resumed after its input file was replaced is refused, naming the file (issue 27, class 2)."""
    import numpy as np

    rng = np.random.default_rng(0)
    data, folder = scratch / "data.npz", scratch / "train-replaced-data"
    np.savez(data, X=rng.normal(size=(4000, 16)), y=rng.integers(0, 3, 4000))
    argv = ["train", "--data", str(data), "--depth", "64", "--width", "16", "--epochs", "20", "--out", str(folder)]
    first = _cli(argv)
    end = time.monotonic() + 300
    while not (folder / "checkpoint.pt").exists() and first.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    first.kill()
    first.communicate()
    np.savez(data, X=rng.normal(size=(4000, 16)), y=rng.integers(0, 3, 4000))
    rerun = _cli(argv)
    _, err = rerun.communicate(timeout=600)
    refused = rerun.returncode == 2 and "data.npz" in err and err.strip().count("\n") == 0
    return [("fault: train --data FILE replaced between a run and its resume", "traceback" if "Traceback" in err
             else ("ok" if refused else "lost"), f"exit {rerun.returncode}: {err.strip()[-200:]}")]


PICKLE_MARKER = """
import os, pickle, sys, zipfile
class Planted:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
kind, path = sys.argv[1], sys.argv[3]
if kind == "torch":
    import torch
    torch.save({"params": Planted(), "net": Planted()}, path)
else:
    import numpy as np
    np.savez(path, V=np.array([Planted()], dtype=object))
"""
CONSTRUCTOR = "#include <stdlib.h>\n__attribute__((constructor)) static void planted(void) { system(\"touch %s\"); }\n"


def _planted_faults(scratch: Path) -> list[tuple[str, str, str]]:
    """Planted pickles, links, modules and libraries: none runs, none is written through (issue 27, class 0)."""
    found = []
    cases = [("checkpoint.pt of train", "torch", "checkpoint.pt", WRITERS["train"]),
             ("weights file of regularity", "numpy", "weights.npz", ["regularity"]),
             ("data file of train", "numpy", "data.npz", ["train", "--depth", "4", "--width", "4", "--epochs", "1"])]
    for what, kind, file, argv in cases:
        folder = scratch / f"planted-{file}"
        folder.mkdir()
        marker = scratch / f"ran-{file}"
        subprocess.run([PYTHON, "-c", PICKLE_MARKER, kind, str(marker), str(folder / file)], check=True)
        extra = ([str(folder / file)] if argv == ["regularity"] else ["--data", str(folder / file)]
                 if file == "data.npz" else [])
        done = _cli([*argv, *extra, "--out", str(folder)] if argv != ["regularity"] else [*argv, *extra])
        _, err = done.communicate(timeout=300)
        found.append((f"fault: a pickle planted as the {what}", "lost" if marker.exists() else
                      "traceback" if "Traceback" in err else "ok", f"exit {done.returncode}: {err.strip()[-160:]}"))
    outside = scratch / "outside.txt"
    for link in ("checkpoint.pt.tmp", "manifest.json.tmp", "history.csv.tmp", "weights.pt", "history.csv"):
        outside.write_text("not yours")
        folder = scratch / f"linked-{link}"
        folder.mkdir()
        (folder / link).symlink_to(outside)
        done = _cli([*WRITERS["train"], "--out", str(folder)])
        _, err = done.communicate(timeout=300)
        kept = outside.read_bytes() == b"not yours"
        found.append((f"fault: train --out DIR with DIR/{link} a link out of DIR", "lost" if not kept else
                      "traceback" if "Traceback" in err else "ok", f"exit {done.returncode}: {err.strip()[-160:]}"))
    report = scratch / "report-planted"
    _cli([*WRITERS["report"], "--out", str(report)]).communicate(timeout=600)
    marker = scratch / "ran-numpy"
    for where in (report, report / "lemma1"):
        (where / "numpy.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    _, err = _cli([*WRITERS["report"], "--out", str(report)]).communicate(timeout=600)
    found.append(("fault: numpy.py planted in a report's folders, report rerun", "lost" if marker.exists() else
                  "traceback" if "Traceback" in err else "ok", err.strip()[-160:]))
    found += _planted_library(scratch)
    return found


def _planted_library(scratch: Path) -> list[tuple[str, str, str]]:
    """A library with a constructor put in a cache folder others can write, its digest beside it: not loaded."""
    cache = scratch / "open-cache"
    env = os.environ | {"RESLIMIT_CACHE": str(cache)}
    subprocess.run([PYTHON, "-c", KERNEL_RUN], env=env, capture_output=True, timeout=300)
    marker = scratch / "ran-library"
    for lib in sorted(cache.glob("*.so")):
        source = scratch / "planted.c"
        source.write_text(CONSTRUCTOR % marker)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
        digest = subprocess.run(["sha256sum", str(lib)], capture_output=True, text=True).stdout.split()[0]
        lib.with_name(lib.name + ".sha256").write_text(f"{digest}  {lib.name}\n")
    cache.chmod(0o777)
    done = subprocess.run([PYTHON, "-c", KERNEL_RUN], env=env, capture_output=True, text=True, timeout=300)
    return [("fault: a planted library and its digest in a cache folder anyone can write", "lost" if marker.exists()
             else "ok" if done.returncode == 0 else "traceback", (done.stdout + done.stderr).strip()[-160:])]


TRAINABILITY = ["trainability", "--hursts", "0.3,0.5,0.7", "--betas", "0.5,1", "--depth", "8", "--lrs", "0.05,0.2",
                "--epochs", "2"]


def _pool_faults(scratch: Path) -> list[tuple[str, str, str]]:
    """trainability --workers 2 interrupted (Ctrl-C to its group, kill -9 of the parent), rerun: the rows of an
    uninterrupted run (issue 27, class 2)."""
    clean = scratch / "trainability-clean"
    _cli([*TRAINABILITY, "--out", str(clean)]).communicate(timeout=600)
    reference = _rows(clean)
    found = []
    for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGKILL, "kill -9 of the parent")):
        folder = scratch / f"trainability-{sig.name}"
        proc = _cli([*TRAINABILITY, "--workers", "2", "--out", str(folder)], start_new_session=True)
        if not _wait_points(folder, 2, timeout=300):
            proc.kill()
        os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.kill()
        _, err = proc.communicate(timeout=120)
        time.sleep(2)
        rerun = _cli([*TRAINABILITY, "--workers", "2", "--out", str(folder)])
        _, err2 = rerun.communicate(timeout=600)
        same = rerun.returncode == 0 and _rows(folder) == reference
        found.append((f"fault: trainability --workers 2, {name} after 2 points, rerun",
                      "traceback" if "Traceback" in err + err2 else ("ok" if same else "lost"), err2.strip()[-160:]))
    return found


def _children(pid: int) -> list[int]:
    out = []
    for task in Path("/proc").glob("[0-9]*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(task.name))
            out += _children(int(task.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


KERNEL_RUN = """
import torch, reslimit as rl
from reslimit import native
net = rl.ScaledResNet(16, 8, block="res3", ensemble=2, seed=3)
h0 = torch.randn(2, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    a = net(h0)
print(native.status(torch.float64))
native.ENABLED = False
with torch.no_grad():
    b = net(h0)
assert (a - b).abs().max() < 1e-12, "kernel and torch loop differ"
"""


def _kernel_faults(scratch: Path) -> list[tuple[str, str, str]]:
    cache = scratch / "kernel-cache"
    env = os.environ | {"RESLIMIT_CACHE": str(cache)}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "-c", KERNEL_RUN], env=env, capture_output=True, text=True, timeout=300)

    first = run()
    found = [("fault: kernel cache, first build", "ok" if first.returncode == 0 else "traceback",
              first.stdout.strip()[-200:] + first.stderr.strip()[-200:])]
    libs = sorted(cache.glob("*.so"))
    damages = {
        "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "garbage": lambda p: p.write_bytes(os.urandom(p.stat().st_size)),
        "empty": lambda p: p.write_bytes(b""),
        "a library without the kernel's symbols": _foreign_library,
        "removed": lambda p: p.unlink(),
    }
    for what, damage in damages.items():
        for lib in sorted(cache.glob("*.so")) or libs:
            if lib.exists() or what != "removed":
                damage(lib)
        done = run()
        crashed = done.returncode < 0 or done.returncode > 1
        good = done.returncode == 0 and "compiled kernel" in done.stdout
        found.append((f"fault: kernel cache {what}", "crash" if crashed else ("ok" if good else "traceback"),
                      f"exit {done.returncode}: {(done.stdout + done.stderr).strip()[-200:]}"))
    return found


def _foreign_library(path: Path) -> None:
    source = path.with_suffix(".foreign.c")
    source.write_text("int unrelated(void) { return 1; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(path), str(source)], check=True)
    source.unlink()


def _ledger_faults(scratch: Path) -> list[tuple[str, str, str]]:
    """Damage a finished study's files in several ways; the rerun must end with the reference rows."""
    found, reference = [], _rows(scratch / "clean")
    damages = {
        "results.csv cut mid-line": ("results.csv", lambda b: b[: len(b) - 7]),
        "results.csv a digit altered": ("results.csv", lambda b: b.replace(b"0.", b"9.", 1)),
        "results.csv emptied": ("results.csv", lambda b: b""),
        "points.jsonl cut mid-line": ("points.jsonl", lambda b: b[: len(b) - 5]),
        "points.jsonl garbage": ("points.jsonl", lambda b: os.urandom(64)),
        "points.jsonl removed": ("points.jsonl", None),
        "manifest.json garbage": ("manifest.json", lambda b: os.urandom(64)),
        "manifest.json removed": ("manifest.json", None),
        "results.csv garbage bytes": ("results.csv", lambda b: b + os.urandom(64)),
    }
    for what, (name, damage) in damages.items():
        folder = scratch / f"damaged-{what.replace(' ', '-')}"
        shutil.copytree(scratch / "clean", folder)
        target = folder / name
        if damage is None:
            target.unlink()
        else:
            target.write_bytes(damage(target.read_bytes()))
        done = _cli([*SWEEP, "--out", str(folder)])
        _, err = done.communicate(timeout=300)
        if "Traceback" in err:
            outcome = "traceback"
        elif done.returncode == 0:
            outcome = "ok" if _rows(folder) == reference else "lost"
        else:  # refused: fine if it says which file and how to recover
            outcome = "ok" if name in err and err.strip().count("\n") == 0 else "unclear"
        found.append((f"fault: {what}, rerun", outcome, f"exit {done.returncode}: {err.strip()[-200:]}"))
    return found


FAULTS = {"sweep": _sweep_faults, "kernel": _kernel_faults, "ledger": _ledger_faults, "folder": _folder_faults,
          "input": _input_faults, "planted": _planted_faults, "pool": _pool_faults}


# Main ---------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", help="run the probes whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--no-faults", action="store_true", help="skip the fault injections")
    parser.add_argument("--faults", metavar="GROUPS", help=f"only these fault groups, a comma list of "
                        f"{', '.join(FAULTS)} (default: all)")
    parser.add_argument("--json", metavar="FILE", help="write every outcome to FILE")
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="reslimit-probes-"))
    todo = [p for p in probes(scratch) if args.only is None or args.only in p["name"]]
    if args.list:
        for p in todo:
            print(f"{p['expect']:7s} {p['name']}")
        print(f"{len(todo)} probes")
        return 0
    outcomes = []
    workers = [Worker(scratch) for _ in range(max(1, args.jobs))]
    chunks = [todo[i::len(workers)] for i in range(len(workers))]

    def run(k: int) -> list:
        got = []
        for probe in chunks[k]:
            result = workers[k].run(probe, TIMEOUT)
            got.append((probe["name"], judge(probe, result), _detail(result)))
        workers[k].close()
        return got

    start = time.monotonic()
    with ThreadPoolExecutor(len(workers)) as pool:
        for got in pool.map(run, range(len(workers))):
            outcomes += got
    if not args.no_faults and (args.only is None or args.only in "fault:"):
        outcomes += faults(scratch, None if args.faults is None else set(args.faults.split(",")))
    counts = {}
    for name, outcome, detail in sorted(outcomes):
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != "ok":
            print(f"{outcome:9s} {name}: {detail}")
    print(f"{len(outcomes)} probes in {time.monotonic() - start:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.json:
        Path(args.json).write_text(json.dumps([{"probe": n, "outcome": o, "detail": d} for n, o, d in outcomes],
                                              indent=1))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if set(counts) <= {"ok"} else 1


def _detail(result: dict) -> str:
    if "hang" in result:
        return f"no answer in {result['hang']:.0f} s"
    if "crash" in result:
        return f"worker died with {result['crash']}"
    text = result.get("error") or result.get("stderr") or f"exit {result.get('rc')}"
    return " | ".join(text.strip().splitlines()[-3:])[:300]


if __name__ == "__main__":
    sys.exit(main())

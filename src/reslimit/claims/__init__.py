"""The claims of the theory, each checked by a function of this package, with its quick and full sizes.

:data:`CLAIMS` is the one table: ``name -> Claim(check, quick, full)``, where ``check(out, **sizes)`` runs the
studies under ``out`` and returns its verdicts (each a dict {claim, source, theory, measured, tolerance, passed,
figure}), ``quick`` the sizes of ``reslimit report --quick`` (minutes on 2 cores) and ``full`` the acceptance
sizes. The module of each claim (``reslimit/claims/NAME.py``) states it and its source in its docstring. The
bound claims take their checks, sizes and seeds from :func:`reslimit.studies.bounds.plan`, the plan that
``reslimit bounds`` runs too.

One claim runs as ``python -m reslimit.claims NAME [--quick|--full] [--out DIR]`` (:func:`main`) or from the
checkout as ``python validation/NAME.py ...``; ``reslimit report`` runs each in its own process.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..studies.bounds import plan
from . import (
    adjoint_rate,
    cor1_width,
    critical_periods,
    dropout,
    fbm_rate,
    grad_regimes,
    iid_regimes,
    learning_rate,
    lemma1,
    lemma1_blocks,
    ode_rate,
    phase_line,
    prop2,
    prop3,
    prop3_whp,
    prop5_6,
    prop6_nonlinear,
    prop8,
    prop9,
    propagation,
    sde_rate,
    sde_scaling,
    second_moment,
    smooth_regimes,
    stochastic_depth,
    trainability,
    trained_ode,
    trained_weights,
)


@dataclass(frozen=True)
class Claim:
    """A claim's check and its sizes: ``check(out, **quick)`` or ``check(out, **full)`` returns its verdicts."""

    check: Callable[..., list[dict]]
    quick: dict
    full: dict

    @property
    def doc(self) -> str:
        """The claim's statement: the docstring of the module of its check."""
        return inspect.getdoc(sys.modules[self.check.__module__])


_REGIMES_QUICK = dict(depths=[30, 300], ensemble=20, samples=4)
_REGIMES_FULL = dict(depths=[10, 32, 100, 316, 1000], ensemble=50, samples=10)  # Figures 1, 2: depths 10..1000
_BOUNDS_QUICK, _BOUNDS_FULL = plan(quick=True), plan(quick=False)

CLAIMS: dict[str, Claim] = {
    "adjoint_rate": Claim(adjoint_rate.check,
                          quick=dict(ode_depths=[16, 32, 64, 128, 256], ode_width=8, ode_samples=64,
                                     sde_depths=[16, 32, 64, 128, 256], sde_width=8, sde_samples=32),
                          full=dict(ode_depths=[8, 16, 32, 64, 128, 256, 512, 1024], ode_width=16, ode_samples=64,
                                    sde_depths=[16, 32, 64, 128, 256, 512, 1024], sde_width=16, sde_samples=64)),
    "critical_periods": Claim(critical_periods.check, quick=dict(deficits=[20], recovery=10, seeds=[0, 1, 2, 3],
                                                                dropout_deficits=[]),
                              full=dict(deficits=[5, 10, 20, 40], recovery=20, seeds=list(range(8)),
                                        dropout_deficits=[5, 10, 20])),
    "dropout": Claim(dropout.check, quick=dict(depths=[16, 64], drops=[0.1, 0.5], ensemble=256, inputs=8,
                                               train_depth=8, width=16, epochs=3, seeds=[0]),
                     full=dict(depths=[16, 64, 256], drops=[0.1, 0.3, 0.5], ensemble=1024, inputs=8, train_depth=16,
                               width=16, epochs=4, seeds=[0, 1, 2, 3])),
    "fbm_rate": Claim(fbm_rate.check, quick=dict(depths=[16, 32, 64, 128, 256, 512], samples=64),
                      full=dict(depths=[16, 32, 64, 128, 256, 512, 1024, 2048], samples=64)),
    "grad_regimes": Claim(grad_regimes.check, quick=_REGIMES_QUICK, full=_REGIMES_FULL),
    "iid_regimes": Claim(iid_regimes.check, quick=_REGIMES_QUICK, full=_REGIMES_FULL),
    "learning_rate": Claim(learning_rate.check, quick=dict(depths=[16, 32, 64, 128, 256], epochs=2),
                           full=dict(depths=[16, 32, 64, 128, 256, 512, 1024], epochs=3)),
    "lemma1": Claim(lemma1.check, quick=dict(checks=_BOUNDS_QUICK["lemma1"]), full=dict(checks=_BOUNDS_FULL["lemma1"])),
    "lemma1_blocks": Claim(lemma1_blocks.check, quick=dict(checks=_BOUNDS_QUICK["lemma1_blocks"]),
                           full=dict(checks=_BOUNDS_FULL["lemma1_blocks"])),
    "ode_rate": Claim(ode_rate.check, quick=dict(depths=[8, 16, 32, 64, 128], width=8, samples=16),
                      full=dict(depths=[8, 16, 32, 64, 128, 256, 512, 1024], width=16, samples=64)),
    "phase_line": Claim(phase_line.check,
                        quick=dict(hursts=[0.2, 0.4, 0.6, 0.8], betas=np.linspace(0.1, 1.1, 21).tolist(),
                                   depths=[64, 512], ensemble=4, samples=8, width=24),
                        # the paper's Figure 7 grid, with a second depth for the critical beta
                        full=dict(hursts=np.linspace(0.05, 0.97, 51).tolist(), betas=np.linspace(0, 1.3, 70).tolist(),
                                  depths=[100, 1000], ensemble=5, samples=10, width=40)),
    "prop2": Claim(prop2.check, quick=dict(checks=_BOUNDS_QUICK["prop2"]), full=dict(checks=_BOUNDS_FULL["prop2"])),
    "prop3": Claim(prop3.check, quick=dict(checks=_BOUNDS_QUICK["prop3"]), full=dict(checks=_BOUNDS_FULL["prop3"])),
    "prop5_6": Claim(prop5_6.check, quick=dict(checks=_BOUNDS_QUICK["prop5_6"]),
                     full=dict(checks=_BOUNDS_FULL["prop5_6"])),
    "prop6_nonlinear": Claim(prop6_nonlinear.check, quick=dict(checks=_BOUNDS_QUICK["prop6_nonlinear"]),
                             full=dict(checks=_BOUNDS_FULL["prop6_nonlinear"])),
    "prop8": Claim(prop8.check, quick=dict(checks=_BOUNDS_QUICK["prop8"]), full=dict(checks=_BOUNDS_FULL["prop8"])),
    "prop9": Claim(prop9.check, quick=dict(checks=_BOUNDS_QUICK["prop9"]), full=dict(checks=_BOUNDS_FULL["prop9"])),
    # the course's experiment: width 500, depth up to 100
    "propagation": Claim(propagation.check, quick=dict(depth=30, width=128, ensemble=16, samples=4),
                         full=dict(depth=100, width=500, ensemble=16, samples=8)),
    "prop3_whp": Claim(prop3_whp.check, quick=dict(checks=_BOUNDS_QUICK["prop3_whp"]),
                       full=dict(checks=_BOUNDS_FULL["prop3_whp"])),
    "cor1_width": Claim(cor1_width.check, quick=dict(checks=_BOUNDS_QUICK["cor1_width"]),
                        full=dict(checks=_BOUNDS_FULL["cor1_width"])),
    "sde_rate": Claim(sde_rate.check, quick=dict(depths=[16, 32, 64, 128, 256], width=8, samples=32),
                      full=dict(depths=[16, 32, 64, 128, 256, 512, 1024], width=16, samples=64)),
    "sde_scaling": Claim(sde_scaling.check,
                         quick=dict(depths=[8, 16, 32, 64, 128], width=8, samples=32, reference_factor=32),
                         full=dict(depths=[16, 32, 64, 128, 256, 512, 1024], width=16, samples=64,
                                   reference_factor=64)),
    "second_moment": Claim(second_moment.check, quick=dict(depths=(4, 16, 64), ensemble=64),
                           full=dict(depths=(4, 16, 64, 256, 1024), ensemble=256)),
    "smooth_regimes": Claim(smooth_regimes.check, quick=_REGIMES_QUICK, full=_REGIMES_FULL),
    "stochastic_depth": Claim(stochastic_depth.check,
                              quick=dict(depths=[10, 20, 100], passes=20, batch=64, moment_depths=[16, 64],
                                         ensemble=256, inputs=8, ode_depths=[8, 16, 32, 64, 128],
                                         sde_depths=[8, 16, 32, 64, 128], width=8, samples=32),
                              full=dict(depths=[10, 100, 1000], passes=100, batch=64, moment_depths=[16, 64, 256],
                                        ensemble=1024, inputs=8, ode_depths=[8, 16, 32, 64, 128, 256, 512],
                                        sde_depths=[16, 32, 64, 128, 256, 512, 1024], width=16, samples=64)),
    "trainability": Claim(trainability.check,
                          quick=dict(hursts=[0.2, 0.4, 0.6, 0.8], betas=np.linspace(0, 1, 9).tolist(), depth=128,
                                     lrs=[0.01, 0.1, 1.0], epochs=3),
                          # Figure 9's depth
                          full=dict(hursts=np.linspace(0.1, 0.9, 9).tolist(), betas=np.linspace(0, 1.2, 13).tolist(),
                                    depth=1000, lrs=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0], epochs=5)),
    "trained_ode": Claim(trained_ode.check, quick=dict(depths=[16, 32, 64, 128, 256], width=16, epochs=5, samples=64),
                         full=dict(depths=[16, 32, 64, 128, 256, 512, 1024], width=16, epochs=10, samples=128)),
    "trained_weights": Claim(trained_weights.check, quick=dict(depth=256, width=16, epochs=10),
                             full=dict(depth=1000, width=16, epochs=20)),  # Figure 8: depth 1000
}


def run(name: str, out, *, quick: bool = True, command: str | None = None) -> list[dict]:
    """Check claim ``name`` at its quick or full sizes and write ``out/claims.json``; return the verdicts.

    Each verdict gets ``command`` (default ``python -m reslimit.claims NAME --quick|--full --out OUT``), the
    line that reproduces it.

    Raises:
        ValueError: ``name`` is not a key of :data:`CLAIMS`.
    """
    if name not in CLAIMS:
        raise ValueError(f"name must be a claim of reslimit.claims ({', '.join(CLAIMS)}); got {name!r}")
    out = Path(out)
    claim = CLAIMS[name]
    verdicts = claim.check(out, **(claim.quick if quick else claim.full))
    if command is None:
        command = shlex.join(["python", "-m", "reslimit.claims", name, "--quick" if quick else "--full", "--out",
                              str(out)])
    for v in verdicts:
        v.setdefault("command", command)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.json").write_text(json.dumps(verdicts, indent=2) + "\n")
    return verdicts


def main(argv=None, *, name: str | None = None) -> int:
    """The command line of one claim; exit status 0 if every verdict passed, else 1.

    ``python -m reslimit.claims NAME [--quick|--full] [--out DIR]``; with ``name`` given (the scripts
    ``validation/NAME.py``) the claim is not an argument. ``--out`` defaults to results/validation/NAME; full
    sizes are the default. The recorded command is the line typed (``python validation/NAME.py ...`` for a
    script).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    doc = CLAIMS[name].doc if name in CLAIMS else __doc__
    parser = argparse.ArgumentParser(prog=f"python {sys.argv[0]}" if name else "python -m reslimit.claims",
                                     description=doc.strip().splitlines()[0])
    if name is None:
        parser.add_argument("name", choices=list(CLAIMS), help="the claim to check")
    parser.add_argument("--out", default=None, help="output folder (default results/validation/NAME)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (minutes on 2 cores)")
    size.add_argument("--full", action="store_true", help="the acceptance sizes (default)")
    args = parser.parse_args(argv)
    prefix = ["python", sys.argv[0]] if name else ["python", "-m", "reslimit.claims"]
    name = name or args.name
    if args.out is not None and not args.out.strip():
        parser.error("--out must be a folder path; got an empty one")
    out = Path(args.out) if args.out is not None else Path("results/validation") / name
    # the torch threads, where set (reslimit report sets them): with them the command gives the same numbers
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if os.environ.get("OMP_NUM_THREADS") else ""
    try:
        verdicts = run(name, out, quick=args.quick, command=threads + shlex.join(prefix + argv))
    except ValueError as error:  # a size this machine cannot hold, say: the message says what to change
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: interrupted: {out / 'claims.json'} not written\n")
    return 0 if all(v["passed"] for v in verdicts) else 1

"""What the claims share: running a rate, regime or bound study and turning its result into verdicts.

A claim's check returns a list of :class:`~reslimit.claims.Verdict`; :func:`reslimit.claims.run` adds the
reproducing ``command`` and writes them to OUT/NAME/claims.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import store
from ..studies.bounds import Check, figure, run_check
from ..studies.converge import converge
from ..studies.scaling import scaling
from ._verdict import Verdict


def rate_claim(claim: str, source: str, out: Path, judged: bool = True, quantity: str = "path", **study) -> Verdict:
    """Run :func:`reslimit.studies.converge.converge`, save it under ``out``, and return the claim's verdict.

    ``quantity`` is the error judged: "path" (max_k ||H_{k/L} - h_k||) or "grad" (||P_0 - p_0||, the adjoint).
    Passed when |slope - theory| <= tolerance (the study's ``theory`` and ``tolerance``).
    """
    conv = converge(progress=True, out=out, **study)
    rate = conv.rate if quantity == "path" else conv.grad_rate
    passed = bool(abs(rate.slope - conv.theory) <= conv.tolerance)
    verdict = ("PASS" if passed else "FAIL") if judged else "shown, not judged"
    print(f"{claim}: {quantity} slope {rate.slope:.3f} [{rate.ci_low:.3f}, {rate.ci_high:.3f}], "
          f"theory {conv.theory:g} +- {conv.tolerance:g}: {verdict}; "
          f"path slope {conv.rate.slope:.3f}, gradient slope {conv.grad_rate.slope:.3f}")
    return Verdict(claim=claim, source=source, theory=conv.theory, measured=rate.slope, tolerance=conv.tolerance,
                   passed=passed, figure=str(out / "convergence.png"))


def bound_claims(checks: list[Check], out: Path, name: str) -> list[Verdict]:
    """Run the planned checks of one bound (:func:`reslimit.studies.bounds.plan`); one claim per row.

    The rows are saved as ``out/NAME.csv`` and drawn in ``out/NAME.png``. A row's theory is its bound
    [lower, upper] (the value when lower = upper); a control's theory is "outside" that band.
    """
    rows, controls = [], []
    for check in checks:
        new = run_check(check)
        rows += new
        controls += [check.control] * len(new)
    out.mkdir(parents=True, exist_ok=True)
    store.write_rows(out / f"{name}.csv", rows)
    figure(rows, out / f"{name}.png")
    claims = []
    for r, control in zip(rows, controls):
        lo, hi = r["lower"], r["upper"]
        theory = lo if lo is not None and lo == hi else f"[{'-inf' if lo is None else f'{lo:.6g}'}, " \
                                                         f"{'inf' if hi is None else f'{hi:.6g}'}]"
        if control:
            theory = f"outside {theory}"
        print(f"{r['source']} ({r['check']}, beta={r['beta']}, L={r['depth']}): {r['quantity']} = "
              f"{r['measured']:.6g} (SE {r['se']:.3g}), theory {theory}: {'PASS' if r['passed'] else 'FAIL'} "
              f"({r['verdict']})")
        claims.append(Verdict(claim=f"{'control: ' if control else ''}{r['quantity']} ({r['activation']}, "
                                    f"{r['init']}, beta={r['beta']}, L={r['depth']}, d={r['width']}, "
                                    f"n={r['samples']}): {r['verdict']}",
                              source=r["source"], theory=theory, measured=r["measured"], tolerance=r["rule"],
                              passed=bool(r["passed"]), figure=str(out / f"{name}.png")))
    return claims


def regime_claims(out: Path, init: str, name: str, source: str, betas: list, blocks, **size) -> list[Verdict]:
    """The critical-beta claim of ``init`` weights for each (block, activation): width 40, seed 0, within 0.05.

    ``size`` holds the scaling study's depths, ensemble and samples.
    """
    return [critical_claim(f"{init} weights, {block}: critical beta {name}", source, out / block, 0.05,
                           init=init, block=block, activation=act, betas=betas, width=40, seed=0, **size)
            for block, act in blocks]


def critical_claim(claim: str, source: str, out: Path, tolerance: float, **study) -> Verdict:
    """Run the scaling study over a grid of betas; passed when |critical beta - theory's| <= tolerance."""
    scaling(out, **study)
    manifest = json.loads((out / "manifest.json").read_text())
    measured, theory = manifest["critical_beta"], manifest["critical_beta_theory"]
    passed = measured is not None and abs(measured - theory) <= tolerance
    print(f"{claim}: critical beta {measured if measured is None else round(measured, 3)}, theory {theory:g} "
          f"+- {tolerance:g} (gradient ratio: {manifest['critical_beta_grad']}): {'PASS' if passed else 'FAIL'}")
    return Verdict(claim=claim, source=source, theory=theory, measured=measured, tolerance=tolerance, passed=passed,
                   figure=str(out / "scaling.png"))

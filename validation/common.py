"""What every validation script shares: arguments, running a rate study, and writing its claims.

Each script checks one claim of the theory and writes DIR/claims.json, a list of
{claim, source, theory, measured, tolerance, passed, command}, beside the study's own files.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from reslimit import converge


def parse(doc: str, name: str, argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/validation") / name)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (minutes on 2 cores)")
    size.add_argument("--full", action="store_true", help="the acceptance sizes (default)")
    args = parser.parse_args(argv)
    args.command = " ".join(["python", shlex.quote(sys.argv[0])] + [shlex.quote(a) for a in (argv or sys.argv[1:])])
    return args


def rate_claim(claim: str, source: str, out: Path, judged: bool = True, quantity: str = "path", **study) -> dict:
    """Run :func:`reslimit.converge`, save it under ``out``, and return the claim's verdict.

    ``quantity`` is the error judged: "path" (max_k ||H_{k/L} - h_k||) or "grad" (||P_0 - p_0||, the adjoint).
    """
    conv = converge(progress=True, out=out, **study)
    rate = conv.rate if quantity == "path" else conv.grad_rate
    passed = bool(abs(rate.slope - conv.theory) <= conv.tolerance)
    verdict = ("PASS" if passed else "FAIL") if judged else "shown, not judged"
    print(f"{claim}: {quantity} slope {rate.slope:.3f} [{rate.ci_low:.3f}, {rate.ci_high:.3f}], "
          f"theory {conv.theory:g} +- {conv.tolerance:g}: {verdict}; "
          f"path slope {conv.rate.slope:.3f}, gradient slope {conv.grad_rate.slope:.3f}")
    return {"claim": claim, "source": source, "theory": conv.theory, "measured": rate.slope,
            "tolerance": conv.tolerance, "passed": passed, "figure": str(out / "convergence.png")}


def finish(args, claims: list[dict]) -> int:
    """Write the claims with the reproducing command; exit status 1 if any failed."""
    args.out.mkdir(parents=True, exist_ok=True)
    for c in claims:
        c.setdefault("command", args.command)
    (args.out / "claims.json").write_text(json.dumps(claims, indent=2) + "\n")
    return 0 if all(c["passed"] for c in claims) else 1


def bound_claims(rows: list[dict], out: Path, name: str) -> list[dict]:
    """Claims from rows of :mod:`reslimit.studies.bounds`: save them (CSV) and their figure under ``out``."""
    from reslimit import store
    from reslimit.studies.bounds import figure

    out.mkdir(parents=True, exist_ok=True)
    store.write_rows(out / f"{name}.csv", rows)
    figure(rows, out / f"{name}.png")
    claims = []
    for r in rows:
        lo, hi = r["lower"], r["upper"]
        theory = lo if lo is not None and lo == hi else f"[{'-inf' if lo is None else f'{lo:.6g}'}, " \
                                                         f"{'inf' if hi is None else f'{hi:.6g}'}]"
        print(f"{r['source']} ({r['check']}, beta={r['beta']}, L={r['depth']}): {r['quantity']} = "
              f"{r['measured']:.6g} (SE {r['se']:.3g}), theory {theory}: {'PASS' if r['passed'] else 'FAIL'} "
              f"({r['verdict']})")
        claims.append({"claim": f"{r['quantity']} ({r['activation']}, {r['init']}, beta={r['beta']}, "
                                f"L={r['depth']}, d={r['width']}, n={r['samples']}): {r['verdict']}",
                       "source": r["source"], "theory": theory, "measured": r["measured"], "tolerance": r["rule"],
                       "passed": bool(r["passed"]), "figure": str(out / f"{name}.png")})
    return claims


def regime_claims(args, init: str, name: str, source: str, betas: list, blocks) -> list[dict]:
    """The critical-beta claim of ``init`` weights for each (block, activation), at quick or full sizes."""
    if args.quick:
        size = dict(depths=[30, 300], ensemble=20, samples=4)
    else:  # Figures 1 and 2 of the paper: log-spaced depths 10..1000
        size = dict(depths=[10, 32, 100, 316, 1000], ensemble=50, samples=10)
    return [critical_claim(f"{init} weights, {block}: critical beta {name}", source, args.out / block, 0.05,
                           init=init, block=block, activation=act, betas=betas, width=40, seed=0, **size)
            for block, act in blocks]


def critical_claim(claim: str, source: str, out: Path, tolerance: float, **study) -> dict:
    """Run the scaling study over a grid of betas and judge its critical beta against the theory's."""
    import json

    from reslimit.studies.scaling import scaling

    scaling(out, **study)
    manifest = json.loads((out / "manifest.json").read_text())
    measured, theory = manifest["critical_beta"], manifest["critical_beta_theory"]
    passed = measured is not None and abs(measured - theory) <= tolerance
    print(f"{claim}: critical beta {measured if measured is None else round(measured, 3)}, theory {theory:g} "
          f"+- {tolerance:g} (gradient ratio: {manifest['critical_beta_grad']}): {'PASS' if passed else 'FAIL'}")
    return {"claim": claim, "source": source, "theory": theory, "measured": measured, "tolerance": tolerance,
            "passed": passed, "figure": str(out / "scaling.png")}

"""The limit of training: trained (L, M) networks converge as depth and hidden width grow, at rates 1/L and 1/sqrt(M).

Claim (Chizat 2025, arXiv 2509.10167; Chaintron, Chizat and Maass 2026, arXiv 2603.18168): for deep ResNets of
two-layer blocks in the mean-field scaling, h_k = h_{k-1} + (1/(L M)) sum_j v_{k,j} sigma(w_{k,j} . h_{k-1}),
trained by gradient descent at the rate of the units' gradient flow (lr0 L M per unit parameter), the trained
network is within O(1/L + 1/sqrt(L M)) of its limit. Measured by reslimit.studies.training_limit (res-2, tanh,
d = 8; initial units from one smooth path in depth, l = 1/2, beta = 1, and the first M of one pool of units; fixed
A, B; full-batch gradient descent on reslimit's synthetic regression task, the same data, steps and lr0 at every
(L, M)): the rms difference E of the trained outputs on the test inputs to the trained reference at
(L_ref, M_ref) = 4 x (the largest L, the largest M) of the fit.

What is compared: the slope of log(mean E over seeds) on log L at M = M_ref (the depth error alone: the
reference's width is shared) with -1, the papers' 1/L; and on log M at L = L_ref (the width error alone) with
-1/2, the 1/sqrt(L M) term at fixed L (with a smooth path the units of nearby layers are correlated, so the
fluctuation's factor in L is not the papers' 1/sqrt(L); its exponent in M is the same). Each must hold within
the half-width of its 95% bootstrap interval over the seeds (independent paths and pools) plus the bias of the
finite reference, |corrected - theory|, where the corrected theory is the slope of log(1/L - 1/L_ref) (of
log sqrt(1/M - 1/M_ref)) over the fitted sizes: the nested sizes' error against a reference that is itself
at a finite size. Measured at the quick sizes (5 seeds, reference (64, 128)): depth -1.18 [-1.24, -1.15]
(corrected theory -1.16), width -0.51 [-0.64, -0.41] (corrected -0.56); at the full sizes (8 seeds, reference
(128, 512)): depth -1.14 [-1.18, -1.11] (corrected -1.12), width -0.56 [-0.62, -0.50] (corrected -0.54).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.training_limit import training_limit
from ._verdict import Verdict

QUICK = dict(depths=(4, 8, 16), widths=(4, 8, 16, 32), seeds=5, samples=80, steps=40)
FULL = dict(depths=(4, 8, 16, 32), widths=(4, 8, 16, 32, 64, 128), seeds=8, samples=200, steps=40)
THEORY = ("trained mean-field res-2 (smooth init, β = 1, first M of a pool of units) vs the trained (L_ref, M_ref): "
          "error ~ L^−1 at M_ref, ~ M^−1/2 at L_ref (Chizat 2025; Chaintron, Chizat, Maass 2026)")
TOLERANCE = "CI half-width + |corrected − theory| (the finite reference's bias)"
SOURCE = "Chizat 2025 (arXiv 2509.10167); Chaintron, Chizat, Maass 2026 (arXiv 2603.18168): O(1/L + 1/sqrt(LM))"


def check(out: Path, *, depths, widths, seeds, samples, steps) -> list[Verdict]:
    """The two slopes, seed 0 onwards; the study folder and ``training_limit.png`` in ``out``."""
    result = training_limit(out, depths=depths, widths=widths, seeds=seeds, samples=samples, steps=steps,
                            progress=False)
    params, figure = result.params, str(Path(out) / "training_limit.png")
    verdicts = []
    for series, symbol, fixed in (("depth", "L", f"M = M_ref = {params['ref_width']}"),
                                  ("width", "M", f"L = L_ref = {params['ref_depth']}")):
        rate, theory, corrected = result.rate[series], result.theory[series], result.corrected[series]
        tolerance = (rate.ci_high - rate.ci_low) / 2 + abs(corrected - theory)
        passed = bool(abs(rate.slope - theory) <= tolerance)
        sizes = result.sizes[series]
        errors = ", ".join(f"{e:.3g} ({symbol}={int(n)})" for n, e in zip(sizes, result.errors[series].mean(1)))
        verdicts.append(Verdict(
            claim=f"trained mean-field res-2 (tanh, d = {params['width']}, smooth init, beta = 1): slope of the "
                  f"error to the trained reference ({params['ref_depth']}, {params['ref_width']}) on log {symbol}, "
                  f"{fixed}",
            source=SOURCE, theory=theory, measured=rate.slope, tolerance=tolerance, passed=passed, figure=figure,
            note=f"interval [{rate.ci_low:.3f}, {rate.ci_high:.3f}] over {seeds} seeds; corrected theory "
                 f"{corrected:.3f}; mean errors {errors}"))
    for v in verdicts:
        print(f"{v.claim}: {v.measured:.3f}, theory {v.theory}: {'PASS' if v.passed else 'FAIL'} ({v.note})")
    return verdicts

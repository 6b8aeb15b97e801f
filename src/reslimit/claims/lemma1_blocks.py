"""Lemma 1 and Prop. 2 as written (constants 1/2 and 1) for res-2 and res-3 blocks on i.i.d. weights.

Claim (Marion et al. 2022, Lemma 1 and Prop. 2 under Hypotheses 1-2; derived in reslimit.studies.bounds):
with entries of sqrt(d) V_k and sqrt(d) W_k i.i.d. N(0, 1) and a block g with
||h||^2/2 <= E||g(h, W)||^2 <= ||h||^2 (Hypothesis 2: res-3 with ReLU, where E||ReLU(W h)||^2 = ||h||^2/2
exactly; res-2 with a|x| <= |sigma(x)| <= b|x|, 1/sqrt(2) <= a <= b <= 1, e.g. leaky ReLU 0.75 and 0.8),
(1 + alpha_L^2/2)^L - 1 <= E||h_L - h_0||^2/||h_0||^2 <= (1 + alpha_L^2)^L - 1 (within 4 SE; res-3 equals the
lower end), and for L alpha_L^2 <= 1, P(||h_L - h_0||^2/||h_0||^2 > 2 L alpha_L^2/delta) <= delta (frequency
within delta + 4 SE). What holds outside Hypothesis 2: res-2 with tanh (a = 0, E tanh(x)^2 = 0.394 for
x ~ N(0, 1)) keeps the upper end (|tanh x| <= |x|) and falls below the lower end (a control that must fail).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["lemma1_blocks"])
FULL = dict(checks=plan(False)["lemma1_blocks"])
THEORY = ("Lemma 1 and Prop. 2 as written for res-2 and res-3: (1 + α²/2)^L − 1 ≤ E‖h_L − h_0‖²/‖h_0‖² ≤ "
          "(1 + α²)^L − 1 (res-3 exactly on the lower end); P(ratio > 2Lα²/δ) ≤ δ; res-2 tanh (Hypothesis 2 fails) "
          "keeps only the upper end, a control")
TOLERANCE = "± 4 SE; frequency ≤ δ + 4 SE"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks (``plan(quick)["lemma1_blocks"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/lemma1_blocks.csv``, figure ``out/lemma1_blocks.png``.
    """
    return bound_claims(checks, out, "lemma1_blocks")

"""Lemma 1 at beta = 1/2, in expectation: E ||h_L - h_0||^2 / ||h_0||^2 is non-degenerate in L.

Claim (derived in reslimit.studies.bounds from Lemma 1 and (1 + x/L)^L in [1 + x, e^x]): for res-1 with
a|x| <= |sigma(x)| <= b|x| on i.i.d. weights and alpha_L = 1/sqrt(L), a^2 <= (1 + a^2/L)^L - 1 <= E ratio <=
e^{b^2} - 1 at every depth (within 4 SE); the upper tail in probability is Prop. 2 at beta = 1/2. This is the
expectation band behind Prop. 3 / Corollary 1 (iii), not their statements: those (high-probability bounds
with their constants and conditions, at d = 64 and 128) are the claim ``prop3_whp``.
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["prop3"])
FULL = dict(checks=plan(False)["prop3"])
THEORY = ("Lemma 1 at β = ½, in expectation (formerly labelled Cor. 1 (iii)): (1 + a²/L)^L − 1 ≤ E R ≤ "
          "e^(b²) − 1")
TOLERANCE = "bound"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks of Prop. 3 (``plan(quick)["prop3"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop3.csv``, figure ``out/prop3.png``.
    """
    return bound_claims(checks, out, "prop3")

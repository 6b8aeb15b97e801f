"""Lemma 1: the two-sided bound on E||h_L - h_0||^2 / ||h_0||^2 for res-1 on i.i.d. weights.

Claim (Marion et al. 2022, Lemma 1, derived in reslimit.studies.bounds): for res-1 with entries of sqrt(d) V_k
i.i.d., mean 0, variance 1, and a|x| <= |sigma(x)| <= b|x|,
(1 + a^2 alpha_L^2)^L - 1 <= E||h_L - h_0||^2 / ||h_0||^2 <= (1 + b^2 alpha_L^2)^L - 1;
the Monte-Carlo mean must lie in the band within 4 standard errors. Leaky ReLU 0.5 (a = 1/2, b = 1) at
beta = 1/2 and 0.3 (Gaussian and Rademacher weights), and the identity (a = b = 1, an equality).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.bounds import plan
from ._common import bound_claims
from ._verdict import Verdict

QUICK = dict(checks=plan(True)["lemma1"])
FULL = dict(checks=plan(False)["lemma1"])
THEORY = "Lemma 1: (1 + a²α²)^L − 1 ≤ E‖h_L − h_0‖²/‖h_0‖² ≤ (1 + b²α²)^L − 1 for a|x| ≤ |σ(x)| ≤ b|x|"
TOLERANCE = "bound"


def check(out: Path, *, checks) -> list[Verdict]:
    """The planned checks of Lemma 1 (``plan(quick)["lemma1"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/lemma1.csv``, figure ``out/lemma1.png``.
    """
    return bound_claims(checks, out, "lemma1")

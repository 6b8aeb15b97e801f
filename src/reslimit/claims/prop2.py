"""Prop. 2: when L alpha_L^2 <= 1, ||h_L - h_0||^2 / ||h_0||^2 is small with high probability (Markov).

Claim (Marion et al. 2022, Prop. 2, constant derived in reslimit.studies.bounds from Lemma 1 and Markov's
inequality): for res-1 with |sigma(x)| <= b|x| on i.i.d. weights and L alpha_L^2 <= 1,
P(||h_L - h_0||^2 / ||h_0||^2 > (e^{b^2} - 1) L alpha_L^2 / delta) <= delta. The observed frequency must be
<= delta + 4 sqrt(delta (1 - delta) / n), at beta = 1/2 and 3/4, delta = 0.1 and 0.5.
"""

from __future__ import annotations

from pathlib import Path

from .common import bound_claims


def check(out: Path, *, checks) -> list[dict]:
    """The planned checks of Prop. 2 (``plan(quick)["prop2"]`` of reslimit.studies.bounds), one claim per row.

    Rows in ``out/prop2.csv``, figure ``out/prop2.png``.
    """
    return bound_claims(checks, out, "prop2")

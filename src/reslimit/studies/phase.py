"""The phase diagram over (beta, H) for fBm weights, and the critical beta of each Hurst index.

For each H, one pair of fBm paths (outer V, inner W) serves every depth and every beta: weights(L) of a
path sampled at resolution lcm(depths). The critical beta of H is where the hidden ratio stops depending
on L: the slope s(beta) of log median ratio against log L (least squares over the depths) changes sign
from + (explodes) to - (identity); it is interpolated linearly between the two betas of the grid around
the first sign change.

The first-order argument (alpha_L sum_k V_k g(h_0) is of size L^(H - beta)) gives beta = H (Marion,
Fermanian, Biau, Vert 2022, Section 4 and Figure 7). It holds for res-1, whose g(h_k) varies slowly
with k. With inner weights (res-2, res-3) g(W_k h) carries the rough fBm W_k too: write
g(W_k h) = m + f_k with m its mean. The mean part sums to L^H as before; the fluctuation part,
sum_k V_k f_k, is a sum of products of two independent stationary sequences, of size L^(1/2) when
H < 1/2 (their correlations are summable). So for res-3 (ReLU: m != 0) the critical beta is max(H, 1/2):
:meth:`reslimit.blocks.Block.critical_beta` (of H), which ``validation/phase_line.py`` checks. For res-2 with an odd
sigma (m = 0) and H < 1/2 no line is claimed.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks, store
from ..blocks import get_block
from ..specs import takes_specs
from . import scaling
from .protocol import LEDGER, Kind, claimed, figures
from .scaling import critical_betas, medians
from .sweep import Study, check_executor, finishing, run_study

KIND = Kind("phase", "`reslimit phase --out DIR` (reslimit.studies.phase.phase)",
            plot=lambda rows, params: PhaseResult(rows, params).plot(), files=(*figures("phase"), LEDGER))
MAX_RESOLUTION = 2**16
# The grids of ``reslimit phase`` by default (Figure 7 of the paper): H = 0.1:0.9:9, beta = 0:1.3:27, as
# reslimit.studies.grid.parse_grid reads them.
HURSTS = tuple(np.linspace(0.1, 0.9, 9).tolist())
BETAS = tuple(np.linspace(0.0, 1.3, 27).tolist())


def compute_point(params: dict, point: dict) -> list[dict]:
    """One Hurst index: every depth, beta, draw and input on one pair of fBm paths."""
    outer, inner = scaling.paths(params, hurst=point["hurst"], resolution=params["resolution"])
    out = []
    for depth in params["depths"]:
        net = scaling.network(params, depth, outer, inner)
        result = scaling.ratios(net, params["betas"], params["samples"], params["seed"])
        out += scaling.rows(params, {"hurst": point["hurst"], "depth": depth}, result, params["betas"])
    return out


@takes_specs
def study(block="res3", activation="relu", hursts=HURSTS, betas=BETAS, depths=(100, 1000), width=40, ensemble=5,
          samples=10, seed=0, dtype="float32", device="cpu") -> Study:
    """The phase study as a sweep: one point per Hurst index."""
    hursts = [_checks.real("hursts", h, low=0.0, high=1.0, low_open=True, high_open=True) for h in hursts]
    if not hursts:
        raise ValueError("hursts must be non-empty")
    base = scaling.study(init="fbm", block=block, activation=activation, betas=sorted(betas), depths=depths,
                         width=width, ensemble=ensemble, samples=samples, seed=seed, hurst=hursts[0], dtype=dtype,
                         device=device)
    depths = base.params["depths"]
    resolution = math.lcm(*depths)
    if resolution > MAX_RESOLUTION:
        raise ValueError(f"depths {depths} have least common multiple {resolution} > {MAX_RESOLUTION}: one fBm "
                         f"path is sampled on the grid k/lcm for all depths; choose depths dividing a common "
                         f"resolution, e.g. 250,500,1000")
    params = base.params | {"hurst": None, "hursts": hursts, "resolution": resolution}
    return Study("phase", params, [{"hurst": h} for h in hursts], compute_point, base.engine)


class PhaseResult(dict):
    """A phase study's {"rows": rows, "critical_beta": {H: beta or None}, "critical_beta_grad": {H: beta or None}}.

    Attributes:
        params: the study's params (as in its manifest).
        theory: {H: the theory's critical beta} (the block's ``critical_beta(H)``; None where none is claimed);
            the first-order one is H itself.
    """

    def __init__(self, rows, params: dict):
        super().__init__(rows=rows, critical_beta=critical_betas(rows, params),
                         critical_beta_grad=critical_betas(rows, params, "grad_ratio"))
        self.params = params
        block = get_block(params["block"], params["activation"])
        self.theory = {h: block.critical_beta(h) for h in params["hursts"]}

    def plot(self, out=None):
        """The heatmaps over (beta, H) with the critical betas: :func:`reslimit.plots.phase_figure`, saved in
        ``out`` when given."""
        from ..plots import RATIOS, phase_figure

        grids = {ratio: medians(self["rows"], self.params, ratio) for ratio in RATIOS}
        return phase_figure(grids, self.params, self, out, self.theory)


def phase(out, *, workers=None, scheduler=None, progress=True, figures=True, **options) -> PhaseResult:
    """Run (or resume) the phase study in ``out`` (locked throughout); write the critical betas to manifest.json.

    ``options`` are those of :func:`study`. Returns a :class:`PhaseResult`: {"rows": rows, "critical_beta":
    {H: beta}, "critical_beta_grad": {H: beta}}, with the params, the theory's critical betas and ``.plot()``.
    """
    st = study(**options)
    check_executor(workers, scheduler)  # before the folder is made
    with claimed(out, KIND, st.params), finishing(st, out):
        result = PhaseResult(run_study(st, out, workers=workers, scheduler=scheduler, progress=progress), st.params)
        store.update_manifest(out, **{k: {str(h): b for h, b in result[k].items()}
                                      for k in ("critical_beta", "critical_beta_grad")},
                             critical_beta_first_order={str(h): h for h in st.params["hursts"]},
                             critical_beta_theory={str(h): t for h, t in result.theory.items()})
        if figures:
            result.plot(out)
    return result

"""The SDE scaling as written: weights N(0, 2/d), diffusion sqrt(2/d), and the network's strong rate -1/2.

The statement (Marion et al. 2022, Prop. 4, the SDE limit at beta = 1/2; the recurrence and the SDE are labelled
(3.4) and (3.5) here): res-1 with alpha_L = 1/sqrt(L) and entries of V_{k+1} i.i.d. N(0, 2/d),

    h_{k+1} = h_k + L^(-1/2) V_{k+1} sigma(h_k),                       0 <= k <= L - 1,            (3.4)
    dH_t = sqrt(2/d) dB_t sigma(H_t),  H_0 = h_0,                       t in [0, 1],                (3.5)

B a d x d matrix of independent standard Brownian motions; for a Lipschitz sigma, (3.5) has a unique solution
and E||H_{k/L} - h_k|| <= c / sqrt(L) for every 0 <= k <= L.

How it is measured here, on one path per sample: ``Brownian(d, E, std=sqrt(2))`` holds X = sqrt(2) B, its
``weights(L)[k] = sqrt(L) (X((k+1)/L) - X(k/L)) / sqrt(d)`` have i.i.d. N(0, 2/d) entries (the weights of
(3.4)), and ``NeuralSDE(outer=path)`` solves dH = dX_t sigma(H) / sqrt(d) = sqrt(2/d) dB_t sigma(H), which is
(3.5). The network at depth L is then, path by path, the Euler-Maruyama scheme of (3.5) with step 1/L:
h_{k+1} = h_k + sqrt(2/d) (B_{(k+1)/L} - B_{k/L}) sigma(h_k).

The rate. Euler-Maruyama for a driftless SDE with a Lipschitz, linearly bounded diffusion has strong order 1/2
(Kloeden & Platen 1992, Thm 10.2.2). It is not better here: the noise is not commutative (the d x d^2 diffusion
h -> sqrt(2/d) (. sigma(h)) has columns whose Lie brackets do not vanish for a nonlinear sigma), so the term
the scheme leaves out, the Milstein term sum_{j,l} (L^j b^l)(h_k) I_(j,l) over a step of length 1/L, has mean 0,
second moment of order L^-2 per step and uncorrelated steps: its sum over L steps has standard deviation of
order L^(-1/2). Hence E max_k ||H_{k/L} - h_k|| ~ c L^(-1/2) (this bounds max_k E||H_{k/L} - h_k||, the
statement's quantity), a slope of -1/2 in log L (judged within the sde limit's tolerance, 0.07, with a
bootstrap interval over samples). The Milstein term is quadratic in the
diffusion, so the constant c of std = sqrt(2) is about twice that of the package's default std = 1 (diffusion
sqrt(1/d)): the study measures both and their ratio. A control: the N(0, 2/d) network against the SDE with
diffusion sqrt(1/d) (the same B) does not converge (its error stays of order 1: slope > -0.2).

The reference solves (3.5) with the sde limit's reference solve (:func:`reslimit.compare.solve_reference`:
torchsde's Euler-Maruyama) on a grid ``reference_factor`` times finer than the largest depth; its own error, of
order (factor L_max)^(-1/2), is a factor sqrt(factor) below the network's at L_max. The errors per depth are
:func:`reslimit.compare.depth_errors`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import _checks, compare, store
from .._rng import normal, substream
from ..blocks import get_block
from ..limits import LIMITS
from ..paths import Brownian
from ..rates import fit_rate
from ..resnet import ScaledResNet
from .protocol import Kind, claimed, figures

KIND = Kind("sde_scaling", "reslimit.studies.sde_scaling (the sde_scaling claim)",
            plot=lambda rows, params: from_rows(rows, params).plot(), files=figures("sde_scaling"))
STD = math.sqrt(2.0)  # (3.4)-(3.5): weights N(0, 2/d), diffusion sqrt(2/d)
RATE = -0.5
TOLERANCE = LIMITS["sde"].tolerance  # 0.07
CONTROL_SLOPE = -0.2  # a slope above this: not converging


def network(path: Brownian, activation: str):
    """L -> the (3.4) network of depth L on ``path``: res-1, alpha_L = L^-1/2, weights V_k = path.weights(L)[k]."""
    return lambda L: ScaledResNet(L, path.width, beta=0.5, block="res1", activation=activation, outer=path)


@dataclass
class SDEScalingResult:
    """Errors of the (3.4) network against the (3.5) SDE over depths, with the fitted rates.

    Attributes:
        params: the study's parameters.
        depths: (K,) depths.
        errors: {"matched": (K, M) max_k ||H_{k/L} - h_k||, weights N(0, 2/d) against diffusion sqrt(2/d);
            "unit": the same with std 1 (weights N(0, 1/d), diffusion sqrt(1/d)); "mismatched": weights N(0, 2/d)
            against diffusion sqrt(1/d), the control}.
        rates: the fitted :class:`reslimit.rates.Rate` of each.
        passed: |matched slope + 1/2| <= 0.07 and the control's slope > -0.2.
    """

    params: dict
    depths: np.ndarray
    errors: dict
    rates: dict = field(init=False)
    passed: bool = field(init=False)

    def __post_init__(self):
        seed = substream(self.params["seed"], "bootstrap")
        self.rates = {k: fit_rate(self.depths, e, seed=seed) for k, e in self.errors.items()}
        self.passed = bool(abs(self.rates["matched"].slope - RATE) <= TOLERANCE
                           and self.rates["mismatched"].slope > CONTROL_SLOPE)

    @property
    def constant_ratio(self) -> float:
        """Mean over depths of mean error (std sqrt 2) / mean error (std 1): about 2 (the Milstein term)."""
        return float(np.mean(self.errors["matched"].mean(1) / self.errors["unit"].mean(1)))

    def plot(self, path=None):
        """:func:`reslimit.plots.sde_scaling_figure`, saved as ``path`` (PNG and PDF) when given."""
        from ..plots import sde_scaling_figure

        return sde_scaling_figure(self, path)


def from_rows(rows: list[dict], params: dict) -> SDEScalingResult:
    """The result of the rows :func:`sde_scaling` writes (one per depth x sample, depth-major) and its params."""
    depths = np.array(params["depths"])
    return SDEScalingResult(params, depths, {k: np.array([r[k] for r in rows]).reshape(len(depths), -1)
                                             for k in ("matched", "unit", "mismatched")})


def sde_scaling(out=None, *, depths=(16, 32, 64, 128, 256), width=8, samples=32, activation="tanh",
                reference_factor=64, seed=0) -> SDEScalingResult:
    """The (3.4) network against the (3.5) SDE on the same Brownian path, over ``depths``; see the module docstring.

    ``samples`` independent paths (one input h_0 ~ N(0, I_d) each); every depth divides the largest. With ``out``:
    out/results.csv (depth, sample, the three errors), out/manifest.json (the rates, the verdict) and
    out/sde_scaling.png.
    """
    depths = [_checks.positive_int("depths", L) for L in depths]
    if len(depths) < 3 or sorted(set(depths)) != depths or any(depths[-1] % L for L in depths):
        raise ValueError(f"depths must be at least three increasing integers dividing the largest; got {depths!r}")
    width = _checks.positive_int("width", width)
    samples = _checks.positive_int("samples", samples, minimum=2)
    factor = _checks.positive_int("reference_factor", reference_factor, minimum=2)
    seed = _checks.seed("seed", seed)
    params = {"study": "sde_scaling", "depths": depths, "width": width, "samples": samples,
              "activation": activation, "reference_factor": factor, "seed": seed, "std": STD}
    lmax = depths[-1]
    h0 = normal((samples, 1, width), seed, "inputs")
    paths = {std: Brownian(width, samples, std=std, seed=substream(seed, "outer")) for std in (STD, 1.0)}
    blk = get_block("res1", activation)
    with torch.no_grad():  # H of dH = dX_t sigma(H) / sqrt(d) on each path (X = std B), at the times k / L_max
        refs = {std: compare.solve_reference(LIMITS["sde"], blk, p, None, h0, lmax, factor) for std, p in paths.items()}
    errors = {name: compare.depth_errors(refs[ref], h0, depths, network(paths[net], activation))[..., 0]
              for name, ref, net in (("matched", STD, STD), ("unit", 1.0, 1.0), ("mismatched", 1.0, STD))}
    result = SDEScalingResult(params, np.array(depths), errors)
    if out is not None:
        with claimed(out, KIND, params) as folder:
            store.write_rows(folder / "results.csv", [
                {"depth": L, "sample": m, **{k: float(e[i, m]) for k, e in errors.items()}}
                for i, L in enumerate(depths) for m in range(samples)])
            store.write_manifest(folder, params, study=KIND, passed=result.passed,
                                 constant_ratio=result.constant_ratio,
                                 rates={k: [r.slope, r.ci_low, r.ci_high] for k, r in result.rates.items()})
            result.plot(folder / "sde_scaling.png")
    return result

"""Variance propagation at initialization: He, Glorot and the sigmoid's bound in a plain MLP; a scaled ResNet.

Claims (the initialization course; networks, theory and measurements in reslimit.studies.propagation), on square
layers of width n with i.i.d. weights of the scheme's variance:

1. He with ReLU keeps E[x^2] constant: E[(x^L)^2] / E[(x^0)^2] = 1 exactly, the factor 1/2 of ReLU
   (E[f(z)^2] = Var[z]/2) compensated by the variance 2/n.
2. Glorot with ReLU loses half per layer: E[(x^L)^2] / E[(x^0)^2] = 2^-L (variance 1/n on square layers).
   Both are exact in expectation at any width, layer by layer: given x^{l-1}, z^l is Gaussian, so with m^l the
   mean square of x^l over neurons and inputs, E[m^l / m^{l-1} | x^{l-1}] = n var / 2 (1 for He, 1/2 for Glorot).
   The factors m^l / m^{l-1} - n var / 2 are martingale differences: uncorrelated across layers, independent
   across networks, so their mean over the L layers and the networks has the standard error std / sqrt(L x
   networks); passed within 4 SE. (The end-to-end ratio m^L / m^0, a product of L factors, is reported too; its
   spread grows like exp(5L/n), which makes it a weak test.) The two read the same unit-variance weights scaled
   (common random numbers): for ReLU, homogeneous, the Glorot network is the He network times 2^(-l/2), so the
   two verdicts test one identity from both sides.
3. The sigmoid's gradient stays under the course's bound: ||delta^l|| <= gamma^(L-l+1) ||u^l||, gamma = 1/4, for
   l = 1..L, where delta^l = dC/dz^l and u^l is the same back-propagation with every sigmoid' replaced by 1
   (the course's inequality, neuron by neuron there, in the Euclidean norm over the layer's neurons). Checked on
   every sample and layer (no tolerance: the largest ratio must be at most 1), for each initialization.
4. A scaled ResNet h_k = h_{k-1} + L^-1/2 V_k f(W_k h_{k-1}) stays non-degenerate for each initialization and
   activation: non-degenerate means that the medians over samples of ||h_L|| / ||h_0|| and of
   ||dC/dh_0|| / ||dC/dh_L|| both lie in [1/4, 4] (where the same scheme's MLP sends them to 0 or to infinity
   with the depth: the MLP's medians are reported beside). For ReLU it is exact in expectation:
   E||h_L||^2/||h_0||^2 = (1 + S^2/(2L))^L -> exp(S^2/2) (S = n var: 1/3, 1, 2), checked within 4 SE too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import init
from ..studies.propagation import propagation
from ._verdict import Verdict

# the course's experiment: width 500, depth up to 100
QUICK = dict(depth=30, width=128, ensemble=16, samples=4)
FULL = dict(depth=100, width=500, ensemble=16, samples=8)
THEORY = ("He with ReLU keeps E[x²] from layer to layer; Glorot with ReLU halves it (square layers, MLP) [course]; "
          "sigmoid MLP: ‖δ^l‖ ≤ (¼)^(L−l+1) ‖u^l‖ (the course's bound, γ = ¼) for standard, Glorot, He; scaled ResNet "
          "(res-2), β = ½: median ‖h_L‖/‖h_0‖ and ‖p_0‖/‖p_L‖ in [¼, 4] for tanh, ReLU, leaky ReLU, sigmoid, each "
          "scheme; with ReLU E‖h_L‖²/‖h_0‖² = (1 + S²/(2L))^L")
TOLERANCE = "per-layer factor 1, ½ ± 4 SE; ≤ 1 on every sample and layer; band; exact ± 4 SE"

BAND = (0.25, 4.0)  # the non-degenerate band of the ResNet's median ratios
SEED = 0  # of the networks and inputs


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    """The mean of independent values and its standard error std / sqrt(count)."""
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def check(out: Path, *, depth: int, width: int, ensemble: int, samples: int) -> list[Verdict]:
    """Run :func:`reslimit.studies.propagation.propagation` (tanh, relu, leaky_relu:0.2, sigmoid x standard, glorot,
    he x mlp, resnet at beta = 1/2; seed :data:`SEED`) into ``out`` (results.csv, manifest.json, propagation.png);
    the claims above."""
    out = Path(out)
    result = propagation(depth=depth, width=width, ensemble=ensemble, samples=samples, seed=SEED, out=out)
    figure = str(out / "propagation.png")
    size = f"L = {depth}, n = {width}, {ensemble} networks x {samples} inputs, seed {SEED}"
    claims = []

    def verdict(claim, source, theory, measured, tolerance, passed):
        print(f"{claim}: measured {measured}, theory {theory} ({tolerance}): {'PASS' if passed else 'FAIL'}")
        claims.append(Verdict(claim=claim, source=source, theory=theory, measured=measured, tolerance=tolerance,
                              passed=bool(passed), figure=figure))

    course = "initialization course: Exercise 4 (ReLU: E[x^2] = Var[z]/2) and He et al. (2015)"
    for scheme, factor, source in (("he", 1.0, course),
                                   ("glorot", 0.5, "initialization course: Glorot and Bengio (2010), Exercise 4")):
        n, a, i = result.index("mlp", "relu", scheme)
        ms = result.act_ms[n, a, i]
        mean, se = _mean_se((ms[:, 1:] / ms[:, :-1]).ravel())
        end = float((ms[:, depth] / ms[:, 0]).mean())
        verdict(f"MLP, ReLU, {scheme}: E[(x^l)^2] = {factor:g} E[(x^(l-1))^2] at every layer ({size})", source,
                f"{factor:g}", f"{mean:.4f} +- {se:.2g} (mean factor over layers and networks; end to end "
                f"E[(x^L)^2]/E[(x^0)^2] = {end:.4g}, theory {factor ** depth:.4g})", f"4 SE = {4 * se:.2g}",
                abs(mean - factor) <= 4 * se)

    for scheme in result.params["inits"]:
        n, a, i = result.index("mlp", "sigmoid", scheme)
        worst = float(np.nanmax(result.bound_ratio[a, i]))
        layer = int(np.nanargmax(result.bound_ratio[a, i]))
        verdict(f"MLP, sigmoid, {scheme}: ||delta^l|| <= (1/4)^(L-l+1) ||u^l|| on every sample and layer ({size})",
                "initialization course: the vanishing-gradient bound gamma^(L-l+1), gamma = max sigmoid' = 1/4",
                "largest ratio <= 1", f"largest ratio {worst:.4f} (layer {layer})", "none: every sample", worst <= 1)

    for scheme in result.params["inits"]:
        worst, mlp = [], []
        for name in result.params["activations"]:
            n, a, i = result.index("resnet", name, scheme)
            worst += [float(np.median(result.hidden_ratio[n, a, i])), float(np.median(result.grad_ratio[n, a, i]))]
            m = result.index("mlp", name, scheme)
            mlp += [float(np.median(result.hidden_ratio[m])), float(np.median(result.grad_ratio[m]))]
        low, high = min(worst), max(worst)
        verdict(f"ResNet (res-2), beta = 1/2, {scheme}: median ||h_L||/||h_0|| and ||p_0||/||p_L|| in "
                f"[{BAND[0]:g}, {BAND[1]:g}] for {', '.join(result.params['activations'])} ({size})",
                "Marion et al. (2022), Lemma 1 and Prop. 5-6 (beta = 1/2 is critical); the course's schemes",
                f"in [{BAND[0]:g}, {BAND[1]:g}]", f"in [{low:.3g}, {high:.3g}] (the MLP's: [{min(mlp):.3g}, "
                f"{max(mlp):.3g}])", "none: a fixed band", BAND[0] <= low and high <= BAND[1])
        n, a, i = result.index("resnet", "relu", scheme)
        S = width * init.variance(scheme, width, width)
        exact = (1 + S**2 / (2 * depth)) ** depth
        mean, se = _mean_se(result.act_ms[n, a, i, :, depth] / result.act_ms[n, a, i, :, 0])
        verdict(f"ResNet (res-2), ReLU, beta = 1/2, {scheme}: E||h_L||^2/||h_0||^2 = (1 + S^2/(2L))^L, S = {S:.4g} "
                f"({size})", "exact identity (proof of Lemma 1, res-2 with ReLU)", f"{exact:.5g}",
                f"{mean:.5g} +- {se:.2g}", f"4 SE = {4 * se:.3g}", abs(mean - exact) <= 4 * se)
    return claims

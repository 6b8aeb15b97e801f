"""A trained deep ResNet is close to a neural ODE: error ~ 1/L from the ODE on its own interpolated weights.

Claim (Marion, Wu, Sander, Biau 2024, "Implicit regularization of deep residual networks towards
neural ODEs", ICLR): res-3 (ReLU) from one Smooth path with beta = 1, trained on digits at depths L (Adam,
lr = 0.01, same data and mini-batches; reslimit.studies.trained.ode_study). Let X_L be the piecewise-linear
path through the trained weights, X_L((k+1)/L) = sqrt(d) V_{k+1} (and likewise W), and H the neural ODE
dH/dt = X_L(t) ReLU(X_W(t) H / sqrt(d)) / sqrt(d) from H_0 = h_0 = A x. The network is Euler's scheme on
this field with step 1/L, evaluated at the right end of each step: a one-step error is
int_{t_k}^{t_k+1/L} (f(t_k+1/L, H(t_k)) - f(t, H(t))) dt = O(Lip / L^2), with Lip the Lipschitz constant of
the field in t (that of X_L, X_W) and in H, and summing L of them through the discrete Gronwall lemma gives

    max_k ||H_{k/L} - h_k|| <= C(Lip) / L,

slope -1 in log L as long as Lip stays bounded in L -- which is what the implicit regularization gives:
gradient descent from a smooth initialization at beta = 1 keeps the weights Lipschitz uniformly in L. The
slope of log mean error on log L, fitted with a bootstrap interval over the test inputs, must be within
0.15 + half the interval's width of -1; 0.15 allows the constant C to drift with the Lipschitz constant of
the trained path at these finite depths. Measured (rows' lipschitz_V, _W): the worst-case finite difference
max_k L ||X_{k+1} - X_k||_F grows with L under Adam (about L^0.2 over 16..256 at 5 epochs, faster at 10),
an extreme over entries and layers, while the mean error keeps slope -1: the theory's bounded-Lipschitz
premise is checked through its consequence, not directly.

Second verdict: the trained weights of different depths agree as functions of t = k/L. D(L), the maximum
over t of the distance of the changes by training at depths L and 2L, relative to the change at 2L,
decreases at every doubling of L (the trained ResNets converge to one trained neural ODE).
"""

from __future__ import annotations

from pathlib import Path

from ..studies.trained import distance_slope, ode_study
from ._verdict import Verdict

QUICK = dict(depths=[16, 32, 64, 128, 256], width=16, epochs=5, samples=64)
FULL = dict(depths=[16, 32, 64, 128, 256, 512, 1024], width=16, epochs=10, samples=128)
THEORY = ("trained res-3 (smooth init, β = 1) vs the neural ODE on its interpolated trained weights: error ~ L^−1; "
          "trained weights of depths L, 2L agree as functions of k/L (Marion et al. 2024)")
TOLERANCE = "−1 ± (0.15 + CI half-width); D(2L) < D(L)"

SOURCE = "Marion et al. 2024 (implicit regularization towards neural ODEs)"


def check(out: Path, *, depths, width, epochs, samples) -> list[Verdict]:
    """The rate of the trained networks against their neural ODE, and the distance D(L), seed 0; figure
    ``out/trained_ode.png``."""
    result = ode_study(out, depths=depths, width=width, epochs=epochs, samples=samples)
    rate, rows = result.rate, result.rows
    tolerance = 0.15 + (rate.ci_high - rate.ci_low) / 2
    passed = bool(abs(rate.slope + 1.0) <= tolerance)
    figure = str(out / "trained_ode.png")
    facts = (f"test accuracy {min(r['accuracy'] for r in rows):.3f}..{max(r['accuracy'] for r in rows):.3f}; "
             f"Lipschitz constant of trained sqrt(d) V {rows[0]['lipschitz_V']:.3g} (L={depths[0]}) .. "
             f"{rows[-1]['lipschitz_V']:.3g} (L={depths[-1]}), of sqrt(d) W {rows[0]['lipschitz_W']:.3g} .. "
             f"{rows[-1]['lipschitz_W']:.3g}; ||V_after - V_before|| / ||V_before|| {rows[-1]['relative_change']:.3g}")
    distances = [r["distance_next"] for r in rows[:-1]]
    decreasing = all(b < a for a, b in zip(distances, distances[1:]))
    verdicts = [
        Verdict(claim=f"trained res-3 (beta=1, smooth init, d={width}) vs neural ODE on its weights: error slope -1",
                source=SOURCE, theory=-1.0, measured=rate.slope, tolerance=tolerance, passed=passed, figure=figure,
                note=f"interval [{rate.ci_low:.3f}, {rate.ci_high:.3f}] over {samples} test inputs; {facts}"),
        Verdict(claim="trained weights of depths L and 2L agree as functions of k/L: D(L) decreasing at every doubling",
                source=SOURCE, theory="D(2L) < D(L)", measured=distance_slope(rows), tolerance="every doubling",
                passed=decreasing, figure=figure,
                note="measured: slope of log D(L) on log L; D(L) = " + ", ".join(
                    f"{r['distance_next']:.3g} (L={r['depth']})" for r in rows[:-1])),
    ]
    for v in verdicts:
        print(f"{v.claim}: {v.measured:.3f}, theory {v.theory}: {'PASS' if v.passed else 'FAIL'} ({v.note})")
    return verdicts

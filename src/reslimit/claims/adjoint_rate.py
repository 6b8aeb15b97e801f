"""Gradient rates: the adjoint p_0 = dLoss/dh_0 of the network converges to that of its limit at the same rate.

Claim: backpropagation through the depth-L network is the adjoint (first-variation) recursion of the Euler
scheme, itself an Euler scheme for the limit's adjoint equation, so ||P_0 - p_0|| has the forward pass's order:
slope -1 (ODE, smooth weights, beta = 1, res-3 ReLU and res-2 tanh; Marion et al. 2022, Prop. 7) and -1/2
(SDE, Brownian weights, beta = 1/2, res-1 tanh; Prop. 4, Euler-Maruyama's strong order for the first
variation). The loss is ||h_L - y||^2 / 2 for a random target y; P_0 is backpropagation through the fine
reference solve. Tolerances as for the forward rates: 0.05 (ODE), 0.07 (SDE). The ODE runs use 64 samples even
at quick sizes: with ReLU the derivative jumps where a unit changes sign, and the per-sample gradient errors
scatter more than the path errors (16 samples gave a slope of -1.10 [-1.17, -1.02]). The quick depths start at 16:
from 8 both ODE gradient slopes ran steeper than -1 before the asymptotic regime (seed 1, 64 samples, width 8:
res-2 -1.037 [-1.053, -1.021] at depths 8..128, -1.003 at 16..256, -1.000 at 32..512); res-3's ReLU gradients
stay about 0.04 steeper at every range tried (-1.053, -1.044, -1.039), within the tolerance from 16 on.
"""

from __future__ import annotations

from pathlib import Path

from ._common import rate_claim
from ._verdict import Verdict

QUICK = dict(ode_depths=[16, 32, 64, 128, 256], ode_width=8, ode_samples=64,
             sde_depths=[16, 32, 64, 128, 256], sde_width=8, sde_samples=32)
FULL = dict(ode_depths=[8, 16, 32, 64, 128, 256, 512, 1024], ode_width=16, ode_samples=64,
            sde_depths=[16, 32, 64, 128, 256, 512, 1024], sde_width=16, sde_samples=64)
THEORY = "gradients: the adjoint p_0 converges at the same rates (ODE −1, SDE −½)"
TOLERANCE = "± 0.05, 0.07"


def check(out: Path, *, ode_depths, ode_width, ode_samples, sde_depths, sde_width, sde_samples) -> list[Verdict]:
    """The gradient-error slopes: ODE res-3 (ReLU) and res-2 (tanh) against -1, SDE res-1 (tanh) against -1/2.

    Seed 1; the studies under ``out/ode_BLOCK`` and ``out/sde_res1``.
    """
    claims = [rate_claim(f"ODE gradient rate -1, {block} ({act})", "Prop. 7 (Lipschitz weights, beta = 1), adjoint",
                         out / f"ode_{block}", quantity="grad", limit="ode", block=block, activation=act,
                         depths=ode_depths, width=ode_width, samples=ode_samples, seed=1)
              for block, act in (("res3", "relu"), ("res2", "tanh"))]
    claims.append(rate_claim("SDE gradient rate -1/2, res1 (tanh)", "Prop. 4 (i.i.d. weights, beta = 1/2), adjoint",
                             out / "sde_res1", quantity="grad", limit="sde", block="res1", activation="tanh",
                             depths=sde_depths, width=sde_width, samples=sde_samples, seed=1))
    return claims

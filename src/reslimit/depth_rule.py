"""The depth rule for the learning rate: a rate tuned at one depth, moved to another, lr = lr0 (L / L0)^gamma.

For h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, W_{k+1}) with alpha_L = L^-beta, one step changes the output through
all L layers. The gradient of the loss with respect to V_k carries one factor alpha_L, and a change dV_k enters
the output with another, so the L layers' changes add up to

    SGD (with or without momentum):  lr x L x alpha_L^2 = lr L^(1 - 2 beta)
    Adam (a step of size about lr per entry, whatever the gradient's scale):  lr x L x alpha_L = lr L^(1 - beta)

(momentum mu multiplies every step by about 1 / (1 - mu), at every depth alike, so it leaves the exponent as it
is). Keeping that change the same at depth L as at the base depth L0 gives

    lr = lr0 (L / L0)^gamma,   gamma = 2 beta - 1 (SGD),   gamma = beta - 1 (Adam),

so that the *best* lr0 found at L0 stays the best at every L (the depth-muP argument of Yang et al. 2023,
Bordelon et al. 2024, on the scaled ResNets of this package). The rule is the blocks' rate: the input and output
layers A, B (h_0 = A x, F = B h_L) take one step each, of size about lr whatever the depth, so they keep lr0.
Scaling them too breaks the transfer: measured on the digits (res-3, width 32, 3 epochs, depths 8..128, 3 seeds),
one rate for every layer moved the best lr0 with slope +0.18 [0.11, 0.25] for Adam at beta = 1/2, the blocks'
rate alone -0.01 [-0.05, 0.05]. Rule "none": lr = lr0 for every layer at every depth.
"""

from __future__ import annotations

import math

from . import _checks

RULES = ("none", "depth")
OPTIMIZERS = ("sgd", "adam")


def exponent(beta: float, optimizer: str) -> float:
    """gamma of the rule: 2 beta - 1 for "sgd", beta - 1 for "adam"."""
    beta = _checks.real("beta", beta)
    optimizer = _checks.choice("optimizer", optimizer, OPTIMIZERS)
    return 2.0 * beta - 1.0 if optimizer == "sgd" else beta - 1.0


def learning_rate(lr0: float, *, depth: int, base_depth: int | None, beta: float, optimizer: str,
                  rule: str = "depth") -> float:
    """The learning rate at ``depth``: lr0 (depth / base_depth)^gamma under rule "depth", lr0 under "none".

    Raises:
        ValueError: lr0 <= 0 or not finite, depth or base_depth < 1, base_depth missing under "depth" or given
            under "none" (which would ignore it), an unknown rule or optimizer.
    """
    lr0 = _checks.learning_rate("lr0", lr0)
    depth = _checks.positive_int("depth", depth)
    rule = _checks.choice("rule", rule, RULES)
    gamma = exponent(beta, optimizer)
    if rule == "none":
        if base_depth is not None:  # given for a rule that reads none: the user meant the rule
            raise ValueError(f"base_depth is read only with rule 'depth' (lr0 tuned at base_depth); got "
                             f"base_depth={base_depth!r} with rule 'none': give the rule too, or no base_depth")
        return lr0
    if base_depth is None:
        raise ValueError("base_depth must be given with rule 'depth': the depth lr0 was tuned at (an integer >= 1)")
    base_depth = _checks.positive_int("base_depth", base_depth)
    try:
        lr = lr0 * (depth / base_depth) ** gamma
    except OverflowError:
        lr = math.inf
    if not 0 < lr <= _checks.LR_MAX:
        raise ValueError(f"the rule's lr = lr0 (depth / base_depth)^gamma = {lr0:g} ({depth} / {base_depth})^{gamma:g} "
                         f"= {lr:g} must be in (0, {_checks.LR_MAX:g}]: choose another lr0, beta or base_depth")
    return lr

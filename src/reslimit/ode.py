"""Neural ODE on a smooth weight path, solved with torchdiffeq.

    dH/dt = V(t) g(H, W(t)),   V(t) = X(t) / sqrt(M),   W(t) = X_inner(t) / sqrt(d),   t in [0, 1],

(X(t) d x M and X_inner(t) M x d, M the hidden width, d by default)

the limit of h_{k+1} = h_k + (1/L) V((k+1)/L) g(h_k, W((k+1)/L)) (beta = 1, Lipschitz weights), which is an
Euler scheme of order 1: max_k ||H_{k/L} - h_k|| <= c / L (Marion et al. 2022, Prop. 7).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

import torch
import torchdiffeq

from . import _checks
from ._types import ActivationSpec, Device, States, Times
from .continuous import ContinuousLimit
from .paths import WeightPath

Tensor = torch.Tensor


class NeuralODE(ContinuousLimit):
    """dH/dt = V(t) g(H, W(t)) on smooth paths, integrated by torchdiffeq.

    Args:
        block, activation, outer, inner, device: as for :class:`reslimit.ScaledResNet` (activation None: the
            block's default); ``outer`` a smooth path (``kind == "values"``: Smooth or a user function) for
            V(t) = X(t)/sqrt(M), ``inner`` a smooth path for W(t) (res2, res3) or None.
        hidden: M, the hidden width (``outer`` d x M, ``inner`` M x d); None: M = d.
        method, rtol, atol, options: handed to ``torchdiffeq.odeint``. The defaults (dopri5, rtol 1e-10,
            atol 1e-12, float64) keep the forward error far under the errors measured at depth 1024. For
            gradients by backpropagation use a fixed step (method="rk4", steps=N): backpropagating through
            dopri5's step-size control gives gradients off by ~1e-2.
        steps: N, a fixed step 1/N for the fixed-step methods (euler, midpoint, rk4...) and the grid of
            :meth:`trajectory`; None for an adaptive method.
        scale: a function t -> s(t) multiplying the vector field, dH/dt = s(t) V(t) g(H, W(t)): the limit of
            the evaluation-mode network with stochastic depth (``ScaledResNet(..., survival=p)``, whose layer k
            is scaled by p(k/L)) is this ODE with s = p. None: s = 1.

    Example:
        >>> ode = NeuralODE(block="res3", outer=Smooth(16, 4, seed=0), inner=Smooth(16, 4, seed=1))
        >>> H = ode(h0, torch.linspace(0, 1, 65, dtype=torch.float64))   # ode.solve: (65, 4, n, 16)
    """

    limits = ("ode",)

    def __init__(self, *, block: str = "res1", activation: ActivationSpec | None = None, outer: WeightPath,
                 inner: WeightPath | None = None, method: str = "dopri5", rtol: float = 1e-10, atol: float = 1e-12,
                 options: dict | None = None, steps: int | None = None, device: Device | None = None,
                 scale: Callable[[float], float] | None = None, hidden: int | None = None):
        super().__init__(block=block, activation=activation, outer=outer, inner=inner, steps=steps, device=device,
                         scale=scale, hidden=hidden)
        self.method, self.rtol, self.atol, self.options = solver_options(method, rtol, atol, options, self.steps)
        self.nfe = 0

    def field(self, t: float | Tensor, h: Tensor) -> Tensor:
        """The vector field s(t) V(t) g(h, W(t)) for h of shape (E, n, d); counts its calls in ``nfe``."""
        self.nfe += 1
        s = float(t)
        field = torch.bmm(self.block.g(h, self.inner_weights(s)), self.outer.evaluate(s).mT) / self.hidden**0.5
        return self.scaled(field, s)

    def solve(self, h0: States, ts: Times) -> Tensor:
        """H at the times ``ts``, from H(0) = ``h0``: shape (len(ts), E, n, d). Differentiable.

        ``h0``: finite states of shape (E, n, d), or (n, d) for every ensemble member, as a tensor of the
        path's dtype and device or an array of numbers. ``ts``: finite times in [0, 1], strictly increasing
        (a 1-D tensor, array or list); when ts[0] > 0 the solve still starts from h0 at t = 0.
        """
        outer = self.outer
        h0 = _checks.state("h0", h0, ensemble=outer.ensemble, width=outer.width, dtype=outer.dtype,
                           device=outer.device, owner="the path")
        ts = _checks.times("ts", ts, dtype=outer.dtype, device=outer.device)
        self._require_states(len(ts) + 1, h0)
        late = bool(ts[0] > 0)  # then solve from t = 0 and drop H(0)
        ts = torch.cat([ts.new_zeros(1), ts]) if late else ts
        H = torchdiffeq.odeint(self.field, h0, ts, method=self.method, rtol=self.rtol, atol=self.atol,
                               options=self.options)
        return H[1:] if late else H


_SOLVERS = importlib.import_module("torchdiffeq._impl.odeint").SOLVERS  # the methods odeint takes, by name


def solver_options(method, rtol: float, atol: float, options: Mapping | None,
                   steps: int | None) -> tuple[str, float, float, dict | None]:
    """(method, rtol, atol, options) for ``torchdiffeq.odeint``, checked: a method it has, tolerances real and >= 0
    (not both 0: an adaptive step would shrink to nothing), ``options`` None or a dict whose ``step_size``, if any,
    is a real in (0, 1]; a ValueError naming the argument otherwise. ``steps`` N sets the step 1/N (an option's
    step_size wins); dopri5 without options gets step_t = 1, so that its adaptive steps never probe the path past
    t = 1, where it is not defined."""
    method = _checks.choice("method", method, tuple(_SOLVERS))
    rtol, atol = _checks.real("rtol", rtol, low=0.0), _checks.real("atol", atol, low=0.0)
    if rtol == atol == 0:
        raise ValueError("rtol and atol must not both be 0 (the adaptive step would shrink to nothing); got 0 and 0")
    if options is not None and not isinstance(options, Mapping):
        raise ValueError(f"options must be a dict of torchdiffeq's solver options or None; got {options!r}")
    if options is not None and "step_size" in options:
        _checks.real("options['step_size']", options["step_size"], low=0.0, high=1.0, low_open=True)
    if steps is not None:
        options = {"step_size": 1.0 / steps} | dict(options or {})
    if options is None and method == "dopri5":
        return method, rtol, atol, {"step_t": torch.tensor([1.0])}
    return method, rtol, atol, None if options is None else dict(options)

"""Residual blocks: the map g(h, W) of h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}), and its adjoint.

The engine holds its states as columns, as the formulas are written: x has shape (ensemble, width, batch)
and V g(x) is the batched product V @ g(x), with the weights as the left operand, the layout in which
torch's small batched GEMMs run fastest here (see benchmarks/README.md). ``g(h, W)`` takes states as
rows, h of shape (ensemble, batch, width), for the ODE and SDE solvers. A block knows nothing of the
depth or of alpha (Marion et al. 2022, eq. (1)):

| block | g(h, W)          | weights per layer          |
|-------|------------------|----------------------------|
| res1  | sigma(h)         | V (d x d)                  |
| res2  | sigma(W h)       | V (d x M), W (M x d)       |
| res3  | ReLU(W h)        | V (d x M), W (M x d)       |

M is the hidden width (``ScaledResNet(..., hidden=M)``; M = d by default): g(h, W) is in R^M and V g in R^d.
The weights are scaled by their fan-in, the entries of W of variance 1/d and those of V of variance 1/M, so that
E||V g(h, W)||^2 = c ||h||^2 with the same c for every M (:meth:`Block.second_moment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch

from . import _checks
from ._types import ActivationSpec

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    """An elementwise activation sigma and its vector-Jacobian product q -> sigma'(x) * q.

    ``vjp(s, q)`` reads s = sigma(x), the output, when ``from_output`` (relu, tanh, leaky ReLU with a
    positive slope, identity: sigma' is a function of sigma), and s = x otherwise. The engine keeps s
    from the forward pass, so the backward pass neither recomputes sigma nor keeps both x and sigma(x).
    ``fn_``, where given, is sigma applied in place (only for ``from_output`` activations, whose autograd
    saves the output), so a block can overwrite a fresh pre-activation instead of allocating sigma(x).
    ``vjp_``, where given, writes sigma'(x) * q into q, a scratch buffer, when autograd is not recording.
    ``kernel``, where given, names sigma for the compiled kernel of :mod:`reslimit.native` as (name, slope):
    ("relu", 0), ("tanh", 0), ("identity", 0) or ("leaky_relu", slope > 0); None: only the torch loop serves it.
    ``envelope``, where known, is (a, b) with a|x| <= |sigma(x)| <= b|x| for every x (a = 0 when no positive a
    holds), the constants of Lemma 1; for the identity and leaky ReLU it is also the range of sigma'.
    ``homogeneous_moment``, where sigma is positively homogeneous (sigma(t x) = t sigma(x) for t >= 0),
    is E[sigma(z)^2] / E[z^2] for every symmetric z: (1 + s^2)/2 for leaky ReLU of slope s (1/2 for ReLU),
    1 for the identity; None otherwise.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    vjp: Callable[[Tensor, Tensor], Tensor]
    from_output: bool = True
    fn_: Callable[[Tensor], Tensor] | None = None
    vjp_: Callable[[Tensor, Tensor], Tensor] | None = None
    kernel: tuple[str, float] | None = None
    envelope: tuple[float, float] | None = None
    homogeneous_moment: float | None = None


# The fused backward kernels autograd itself uses (one pass instead of three), as resolved overloads:
# calling torch.ops.aten.<op> resolves the overload on every call, several microseconds per layer.
_threshold_backward = torch.ops.aten.threshold_backward
_tanh_backward = torch.ops.aten.tanh_backward
_leaky_relu_backward = torch.ops.aten.leaky_relu_backward


def _leaky_relu(slope: float) -> Activation:
    facts: dict[str, Any] = {"envelope": (min(abs(slope), 1.0), max(abs(slope), 1.0)),
             "homogeneous_moment": (1.0 + slope**2) / 2.0}
    if slope > 0:  # sigma(x) has the sign of x, so sigma' is read from the output
        return Activation(f"leaky_relu:{slope:g}", lambda x: torch.nn.functional.leaky_relu(x, slope),
                          lambda y, q: _leaky_relu_backward.default(q, y, slope, True),
                          fn_=lambda x: torch.nn.functional.leaky_relu_(x, slope),
                          vjp_=lambda y, q: _leaky_relu_backward.grad_input(q, y, slope, True, grad_input=q),
                          kernel=("leaky_relu", slope), **facts)
    return Activation(f"leaky_relu:{slope:g}", lambda x: torch.nn.functional.leaky_relu(x, slope),
                      lambda x, q: _leaky_relu_backward.default(q, x, slope, False), from_output=False, **facts)


def _from_callable(fn: Callable[[Tensor], Tensor]) -> Activation:
    """Wrap a user's elementwise function; sigma'(x) * q comes from autograd at the input x."""

    def vjp(x: Tensor, q: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(fn(x), x, q)
        return d

    return Activation(getattr(fn, "__name__", "callable"), fn, vjp, from_output=False)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", torch.relu, lambda y, q: _threshold_backward.default(q, y, 0), fn_=torch.relu_,
                       vjp_=lambda y, q: _threshold_backward.grad_input(q, y, 0, grad_input=q), kernel=("relu", 0.0),
                       envelope=(0.0, 1.0), homogeneous_moment=0.5),
    "tanh": Activation("tanh", torch.tanh, lambda y, q: _tanh_backward.default(q, y), fn_=torch.tanh_,
                       vjp_=lambda y, q: _tanh_backward.grad_input(q, y, grad_input=q), kernel=("tanh", 0.0),
                       envelope=(0.0, 1.0)),
    "leaky_relu": _leaky_relu(0.01),
    "identity": Activation("identity", lambda x: x, lambda y, q: q, fn_=lambda x: x, vjp_=lambda y, q: q,
                           kernel=("identity", 0.0), envelope=(1.0, 1.0), homogeneous_moment=1.0),
}


def get_activation(spec: ActivationSpec) -> Activation:
    """An :class:`Activation` from a name in ACTIVATIONS, "leaky_relu:<slope>" (|slope| <= 100), a callable, or
    itself."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec.startswith("leaky_relu:"):
        slope = _checks.leaky_slope(spec)
        if slope is not None:
            return _leaky_relu(slope)
    elif isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]
    elif callable(spec):
        return _from_callable(spec)
    raise ValueError(
        f"activation must be one of {', '.join(repr(k) for k in ACTIVATIONS)}, 'leaky_relu:<slope>' "
        f"({_checks.SLOPE}) or a callable; got {spec!r}"
    )


BLOCKS: dict[str, type[Block]] = {}  # name -> class, filled as each subclass with a name is defined
_HYPOTHESIS_LOW = 0.5  # Hypotheses 2 and 4: ||x||^2 / 2 <= E||.||^2 <= ||x||^2


class Block:
    """g(h, W) and its adjoint for one residual block, and what the theory knows of it.

    A subclass that sets ``name`` is registered in :data:`BLOCKS` (so ``get_block``, the engine, the limits, the
    specs and the command line's ``--block`` know it); it implements ``g``, ``cached`` and ``adjoint_step`` and
    declares its facts:

    - ``formula``: g written out, for messages ("g = ReLU(W h)");
    - ``inner``: whether it reads inner weights W (res-2, res-3) besides V;
    - ``default_activation``: sigma when none is given (:func:`get_block`, ``ScaledResNet``, the limits, the specs);
    - ``activations``: the only activations it takes (None: any);
    - ``kernel``: the pass of the compiled kernel (:mod:`reslimit.native`) that serves it, "res1" (V sigma(h)) or
      "res2" (V sigma(W h)); None: only the torch loop;
    - :meth:`second_moment`, :meth:`critical_beta`, :meth:`hypotheses`: the theory's constants for it.

    ``cached(x, W)`` returns g for states as columns and what the adjoint needs (sigma(z) or z, see
    :class:`Activation`), so that the backward pass p -> (dg/dx)^T p reads it instead of recomputing a
    matrix product.
    """

    name: ClassVar[str]
    formula: ClassVar[str]
    inner: ClassVar[bool]
    default_activation: ClassVar[str] = "tanh"
    activations: ClassVar[tuple[str, ...] | None] = None
    kernel: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            BLOCKS[cls.name] = cls

    def __init__(self, activation: Activation):
        if self.activations is not None and activation.name not in self.activations:
            raise ValueError(f"activation must be {' or '.join(map(repr, self.activations))} for block {self.name!r}"
                             f" ({self.formula}); got {activation.name!r}{self._instead()}")
        self.activation = activation

    def _instead(self) -> str:
        """What to use instead of an activation this block does not take (a hint for the error)."""
        return ""

    def second_moment(self) -> float | None:
        """c with E||V g(h, W)||^2 = c ||h||^2 for every h, where W (M x d) has i.i.d. symmetric entries of variance
        1/d and V (d x M), independent of W, centred entries of variance 1/M: c = (d/M) E||g(h, W)||^2 / ||h||^2,
        which is E||g(h, W)||^2 / ||h||^2 at M = d and the same for every hidden width M; None where no such
        constant exists. Then, on i.i.d. weights, E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha_L^2)^L - 1 exactly
        (Marion et al. 2022, proof of Lemma 1)."""
        return None

    def critical_beta(self, first_order: float) -> float | None:
        """The critical beta at initialisation on weights whose first-order term alpha_L sum_k V_k g(h_0) has size
        L^(first_order - beta) (``first_order``: the path's natural beta, 1/2 i.i.d. or Brownian, 1 smooth, H fBm);
        None where the theory claims none. See :mod:`reslimit.studies.phase` for the argument."""
        return first_order

    def hypotheses(self) -> tuple[bool, str]:
        """Whether Hypotheses 2 and 4 of the documents hold with the constants 1/2 and 1, and why.

        Hypothesis 2: ||h||^2/2 <= E||g(h, theta)||^2 <= ||h||^2 for every h; Hypothesis 4: ||q||^2/2 <=
        E(||dg/dh(h, theta) q||^2 | h, q) <= ||q||^2. For res-1 (and res-2, whose W has symmetric unit-variance
        entries of sqrt(d) W so that E||W h||^2 = ||h||^2) both hold when a|x| <= |sigma(x)| <= b|x| and
        a <= sigma' <= b with 1/sqrt(2) <= a and b <= 1 (the activation's ``envelope``, which for leaky ReLU and
        the identity is also the range of sigma'). tanh and ReLU outside res-3 have a = 0: the lower constant
        fails (E tanh(x)^2 = 0.394 for x ~ N(0, 1)).
        """
        if self.activation.envelope is None:
            return False, f"{self.name}, {self.activation.name}: no envelope a|x| <= |sigma(x)| <= b|x| known"
        a, b = self.activation.envelope
        ok = a**2 >= _HYPOTHESIS_LOW - 1e-12 and b <= 1 + 1e-12
        cond = "1/sqrt 2 <= a, b <= 1" if ok else "not 1/sqrt 2 <= a <= b <= 1"
        return ok, f"{self.name}, {self.activation.name}: a={a:g}, b={b:g} ({cond})"

    def g(self, h: Tensor, W: Tensor | None) -> Tensor:
        """g(h, W) for states as rows: (E, n, d) -> (E, n, d)."""
        raise NotImplementedError

    def cached(self, x: Tensor, W: Tensor | None, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(g(x, W), s) for states as columns, x of shape (E, d, n), with g = sigma(z) (E, M, n) and s the tensor
        ``activation.vjp`` reads; neither aliases x. ``out``, a buffer shaped like g (E, M, n), may receive z (and
        g) when the caller keeps neither past the layer and autograd is not recording."""
        raise NotImplementedError

    def adjoint_step(self, p: Tensor, s: Tensor, VT: Tensor, WT: Tensor | None, alpha: float | Tensor,
                     out: Tensor | None = None) -> Tensor:
        """p_k = p_{k+1} + alpha (dg/dx)^T V^T p_{k+1}, for p_{k+1} = ``p`` (E, d, n), the cached s of layer k,
        and its transposed weights VT = V^T, WT = W^T.

        ``alpha`` is a float, or a tensor of shape (E or 1, 1, n): one scale per input (column).
        ``out``, a buffer shaped like V^T p (E, M, n), makes the step work in place, for when autograd is not recording:
        the intermediate products go into ``out`` and p is overwritten, so no tensor is allocated per layer.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}({self.activation.name})"


def _masked(activation: Activation, s: Tensor, VT: Tensor, p: Tensor, out: Tensor | None) -> Tensor:
    """sigma' * (V^T p), computed in ``out`` when given and the activation can write in place."""
    if out is None:
        return activation.vjp(s, torch.bmm(VT, p))
    q = torch.bmm(VT, p, out=out)
    return activation.vjp_(s, q) if activation.vjp_ is not None else activation.vjp(s, q)


def _scaled(q: Tensor, alpha, inplace: bool) -> tuple[Tensor, float]:
    """(alpha * q, 1) for per-input scales alpha of shape (E or 1, 1, n); (q, alpha) for a float.

    q is the step's own tensor, so without autograd it is scaled in place (no allocation per layer).
    """
    if not isinstance(alpha, Tensor):
        return q, alpha
    return (q.mul_(alpha) if inplace else q * alpha), 1.0


class Res1(Block):
    """res-1: g(h) = sigma(h); (dg/dh)^T q = sigma'(h) * q."""

    name, formula, inner, kernel = "res1", "g = sigma(h)", False, "res1"

    def second_moment(self):
        """1 for the identity (E||V h||^2 = ||h||^2); None otherwise (||sigma(h)||^2 / ||h||^2 depends on h)."""
        return 1.0 if self.activation.name == "identity" else None

    def g(self, h, W):
        return self.activation.fn(h)

    def cached(self, x, W, out=None):
        g = self.activation.fn(x)
        if g.data_ptr() == x.data_ptr():  # e.g. the identity: the engine may update x in place
            g = g.clone()
        return g, g if self.activation.from_output else x.clone()

    def adjoint_step(self, p, s, VT, WT, alpha, out=None):
        q, alpha = _scaled(_masked(self.activation, s, VT, p, out), alpha, out is not None)
        return p.add(q, alpha=alpha) if out is None else p.add_(q, alpha=alpha)


class Res2(Block):
    """res-2: g(h, W) = sigma(W h); (dg/dh)^T q = W^T (sigma'(W h) * q)."""

    name, formula, inner, kernel = "res2", "g = sigma(W h)", True, "res2"

    def second_moment(self):
        """E[sigma(z)^2] / E[z^2] for a positively homogeneous sigma (the M coordinates z = (W h)_i are symmetric of
        variance ||h||^2 / d): 1/2 for ReLU, (1 + s^2)/2 for leaky ReLU of slope s, 1 for the identity. For every
        hidden width M, E||V sigma(W h)||^2 = d (1/M) E||sigma(W h)||^2 = d E[sigma(z)^2] = c ||h||^2."""
        return self.activation.homogeneous_moment

    def critical_beta(self, first_order):
        """max(first_order, 1/2) with ReLU: g(W_k h) = m + f_k, whose mean part m != 0 sums to L^first_order and
        whose fluctuation sum_k V_k f_k, a sum of products of two independent stationary sequences, to L^(1/2); for
        another sigma the first-order value where it is at least 1/2, else none is claimed (an odd sigma has
        m = 0, and the fluctuation's size is not derived)."""
        if self.activation.name == "relu":
            return max(first_order, 0.5)
        return first_order if first_order >= 0.5 else None

    def g(self, h, W):
        return self.activation.fn(torch.bmm(h, W.mT))

    def cached(self, x, W, out=None):
        z = torch.bmm(W, x) if out is None else torch.bmm(W, x, out=out)
        if self.activation.fn_ is not None:  # z is fresh: sigma in place, one tensor per layer
            g = self.activation.fn_(z)
            return g, g
        g = self.activation.fn(z)
        return g, g if self.activation.from_output else z

    def adjoint_step(self, p, s, VT, WT, alpha, out=None):  # W^T (sigma' * V^T p) fused with the sum
        q, alpha = _scaled(_masked(self.activation, s, VT, p, out), alpha, out is not None)
        return torch.baddbmm(p, WT, q, alpha=alpha) if out is None else p.baddbmm_(WT, q, alpha=alpha)


class Res3(Res2):
    """res-3: g(h, W) = ReLU(W h); the activation must be ReLU (res-2 takes any)."""

    name, formula, default_activation, activations = "res3", "g = ReLU(W h)", "relu", ("relu",)

    def _instead(self):
        return ": use block 'res2' for sigma(W h) with another sigma"

    def hypotheses(self):
        """Both hold with equality at 1/2: E||ReLU(W h)||^2 = ||h||^2/2 and E||diag(1{W h > 0}) W q||^2 = ||q||^2/2
        (W -> -W flips the indicator and leaves (W_i h)^2, (W_i q)^2 unchanged)."""
        return True, "res-3: E||ReLU(Wh)||^2 = ||h||^2/2, E||D W q||^2 = ||q||^2/2 (W symmetric)"


def get_block(name: str, activation: ActivationSpec | None = None) -> Block:
    """The block called ``name`` (a key of BLOCKS) with the given activation (None: the block's
    ``default_activation``)."""
    if not isinstance(name, str) or name not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(repr(k) for k in BLOCKS)}; got {name!r}")
    cls = BLOCKS[name]
    return cls(get_activation(cls.default_activation if activation is None else activation))

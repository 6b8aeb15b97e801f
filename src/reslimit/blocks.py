"""Residual blocks: the map g(h, W) of h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}), and its adjoint.

States are rows: h has shape (ensemble, batch, width) and V g(h) is computed as g(h) @ V^T, batched
over the ensemble. A block knows nothing of the depth or of alpha (Marion et al. 2022, eq. (1)):

| block | g(h, W)          | weights per layer |
|-------|------------------|-------------------|
| res1  | sigma(h)         | V                 |
| res2  | sigma(W h)       | V, W              |
| res3  | ReLU(W h)        | V, W              |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    """An elementwise activation sigma with its derivative sigma'."""

    name: str
    fn: Callable[[Tensor], Tensor]
    grad: Callable[[Tensor], Tensor]


def _leaky_relu(slope: float) -> Activation:
    return Activation(
        f"leaky_relu:{slope:g}",
        lambda x: torch.nn.functional.leaky_relu(x, slope),
        lambda x: torch.where(x > 0, 1.0, slope).to(x.dtype),
    )


def _from_callable(fn: Callable[[Tensor], Tensor]) -> Activation:
    """Wrap a user's elementwise function; sigma' comes from autograd."""

    def grad(x: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(fn(x).sum(), x)
        return d

    return Activation(getattr(fn, "__name__", "callable"), fn, grad)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", torch.relu, lambda x: (x > 0).to(x.dtype)),
    "tanh": Activation("tanh", torch.tanh, lambda x: 1.0 - torch.tanh(x) ** 2),
    "leaky_relu": _leaky_relu(0.01),
    "identity": Activation("identity", lambda x: x, torch.ones_like),
}


def get_activation(spec) -> Activation:
    """An :class:`Activation` from a name in ACTIVATIONS, "leaky_relu:<slope>", a callable, or itself."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str) and spec.startswith("leaky_relu:"):
        try:
            return _leaky_relu(float(spec.split(":", 1)[1]))
        except ValueError:
            pass
    elif isinstance(spec, str) and spec in ACTIVATIONS:
        return ACTIVATIONS[spec]
    elif callable(spec):
        return _from_callable(spec)
    raise ValueError(
        f"activation must be one of {', '.join(repr(k) for k in ACTIVATIONS)}, 'leaky_relu:<slope>' "
        f"or a callable; got {spec!r}"
    )


class Block:
    """g(h, W) and q -> (dg/dh)^T q for one residual block; ``inner`` says whether it uses W."""

    name: str
    inner: bool

    def __init__(self, activation: Activation):
        self.activation = activation

    def g(self, h: Tensor, W: Tensor | None) -> Tensor:
        """g(h, W): (E, n, d) -> (E, n, d)."""
        raise NotImplementedError

    def g_vjp(self, h: Tensor, W: Tensor | None, q: Tensor) -> Tensor:
        """(dg/dh)^T q at h, for q of shape (E, n, d)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}({self.activation.name})"


class Res1(Block):
    """res-1: g(h) = sigma(h); (dg/dh)^T q = sigma'(h) * q."""

    name, inner = "res1", False

    def g(self, h, W):
        return self.activation.fn(h)

    def g_vjp(self, h, W, q):
        return self.activation.grad(h) * q


class Res2(Block):
    """res-2: g(h, W) = sigma(W h); (dg/dh)^T q = W^T (sigma'(W h) * q)."""

    name, inner = "res2", True

    def g(self, h, W):
        return self.activation.fn(torch.bmm(h, W.mT))

    def g_vjp(self, h, W, q):
        return torch.bmm(self.activation.grad(torch.bmm(h, W.mT)) * q, W)


class Res3(Res2):
    """res-3: g(h, W) = ReLU(W h), whatever activation is named for the other blocks."""

    name = "res3"

    def __init__(self, activation: Activation):
        if activation.name != "relu":
            raise ValueError(f"activation must be 'relu' for block 'res3' (g = ReLU(W h)); got "
                             f"{activation.name!r}: use block 'res2' for sigma(W h) with another sigma")
        super().__init__(activation)


BLOCKS: dict[str, type[Block]] = {"res1": Res1, "res2": Res2, "res3": Res3}


def get_block(name, activation="relu") -> Block:
    """The block called ``name`` (a key of BLOCKS) with the given activation."""
    if name not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(repr(k) for k in BLOCKS)}; got {name!r}")
    return BLOCKS[name](get_activation(activation))

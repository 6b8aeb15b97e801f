"""Gradients of every weight from the explicit adjoint, as a torch.autograd.Function.

For the network of :mod:`reslimit.resnet`, states as columns x_k = h_k^T (E, d, n), V_k (E, d, M) and W_k (E, M, d)
(M the hidden width, d by default),

    x_{k+1} = x_k + alpha V_k g_k,   g_k = g(x_k, W_k) (:mod:`reslimit.blocks`),

and p_k = dLoss/dx_k, the adjoint recursion runs back from p_L = dLoss/dx_L (Marion et al. 2022, eq. (1)):

    r_k = V_k^T p_{k+1},   q_k = sigma'(.) * r_k   (``Activation.vjp`` on the cached s_k),
    res-1: p_k = p_{k+1} + alpha q_k,
    res-2, res-3: p_k = p_{k+1} + alpha W_k^T q_k,

and on the way it gives, with alpha_n the scale of input (column) n,

    dLoss/dV_k = sum_n alpha_n p_{k+1,n} g_{k,n}^T,
    dLoss/dW_k = sum_n alpha_n q_{k,n} x_{k,n}^T        (res-2, res-3),
    dLoss/dalpha_n = sum_k <p_{k+1,n}, V_k g_{k,n}> = sum_k <r_{k,n}, g_{k,n}>   (per-input alpha),

summed over the ensemble too for an alpha shared by every member. The forward pass records no graph: it
keeps x_k (res-2, res-3), g_k and the s_k the activation's derivative reads, L x E x d (or M) x n numbers each,
where autograd would keep every intermediate of the loop. The blocks and activations the compiled kernel of
:mod:`reslimit.native` serves (``native.engine``: res-3; res-1 and res-2 with ReLU, tanh, the identity or
leaky ReLU of a positive slope) run both passes in it where it is usable (and alpha needs no gradient).
:meth:`reslimit.resnet.ScaledResNet.forward` takes this path whenever autograd needs the gradients of the
held weights or of h_0; ``ENABLED = False`` sends it to autograd through the torch loop instead (the tests
compare the two).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import native
from .blocks import Block

Tensor = torch.Tensor
ENABLED = True


class ExplicitAdjoint(torch.autograd.Function):
    """h_L (E, n, d) from h_0 (E, n, d), V (L, E, d, M), W (L, E, M, d) or None, and alpha (a float, or per-input
    scales of shape (E or 1, 1, n)); its backward gives the gradients of h_0, V, W and a tensor alpha by the
    formulas of :mod:`reslimit.gradients`. ``compiled``: run the compiled kernel (where ``native.engine`` serves)."""

    @staticmethod
    def forward(ctx, block: Block, compiled: bool, h0: Tensor, V: Tensor, W: Tensor | None, alpha) -> Tensor:
        weights = ctx.needs_input_grad[3] or ctx.needs_input_grad[4]
        ctx.block, ctx.alpha = block, alpha
        ctx.save_for_backward(V, W)  # an optimizer step before backward is then refused by autograd
        if compiled:
            hL, ctx.kernel = native.run_gradients(V, W, h0, alpha, weights=weights,
                                                        activation=block.activation)
            return hL
        ctx.kernel, ctx.cache = None, []
        x, per_input = h0.mT, isinstance(alpha, Tensor)
        Ws = (None,) * V.shape[0] if W is None else W.unbind(0)
        for k, Vk in enumerate(V.unbind(0)):
            g, s = block.cached(x, Ws[k])
            ctx.cache.append((x if W is not None and weights else None, g, s))
            x = torch.baddbmm(x, Vk, g * alpha) if per_input else torch.baddbmm(x, Vk, g, alpha=alpha)
        return x.mT.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        V, W = ctx.saved_tensors
        alpha, needs = ctx.alpha, ctx.needs_input_grad
        if ctx.kernel is not None:
            p0, dV, dW = ctx.kernel(grad)
            return None, None, p0 if needs[2] else None, dV if needs[3] else None, dW if needs[4] else None, None
        act = ctx.block.activation
        dV = torch.empty_like(V) if needs[3] else None
        dW = torch.empty_like(W) if W is not None and needs[4] else None
        dalpha = torch.zeros_like(grad[..., :1].mT) if needs[5] else None  # (E, 1, n)
        p = grad.mT
        for k in range(V.shape[0] - 1, -1, -1):
            x, g, s = ctx.cache[k]
            if dV is not None:
                torch.bmm(p * alpha, g.mT, out=dV[k])
            r = torch.bmm(V[k].mT, p)
            if dalpha is not None:
                dalpha += (r * g).sum(1, keepdim=True)
            q = act.vjp(s, r) * alpha
            if dW is not None:
                torch.bmm(q, x.mT, out=dW[k])
            p = p + q if W is None else torch.baddbmm(p, W[k].mT, q)
        if dalpha is not None and alpha.shape[0] == 1:
            dalpha = dalpha.sum(0, keepdim=True)
        return None, None, p.mT.contiguous() if needs[2] else None, dV, dW, dalpha


def explicit(block: Block, h0: Tensor, V: Tensor, W: Tensor | None, alpha, compiled: bool) -> Tensor:
    """h_L from h_0 through :class:`ExplicitAdjoint`, whose backward is the explicit adjoint.

    That adjoint is written for g = sigma(x) and g = sigma(W x), the blocks with a ``kernel``; for another block
    (``kernel`` None) the loop x_{k+1} = x_k + alpha V_k g(x_k, W_k) of its ``cached`` runs under autograd instead.
    """
    if block.kernel is not None:
        return ExplicitAdjoint.apply(block, compiled, h0, V, W, alpha)
    x = h0.mT
    for k, Vk in enumerate(V.unbind(0)):
        x = x + torch.bmm(Vk, block.cached(x, None if W is None else W[k])[0]) * alpha
    return x.mT.contiguous()

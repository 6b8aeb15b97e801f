"""The weights' gradients from the explicit adjoint (reslimit.gradients) against autograd through the torch loop."""

import pytest
import torch

from reslimit import ScaledResNet, gradients, native

BLOCKS = [("res1", "relu"), ("res1", "tanh"), ("res1", "identity"), ("res1", "leaky_relu:0.2"),
          ("res1", "leaky_relu:-0.3"), ("res2", "relu"), ("res2", "tanh"), ("res2", "identity"),
          ("res2", "leaky_relu:0.2"), ("res3", "relu")]


def _net(block, activation, E, layers, dtype=torch.float64, L=6, d=5, seed=0):
    return ScaledResNet(L, d, beta=0.5, block=block, activation=activation, ensemble=E, seed=seed, dtype=dtype,
                        input_dim=3 if layers else None, output_dim=2 if layers else None)


def _grads(net, x, alpha, explicit=True):
    """(engine, loss, the gradients of x, alpha and every parameter) for loss = sum F(x)^2 / 2 + sum F(x)."""
    net.zero_grad()
    x = x.detach().requires_grad_(True)
    alpha = None if alpha is None else alpha.detach().requires_grad_(True)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(gradients, "ENABLED", explicit)
        engine = net._engine(net.embed(x), None if alpha is None else net._check_alpha(alpha, net.embed(x)))
        out = net(x, alpha=alpha)
        loss = (out**2).sum() / 2 + out.sum()
        loss.backward()
    named = {"x": x.grad, **({} if alpha is None else {"alpha": alpha.grad}),
             **{name: p.grad for name, p in net.named_parameters()}}
    return engine, loss.detach(), named


@pytest.mark.parametrize("block, activation", BLOCKS)
@pytest.mark.parametrize("E", [1, 3])
@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("layers", [False, True])
@pytest.mark.parametrize("scales", [None, "per input", "per member and input"])
def test_explicit_adjoint_equals_autograd(block, activation, E, n, layers, scales):
    net = _net(block, activation, E, layers)
    g = torch.Generator().manual_seed(E * 10 + n)
    x = torch.randn(E, n, 3 if layers else 5, generator=g)
    alpha = {None: None, "per input": torch.rand(n, generator=g),
             "per member and input": torch.rand(E, n, generator=g)}[scales]
    engine, loss, got = _grads(net, x, alpha)
    autograd, loss_autograd, want = _grads(net, x, alpha, explicit=False)
    kernel = native.engine(block, activation, torch.float64) == "compiled" and alpha is None
    assert engine == ("explicit compiled" if kernel else "explicit") and autograd == "torch"
    assert (loss - loss_autograd).abs() <= 1e-12 * loss_autograd.abs()
    assert got.keys() == want.keys() and {"V", "x"} <= set(got) and ("W" in got) == (block != "res1")
    for name in want:
        scale = want[name].abs().max()
        assert scale > 0 and (got[name] - want[name]).abs().max() <= 1e-10 * scale, name


@pytest.mark.parametrize("block, activation", [("res3", "relu"), ("res2", "tanh"), ("res1", "leaky_relu:-0.3")])
def test_an_sgd_step_equals_one_with_autograd(block, activation):
    """One step of torch.optim.SGD (with momentum and weight decay) on the explicit gradients and on autograd's."""
    nets = [_net(block, activation, 2, True, seed=3) for _ in range(2)]
    x, target = torch.randn(4, 3), torch.randn(2, 4, 2)
    for net, explicit in zip(nets, (True, False)):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        with pytest.MonkeyPatch.context() as m:
            m.setattr(gradients, "ENABLED", explicit)
            for _ in range(2):
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(net(x), target).backward()
                optimizer.step()
    for (name, a), b in zip(nets[0].named_parameters(), nets[1].parameters()):
        assert (a - b).abs().max() <= 1e-12 * b.abs().max(), name


@pytest.mark.parametrize("block, activation, compiled", [("res1", "tanh", False), ("res2", "tanh", False),
                                                         ("res3", "relu", False), ("res3", "relu", True),
                                                         ("res1", "tanh", True), ("res2", "tanh", True)])
def test_gradcheck(block, activation, compiled):
    if compiled and native.engine(block, activation, torch.float64) != "compiled":
        pytest.skip(native.status(torch.float64))
    net = _net(block, activation, 2, False, L=3, d=3)
    g = torch.Generator().manual_seed(1)
    h0 = torch.randn(2, 2, 3, generator=g, requires_grad=True)
    V = net.V.detach().clone().requires_grad_(True)
    W = None if net.W is None else net.W.detach().clone().requires_grad_(True)
    alpha = 0.7 if compiled else (0.5 + torch.rand(1, 1, 2, generator=g)).requires_grad_(True)
    inputs = (h0, V) + ((W,) if W is not None else ()) + ((alpha,) if not compiled else ())

    def f(h0, V, *rest):
        W_, a = (rest[0], rest[1:]) if net.W is not None else (None, rest)
        return gradients.explicit(net.block, h0, V, W_, a[0] if a else alpha, compiled)

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("L, d, E, n", [(5, 40, 1, 33), (4, 7, 3, 17), (3, 6, 4, 2), (2, 9, 2, 40)])
@pytest.mark.parametrize("block, activation", [("res3", "relu"), ("res2", "tanh"), ("res2", "leaky_relu:0.2"),
                                               ("res1", "tanh"), ("res1", "identity")])
def test_compiled_gradients_equal_the_torch_path(monkeypatch, dtype, tol, threads, L, d, E, n, block, activation):
    """The kernel's dV, dW and p_0 (members split between threads, or a thread's whole) against the Function's
    torch path, for a float alpha and per-input scales."""
    if native.engine(block, activation, dtype) != "compiled":
        pytest.skip(native.status(dtype))
    net = _net(block, activation, E, False, dtype=dtype, L=L, d=d)
    g = torch.Generator().manual_seed(L * d)
    h0, pL = torch.randn(E, n, d, dtype=dtype, generator=g), torch.randn(E, n, d, dtype=dtype, generator=g)
    for alpha in (0.4, torch.rand(E, 1, n, dtype=dtype, generator=g)):
        runs = []
        for compiled in (True, False):
            V = net.V.detach().requires_grad_(True)
            W = None if net.W is None else net.W.detach().requires_grad_(True)
            x = h0.clone().requires_grad_(True)
            old = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                gradients.explicit(net.block, x, V, W, alpha, compiled).backward(pL)
            finally:
                torch.set_num_threads(old)
            runs.append((x.grad, V.grad) + (() if W is None else (W.grad,)))
        for got, want in zip(*runs):
            assert (got - want).abs().max() <= tol * want.abs().max()


def test_the_backend_is_chosen_in_one_place(monkeypatch):
    h0 = torch.randn(2, 3, 4)
    res3, other = _net("res3", "relu", 2, False, d=4), _net("res2", "leaky_relu:-0.3", 2, False, d=4)
    assert res3._engine(h0) == ("explicit compiled" if native.engine("res3", "relu", h0.dtype) == "compiled"
                                else "explicit")
    assert other._engine(h0) == "explicit"  # sigma' read from its input: no kernel
    assert res3._engine(h0, torch.ones(2, 1, 3, requires_grad=True)) == "explicit"  # alpha's gradient: torch
    out = other(h0)
    assert type(out.grad_fn).__name__ == "ExplicitAdjointBackward"  # one node for the whole depth
    streamed = ScaledResNet(6, 4, block="res3", ensemble=2, stream=True)
    assert streamed._engine(h0.requires_grad_(True)) == "torch"  # no parameters: autograd through the loop
    with torch.no_grad():
        assert other._engine(h0) == "torch"
    monkeypatch.setattr(gradients, "ENABLED", False)
    assert res3._engine(h0) == "torch"


def test_a_weight_changed_before_backward_is_refused():
    net = _net("res2", "tanh", 1, False)
    out = net(torch.randn(1, 2, 5))
    with torch.no_grad():
        net.V.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()

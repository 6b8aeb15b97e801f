"""The discrete engine: a scaled ResNet of depth L, looped over depth, batched over ensemble and inputs.

    h_0 = A x,   h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, W_{k+1}),   F(x) = B h_L,   alpha_L = L^-beta

(Marion, Fermanian, Biau, Vert 2022, eq. (1)), with V_{k+1} = outer.weights(L)[k] and
W_{k+1} = inner.weights(L)[k]. The backward states p_k = dLoss/dh_k follow the adjoint recursion

    p_k = p_{k+1} + alpha_L (dg/dh (h_k))^T V_{k+1}^T p_{k+1}.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from . import _checks, _memory, gradients, init, native
from ._rng import KeyedNormal, substream
from ._types import ActivationSpec, Device, DType, States, Times
from .blocks import get_block
from .paths import IID, WeightPath

Tensor = torch.Tensor
_CHUNK_BYTES = 64 * 2**20  # weights drawn per chunk when streaming
_LAWS = {"normal": "gaussian", "uniform": "uniform"}  # reslimit.init's laws as KeyedNormal names them


def diverged(h: Tensor) -> Tensor:
    """Which samples overflowed: True where a state of shape (..., width) has a non-finite entry."""
    return ~torch.isfinite(h).all(-1)


class ScaledResNet(nn.Module):
    """A scaled ResNet h_{k+1} = h_k + L^-beta V_{k+1} g(h_k, W_{k+1}) on weights read from paths.

    Args:
        depth: L >= 1.
        width: d >= 1, the width of the hidden states.
        beta: scaling exponent, alpha_L = L^-beta (default 1/2); or give ``alpha`` directly (not both).
        block: "res1" (V sigma(h)), "res2" (V sigma(W h)) or "res3" (V ReLU(W h)).
        activation: a name of ``reslimit.blocks.ACTIVATIONS``, "leaky_relu:<slope>" or a callable.
        outer: the path of V (default ``IID(width, ensemble, seed=substream(seed, "outer"))``).
        inner: the path of W for res2/res3 (default ``IID(..., seed=substream(seed, "inner"))``).
        ensemble, seed, dtype: used for the default paths only.
        device: where the network lives ("cpu", "cuda"...): the paths are moved there (``path.to(device)``); None
            keeps the paths' device. ``net.to(device)`` (or ``.cuda()``, ``.double()``) moves the paths too.
        input_dim, output_dim: add an input layer x -> A x and an output layer h_L -> B h_L.
        layer_init: the initialization of A and B, a scheme of :mod:`reslimit.init` ("standard", "lecun",
            "glorot"/"xavier", "he"/"kaiming"), optionally with its law, "he:uniform" or "he:normal" (default
            normal); the entries get ``init.variance(scheme, fan_in, fan_out)``. None (the default): N(0, 1/fan_in),
            the numbers of every earlier version. (``init`` is not this: it names the weight path's kind elsewhere.)
        stream: draw the weights from the paths in chunks of depth on every pass instead of holding
            them as trainable parameters: memory O(chunk) instead of O(L), for very deep networks.

    States have shape (ensemble, batch, width); an input of shape (batch, width) is fed to every
    ensemble member. A sample whose states overflow ends non-finite: see :func:`diverged`.
    Passes of res-2 (ReLU) and res-3 that autograd does not record run the compiled kernel of
    :mod:`reslimit.native` on held weights; all others, a loop over depth of batched torch kernels. A
    forward pass whose held weights or h_0 need gradients records no graph of the loop: its backward is the
    explicit adjoint of :mod:`reslimit.gradients` (the compiled kernel's where it serves), which gives every
    V_k and W_k its gradient, so torch optimizers train the network unchanged.

    Example:
        >>> net = ScaledResNet(1000, 40, beta=0.5, block="res3", ensemble=8)
        >>> h0 = torch.randn(8, 32, 40, dtype=torch.float64)
        >>> hL = net(h0)                                   # (8, 32, 40)
        >>> states = net.trajectory(h0, every=10)          # (101, 8, 32, 40)
    """

    def __init__(self, depth: int, width: int, *, beta: float | None = None, alpha: float | None = None,
                 block: str = "res1", activation: ActivationSpec = "relu", outer: WeightPath | None = None,
                 inner: WeightPath | None = None, ensemble: int = 1, seed: int = 0, dtype: DType = torch.float64,
                 device: Device | None = None, input_dim: int | None = None, output_dim: int | None = None,
                 stream: bool = False, layer_init: str | None = None):
        super().__init__()
        self.depth = _checks.positive_int("depth", depth)
        self.width = _checks.positive_int("width", width)
        seed = _checks.seed("seed", seed)
        self.alpha, self.beta = _scaling(self.depth, beta, alpha)
        self.block = get_block(block, activation)
        self.outer = (_check_path("outer", outer, self.width)
                      or IID(width, ensemble, seed=substream(seed, "outer"), dtype=dtype)).to(device)
        if self.block.inner:
            default = IID(width, self.outer.ensemble, seed=substream(seed, "inner"), dtype=self.outer.dtype)
            self.inner = (_check_path("inner", inner, self.width) or default).to(device)
            _check_compatible(self.outer, self.inner)
        elif inner is not None:
            raise ValueError(f"inner must be None for block {block!r}, which has no inner weights W")
        else:
            self.inner = None
        self.stream = bool(stream)
        self._require_weights()
        if not self.stream:
            self.V = nn.Parameter(self.outer.weights(self.depth))
            self.W = nn.Parameter(self.inner.weights(self.depth)) if self.inner else None
        draw = KeyedNormal((self.ensemble, self.width, 1), self.dtype, self.outer.device)
        scheme = None if layer_init is None else init.layer_scheme("layer_init", layer_init)
        self.A = _linear("input_dim", input_dim, self.width, substream(seed, "input_layer"), draw, scheme=scheme)
        self.B = _linear("output_dim", output_dim, self.width, substream(seed, "output_layer"), draw, out=True,
                         scheme=scheme)
        # where the module lives: .to(), .cuda(), .double()... move it, and _apply moves the paths after it
        self.register_buffer("_where", torch.empty(0, dtype=self.dtype, device=self.outer.device), persistent=False)

    ensemble = property(lambda self: self.outer.ensemble)
    dtype = property(lambda self: self.outer.dtype)
    device = property(lambda self: self.outer.device)

    def _apply(self, fn, *args, **kwargs):
        """nn.Module's move or cast of the tensors (.to, .cuda, .cpu, .double...), and of the paths with them."""
        super()._apply(fn, *args, **kwargs)
        self.outer = self.outer.to(self._where.device, self._where.dtype)
        self.inner = None if self.inner is None else self.inner.to(self._where.device, self._where.dtype)
        return self

    def extra_repr(self) -> str:
        return (f"depth={self.depth}, width={self.width}, alpha={self.alpha:.6g}, block={self.block!r}, "
                f"outer={self.outer!r}, inner={self.inner!r}, stream={self.stream}")

    # Weights ---------------------------------------------------------------------------------
    @property
    def _layer_bytes(self) -> int:
        """Bytes of one layer's weights: E x d^2 x itemsize for V, twice that with W."""
        return self.ensemble * self.width**2 * self.dtype.itemsize * (2 if self.inner else 1)

    def _require_weights(self) -> None:
        """Refuse a depth whose loop (a Python step a layer) or weights would not fit: held, L x E x d^2 x itemsize
        bytes for V (and W); streamed, one chunk of layers."""
        names, device = "V and W" if self.inner else "V", self.outer.device
        formula = f"ensemble x width^2 x {self.dtype.itemsize} bytes{' each' if self.inner else ''}"
        if self.stream:
            layers = min(self.depth, max(1, _CHUNK_BYTES // self._layer_bytes))
            _memory.require(layers * self._layer_bytes, f"one chunk of the streamed weights {names} ({layers} x "
                            f"{formula})", f"width={self.width} with ensemble={self.ensemble}",
                            "use a smaller width or ensemble", device)
        else:
            most = min(_memory.affordable(self._layer_bytes, device), _memory.MAX_STEPS)
            advice = (f"use stream=True or a smaller depth (depth={most} at most)" if most else
                      f"one layer alone needs {_memory.human(self._layer_bytes)}: use a smaller width or ensemble")
            _memory.require(self.depth * self._layer_bytes, f"the weights {names} (depth x {formula})",
                            f"depth={self.depth} with width={self.width}, ensemble={self.ensemble}", advice, device)
        _memory.require_steps(self.depth, "the loop over depth (a layer a step)", f"depth={self.depth}",
                              "use a smaller depth")

    def _require_states(self, h0: Tensor, count: int, what: str, advice: str) -> None:
        """Refuse ``count`` states of the shape of h_0, count x E x batch x d x itemsize bytes, that would not fit."""
        ensemble, batch, width = h0.shape
        _memory.require(count * h0.element_size() * ensemble * batch * width,
                        f"{what} ({count} x ensemble x batch x width x {h0.element_size()} bytes)",
                        f"batch={batch} with ensemble={ensemble}, width={width}", advice, h0.device)

    def weight_chunks(self, reverse: bool = False) -> Iterator[tuple[int, Tensor, Tensor | None]]:
        """Yield (start, V[start:stop], W[start:stop] or None) over the depth, in chunks."""
        if not self.stream:
            yield 0, self.V, self.W
            return
        size = max(1, _CHUNK_BYTES // self._layer_bytes)
        starts = range(0, self.depth, size)
        for start in reversed(starts) if reverse else starts:
            stop = min(start + size, self.depth)
            W = self.inner.weights(self.depth, start, stop) if self.inner else None
            yield start, self.outer.weights(self.depth, start, stop), W

    # Passes ----------------------------------------------------------------------------------
    def forward(self, x: Tensor, alpha: Tensor | None = None) -> Tensor:
        """F(x) = B h_L (h_L itself without an output layer): shape (E, batch, output_dim or width).

        ``alpha`` (here and in :meth:`trajectory`, :meth:`adjoint`) replaces alpha_L by one scale per input:
        a tensor of shape (batch,) or (E, batch). One weight draw then serves several betas at once.
        """
        h0 = self.embed(x)
        self._require_states(h0, 3, "the states of the pass", "use fewer inputs at once")
        alpha = self._check_alpha(alpha, h0)
        engine = self._engine(h0, alpha)
        if engine == "compiled":
            h = native.relu_pass(self.V, self.W, h0, alpha)[0]
        elif engine.startswith("explicit"):
            self._require_states(h0, 3 * self.depth + 3, f"the cache of the {self.depth} layers for the weights' "
                                 "gradients (x_k, g_k and sigma's input or output) and the pass",
                                 "use fewer inputs at once")
            h = gradients.explicit(self.block, h0, self.V, self.W, alpha, engine == "explicit compiled")
        else:
            h = self._run(h0, None, alpha=alpha)
        return h if self.B is None else torch.bmm(h, self.B.mT)

    def embed(self, x: Tensor) -> Tensor:
        """h_0 = A x (x itself without an input layer), checked and broadcast to (E, batch, width)."""
        if self.A is None:
            return self._check_state("h0", x, self.width)
        return torch.bmm(self._check_state("x", x, self.A.shape[-1]), self.A.mT)

    def trajectory(self, x: Tensor, every: int = 1, alpha: Tensor | None = None) -> Tensor:
        """States h_k for k = 0, every, 2 every, ..., and L: shape (T, E, batch, width)."""
        every = _checks.positive_int("every", every)
        h0 = self.embed(x)
        recorded = -(-self.depth // every) + 1
        self._require_states(h0, 2 * recorded + 3, f"the {recorded} recorded states h_0, h_every, ..., h_L (L/every "
                             "+ 1), twice (the list and its stack), and the pass", "use a larger every or fewer inputs")
        alpha = self._check_alpha(alpha, h0)
        if self._engine(h0, alpha) == "compiled":
            return native.relu_pass(self.V, self.W, h0, alpha, every, states=True)[1]
        states: list[Tensor] = []
        self._run(h0, states, every, alpha=alpha)
        return torch.stack(states)

    def solve(self, x: States, ts: Times) -> Tensor:
        """States at the times ``ts`` of the network's grid, t = k/L being layer k: h_k for ts = k/L, shape
        (len(ts), E, batch, width), as the limits' ``solve(h0, ts)``.

        ``ts``: finite, strictly increasing times k/L in [0, 1] (a 1-D tensor, array or list).
        """
        ts = _checks.times("ts", ts, dtype=self.dtype, device=self.outer.device)
        ks = _checks.on_grid("ts", ts, self.depth, f"the network (depth={self.depth})")
        every = math.gcd(self.depth, *ks)
        return self.trajectory(x, every)[[k // every for k in ks]]

    def adjoint(self, x: Tensor, grad_output: Tensor, every: int = 1, alpha: Tensor | None = None) -> Tensor:
        """Backward states p_k = dLoss/dh_k by the adjoint recursion, for p_L = ``grad_output``.

        ``grad_output`` is p_L, or a function h_L -> p_L (the gradient of a loss at the network's output),
        called once the forward pass has reached h_L.
        Returns p_k for k = 0, every, ..., L (as :meth:`trajectory`), shape (T, E, batch, width).
        """
        every = _checks.positive_int("every", every)
        h0 = self.embed(x)
        recorded = -(-self.depth // every) + 1
        self._require_states(h0, self.depth + 2 * recorded + 3, f"the cache of the {self.depth} layers, the {recorded} "
                             "recorded states p_k twice (dict and stack) and the pass", "use fewer inputs at once")
        alpha = self._check_alpha(alpha, h0)
        if callable(grad_output):
            p_L, serves = (lambda hL: self._check_grad_output(grad_output(hL), h0)), not torch.is_grad_enabled()
        else:
            p_L = self._check_grad_output(grad_output, h0)
            serves = not self._records_graph(p_L)  # the compiled pass would drop p_L's graph
        if serves and self._engine(h0, alpha) == "compiled":
            return native.relu_pass(self.V, self.W, h0, alpha, every, grad_output=p_L)[2]
        cache: list[Tensor] = []
        hL = self._run(h0, None, cache=cache, alpha=alpha)
        p = p_L(hL) if callable(p_L) else p_L
        inplace = not self._records_graph(p, alpha)
        p = _transposed(p)  # columns, (E, width, batch)
        out = {self.depth: _transposed(p)}
        step, buffer = self.block.adjoint_step, torch.empty_like(p) if inplace else None  # one for all layers
        for start, V, W in self.weight_chunks(reverse=True):
            VT, WT = V.mT.unbind(0), (None,) * V.shape[0] if W is None else W.mT.unbind(0)
            for j in range(V.shape[0] - 1, -1, -1):
                k = start + j
                p = step(p, cache.pop(), VT[j], WT[j], alpha, buffer)
                if k % every == 0:
                    out[k] = _transposed(p)
        return torch.stack([out[k] for k in sorted(out)])

    def _check_grad_output(self, p: Tensor, h0: Tensor) -> Tensor:
        """p_L, checked like the states and against the shape of h_0."""
        p = self._check_state("grad_output", p, self.width)
        if p.shape != h0.shape:
            raise ValueError(f"grad_output must have the shape of the states {tuple(h0.shape)}; got {tuple(p.shape)}")
        return p

    def _engine(self, h: Tensor, alpha=None) -> str:
        """What runs a pass from h_0 = ``h`` with ``alpha`` (as :meth:`_check_alpha` returns it), chosen here only:

        - "compiled": the compiled ReLU pass of :mod:`reslimit.native`, for res-2 with ReLU or res-3 on held
          weights when autograd is not recording;
        - "explicit compiled" / "explicit": autograd is recording and the weights are held: the forward pass
          records no graph and its backward is the explicit adjoint of :mod:`reslimit.gradients`, in the
          compiled kernel where the no-graph pass would be (and alpha needs no gradient), else in torch;
        - "torch": the loop over depth of :meth:`_run` (streamed weights; ``gradients.ENABLED = False``), which
          autograd records when it is recording.
        """
        records = self._records_graph(h, alpha)
        kernel = (not self.stream and native.engine(self.block.name, self.block.activation, h.dtype) == "compiled"
                  and native.usable(self.V, self.W, h))
        if not records:
            return "compiled" if kernel else "torch"
        if self.stream or not gradients.ENABLED:
            return "torch"
        scales_need_grad = isinstance(alpha, Tensor) and alpha.requires_grad
        return "explicit compiled" if kernel and not scales_need_grad else "explicit"

    def _run(self, h: Tensor, states: list | None, every: int = 1, cache: list | None = None,
             alpha: Tensor | float | None = None) -> Tensor:
        """The loop over depth, x <- x + alpha V g(x, W) on the states as columns x = h^T, recording every
        ``every``-th state (as rows). Returns h_L as rows, (E, batch, width).

        With ``cache``, what the adjoint reads of every layer (see ``Block.cached``) is appended to it.
        ``alpha``: alpha_L when None, else as :meth:`_check_alpha` returns it.
        When autograd is not recording, x is updated in place: one kernel and no new tensor per layer.
        """
        alpha = self.alpha if alpha is None else alpha
        inplace = not self._records_graph(h, alpha)
        x = _transposed(h)  # columns, (E, width, batch)
        if states is not None:
            states.append(h)
        per_input = isinstance(alpha, Tensor)
        scaled = torch.empty_like(x) if per_input and inplace else None  # alpha * g, one buffer for all layers
        z = torch.empty_like(x) if inplace and cache is None else None  # W x, when no adjoint keeps it
        for start, V, W in self.weight_chunks():
            Vs, Ws = V.unbind(0), (None,) * V.shape[0] if W is None else W.unbind(0)
            for j in range(V.shape[0]):
                g, saved = self.block.cached(x, Ws[j], z)
                if cache is not None:
                    cache.append(saved)
                g, a = (torch.mul(g, alpha, out=scaled), 1.0) if per_input else (g, alpha)
                x = x.baddbmm_(Vs[j], g, alpha=a) if inplace else torch.baddbmm(x, Vs[j], g, alpha=a)
                if states is not None and ((start + j + 1) % every == 0 or start + j + 1 == self.depth):
                    states.append(_transposed(x))
        return _transposed(x)

    def _check_alpha(self, alpha, h: Tensor) -> Tensor | float:
        """alpha_L (a float), or per-input scales of shape (batch,) or (E, batch) as an (E or 1, 1, batch) tensor,
        for states as columns."""
        if alpha is None:
            return self.alpha
        if isinstance(alpha, (int, float)):
            return _checks.real("alpha", alpha, low=0.0)
        if not isinstance(alpha, Tensor) or alpha.dim() not in (1, 2) or alpha.shape[-1] != h.shape[1] or (
                alpha.dim() == 2 and alpha.shape[0] != h.shape[0]):
            raise ValueError(f"alpha must be a tensor of shape (batch={h.shape[1]},) or (ensemble={h.shape[0]}, "
                             f"batch={h.shape[1]}); got {tuple(alpha.shape) if isinstance(alpha, Tensor) else alpha!r}")
        if not (torch.isfinite(alpha).all() and (alpha >= 0).all()):
            raise ValueError("alpha must hold finite scales >= 0")
        return alpha.to(h.dtype).reshape(-1 if alpha.dim() == 2 else 1, 1, h.shape[1])

    def _records_graph(self, h: Tensor, alpha=None) -> bool:
        """Whether autograd records this pass: h, the held weights or per-input scales ``alpha`` need gradients
        (then states are never overwritten in place)."""
        needs = (h, alpha) if self.stream else (h, alpha, self.V, self.W)
        return torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in needs)

    def _check_state(self, name: str, h, dim: int) -> Tensor:
        """A state (tensor or array of numbers) as (ensemble, batch, dim): see :func:`reslimit._checks.state`."""
        return _checks.state(name, h, ensemble=self.ensemble, width=dim, dtype=self.dtype, device=self.outer.device,
                             owner="the weights")


def _transposed(h: Tensor) -> Tensor:
    """A contiguous copy of h^T (last two dimensions swapped): never a view, even where a dimension is 1."""
    return h.mT.clone(memory_format=torch.contiguous_format)


def _scaling(depth: int, beta, alpha) -> tuple[float, float | None]:
    if beta is not None and alpha is not None:
        raise ValueError(f"give beta or alpha, not both; got beta={beta!r}, alpha={alpha!r}")
    if alpha is not None:
        return _checks.real("alpha", alpha, low=0.0), None
    beta = _checks.real("beta", 0.5 if beta is None else beta, low=0.0)
    return depth**-beta, beta


def _check_path(name: str, path, width: int):
    if path is None:
        return None
    if not isinstance(path, WeightPath):
        raise ValueError(f"{name} must be a reslimit.paths.WeightPath; got {type(path).__name__}")
    if path.width != width:
        raise ValueError(f"{name} has width {path.width} but the network has width {width}")
    return path


def _check_compatible(outer: WeightPath, inner: WeightPath) -> None:
    if (outer.ensemble, outer.dtype, outer.device) != (inner.ensemble, inner.dtype, inner.device):
        raise ValueError(f"outer and inner must share ensemble, dtype and device; got {outer!r} and {inner!r}")


def _linear(name, dim, width, key, draw, out=False, scheme=None):
    """An (E, width, dim) input matrix A, or (E, dim, width) output matrix B, entries N(0, 1/fan_in); with
    ``scheme`` = (name, law) of :func:`reslimit.init.layer_scheme`, the scheme's variance and law."""
    if dim is None:
        return None
    dim = _checks.positive_int(name, dim)
    shape = (draw.shape[0], dim, width) if out else (draw.shape[0], width, dim)
    drawn = 4 if draw.dtype == torch.float64 else 0  # float64 normals are drawn in float32 and widened
    _memory.require(draw.shape[0] * width * dim * (draw.dtype.itemsize + drawn), f"the {'out' if out else 'in'}put "
                    f"layer (ensemble x width x {name} x {draw.dtype.itemsize + drawn} bytes)", f"{name}={dim}",
                    f"use a smaller {name}", draw.device)
    if scheme is None:
        weight = draw.fill(torch.empty(shape, dtype=draw.dtype, device=draw.device), key)
        return nn.Parameter(weight.div_(shape[2] ** 0.5))
    weight = draw.fill(torch.empty(shape, dtype=draw.dtype, device=draw.device), key, _LAWS[scheme[1]])
    return nn.Parameter(weight.mul_(init.variance(scheme[0], shape[2], shape[1]) ** 0.5))

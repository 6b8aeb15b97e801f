"""The discrete engine: a scaled ResNet of depth L, looped over depth, batched over ensemble and inputs.

    h_0 = A x,   h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, W_{k+1}),   F(x) = B h_L,   alpha_L = L^-beta

(Marion, Fermanian, Biau, Vert 2022, eq. (1)), with V_{k+1} = outer.weights(L)[k] (d x M) and
W_{k+1} = inner.weights(L)[k] (M x d), M the hidden width (M = d unless ``hidden`` is given). The backward
states p_k = dLoss/dh_k follow the adjoint recursion

    p_k = p_{k+1} + alpha_L (dg/dh (h_k))^T V_{k+1}^T p_{k+1}.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import torch
from torch import nn

from . import _checks, _memory, gradients, init, native
from ._rng import KeyedNormal, mix, substream
from ._types import ActivationSpec, Device, DType, States, Times
from .blocks import get_block
from .paths import IID, Members, WeightPath
from .paths.base import OnPaths

Tensor = torch.Tensor
_CHUNK_BYTES = 64 * 2**20  # weights drawn per chunk when streaming
_LAWS = {"normal": "gaussian", "uniform": "uniform"}  # reslimit.init's laws as KeyedNormal names them


def diverged(h: Tensor) -> Tensor:
    """Which samples overflowed: True where a state of shape (..., width) has a non-finite entry."""
    return ~torch.isfinite(h).all(-1)


class ScaledResNet(OnPaths):
    """A scaled ResNet h_{k+1} = h_k + L^-beta V_{k+1} g(h_k, W_{k+1}) on weights read from paths.

    Args:
        depth: L >= 1.
        width: d >= 1, the width of the hidden states.
        hidden: M >= 1, the hidden width of res2/res3: V_k is d x M, W_k is M x d and g(h, W) = sigma(W h) is in
            R^M. The default paths draw W with entries of variance 1/d and V of variance 1/M (each scaled by its
            fan-in), so E||V g(h, W)||^2 = c ||h||^2 with the block's ``second_moment()`` c for every M. None (the
            default): M = d, the square network of every earlier version (the same draws from the same seed).
            Given paths must have these shapes (``IID(d, cols=M)`` for V, ``IID(M, cols=d)`` for W). A block
            without inner weights (res1) takes no hidden. The compiled kernel serves any M (its products are
            d x M and M x d), as it does M = d.
        beta: scaling exponent, alpha_L = L^-beta (default 1/2); or give ``alpha`` directly (not both).
        block: a key of ``reslimit.BLOCKS``: "res1" (V sigma(h)), "res2" (V sigma(W h)) or "res3" (V ReLU(W h)).
        activation: a name of ``reslimit.blocks.ACTIVATIONS``, "leaky_relu:<slope>" or a callable; None (the
            default): the block's ``default_activation`` (tanh for res1 and res2, relu for res3), as for the limits.
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
        survival: stochastic depth (Huang et al. 2016): block k (k = 1..L) survives with probability p_k.
            A float p_L in (0, 1] gives the linear decay p_k = 1 - (k/L)(1 - p_L) (:class:`LinearSurvival`);
            a callable t -> p(t) gives p_k = p(k/L) (``lambda t: 0.8`` for a constant), each in (0, 1].
            In training mode (``net.train()``, a module's default) each sample keeps block k with an
            independent Bernoulli(p_k) mask b_{k,n}: h_{k+1} = h_k + alpha b_{k+1} V_{k+1} g(h_k, W_{k+1});
            in evaluation mode (``net.eval()``) the block is scaled by its survival probability instead:
            h_{k+1} = h_k + alpha p_{k+1} V_{k+1} g(h_k, W_{k+1}). :meth:`expected_depth` is sum_k p_k.
            None (default): no stochastic depth.
        dropout: the drop probability 1 - q of dropout in the residual branch, in [0, 1) (torch's
            convention): in training mode every unit of g(h_k, W_{k+1}) is kept with probability q by an
            independent mask m (per sample, unit and layer) and the branch is scaled by 1/q (inverted
            dropout): h_{k+1} = h_k + alpha V_{k+1} (m * g(h_k, W_{k+1})) / q; in evaluation mode the network
            is the plain one. None or 0 (default): no dropout.

    States have shape (ensemble, batch, width); an input of shape (batch, width) is fed to every
    ensemble member. A sample whose states overflow ends non-finite: see :func:`diverged`.
    Passes that autograd does not record run the compiled kernel of :mod:`reslimit.native` on held weights
    for res-3, and for res-1 and res-2 with ReLU, tanh, the identity or leaky ReLU of a positive slope
    (``native.engine``); all others, a loop over depth of batched torch kernels. A
    forward pass whose held weights or h_0 need gradients records no graph of the loop: its backward is the
    explicit adjoint of :mod:`reslimit.gradients` (the compiled kernel's where it serves), which gives every
    V_k and W_k its gradient, so torch optimizers train the network unchanged.

    Masks: the compiled kernel and the explicit adjoint know neither the masks of stochastic depth and dropout
    nor the scales p_k, so every pass of a network with ``survival`` (either mode) or with ``dropout`` in
    training mode runs the torch loop (:meth:`_engine`), which autograd records: its gradients are those of the
    masked network, masks held fixed. The masks of a training-mode pass are drawn from the sub-stream "masks"
    of ``seed`` and the pass's index (:meth:`masks`); the buffer ``mask_passes`` counts the passes drawn (it is
    saved in the state dict, so a resumed training draws the masks an uninterrupted one would).

    Example:
        >>> net = ScaledResNet(1000, 40, beta=0.5, block="res3", ensemble=8)
        >>> h0 = torch.randn(8, 32, 40, dtype=torch.float64)
        >>> hL = net(h0)                                   # (8, 32, 40)
        >>> states = net.trajectory(h0, every=10)          # (101, 8, 32, 40)
    """

    mask_passes: Tensor  # a buffer (with survival or dropout): the training-mode passes run so far
    _where: Tensor  # a buffer: the module's device and dtype

    def __init__(self, depth: int, width: int, *, beta: float | None = None, alpha: float | None = None,
                 hidden: int | None = None, block: str = "res1", activation: ActivationSpec | None = None,
                 outer: WeightPath | None = None,
                 inner: WeightPath | None = None, ensemble: int = 1, seed: int = 0, dtype: DType = torch.float64,
                 device: Device | None = None, input_dim: int | None = None, output_dim: int | None = None,
                 stream: bool = False, layer_init: str | None = None,
                 survival: float | Callable[[float], float] | None = None, dropout: float | None = None):
        super().__init__()
        self.depth = _checks.positive_int("depth", depth)
        self.width = _checks.positive_int("width", width)
        seed = _checks.seed("seed", seed)
        self.alpha, self.beta = _scaling(self.depth, beta, alpha)
        self.block = get_block(block, activation)
        self.hidden = _checks.hidden(hidden, self.width, self.block)
        cols = None if hidden is None else self.hidden  # None: a square path, drawn as before hidden existed
        self.outer = (_check_path("outer", outer, self.width, self.hidden)
                      or IID(width, ensemble, seed=substream(seed, "outer"), dtype=dtype, cols=cols)).to(device)
        if self.block.inner:
            default = IID(self.hidden, self.outer.ensemble, seed=substream(seed, "inner"), dtype=self.outer.dtype,
                          cols=None if hidden is None else self.width)
            self.inner = (_check_path("inner", inner, self.hidden, self.width) or default).to(device)
            _check_compatible(self.outer, self.inner)
        elif inner is not None:
            raise ValueError(f"inner must be None for block {block!r}, which has no inner weights W")
        else:
            self.inner = None
        self.stream = bool(stream)
        self.survival, self._probs = _survival(self.depth, survival)
        self.dropout = 0.0 if dropout is None else _checks.real("dropout", dropout, low=0.0, high=1.0,
                                                                high_open=True)
        self.mask_seed = substream(seed, "masks")
        if self.survival is not None or self.dropout:
            self.register_buffer("mask_passes", torch.zeros((), dtype=torch.long))
        self._require_weights()
        if not self.stream:
            self.V = nn.Parameter(self.outer.weights(self.depth))
            self.W = nn.Parameter(self.inner.weights(self.depth)) if self.inner else None
        draw = KeyedNormal((self.ensemble, self.width, 1), self.dtype, self.outer.device)
        scheme = None if layer_init is None else init.layer_scheme("layer_init", layer_init)
        self.A = _linear("input_dim", input_dim, self.width, substream(seed, "input_layer"), draw, scheme=scheme)
        self.B = _linear("output_dim", output_dim, self.width, substream(seed, "output_layer"), draw, out=True,
                         scheme=scheme)
        self._track_paths()  # .to(), .cuda(), .double()... move the paths with the module

    def extra_repr(self) -> str:
        masks = "" if self.survival is None else f", survival={self.survival!r}"
        masks += f", dropout={self.dropout:g}" if self.dropout else ""
        hidden = "" if self.hidden == self.width else f", hidden={self.hidden}"
        return (f"depth={self.depth}, width={self.width}{hidden}, alpha={self.alpha:.6g}, block={self.block!r}, "
                f"outer={self.outer!r}, inner={self.inner!r}, stream={self.stream}{masks}")

    # Stochastic depth and dropout ---------------------------------------------------------------
    def keep_members(self, index: Iterable[int]) -> None:
        """Keep only the ensemble members ``index`` (distinct, in [0, ensemble), in the order given), in place: the
        paths become :class:`reslimit.paths.Members` of them and the held weights V (L, E, d, d), W and the input
        and output layers A, B (E, ., .) their rows, the parameters staying the same objects (their gradients
        dropped). A batched training drops the members that diverged this way (:class:`reslimit.batched.Grid`)."""
        index = [int(i) for i in index]
        self.outer = Members(self.outer, index)  # checks index
        self.inner = None if self.inner is None else Members(self.inner, index)
        where = torch.tensor(index, device=self.outer.device)
        with torch.no_grad():
            for name, axis in (("V", 1), ("W", 1), ("A", 0), ("B", 0)):
                p = getattr(self, name, None)
                if isinstance(p, nn.Parameter):
                    p.grad = None
                    p.data = p.data.index_select(axis, where)

    def survival_probabilities(self) -> Tensor:
        """p_k = p(k/L), k = 1..L, the survival probabilities of the blocks (float64, CPU); ones without
        ``survival``."""
        return torch.tensor(self._probs if self._probs is not None else [1.0] * self.depth, dtype=torch.float64)

    def expected_depth(self) -> float:
        """The expected number of blocks a training-mode pass keeps, sum_k p_k.

        For the linear decay p_k = 1 - (k/L)(1 - p_L): sum_k p_k = L - (1 - p_L)(L + 1)/2, since
        sum_{k=1}^L k/L = (L + 1)/2; at p_L = 1/2 this is (3L - 1)/4. L without ``survival``.
        """
        return math.fsum(self._probs) if self._probs is not None else float(self.depth)

    def _masked(self) -> bool:
        """Whether a pass now differs from the plain network: survival (masks or scales p_k), or dropout in
        training mode."""
        return self.survival is not None or (self.training and self.dropout > 0)

    def masks(self, batch: int, pass_index: int | None = None) -> tuple[Tensor | None, Tensor | None]:
        """The Bernoulli masks of the training-mode pass ``pass_index`` over ``batch`` inputs.

        Returns (b, m): b of shape (L, E, 1, batch), b_{k,n} = 1 with probability p_k (block k kept for input
        n), None without ``survival``; m of shape (L, E, hidden, batch), each entry 1 with probability
        q = 1 - dropout, None without dropout (states as columns: m[k] multiplies g(x_k, W_{k+1})). All drawn by
        one CPU generator seeded with ``mix(substream(seed, "masks"), pass_index)``, b first; the pass of
        index i of a training-mode network uses ``masks(batch, i)``. ``pass_index`` None: the next pass's
        (``int(net.mask_passes)``).
        """
        batch = _checks.positive_int("batch", batch)
        if self.survival is None and not self.dropout:
            return None, None
        index = int(self.mask_passes) if pass_index is None else _checks.seed("pass_index", pass_index)
        E, L, d = self.ensemble, self.depth, self.hidden  # dropout masks g, which is in R^M
        _memory.require(L * E * batch * (1 + (d if self.dropout else 0)) * 8, "the masks of a pass (depth x "
                        "ensemble x batch, x hidden width with dropout, x 8 bytes)", f"depth={L} with batch={batch}",
                        "use fewer inputs at once", "cpu")
        gen = torch.Generator().manual_seed(mix(self.mask_seed, index))
        b = m = None
        if self.survival is not None:
            p = torch.tensor(self._probs, dtype=torch.float64).view(L, 1, 1, 1)
            b = (torch.rand((L, E, 1, batch), generator=gen, dtype=torch.float64) < p).to(self.dtype)
        if self.dropout:
            m = (torch.rand((L, E, d, batch), generator=gen, dtype=torch.float64) >= self.dropout).to(self.dtype)
        return b, m

    def _factors(self, h: Tensor) -> list | Tensor | None:
        """What multiplies g(x_k, W_{k+1}) in layer k+1 of this pass from h_0 = ``h`` (E, n, d), states as columns:
        None (no masks); the floats p_{k+1} (evaluation mode with survival); or, in training mode, the tensor
        b_{k+1} m_{k+1} / q of shape (L, E, 1 or M, n) of the pass's :meth:`masks`, whose index it advances."""
        if not self._masked():
            return None
        if not self.training:
            return self._probs
        b, m = self.masks(h.shape[1])
        self.mask_passes.add_(1)
        if m is not None:
            m = m.div_(1.0 - self.dropout)
        factors = m if b is None else b if m is None else b * m
        assert factors is not None  # _masked() in training mode: survival (b) or dropout (m)
        return factors.to(h.device)

    # Weights ---------------------------------------------------------------------------------
    @property
    def _layer_bytes(self) -> int:
        """Bytes of one layer's weights: E x d x M x itemsize for V, twice that with W."""
        return self.ensemble * self.width * self.hidden * self.dtype.itemsize * (2 if self.inner else 1)

    def _require_weights(self) -> None:
        """Refuse a depth whose loop (a Python step a layer) or weights would not fit: held, L x E x d x M x itemsize
        bytes for V (and W); streamed, one chunk of layers."""
        names, device = "V and W" if self.inner else "V", self.outer.device
        size = "width^2" if self.hidden == self.width else "width x hidden"
        formula = f"ensemble x {size} x {self.dtype.itemsize} bytes{' each' if self.inner else ''}"
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
        h = self._blocks(self.embed(x), alpha)
        return h if self.B is None else torch.bmm(h, self.B.mT)

    def blocks(self, h0: States, alpha: Tensor | None = None) -> Tensor:
        """h_L from h_0 = ``h0`` ((E, batch, width), or (batch, width) for every member): the residual blocks
        alone, without the input and output layers, so that ``forward(x)`` is B ``blocks``(A x)."""
        return self._blocks(self._check_state("h0", h0, self.width), alpha)

    def _blocks(self, h0: Tensor, alpha: Tensor | None) -> Tensor:
        self._require_states(h0, 3, "the states of the pass", "use fewer inputs at once")
        alpha = self._check_alpha(alpha, h0)
        engine = self._engine(h0, alpha)
        if engine == "compiled":
            h = native.run_pass(self.V, self.W, h0, alpha, activation=self.block.activation)[0]
        elif engine.startswith("explicit"):
            self._require_states(h0, 3 * self.depth + 3, f"the cache of the {self.depth} layers for the weights' "
                                 "gradients (x_k, g_k and sigma's input or output) and the pass",
                                 "use fewer inputs at once")
            h = gradients.explicit(self.block, h0, self.V, self.W, alpha, engine == "explicit compiled")
        else:
            h = self._run(h0, None, alpha=alpha)
        return h

    def embed(self, x: States) -> Tensor:
        """h_0 = A x (x itself without an input layer), checked and broadcast to (E, batch, width)."""
        if self.A is None:
            return self._check_state("h0", x, self.width)
        return torch.bmm(self._check_state("x", x, self.A.shape[-1]), self.A.mT)

    def trajectory(self, x: States, every: int = 1, alpha: Tensor | None = None) -> Tensor:
        """States h_k for k = 0, every, 2 every, ..., and L: shape (T, E, batch, width)."""
        every = _checks.positive_int("every", every)
        h0 = self.embed(x)
        recorded = -(-self.depth // every) + 1
        self._require_states(h0, 2 * recorded + 3, f"the {recorded} recorded states h_0, h_every, ..., h_L (L/every "
                             "+ 1), twice (the list and its stack), and the pass", "use a larger every or fewer inputs")
        alpha = self._check_alpha(alpha, h0)
        if self._engine(h0, alpha) == "compiled":
            return cast(Tensor, native.run_pass(self.V, self.W, h0, alpha, every, states=True,  # states=True: a tensor
                                                activation=self.block.activation)[1])
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
        if self._masked():
            raise ValueError("adjoint() runs the recursion of the plain network: with survival (or dropout in "
                             "training mode) take the gradients by autograd (net(x), then backward), or use dropout "
                             "in net.eval()")
        if callable(grad_output):
            p_L, serves = (lambda hL: self._check_grad_output(grad_output(hL), h0)), not torch.is_grad_enabled()
        else:
            p_L = self._check_grad_output(grad_output, h0)
            serves = not self._records_graph(p_L)  # the compiled pass would drop p_L's graph
        if serves and self._engine(h0, alpha) == "compiled":
            return cast(Tensor, native.run_pass(self.V, self.W, h0, alpha, every, grad_output=p_L,  # p: a tensor
                                                activation=self.block.activation)[2])
        cache: list[Tensor] = []
        hL = self._run(h0, None, cache=cache, alpha=alpha)
        p = p_L(hL) if callable(p_L) else p_L
        inplace = not self._records_graph(p, alpha)
        p = _transposed(p)  # columns, (E, width, batch)
        out = {self.depth: _transposed(p)}
        step, buffer = self.block.adjoint_step, self._hidden_buffer(p) if inplace else None  # one for all layers
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

        - "compiled": the compiled pass of :mod:`reslimit.native`, for the blocks and activations it serves
          (``native.engine``: res-3; res-1, res-2 with ReLU, tanh, identity, leaky ReLU of a slope > 0) on held
          weights when autograd is not recording;
        - "explicit compiled" / "explicit": autograd is recording and the weights are held: the forward pass
          records no graph and its backward is the explicit adjoint of :mod:`reslimit.gradients`, in the
          compiled kernel where the no-graph pass would be (and alpha needs no gradient), else in torch;
        - "torch": the loop over depth of :meth:`_run` (streamed weights; ``gradients.ENABLED = False``; and every
          pass with stochastic depth's masks or scales, or with dropout in training mode, which the kernel and
          the explicit adjoint do not know), which autograd records when it is recording.
        """
        records = self._records_graph(h, alpha)
        kernel = (not self.stream and native.engine(self.block.name, self.block.activation, h.dtype) == "compiled"
                  and native.usable(self.V, self.W, h))
        if self._masked():
            return "torch"
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
        With stochastic depth or dropout, g is multiplied by the layer's factor of :meth:`_factors`.
        """
        alpha = self.alpha if alpha is None else alpha
        factors = self._factors(h)
        inplace = not self._records_graph(h, alpha)
        x = _transposed(h)  # columns, (E, width, batch)
        if states is not None:
            states.append(h)
        per_input = isinstance(alpha, Tensor)
        scaled = self._hidden_buffer(x) if per_input and inplace else None  # alpha * g, one buffer for all layers
        z = self._hidden_buffer(x) if inplace and cache is None else None  # W x, when no adjoint keeps it
        for start, V, W in self.weight_chunks():
            Vs, Ws = V.unbind(0), (None,) * V.shape[0] if W is None else W.unbind(0)
            for j in range(V.shape[0]):
                g, saved = self.block.cached(x, Ws[j], z)
                if cache is not None:
                    cache.append(saved)
                if factors is not None:  # in place where g is this pass's own buffer (no graph, no cache)
                    g = g.mul_(factors[start + j]) if inplace and cache is None else g * factors[start + j]
                g, a = (torch.mul(g, alpha, out=scaled), 1.0) if isinstance(alpha, Tensor) else (g, alpha)
                x = x.baddbmm_(Vs[j], g, alpha=a) if inplace else torch.baddbmm(x, Vs[j], g, alpha=a)
                if states is not None and ((start + j + 1) % every == 0 or start + j + 1 == self.depth):
                    states.append(_transposed(x))
        return _transposed(x)

    def _hidden_buffer(self, x: Tensor) -> Tensor:
        """An uninitialised (E, M, n) tensor for states as columns x of shape (E, d, n): where g = sigma(W x), V^T p
        and their products go (x's own shape when M = d)."""
        return x.new_empty((x.shape[0], self.hidden, x.shape[2]))

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


class LinearSurvival:
    """Stochastic depth's linear decay p(t) = 1 - t (1 - p_L) on [0, 1], so that p_k = p(k/L) = 1 - (k/L)(1 - p_L):
    from p(0) = 1 (the input) to p(1) = p_L (the last block)."""

    def __init__(self, p_L: float):
        self.p_L = _checks.real("survival", p_L, low=0.0, high=1.0, low_open=True)

    def __call__(self, t: float) -> float:
        return 1.0 - t * (1.0 - self.p_L)

    def __repr__(self) -> str:
        return f"LinearSurvival(p_L={self.p_L:g})"


def _survival(depth: int, survival) -> tuple:
    """(p, [p_1, ..., p_L]): the survival function t -> p(t) and p_k = p(k/L), or (None, None) without one."""
    if survival is None:
        return None, None
    try:
        fn = survival if callable(survival) else LinearSurvival(survival)
    except ValueError:
        raise ValueError(f"survival must be p_L in (0, 1] (the linear decay) or a callable t -> p(t); got "
                         f"{survival!r}") from None
    try:
        probs = [float(fn(k / depth)) for k in range(1, depth + 1)]
    except (TypeError, ValueError) as err:
        raise ValueError(f"survival must be p_L in (0, 1] or a callable t -> p(t) returning numbers; calling it "
                         f"failed ({err})") from None
    bad = [(k, p) for k, p in enumerate(probs, 1) if not 0.0 < p <= 1.0]
    if bad:
        raise ValueError(f"survival must give probabilities p(k/L) in (0, 1]; got p({bad[0][0]}/{depth}) = "
                         f"{bad[0][1]!r}")
    return fn, probs


def _check_path(name: str, path, rows: int, cols: int):
    """``path`` (or None), refused unless a WeightPath of rows x cols weights: d x M for outer, M x d for inner."""
    if path is None:
        return None
    if not isinstance(path, WeightPath):
        raise ValueError(f"{name} must be a reslimit.paths.WeightPath; got {type(path).__name__}")
    if (path.width, path.cols) == (rows, cols):
        return path
    if rows == cols and path.cols == path.width:  # square both: the width alone differs
        raise ValueError(f"{name} has width {path.width} but the network has width {rows}")
    shape = "width x hidden" if name == "outer" else "hidden x width"
    raise ValueError(f"{name} must hold {rows} x {cols} weights ({shape}); got {path.width} x {path.cols} "
                     f"({type(path).__name__}(rows, cols=...) draws rectangular ones)")


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

"""A residual block of the user's: any map g(h, theta), its per-layer parameters theta drawn from weight paths.

    h_0 = A x,   h_{k+1} = h_k + alpha_L g(h_k, theta_{k+1}),   F(x) = B h_L,   alpha_L = L^-beta,

with theta_{k+1} = {name: P_name[k]} for each parameter the block declares (:class:`CustomBlock`). Unlike the
package's blocks (:mod:`reslimit.blocks`), whose update is alpha V g(h, W) with V read from the outer path, a
user's g includes its own output matrix: the built-in res-3 is g(h, {V, W}) = ReLU(h W^T) V^T here (states as
rows).

Parameters from paths. Parameter ``name`` of shape s (N = prod(s) entries) is read from its own weight path X of
width n = ceil(sqrt(N)) (:class:`BlockPaths`): the first N entries of each n x n layer, row-major, reshaped to s
and multiplied by c = gain sqrt(n / fan_in),

    P_name[k] = c reshape(vec(V^X_{k+1})[:N], s),   V^X = X.weights(L), entries of variance std^2 / n,

so the entries of P_name[k] have variance (gain std)^2 / fan_in, fan_in = prod(s[1:]) for a matrix (or more), 1
for a vector or a scalar, and across depth they have the path's law: i.i.d., Brownian increments, smooth values or
fractional Brownian increments. A d x d parameter of gain 1 is the path's own weights V^X_k, number for number.
Stored as one tensor (L, E, *s) per parameter; the network loops over depth only.

The limit. On smooth paths (``kind == "values"``: V^X_k = X(k/L) / sqrt(n)) with alpha_L = 1/L (beta = 1) the
network is the Euler scheme of

    dH/dt = g(H, theta(t)),   theta_name(t) = c reshape(vec(X(t) / sqrt(n))[:N], s),   t in [0, 1],

(:class:`CustomODE`), with max_k ||H_{k/L} - h_k|| = O(1/L) when g is Lipschitz in h and theta(t) is Lipschitz in t
(Marion et al. 2022, Prop. 7, whose proof uses nothing of g but these). On Brownian weights the limit of
h + L^-1/2 g(h, theta_k) depends on how g depends on theta; for a block linear in one parameter (``linear``), on a
Brownian path for it and smooth ones for the others, it is the Ito SDE

    dH_t = g(H_t, {lin: dTheta_t, others: theta(t)}),   dTheta_t = c reshape(vec(dX_t / sqrt(n))[:N], s),

(:class:`CustomSDE`), of which the network with beta = 1/2 is the Euler-Maruyama scheme: error O(L^-1/2).

Gradients come from autograd through the loop over depth (there is no explicit adjoint for a user's g), so
``train``, ``batched.Grid`` and the comparator's :meth:`CustomResNet.adjoint` work unchanged.

Errors. ``g`` must return a tensor of the shape of h, (E, n, d): anything else is a ValueError naming the block,
the layer, the shape expected and the shape received. A NaN in g's output at a sample whose input h_k is finite
with entries below sqrt of the dtype's largest number (1.3e154 in float64, 1.8e19 in float32) is the block's bug:
a ValueError naming the layer k and the block. A NaN from a larger or non-finite input, and every inf, are the
overflow of a diverging network (e.g. a large beta), not refused: that sample ends non-finite, as in
:class:`reslimit.ScaledResNet` (see :func:`reslimit.diverged`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import numpy as np
import torch
import torchdiffeq
from torch import nn

from . import _checks, _memory
from ._rng import KeyedNormal, mix, substream
from ._types import Device, DType, States, Times
from .continuous import solver_steps
from .init import layer_scheme
from .ode import solver_options
from .paths import Members, Stacked, WeightPath, make_path
from .resnet import _linear, _scaling

Tensor = torch.Tensor
Shapes = dict[str, tuple[int, ...]]
_REGISTERED: dict[str, CustomBlock] = {}  # repr(block) -> block, for studies whose params name it (register)


class CustomBlock:
    """A user's residual map g(h, theta): h_{k+1} = h_k + alpha_L g(h_k, theta_{k+1}) (:mod:`reslimit.custom`).

    Subclass it, declare the per-layer parameters and implement :meth:`g`:

    - ``parameters``: name -> shape, each dimension an int, "width" (d, the network's width) or the name of an
      attribute of the block holding a positive int (e.g. ``{"W1": ("hidden", "width")}`` with ``self.hidden =
      64``); or override :meth:`shapes` instead. Names are identifiers (they name ``net.theta[name]``).
    - ``gains``: name -> gain >= 0 (default 1): the entries of the parameter have variance (gain std)^2 / fan_in,
      fan_in = prod(shape[1:]) (1 for a vector), std the path's.
    - ``formula``: g written out, for messages.
    - ``linear``: the name of a parameter in which g is linear (g(h, {lin: a X + b Y, ...}) = a g(h, {lin: X,
      ...}) + b g(h, {lin: Y, ...})), or None: on a Brownian path for it (smooth ones for the others) the network
      has the SDE limit of :class:`CustomSDE`.
    - :meth:`g`: g(h, theta) for states as rows, h of shape (E, n, d), theta = {name: (E, *shape)}; returns
      (E, n, d). It includes its own output matrix (there is no separate V).

    Gradients are autograd's through the loop over depth. ``repr(block)`` (the class name and the attributes of
    the instance) names it in a study's params, see :func:`register`.

    Example:
        >>> class Res3Again(CustomBlock):
        ...     parameters = {"V": ("width", "width"), "W": ("width", "width")}
        ...     formula = "g = ReLU(h W^T) V^T"
        ...     def g(self, h, theta):
        ...         return torch.relu(h @ theta["W"].mT) @ theta["V"].mT
    """

    parameters: ClassVar[Mapping[str, Sequence[int | str]]] = {}
    gains: ClassVar[Mapping[str, float]] = {}
    formula: ClassVar[str] = "g(h, theta)"
    linear: ClassVar[str | None] = None

    @property
    def name(self) -> str:
        """The class's name: what messages and a training's params call the block."""
        return type(self).__name__

    def shapes(self, width: int) -> Shapes:
        """name -> the shape of one layer's parameter for a network of width d = ``width``, resolved from
        ``parameters`` ("width" -> d, another name -> that attribute of the block)."""
        out: dict = {}  # checked by check_shapes: tuples of positive ints
        for name, dims in self.parameters.items():
            if isinstance(dims, (str, int)) or not isinstance(dims, Sequence):
                raise ValueError(f"{self.name}.parameters[{name!r}] must be a tuple of dimensions; got {dims!r}")
            out[name] = tuple(width if dim == "width" else getattr(self, dim, dim) if isinstance(dim, str) else dim
                              for dim in dims)
        return out

    def gain(self, name: str) -> float:
        """The gain of the parameter ``name`` (``gains``, default 1)."""
        return float(self.gains.get(name, 1.0))

    def g(self, h: Tensor, theta: dict[str, Tensor]) -> Tensor:
        """g(h, theta) for h of shape (E, n, d) and theta = {name: (E, *shape)}: shape (E, n, d)."""
        raise NotImplementedError(f"{self.name} must implement g(h, theta)")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()) if not k.startswith("_"))
        return f"{self.name}({args})"


def check_shapes(block: CustomBlock, width: int) -> Shapes:
    """``block.shapes(width)`` checked: a non-empty mapping of identifier names to tuples of positive ints, and
    gains >= 0; a ValueError naming the block and the parameter otherwise."""
    if not isinstance(block, CustomBlock):
        raise ValueError(f"block must be a reslimit.CustomBlock; got {type(block).__name__}")
    shapes = block.shapes(width)
    if not isinstance(shapes, Mapping) or not shapes:
        raise ValueError(f"{block.name} declares no parameters: set parameters = {{name: shape}} or override "
                         f"shapes(width); got {shapes!r}")
    out = {}
    for name, shape in shapes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{block.name}: parameter names must be identifiers; got {name!r}")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                                   for n in shape):
            raise ValueError(f"{block.name}: the shape of parameter {name!r} must be a tuple of positive ints (or "
                             f"'width', or the name of an attribute holding one); got {shape!r}")
        _checks.real(f"{block.name}.gains[{name!r}]", block.gain(name), low=0.0)
        out[name] = shape
    return out


def register(block: CustomBlock) -> str:
    """Make ``block`` known by ``repr(block)``, the name a study's params store (they must be JSON), and return
    it; :func:`registered` gives the block back (in this process, or a pool's forked worker)."""
    if not isinstance(block, CustomBlock):
        raise ValueError(f"block must be a reslimit.CustomBlock; got {type(block).__name__}")
    key = repr(block)
    _REGISTERED[key] = block
    return key


def registered(name) -> CustomBlock | None:
    """The block registered under ``name`` by :func:`register`, None if none is."""
    return _REGISTERED.get(name) if isinstance(name, str) else None


def _side(shape: tuple[int, ...]) -> int:
    """n = ceil(sqrt(N)), N = prod(shape): the width of the path whose n x n layers hold the parameter."""
    return math.isqrt(math.prod(shape) - 1) + 1


def _fan_in(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:]) if len(shape) >= 2 else 1


class BlockPaths:
    """The weight paths of a user block's parameters, one per parameter, and the parameters read from them.

    Args:
        block: the :class:`CustomBlock`.
        width: d, the network's width (which the shapes may name).
        paths: name -> :class:`reslimit.WeightPath` for every parameter of the block, of width n with n^2 >= N
            (N the parameter's entries; :meth:`draw` gives n = ceil(sqrt N)), all of one ensemble, dtype and device.

    The parameter is c reshape(vec(V)[:N], shape) for each n x n layer V of its path, c = gain sqrt(n / fan_in)
    (see :mod:`reslimit.custom`): :meth:`weights` at the layers, :meth:`values` at a time t of a smooth path.
    """

    def __init__(self, block: CustomBlock, width: int, paths: Mapping[str, WeightPath]):
        self.block = block
        self.width = _checks.positive_int("width", width)
        self.shapes = check_shapes(block, self.width)
        if not isinstance(paths, Mapping) or set(paths) != set(self.shapes):
            got = sorted(paths) if isinstance(paths, Mapping) else type(paths).__name__
            raise ValueError(f"paths must map each parameter of {block.name} ({', '.join(self.shapes)}) to a "
                             f"WeightPath; got {got}")
        first = next(iter(paths.values()))
        for name, path in paths.items():
            if not isinstance(path, WeightPath):
                raise ValueError(f"paths[{name!r}] must be a reslimit.WeightPath; got {type(path).__name__}")
            N = math.prod(self.shapes[name])
            if path.width**2 < N:
                raise ValueError(f"paths[{name!r}] has width {path.width}, whose {path.width}^2 entries cannot hold "
                                 f"the {N} of {block.name}'s parameter {name} {self.shapes[name]}: use width >= "
                                 f"{_side(self.shapes[name])}")
            if (path.ensemble, path.dtype, path.device) != (first.ensemble, first.dtype, first.device):
                raise ValueError(f"the paths of {block.name}'s parameters must share ensemble, dtype and device; got "
                                 f"{first!r} and {path!r}")
        self.paths = dict(paths)
        self._scale = {name: block.gain(name) * math.sqrt(p.width / _fan_in(self.shapes[name]))
                       for name, p in self.paths.items()}

    @classmethod
    def draw(cls, block: CustomBlock, width: int, ensemble: int = 1, *, kind: str = "iid", seed: int = 0,
             dtype: DType = torch.float64, device: Device = "cpu", **options) -> BlockPaths:
        """Paths of ``kind`` (a key of :data:`reslimit.PATHS`, with its ``options``), of width ceil(sqrt N) for a
        parameter of N entries, the parameter ``name``'s seeded ``mix(substream(seed, "theta"), crc32(name)) mod
        2^62``: keyed by its name, so adding a parameter changes none of the others."""
        stream = substream(_checks.seed("seed", seed), "theta")
        shapes = check_shapes(block, width)
        return cls(block, width, {name: make_path(kind, _side(shape), ensemble,
                                                  seed=mix(stream, zlib.crc32(name.encode())) % 2**62,
                                                  dtype=_checks.dtype(dtype), device=device, **options)
                                  for name, shape in shapes.items()})

    @classmethod
    def stack(cls, paths: Sequence[BlockPaths]) -> BlockPaths:
        """The paths of several draws side by side (:class:`reslimit.paths.Stacked`, parameter by parameter): member
        m of the stack is member m - E_1 - ... of the draw it falls in."""
        first = paths[0]
        return cls(first.block, first.width, {name: Stacked([p.paths[name] for p in paths]) for name in first.paths})

    ensemble = property(lambda self: next(iter(self.paths.values())).ensemble)
    dtype = property(lambda self: next(iter(self.paths.values())).dtype)
    device = property(lambda self: next(iter(self.paths.values())).device)

    @property
    def natural_beta(self) -> float:
        """The beta of the network's limit: that of the path of the block's ``linear`` parameter where it declares
        one (1/2 for a Brownian one, the others smooth), else that of every parameter's path (1 smooth, 1/2 i.i.d.
        or Brownian, H fBm)."""
        if self.block.linear is not None and self.block.linear in self.paths:
            return self.paths[self.block.linear].natural_beta
        betas = {p.natural_beta for p in self.paths.values()}
        if len(betas) > 1:
            raise ValueError(f"the paths of {self.block.name}'s parameters have different natural betas {betas}")
        return betas.pop()

    @property
    def limit(self) -> str | None:
        """The limit these paths drive: "ode" (every path smooth: :class:`CustomODE`), "sde" (the ``linear``
        parameter's path Brownian, the others smooth: :class:`CustomSDE`), else None."""
        lin = self.block.linear
        others = {p.limit for n, p in self.paths.items() if n != lin}
        if lin in self.paths and self.paths[lin].limit == "sde" and others <= {"ode"}:
            return "sde"
        return "ode" if others | ({self.paths[lin].limit} if lin in self.paths else set()) == {"ode"} else None

    def to(self, device: Device | None = None, dtype: DType | None = None) -> BlockPaths:
        """These paths on ``device`` and in ``dtype`` (:meth:`reslimit.WeightPath.to`)."""
        return BlockPaths(self.block, self.width, {n: p.to(device, dtype) for n, p in self.paths.items()})

    def _read(self, name: str, raw: Tensor) -> Tensor:
        """(..., E, n, n) layers of the path of ``name`` -> (..., E, *shape): c reshape(vec[:N], shape)."""
        shape = self.shapes[name]
        flat = raw.flatten(-2)[..., : math.prod(shape)].reshape(*raw.shape[:-2], *shape)
        return flat if self._scale[name] == 1.0 else flat * self._scale[name]

    def weights(self, depth: int) -> dict[str, Tensor]:
        """name -> the parameter at the layers k = 1..L of a depth-``depth`` network: (L, E, *shape)."""
        return {name: self._read(name, p.weights(depth)) for name, p in self.paths.items()}

    def values(self, t: float) -> dict[str, Tensor]:
        """name -> theta_name(t) = c reshape(vec(X(t) / sqrt(n))[:N], shape): (E, *shape), for smooth paths."""
        return {name: self._read(name, p.evaluate(t) / p.width**0.5) for name, p in self.paths.items()}

    def inputs(self, h0: States, ts: Times) -> tuple[Tensor, Tensor]:
        """``h0`` as states (E, n, d) and ``ts`` as times in [0, 1], checked against these paths' ensemble, width,
        dtype and device (a limit's solve starts so)."""
        h0 = _checks.state("h0", h0, ensemble=self.ensemble, width=self.width, dtype=self.dtype, device=self.device,
                           owner="the paths")
        return h0, _checks.times("ts", ts, dtype=self.dtype, device=self.device)

    def __repr__(self) -> str:
        return f"BlockPaths({self.block!r}, {self.width}, {self.paths!r})"


def _check_output(block: CustomBlock, out, h: Tensor, where: Callable[[], str]) -> Tensor:
    """g's output checked: a tensor of the shape, dtype and device of h; a NaN from a finite input of moderate size
    (below sqrt of the dtype's largest number) is the block's bug (see :mod:`reslimit.custom`). ``where()`` names
    the layer or time for a message, formatted only when one is raised. Called once a layer: a finite sum of g
    proves it NaN-free in one reduction, and only a sum that is not finite is looked at entry by entry."""
    if not isinstance(out, Tensor) or out.shape != h.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{block.name}.g must return the shape of h, (ensemble, batch, width) = {tuple(h.shape)}; "
                         f"got {got} at {where()}")
    if out.dtype != h.dtype or out.device != h.device:
        raise ValueError(f"{block.name}.g must return h's dtype {h.dtype} on {h.device}; got {out.dtype} on "
                         f"{out.device} at {where()}")
    with torch.no_grad():
        if torch.isfinite(out.sum()):
            return out
        nan = torch.isnan(out).any(-1)
        if nan.any():
            moderate = torch.isfinite(h).all(-1) & (h.abs().amax(-1) < math.sqrt(torch.finfo(h.dtype).max))
            bad = nan & moderate
            if bad.any():
                raise ValueError(f"{block.name}.g returned NaN at {where()} for {int(bad.sum())} of {bad.numel()} "
                                 f"samples whose input h is finite (max |h| = {float(h[bad].abs().max()):.3g}): "
                                 f"a NaN from a finite input is the block's ({block.formula}), not a divergence")
    return out


class CustomResNet(nn.Module):
    """h_{k+1} = h_k + L^-beta g(h_k, theta_{k+1}) for a user's :class:`CustomBlock`, theta read from weight paths.

    Args:
        depth: L >= 1.  width: d >= 1.
        block: a :class:`CustomBlock`.
        beta: alpha_L = L^-beta (default 1/2); or give ``alpha`` directly (not both).
        paths: a :class:`BlockPaths`, or name -> WeightPath for each parameter; None: i.i.d. Gaussian paths
            (``BlockPaths.draw(block, width, ensemble, seed=seed, dtype=dtype)``).
        ensemble, seed, dtype: for the default paths (seed also keys the input and output layers).
        device: where the network lives (the paths are moved there); None keeps the paths' device.
        input_dim, output_dim, layer_init: the input layer x -> A x and the output layer h_L -> B h_L, as for
            :class:`reslimit.ScaledResNet` (the same numbers for the same seed).

    The parameters are ``net.theta[name]``, (L, E, *shape) each, trainable; gradients by autograd through the loop
    over depth. States have shape (E, batch, d), an input of shape (batch, d) fed to every member. ``stream``,
    ``survival`` and ``dropout`` are those of a plain network (False, None, 0): what :func:`reslimit.train` reads.

    Example:
        >>> net = CustomResNet(64, 16, Res3Again(), beta=1.0, ensemble=4)
        >>> hL = net(torch.randn(32, 16, dtype=torch.float64))      # (4, 32, 16)
    """

    stream, survival, dropout = False, None, 0.0
    _where: Tensor

    def __init__(self, depth: int, width: int, block: CustomBlock, *, beta: float | None = None,
                 alpha: float | None = None, paths: BlockPaths | Mapping[str, WeightPath] | None = None,
                 ensemble: int = 1, seed: int = 0, dtype: DType = torch.float64, device: Device | None = None,
                 input_dim: int | None = None, output_dim: int | None = None, layer_init: str | None = None):
        super().__init__()
        self.depth = _checks.positive_int("depth", depth)
        self.width = _checks.positive_int("width", width)
        seed = _checks.seed("seed", seed)
        self.alpha, self.beta = _scaling(self.depth, beta, alpha)
        self.shapes = check_shapes(block, self.width)
        self.block = block
        if paths is None:
            paths = BlockPaths.draw(block, self.width, ensemble, seed=seed, dtype=dtype)
        elif not isinstance(paths, BlockPaths):
            paths = BlockPaths(block, self.width, paths)
        elif paths.block is not block or paths.width != self.width:
            raise ValueError(f"paths are those of {paths.block!r} at width {paths.width}; the network has "
                             f"{block!r} at width {self.width}")
        self.paths = paths.to(device)
        layer = sum(math.prod(s) for s in self.shapes.values()) * self.ensemble * self.dtype.itemsize
        _memory.require(self.depth * layer, f"the parameters of {block.name} (depth x ensemble x "
                        f"{layer // (self.ensemble * self.dtype.itemsize)} entries x {self.dtype.itemsize} bytes)",
                        f"depth={self.depth} with width={self.width}, ensemble={self.ensemble}",
                        "use a smaller depth, width or ensemble", self.device)
        _memory.require_steps(self.depth, "the loop over depth (a layer a step)", f"depth={self.depth}",
                              "use a smaller depth")
        self.theta = nn.ParameterDict({n: nn.Parameter(w) for n, w in self.paths.weights(self.depth).items()})
        draw = KeyedNormal((self.ensemble, self.width, 1), self.dtype, self.device)
        scheme = None if layer_init is None else layer_scheme("layer_init", layer_init)
        self.A = _linear("input_dim", input_dim, self.width, substream(seed, "input_layer"), draw, scheme=scheme)
        self.B = _linear("output_dim", output_dim, self.width, substream(seed, "output_layer"), draw, out=True,
                         scheme=scheme)
        self.register_buffer("_where", torch.empty(0, dtype=self.dtype, device=self.device), persistent=False)

    ensemble = property(lambda self: self.paths.ensemble)
    dtype = property(lambda self: self.paths.dtype)
    device = property(lambda self: self.paths.device)

    def _apply(self, fn, *args, **kwargs):
        """nn.Module's move or cast (.to, .double...) of the tensors, and of the paths with them."""
        super()._apply(fn, *args, **kwargs)
        self.paths = self.paths.to(self._where.device, self._where.dtype)
        return self

    def keep_members(self, index: Sequence[int]) -> None:
        """Keep only the ensemble members ``index`` (distinct, in [0, ensemble), in the order given), in place, as
        :meth:`reslimit.ScaledResNet.keep_members`: the paths become :class:`reslimit.paths.Members` of them and
        theta (L, E, ...) and the input and output layers (E, ., .) their rows, the parameters the same objects."""
        index = [int(i) for i in index]
        self.paths = BlockPaths(self.block, self.width, {n: Members(p, index) for n, p in self.paths.paths.items()})
        where = torch.tensor(index, device=self.device)
        with torch.no_grad():
            for axis, p in [(1, t) for t in self.theta.values()] + [(0, t) for t in (self.A, self.B)]:
                if p is not None:
                    p.grad = None
                    p.data = p.data.index_select(axis, where)

    def expected_depth(self) -> float:
        """L: every block is kept (no stochastic depth)."""
        return float(self.depth)

    def extra_repr(self) -> str:
        return (f"depth={self.depth}, width={self.width}, alpha={self.alpha:.6g}, block={self.block!r}, "
                f"shapes={self.shapes}")

    def layer(self, k: int) -> dict[str, Tensor]:
        """theta_k = {name: (E, *shape)}, the parameters of layer k = 1..L."""
        return {name: p[k - 1] for name, p in self.theta.items()}

    def embed(self, x: States) -> Tensor:
        """h_0 = A x (x itself without an input layer), checked and broadcast to (E, batch, width)."""
        if self.A is None:
            return self._state("h0", x, self.width)
        return torch.bmm(self._state("x", x, self.A.shape[-1]), self.A.mT)

    def forward(self, x: States) -> Tensor:
        """F(x) = B h_L (h_L itself without an output layer): shape (E, batch, output_dim or width)."""
        h = self._run(self.embed(x), None)
        return h if self.B is None else torch.bmm(h, self.B.mT)

    def blocks(self, h0: States) -> Tensor:
        """h_L from h_0 = ``h0`` ((E, batch, width), or (batch, width) for every member): the residual blocks
        alone, without the input and output layers, as :meth:`reslimit.ScaledResNet.blocks`."""
        return self._run(self._state("h0", h0, self.width), None)

    def trajectory(self, x: States, every: int = 1) -> Tensor:
        """States h_k for k = 0, every, 2 every, ..., and L: shape (T, E, batch, width)."""
        every = _checks.positive_int("every", every)
        states: list[Tensor] = []
        self._run(self.embed(x), states, every)
        return torch.stack(states)

    def solve(self, x: States, ts: Times) -> Tensor:
        """States at the times ``ts`` = k/L of the network's grid, (len(ts), E, batch, width), as the limit's."""
        ts = _checks.times("ts", ts, dtype=self.dtype, device=self.device)
        ks = _checks.on_grid("ts", ts, self.depth, f"the network (depth={self.depth})")
        every = math.gcd(self.depth, *ks)
        return self.trajectory(x, every)[[k // every for k in ks]]

    def adjoint(self, x: States, grad_output: Tensor, every: int = 1) -> Tensor:
        """Backward states p_k = dLoss/dh_k for p_L = ``grad_output`` (E, batch, width), by autograd through the
        loop (p_k = p_{k+1} + alpha (dg/dh(h_k, theta_{k+1}))^T p_{k+1}): p_k for k = 0, every, ..., L, shape
        (T, E, batch, width), as :meth:`reslimit.ScaledResNet.adjoint`."""
        every = _checks.positive_int("every", every)
        with torch.enable_grad():
            h0 = self.embed(x).detach().requires_grad_(True)
            states: list[Tensor] = []
            hL = self._run(h0, states, every)
            p_L = self._state("grad_output", grad_output, self.width)
            if p_L.shape != hL.shape:
                raise ValueError(f"grad_output must have the shape of the states {tuple(hL.shape)}; got "
                                 f"{tuple(p_L.shape)}")
            ps = torch.autograd.grad(hL, states[:-1], p_L, allow_unused=True)
        zero = torch.zeros_like(p_L)
        return torch.stack([zero if p is None else p for p in ps] + [p_L.detach()])

    def _run(self, h: Tensor, states: list | None, every: int = 1) -> Tensor:
        """h_{k+1} = h_k + alpha g(h_k, theta_{k+1}), k = 0..L-1, every output of g checked (:func:`_check_output`);
        every ``every``-th state (and h_L) appended to ``states``. Returns h_L."""
        if states is not None:
            states.append(h)
        for k in range(1, self.depth + 1):
            g = _check_output(self.block, self.block.g(h, self.layer(k)), h, lambda: f"layer {k} of {self.depth}")
            h = torch.add(h, g, alpha=self.alpha)
            if states is not None and (k % every == 0 or k == self.depth):
                states.append(h)
        return h

    def _state(self, name: str, value, dim: int) -> Tensor:
        return _checks.state(name, value, ensemble=self.ensemble, width=dim, dtype=self.dtype, device=self.device,
                             owner="the parameters")


class CustomODE(nn.Module):
    """dH/dt = g(H, theta(t)) on smooth paths, integrated by torchdiffeq: the limit of :class:`CustomResNet` with
    beta = 1 (see :mod:`reslimit.custom`).

    Args:
        block: the :class:`CustomBlock`.
        paths: its :class:`BlockPaths` (or name -> WeightPath, with ``width``), every path smooth (``limit`` "ode":
            Smooth or FunctionPath).
        width: d, needed with a mapping of paths only.
        method, rtol, atol, options, steps: as for :class:`reslimit.NeuralODE` (dopri5, rtol 1e-10, atol 1e-12;
            a fixed-step method such as rk4 takes ``steps``, N, a step 1/N and the grid of :meth:`trajectory`).
    """

    def __init__(self, block: CustomBlock, paths: BlockPaths | Mapping[str, WeightPath], *, width: int | None = None,
                 method: str = "dopri5", rtol: float = 1e-10, atol: float = 1e-12, options: dict | None = None,
                 steps: int | None = None):
        super().__init__()
        if not isinstance(paths, BlockPaths):
            if width is None:
                raise ValueError("width must be given with a mapping of paths")
            paths = BlockPaths(block, width, paths)
        for name, path in paths.paths.items():
            if path.limit != "ode":
                drives = f"the {path.limit} limit" if path.limit else "no continuous limit"
                raise ValueError(f"the ODE limit of {block.name} needs a smooth path (Smooth or FunctionPath) for "
                                 f"every parameter; parameter {name!r} has a {type(path).__name__} path, which "
                                 f"drives {drives}")
        self.block, self.paths, self.width = block, paths, paths.width
        self.steps = None if steps is None else solver_steps(steps)
        self.method, self.rtol, self.atol, self.options = solver_options(method, rtol, atol, options, self.steps)
        self.nfe = 0
        self._grid: dict[str, Tensor] | None = None  # theta at the half steps j / (2N), drawn on the first call

    def theta(self, t: float) -> dict[str, Tensor]:
        """theta(t) (:meth:`BlockPaths.values`); with ``steps`` N, read at a half step j / (2N) (the times of the
        fixed-step methods up to rk4) from one evaluation of the paths at all of them."""
        if self.steps is not None:
            j = t * 2 * self.steps
            if abs(j - round(j)) < 1e-9 and 0 <= round(j) <= 2 * self.steps:
                if self._grid is None:
                    times = np.arange(2 * self.steps + 1) / (2 * self.steps)
                    self._grid = {n: self.paths._read(n, p.evaluate(times) / p.width**0.5)
                                  for n, p in self.paths.paths.items()}
                return {n: v[round(j)] for n, v in self._grid.items()}
        return self.paths.values(t)

    def field(self, t: float | Tensor, h: Tensor) -> Tensor:
        """The vector field g(h, theta(t)) for h of shape (E, n, d); counts its calls in ``nfe``."""
        self.nfe += 1
        return _check_output(self.block, self.block.g(h, self.theta(float(t))), h, lambda: f"t = {float(t):.6g}")

    def forward(self, h0: States, ts: Times) -> Tensor:
        """:meth:`solve`."""
        return self.solve(h0, ts)

    def solve(self, h0: States, ts: Times) -> Tensor:
        """H at the times ``ts`` from H(0) = ``h0`` (E, n, d) or (n, d): shape (len(ts), E, n, d). Differentiable."""
        h0, ts = self.paths.inputs(h0, ts)
        late = bool(ts[0] > 0)
        ts = torch.cat([ts.new_zeros(1), ts]) if late else ts
        H = torchdiffeq.odeint(self.field, h0, ts, method=self.method, rtol=self.rtol, atol=self.atol,
                               options=self.options)
        return H[1:] if late else H

    def trajectory(self, h0: States, every: int = 1) -> Tensor:
        """H at the times k * every / steps, k = 0..steps/every (``every`` divides ``steps``), as :meth:`solve`."""
        if self.steps is None:
            raise ValueError("steps must be given (CustomODE(..., steps=N)) for a trajectory on the grid k/N")
        return self.solve(h0, _checks.every_times(self.steps, every, self.paths.dtype, self.paths.device))


class CustomSDE(nn.Module):
    """dH_t = g(H_t, {lin: dTheta_t, others: theta(t)}) (Ito) for a block linear in its parameter ``lin`` =
    ``block.linear``, on a Brownian path X for it and smooth paths for the others, solved by Euler-Maruyama on the
    grid k/N, N = ``steps``:

        H_{j+1} = H_j + g(H_j, {lin: c reshape(vec(X(t_{j+1}) - X(t_j)) / sqrt(n)), others: theta(t_j)}),

    c = gain sqrt(n / fan_in) as for the layers (:mod:`reslimit.custom`). The network with beta = 1/2 on the same
    paths is this scheme at N = L: its layer k holds c sqrt(L) reshape(vec(X(k/L) - X((k-1)/L)) / sqrt(n)), so
    alpha_L g is the increment's g by linearity (the others read at k/L instead of (k-1)/L, an O(1/L) difference),
    and max_k ||H_{k/L} - h_k|| = O(L^-1/2), Euler-Maruyama's strong order (Kloeden & Platen 1992, Thm 10.2.2).

    Args:
        block: the :class:`CustomBlock`, with ``linear`` set.
        paths: its :class:`BlockPaths` (or name -> WeightPath, with ``width``).
        width: d, needed with a mapping of paths only.
        steps: N, the grid of the scheme and of :meth:`trajectory`.
        method: "euler" (Euler-Maruyama), the only one.

    The linearity is checked once, on the first solve: g at the sum of two increments against the sum of g at each
    (a ValueError naming the block and the parameter where they differ by more than 1e-8 relatively).
    """

    _CHUNK = 256  # grid times evaluated at once

    def __init__(self, block: CustomBlock, paths: BlockPaths | Mapping[str, WeightPath], *, width: int | None = None,
                 steps: int, method: str = "euler"):
        super().__init__()
        if not isinstance(paths, BlockPaths):
            if width is None:
                raise ValueError("width must be given with a mapping of paths")
            paths = BlockPaths(block, width, paths)
        if block.linear is None or block.linear not in paths.paths:
            raise ValueError(f"the SDE limit of {block.name} needs block.linear, the name of a parameter in which g "
                             f"is linear (one of {', '.join(paths.paths)}); got {block.linear!r}")
        if paths.limit != "sde":
            kinds = ", ".join(f"{n}: {type(p).__name__}" for n, p in paths.paths.items())
            raise ValueError(f"the SDE limit of {block.name} needs a Brownian path for {block.linear!r} and smooth "
                             f"paths for the other parameters; got {kinds}")
        if method != "euler":
            raise ValueError(f"method must be 'euler' (Euler-Maruyama) for the SDE limit of a user block; got "
                             f"{method!r}")
        self.block, self.paths, self.width, self.linear = block, paths, paths.width, block.linear
        self.steps = solver_steps(steps)
        self.linear_checked = False

    def _theta(self, start: int, stop: int) -> list[dict[str, Tensor]]:
        """theta of the steps j = start..stop-1: {lin: the increment over [t_j, t_{j+1}], others: theta(t_j)}."""
        times = np.arange(start, stop + 1) / self.steps
        out: list[dict[str, Tensor]] = [{} for _ in range(stop - start)]
        for name, path in self.paths.paths.items():
            values = path.evaluate(times) / path.width**0.5  # (T + 1, E, n, n)
            read = self.paths._read(name, values[1:] - values[:-1] if name == self.linear else values[:-1])
            for j, theta in enumerate(out):
                theta[name] = read[j]
        return out

    def _check_linear(self, h: Tensor, theta: dict[str, Tensor]) -> None:
        """g(h, {lin: X + 2 Y}) = g(h, {lin: X}) + 2 g(h, {lin: Y}) to 1e-8 relatively, X an increment and Y its
        entries shifted by one."""
        lin, g = self.linear, self.block.g
        other = dict(theta, **{lin: theta[lin].flatten(1).roll(1, 1).view_as(theta[lin])})  # entries shifted
        with torch.no_grad():
            both = g(h, dict(theta, **{lin: theta[lin] + 2 * other[lin]}))
            apart = g(h, theta) + 2 * g(h, other)
        if not torch.allclose(both, apart, rtol=1e-8, atol=1e-8 * float(apart.abs().max())):
            raise ValueError(f"{self.block.name}.g is not linear in {lin!r} (block.linear): g at a sum of two "
                             f"increments differs from the sum of g at each by {float((both - apart).abs().max()):.3g}")
        self.linear_checked = True

    def forward(self, h0: States, ts: Times) -> Tensor:
        """:meth:`solve`."""
        return self.solve(h0, ts)

    def solve(self, h0: States, ts: Times) -> Tensor:
        """H at the times ``ts``, each on the grid k/N: shape (len(ts), E, n, d). Differentiable in h0."""
        h, ts = self.paths.inputs(h0, ts)
        ks = _checks.on_grid("ts", ts, self.steps, f"the scheme (steps={self.steps})")
        wanted = dict.fromkeys(ks)
        out = {0: h} if 0 in wanted else {}
        for start in range(0, max(ks), self._CHUNK):
            thetas = self._theta(start, min(start + self._CHUNK, max(ks)))
            if not self.linear_checked:
                self._check_linear(h, thetas[0])
            for j, theta in enumerate(thetas, start):
                h = h + _check_output(self.block, self.block.g(h, theta), h, lambda: f"step {j + 1} of {self.steps}")
                if j + 1 in wanted:
                    out[j + 1] = h
        return torch.stack([out[k] for k in ks])

    def trajectory(self, h0: States, every: int = 1) -> Tensor:
        """H at the times k * every / steps, k = 0..steps/every (``every`` divides ``steps``), as :meth:`solve`."""
        return self.solve(h0, _checks.every_times(self.steps, every, self.paths.dtype, self.paths.device))


def limit_of(block: CustomBlock, paths: BlockPaths, *, steps: int, method: str) -> CustomODE | CustomSDE:
    """The limit the paths drive (:attr:`BlockPaths.limit`): :class:`CustomODE` (``method``, e.g. rk4, fixed step
    1/``steps``) on smooth paths, :class:`CustomSDE` (Euler-Maruyama on the grid k/``steps``) with a Brownian
    ``linear`` parameter; a ValueError saying what each needs otherwise."""
    if paths.limit == "sde":
        return CustomSDE(block, paths, steps=steps, method=method)
    return CustomODE(block, paths, method=method, steps=steps)

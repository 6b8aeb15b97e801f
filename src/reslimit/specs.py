"""A network and its weight path described once: frozen, validated specs that build their objects.

    path = PathSpec("fbm", hurst=0.7)                     # the law of V (and W): a key of reslimit.PATHS
    net = NetSpec(block="res2", width=16, depth=64, beta=0.7)
    model = net.build(path=path, seed=0, ensemble=4)      # a ScaledResNet on fBm weights

``NetSpec(...).build(seed=s)`` on the default path is ``ScaledResNet(depth, width, seed=s, ...)`` itself: the
outer path is drawn from ``substream(s, "outer")``, the inner one (res2, res3) from ``substream(s, "inner")``,
with the same law. Every entry point that builds a network (:func:`reslimit.simulate`, :func:`reslimit.converge`,
``reslimit.train.run``, the sweeps) takes ``net=`` and ``path=`` (:func:`takes_specs`): a spec's fields stand for
the keywords of the same names, which stay as sugar; giving a field both ways is refused. A field left None is
left to the entry point (a sweep's grid of depths or betas, a command's default).

The command line's flags for a spec come from its fields (:func:`add_arguments`): a new field is one line here
and its help text.
"""

from __future__ import annotations

import argparse
import functools
import inspect
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar

from . import _checks
from ._rng import substream
from ._types import Device, DType
from .blocks import ACTIVATIONS, BLOCKS, get_block
from .paths import PATHS, WeightPath, make_path
from .paths import _options as path_options_of
from .paths.iid import DISTS
from .resnet import ScaledResNet


def _help(text: str, **more) -> dict:
    """A field's metadata: its help text, and optionally its flag name and argparse type."""
    return {"help": text, **more}


@dataclass(frozen=True)
class PathSpec:
    """The weight path of V (and of W for res2/res3): its kind and the options that kind takes.

    Attributes:
        kind: a key of :data:`reslimit.PATHS` ("iid", "brownian", "smooth", "fbm"); the flag ``--init``.
        dist: law of i.i.d. entries ("gaussian", "uniform", "rademacher"); iid only.
        hurst: Hurst index H in (0, 1); fbm only.
        lengthscale: in [1e-300, 1e300]; smooth only.
        resolution: grid of the fractional Brownian path, >= 1; fbm only.

    None leaves an option to the path's default; an option the kind does not take is refused.
    """

    kind: str = field(default="iid", metadata=_help(f"weight path, one of {', '.join(PATHS)}", flag="init"))
    dist: str | None = field(default=None, metadata=_help("law of the entries, for --init iid", choices=DISTS))
    hurst: float | None = field(default=None, metadata=_help("Hurst index H, for --init fbm", type=float,
                                                             none="the path's own"))
    lengthscale: float | None = field(default=None, metadata=_help("length scale of the path, for --init smooth",
                                                                   type=float, none="the path's own"))
    resolution: int | None = field(default=None, metadata=_help("grid of the fractional Brownian path, for "
                                                                "--init fbm", type=int, none="the path's own"))

    KEYWORDS: ClassVar[dict[str, str]] = {"kind": "init"}  # field -> the entry points' keyword

    def __post_init__(self):
        _checks.choice("kind", self.kind, tuple(PATHS))
        options = self.options(all_fields=True)
        takes = sorted(path_options_of(self.kind) & set(options))
        for name, value in options.items():
            if value is not None and name not in takes:
                raise ValueError(f"{name} is not an option of path {self.kind!r}, which takes "
                                 f"{', '.join(takes) or 'none of dist, hurst, lengthscale, resolution'}; got "
                                 f"{name}={value!r}")
        if self.dist is not None:
            _checks.choice("dist", self.dist, DISTS)
        if self.hurst is not None:
            _checks.real("hurst", self.hurst, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.lengthscale is not None:
            _checks.lengthscale(self.lengthscale)
        if self.resolution is not None:
            _checks.positive_int("resolution", self.resolution)

    def options(self, all_fields: bool = False) -> dict[str, Any]:
        """The path's options that are set (every one with ``all_fields``), by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "kind" and (all_fields or getattr(self, f.name) is not None)}

    @property
    def limit(self) -> str | None:
        """The continuous limit this path drives ("ode", "sde", "fbm"; None for i.i.d. weights)."""
        return PATHS[self.kind].limit

    def build(self, width: int, ensemble: int = 1, *, seed: int = 0, dtype: DType = "float64",
              device: Device = "cpu", cols: int | None = None) -> WeightPath:
        """The path: ``make_path(kind, width, ensemble, seed=seed, dtype=dtype, device=device, **options)``, of
        width x ``cols`` weights when ``cols`` is given (else square)."""
        shape = {} if cols is None else {"cols": cols}
        return make_path(self.kind, width, ensemble, seed=seed, dtype=_checks.dtype(dtype), device=device,
                         **self.options(), **shape)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data (every field); :meth:`from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> PathSpec:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class NetSpec:
    """A scaled ResNet h_{k+1} = h_k + L^-beta V_{k+1} g(h_k, W_{k+1}) without its weights.

    Attributes:
        block: a key of :data:`reslimit.BLOCKS`.  activation: sigma; None: the block's default.
        width: d >= 1.  depth: L >= 1.  beta: alpha_L = L^-beta. depth or beta None: left to the entry point
            (a sweep's grid, a command's default).
        dtype: "float64" or "float32".
        hidden: M, the hidden width of res2/res3 (V_k d x M, W_k M x d, :class:`reslimit.ScaledResNet`); None: M = d.
            Left out of :meth:`to_dict` when None, so the manifests of square networks read as before it existed.
    """

    block: str = field(default="res1", metadata=_help(f"one of {', '.join(BLOCKS)}"))
    activation: str | None = field(default=None, metadata=_help(
        f"sigma: one of {', '.join(ACTIVATIONS)} or leaky_relu:<slope>", none="the block's own"))
    width: int = field(default=16, metadata=_help("d", type=int))
    depth: int | None = field(default=None, metadata=_help("L", type=int))
    beta: float | None = field(default=None, metadata=_help("alpha_L = L^-beta", type=float))
    dtype: str = field(default="float64", metadata=_help("", choices=tuple(sorted(_checks.DTYPES))))
    hidden: int | None = field(default=None, metadata=_help("M, the hidden width of res2/res3: V is d x M, W is M x d",
                                                            type=int, none="the width d"))

    KEYWORDS: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        _checks.choice("block", self.block, tuple(BLOCKS))
        object.__setattr__(self, "activation", get_block(self.block, self.activation).activation.name)
        _checks.positive_int("width", self.width)
        if self.depth is not None:
            _checks.positive_int("depth", self.depth)
        if self.beta is not None:
            _checks.real("beta", self.beta)
        _checks.choice("dtype", self.dtype, tuple(_checks.DTYPES))
        _checks.hidden(self.hidden, self.width, get_block(self.block, self.activation))

    def build(self, *, path: PathSpec | None = None, seed: int = 0, ensemble: int = 1, depth: int | None = None,
              beta: float | None = None, device: Device | None = None, **options) -> ScaledResNet:
        """The network on weights of ``path`` (default: i.i.d. Gaussian), every number from ``seed``.

        ``depth``/``beta`` stand in for fields left None (a sweep's point); ``options`` are the other keywords of
        :class:`reslimit.ScaledResNet` (stream, survival, dropout, input_dim, output_dim, layer_init). The outer
        path is seeded ``substream(seed, "outer")`` and the inner one ``substream(seed, "inner")``, as in
        ``ScaledResNet(seed=seed)``.
        """
        depth = _one("depth", self.depth, depth)
        beta = _one("beta", self.beta, beta)
        outer, inner = self.paths(path, seed=seed, ensemble=ensemble, device=device)
        return ScaledResNet(depth, self.width, beta=beta, block=self.block, activation=self.activation,
                            outer=outer, inner=inner, seed=seed, device=device, hidden=self.hidden, **options)

    def paths(self, path: PathSpec | None = None, *, seed: int = 0, ensemble: int = 1,
              device: Device | None = None) -> tuple[WeightPath, WeightPath | None]:
        """(outer, inner or None): the network's weight paths of ``path`` (default: i.i.d. Gaussian), of its width
        (outer d x M, inner M x d with a hidden width M; both d x d without) and dtype, seeded
        ``substream(seed, "outer")`` and ``substream(seed, "inner")``; inner only for a block with inner weights.
        :meth:`build` puts a network on them; a study that trains many networks on one pair of paths draws them
        once here."""
        path = PathSpec() if path is None else _spec("path", path, PathSpec)
        seed = _checks.seed("seed", seed)

        def draw(stream, rows, cols):
            return path.build(rows, ensemble, seed=substream(seed, stream), dtype=self.dtype, device=device or "cpu",
                              cols=cols)

        outer = draw("outer", self.width, self.hidden)
        if not get_block(self.block, self.activation).inner:
            return outer, None
        return outer, draw("inner", self.hidden or self.width, None if self.hidden is None else self.width)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data (every field, the activation resolved, hidden only where set); :meth:`from_dict`
        reads it back."""
        return {k: v for k, v in asdict(self).items() if k != "hidden" or v is not None}

    @classmethod
    def from_dict(cls, data) -> NetSpec:
        return _from_dict(cls, data)


SPECS = {"net": NetSpec, "path": PathSpec}


def _one(name: str, fixed, given):
    """The spec's own value of ``name`` or the one given for it, not both; one of them must be set."""
    if fixed is not None and given is not None and fixed != given:
        raise ValueError(f"{name} is set by the spec ({fixed!r}); got {name}={given!r} too: give one")
    value = given if fixed is None else fixed
    if value is None:
        raise ValueError(f"{name} must be set, in the spec or as {name}=; got neither")
    return value


def _spec(name: str, value, cls):
    if not isinstance(value, cls):
        raise ValueError(f"{name} must be a reslimit.{cls.__name__}; got {type(value).__name__}")
    return value


def _from_dict(cls, data):
    """``cls(**data)``, refusing what is not a mapping of its fields in one line."""
    if not isinstance(data, dict):
        raise ValueError(f"a {cls.__name__} must be a mapping of its fields; got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; its fields are {', '.join(names)}")
    return cls(**data)


def keywords(spec) -> dict[str, Any]:
    """The entry points' keywords a spec stands for: its set fields (``kind`` as ``init``), by keyword."""
    return {spec.KEYWORDS.get(f.name, f.name): getattr(spec, f.name) for f in fields(spec)
            if getattr(spec, f.name) is not None}


def recorded(params) -> dict[str, dict]:
    """The specs a run's settings describe, as data for its manifest: {"net": ..., "path": ...}.

    ``params`` holds the keywords of an entry point (block, activation, width, depth, beta, dtype, init, dist,
    hurst, lengthscale, resolution, any of them); a field absent or None is None in the spec (a sweep's grid).
    Settings no spec describes (a grid of depths, a path option its kind does not take) are left out.
    """
    net = {f.name: params[f.name] for f in fields(NetSpec) if params.get(f.name) is not None}
    # a user's block (reslimit.custom) is no key of BLOCKS: no NetSpec describes it
    out = {"net": NetSpec(**net).to_dict()} if {"block", "width"} <= set(net) and net["block"] in BLOCKS else {}
    if params.get("init") in PATHS:
        takes = path_options_of(params["init"])
        options = {f.name: params[f.name] for f in fields(PathSpec)
                   if f.name != "kind" and f.name in takes and params.get(f.name) is not None}
        out["path"] = PathSpec(params["init"], **options).to_dict()
    return out


def takes_specs(fn: Callable | None = None, *, kind: str = "init", limit: bool = False,
                keywords_of: Callable | None = None) -> Callable:
    """Decorate an entry point so that it also takes ``net=`` (a :class:`NetSpec`) and ``path=`` (a
    :class:`PathSpec`): their set fields become the keywords of the same names.

    A field given both ways is refused (ValueError naming it); a set field the entry point has no keyword for is
    refused too (e.g. ``depth`` of a sweep over ``depths``). ``kind`` names the keyword the path's kind goes to;
    ``limit=True``: the path's kind goes to ``kind`` as the limit it drives ("smooth" -> "ode",
    "brownian" -> "sde", "fbm" -> "fbm"). ``keywords_of``: the function whose keywords ``fn`` hands its
    ``**options`` to (a sweep's ``study``), checked in place of ``fn``'s.
    """
    if fn is None:
        return functools.partial(takes_specs, kind=kind, limit=limit, keywords_of=keywords_of)
    params = inspect.signature(fn).parameters | (inspect.signature(keywords_of).parameters if keywords_of else {})

    @functools.wraps(fn)
    def wrapper(*args, net: NetSpec | None = None, path: PathSpec | None = None, **kwargs):
        if limit and path is not None and args:
            raise ValueError(f"{kind} is given twice, as path.kind and as the first argument: give one")
        for name, spec in (("net", net), ("path", path)):
            if spec is None:
                continue
            spec = _spec(name, spec, SPECS[name])
            given = keywords(spec)
            if name == "path":
                given[kind] = given.pop("init")
                if limit:
                    if spec.limit is None:
                        raise ValueError(f"path must drive a continuous limit; path {spec.kind!r} drives none")
                    given[kind] = spec.limit
            for key, value in given.items():
                if key not in params:
                    raise ValueError(f"{fn.__name__} takes no {key}: {name}.{key} must be None here; got {value!r}")
                if key in kwargs:
                    raise ValueError(f"{key} is given twice, as {name}.{key} and as {key}=: give one")
                kwargs[key] = value
        return fn(*args, **kwargs)

    sig = inspect.signature(fn)
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=c.__name__ + " | None")
             for n, c in SPECS.items() if n not in sig.parameters]
    rest = list(sig.parameters.values())
    at = next((i for i, p in enumerate(rest) if p.kind == inspect.Parameter.VAR_KEYWORD), len(rest))
    wrapper.__signature__ = sig.replace(parameters=rest[:at] + extra + rest[at:])  # type: ignore[attr-defined]
    return wrapper


def add_arguments(parser: argparse.ArgumentParser, cls, defaults: Callable | None = None, *,
                  only: tuple[str, ...] | None = None, real: Callable[[str], float] = float) -> None:
    """Add a flag ``--name`` for each field of the spec class ``cls`` (``only`` those named), with the field's help
    text; the default shown is that of ``defaults``' keyword of the same name (an entry point), else the field's.

    A flag not given is left out of the call (its default is None here), so the entry point's default applies.
    ``real`` parses the real-valued fields (e.g. a parser refusing nan and inf).
    """
    sig = inspect.signature(defaults).parameters if defaults is not None else {}
    for f in fields(cls):
        if only is not None and f.name not in only:
            continue
        flag = f.metadata.get("flag", f.name)
        shown = sig[flag].default if flag in sig else (None if f.default is MISSING else f.default)
        shown = f.metadata.get("none", shown) if shown is None else shown
        text = f"{f.metadata['help']} (default {shown})".lstrip()
        kwargs = {k: v for k, v in f.metadata.items() if k in ("choices", "type")}
        if kwargs.get("type") is float:
            kwargs["type"] = real
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, help=text, **kwargs)


__all__ = ["NetSpec", "PathSpec", "add_arguments", "keywords", "recorded", "takes_specs"]

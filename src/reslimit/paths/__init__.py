"""Weight paths: the random processes on [0, 1] that feed both the network and its continuous limit."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from .base import PATHS, WeightPath

# The order of these imports is the order of PATHS (iid, brownian, smooth, fbm, then the others discovered).
# isort: off
from .iid import IID
from .brownian import Brownian
from .smooth import FunctionPath, Smooth
from .fbm import FractionalBrownian
from .stacked import Members, Stacked
# isort: on

for _module in pkgutil.iter_modules(__path__):  # a new path is one new module of this package, registered here
    importlib.import_module(f"{__name__}.{_module.name}")


def make_path(name: str, width: int, ensemble: int = 1, **options) -> WeightPath:
    """The path called ``name`` (a key of PATHS); options not taken by that path raise TypeError."""
    allowed = _options(name)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"path {name!r} takes no option(s) {', '.join(unknown)}; it takes {', '.join(sorted(allowed))}")
    return PATHS[name](width, ensemble, **options)


def path_options(name: str, **candidates) -> dict:
    """Of ``candidates`` (e.g. a study's dist, lengthscale, hurst, resolution), those the path ``name`` takes and
    that are not None: a study hands every option over and each path keeps its own."""
    allowed = _options(name)
    return {k: v for k, v in candidates.items() if k in allowed and v is not None}


def _options(name: str) -> set[str]:
    """The keyword options of the constructor of the path ``name`` (a key of PATHS), or a ValueError naming init."""
    if name not in PATHS:
        raise ValueError(f"init must be one of {', '.join(repr(k) for k in PATHS)}; got {name!r}")
    return set(inspect.signature(PATHS[name].__init__).parameters) - {"self", "width", "ensemble"}


def check_limit_paths(limit: str, block, outer: WeightPath, inner: WeightPath | None) -> None:
    """Refuse outer/inner combinations without a pathwise limit, saying which paths have one.

    First ``outer`` must be a WeightPath and ``inner`` one or None, sharing dtype and device. The outer path
    must drive ``limit`` (its class attribute ``limit``: Smooth and FunctionPath "ode", Brownian "sde",
    FractionalBrownian "fbm") and meet the path's own conditions (``check_limit``: hurst > 1/2 for fbm).
    Inner weights (res2, res3) must be a smooth path, which the limit evaluates at t. I.i.d. weights have
    no path to evaluate: use Brownian for a pathwise SDE. With a hidden width M, outer is d x M (V) and inner
    M x d (W).
    """
    for name, path, kind in (("outer", outer, "a WeightPath"), ("inner", inner, "a WeightPath or None")):
        if not (isinstance(path, WeightPath) or (name == "inner" and path is None)):
            raise ValueError(f"{name} must be {kind} (reslimit.paths: Smooth, Brownian, FractionalBrownian...); "
                             f"got {type(path).__name__}")
    if inner is not None and (inner.dtype, inner.device) != (outer.dtype, outer.device):
        raise ValueError(f"outer and inner must share dtype and device; got {outer!r} and {inner!r}")
    if outer.limit != limit:
        classes: list[type[WeightPath]] = [*PATHS.values(), FunctionPath]
        takes = " or ".join(cls.__name__ for cls in classes if cls.limit == limit)
        drives = f"the {outer.limit} limit" if outer.limit else "no continuous limit"
        raise ValueError(f"the {limit} limit needs a {takes} outer path; got {type(outer).__name__}, which drives "
                         f"{drives}")
    outer.check_limit()
    if block.inner and (inner is None or inner.kind != "values"):
        found = "none" if inner is None else type(inner).__name__
        raise ValueError(f"inner must be a smooth path (e.g. Smooth) for block {block.name!r} in the {limit} "
                         f"limit: a pathwise limit needs W(t) continuous in t; got {found}")
    if inner is not None and (inner.width, inner.cols, inner.ensemble) != (outer.cols, outer.width, outer.ensemble):
        raise ValueError(f"inner must be hidden x width = {outer.cols} x {outer.width} (outer is width x hidden = "
                         f"{outer.width} x {outer.cols}) and share the ensemble; got inner {inner.width} x "
                         f"{inner.cols}, ensemble {inner.ensemble} (outer {outer.ensemble})")


__all__ = [
    "IID", "PATHS", "Brownian", "FractionalBrownian", "FunctionPath", "Smooth", "WeightPath", "check_limit_paths",
    "Members", "Stacked", "make_path", "path_options",
]

"""Weight paths: the random processes on [0, 1] that feed both the network and its continuous limit."""

from __future__ import annotations

import inspect

from .base import WeightPath
from .brownian import Brownian
from .iid import IID

PATHS: dict[str, type[WeightPath]] = {
    "iid": IID,
    "brownian": Brownian,
}


def make_path(name: str, width: int, ensemble: int = 1, **options) -> WeightPath:
    """The path called ``name`` (a key of PATHS); options not taken by that path raise TypeError."""
    if name not in PATHS:
        raise ValueError(f"init must be one of {', '.join(repr(k) for k in PATHS)}; got {name!r}")
    cls = PATHS[name]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "width", "ensemble"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"path {name!r} takes no option(s) {', '.join(unknown)}; it takes {', '.join(sorted(allowed))}")
    return cls(width, ensemble, **options)


__all__ = ["PATHS", "WeightPath", "IID", "Brownian", "make_path"]

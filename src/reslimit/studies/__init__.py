"""Studies: grids of points computed by a sweep (in-process, a local pool or Dask), kept as tidy rows on disk.

Each module of this package that writes a folder declares its kind (:class:`~reslimit.studies.protocol.Kind`);
:func:`discover` imports them all, so a new study is one new file.
"""

import importlib
import pkgutil

from ..store import read_rows
from .grid import parse_grid
from .protocol import KINDS, Kind, Result
from .sweep import Study, run_study

# The modules below this package that write a study folder (the layer of one network: training, the demo).
OUTSIDE = ("reslimit.train", "reslimit.demo")

__all__ = ["KINDS", "Kind", "Result", "Study", "discover", "parse_grid", "read_rows", "run_study"]


def discover() -> dict[str, Kind]:
    """Every kind of study folder: each module of this package and of :data:`OUTSIDE` imported (each declares its
    own), then :data:`~reslimit.studies.protocol.KINDS`."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    for name in OUTSIDE:
        importlib.import_module(name)
    return KINDS

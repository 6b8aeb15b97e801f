"""Studies: grids of points computed by a sweep (in-process, a local pool or Dask), kept as tidy rows on disk."""

from ..store import read_rows
from .grid import parse_grid
from .sweep import Study, run_study

__all__ = ["Study", "parse_grid", "read_rows", "run_study"]

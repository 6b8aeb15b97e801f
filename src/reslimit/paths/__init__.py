"""Weight paths: the random processes on [0, 1] that feed both the network and its continuous limit."""

from .base import WeightPath
from .brownian import Brownian
from .iid import IID

PATHS = {"iid": IID, "brownian": Brownian}

__all__ = ["PATHS", "WeightPath", "IID", "Brownian"]

"""reslimit: very deep scaled ResNets beside their continuous-depth limits."""

from .blocks import ACTIVATIONS, BLOCKS, Activation, get_activation, get_block
from .paths import IID, PATHS, Brownian, WeightPath, make_path
from .resnet import ScaledResNet, diverged

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "BLOCKS", "PATHS", "Activation", "Brownian", "IID", "ScaledResNet",
    "WeightPath", "make_path",
    "diverged", "get_activation", "get_block",
]

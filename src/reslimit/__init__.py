"""reslimit: very deep scaled ResNets beside their continuous-depth limits."""

from .blocks import ACTIVATIONS, BLOCKS, Activation, get_activation, get_block
from .continuous import ContinuousLimit
from .custom import BlockPaths, CustomBlock, CustomODE, CustomResNet, CustomSDE
from .data import Dataset, get_data
from .ode import NeuralODE
from .paths import IID, PATHS, Brownian, FractionalBrownian, FunctionPath, Smooth, WeightPath, make_path
from .rates import Rate, fit_rate
from .regularity import Regularity, regularity
from .resnet import ScaledResNet, diverged
from .results import load
from .sde import NeuralSDE, PathBrownian
from .simulate import Simulation, simulate
from .specs import NetSpec, PathSpec
from .studies.converge import Convergence, converge
from .train import History, train

__version__ = "0.1.0"

__all__ = [
    "NetSpec", "PathSpec",
    "ACTIVATIONS", "BLOCKS", "IID", "PATHS", "Activation", "BlockPaths", "Brownian", "ContinuousLimit", "Convergence",
    "CustomBlock", "CustomODE", "CustomResNet", "CustomSDE", "Dataset",
    "FractionalBrownian",
    "FunctionPath", "History", "NeuralODE", "NeuralSDE", "PathBrownian", "Rate", "Regularity", "ScaledResNet",
    "Simulation", "Smooth", "WeightPath", "converge", "diverged", "fit_rate", "get_activation", "get_block",
    "get_data", "load", "make_path", "regularity", "simulate", "train",
]

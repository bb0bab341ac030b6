"""Linear maps, lifted layers and networks: MLP, CNN, ResNet, the unrolled DFB-PNN and ScCP-PNN denoisers, and
the conversion of plain ``nn.Sequential`` networks (:func:`from_sequential`) and of any module torch.fx
can trace (:func:`from_module`)."""

from .cnn import CNN
from .convert import ConversionError, as_lifted, from_sequential, prefix_network
from .dfb import DFBPNN
from .fx_convert import from_module
from .linear_maps import Conv2d, Dense, IdentityMap, LinearMap
from .mlp import MLP
from .network import Layer, LiftedNetwork
from .resnet import ResNet
from .sccp import SccpPNN

__all__ = ["LinearMap", "Dense", "Conv2d", "IdentityMap", "Layer", "LiftedNetwork", "MLP", "CNN", "ResNet",
           "DFBPNN", "SccpPNN", "ConversionError", "from_sequential", "from_module", "prefix_network",
           "as_lifted"]

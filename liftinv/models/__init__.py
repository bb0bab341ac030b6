"""Linear maps, lifted layers and networks: MLP, CNN, ResNet, the unrolled DFB-PNN denoiser, and
the conversion of plain ``nn.Sequential`` networks (:func:`from_sequential`)."""

from .cnn import CNN
from .convert import ConversionError, as_lifted, from_sequential, prefix_network
from .dfb import DFBPNN
from .linear_maps import Conv2d, Dense, IdentityMap, LinearMap
from .mlp import MLP
from .network import Layer, LiftedNetwork
from .resnet import ResNet

__all__ = ["LinearMap", "Dense", "Conv2d", "IdentityMap", "Layer", "LiftedNetwork", "MLP", "CNN", "ResNet",
           "DFBPNN", "ConversionError", "from_sequential", "prefix_network", "as_lifted"]

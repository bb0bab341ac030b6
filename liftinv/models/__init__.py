"""Linear maps, lifted layers and networks (MLP, CNN, ResNet)."""

from .cnn import CNN
from .linear_maps import Conv2d, Dense, IdentityMap, LinearMap
from .mlp import MLP
from .network import Layer, LiftedNetwork
from .resnet import ResNet

__all__ = ["LinearMap", "Dense", "Conv2d", "IdentityMap", "Layer", "LiftedNetwork", "MLP", "CNN", "ResNet"]

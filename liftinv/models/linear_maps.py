r"""Linear maps of a lifted layer: :math:`v = A_\theta x + b`, one home for all of them.

Every layer of a lifted network reads one or more states through a map that is linear in the
state (affine with the bias), with its adjoint and its operator norm.  The maps live in modules
of their own, all importable from here:

* :mod:`~liftinv.models.linear_map`: the base classes :class:`LinearMap` (what the lifted solvers
  need of a map: ``A``, ``A_adjoint``, ``op_norm_sq``) and :class:`ParameterFreeMap`;
* :mod:`~liftinv.models.dense_map`: :class:`Dense` and :func:`op_norms_sq` (batched norms);
* :mod:`~liftinv.models.conv_maps`: :class:`Conv2d`, :class:`ConvTranspose2d`;
* :mod:`~liftinv.models.resampling_maps`: :class:`AvgPool2d`, :class:`AdaptiveAvgPool2d`,
  :class:`Upsample`;
* :mod:`~liftinv.models.shape_maps`: :class:`IdentityMap`, :class:`Reshape`, :class:`ZeroMap`;
* :mod:`~liftinv.models.elementwise_maps`: :class:`Scale`, :class:`ChannelAffine`,
  :class:`ElementwiseAffine`.

The adjointness :math:`\langle A x, r\rangle = \langle x, A^\top r\rangle` of every map
is checked in ``tests/test_linear_maps.py``.
"""

from __future__ import annotations

from .conv_maps import Conv2d, ConvTranspose2d
from .dense_map import Dense, op_norms_sq
from .elementwise_maps import ChannelAffine, ElementwiseAffine, Scale
from .linear_map import LinearMap, ParameterFreeMap
from .resampling_maps import AdaptiveAvgPool2d, AvgPool2d, Upsample
from .shape_maps import IdentityMap, Reshape, ZeroMap

__all__ = ["LinearMap", "ParameterFreeMap", "Dense", "op_norms_sq", "Conv2d", "ConvTranspose2d", "AvgPool2d",
           "AdaptiveAvgPool2d", "Upsample", "IdentityMap", "Reshape", "ZeroMap", "Scale", "ChannelAffine",
           "ElementwiseAffine"]

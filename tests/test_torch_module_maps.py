"""The affine maps of torch modules that the conversions use (liftinv.models.convert.torch_affine_map:
convolutions, transposed convolutions, pooling, upsampling; the Reshape of
liftinv.models.shape_maps): each map against its torch module, and adjoint to its adjoint."""

from __future__ import annotations

import pytest
import torch
from fx_helpers import F64
from torch import nn

from liftinv.models.convert import torch_affine_map
from liftinv.models.linear_maps import Reshape

MODULES = {
    "conv-rect-dilated-grouped": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                                    groups=2), (4, 9, 8)),
    "conv-same": (lambda: nn.Conv2d(2, 3, 5, padding="same"), (2, 7, 6)),
    "conv-transpose": (lambda: nn.ConvTranspose2d(3, 2, 3), (3, 5, 4)),
    "conv-transpose-strided": (lambda: nn.ConvTranspose2d(2, 4, 4, stride=2, padding=1), (2, 4, 5)),
    "conv-transpose-output-padding": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
                                      (2, 4, 4)),
    "conv-transpose-grouped-dilated": (lambda: nn.ConvTranspose2d(4, 6, (2, 3), stride=(1, 3), dilation=(2, 1),
                                                                  groups=2, output_padding=(1, 2)), (4, 3, 4)),
    "avgpool": (lambda: nn.AvgPool2d(2), (3, 6, 7)),
    "avgpool-padded": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 7, 6)),
    "avgpool-exclude-pad-ceil": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 8, 7)),
    "avgpool-divisor": (lambda: nn.AvgPool2d(2, divisor_override=3), (1, 4, 4)),
    "adaptive-avgpool": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 5, 7)),
    "upsample-nearest": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4)),
    "upsample-nearest-fractional": (lambda: nn.Upsample(scale_factor=1.5), (1, 4, 6)),
    "upsample-nearest-size": (lambda: nn.Upsample(size=(7, 5)), (1, 3, 4)),
    "upsample-bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 4, 3)),
    "upsample-bilinear-corners": (lambda: nn.Upsample(scale_factor=3, mode="bilinear", align_corners=True),
                                  (1, 3, 4)),
    "upsample-bilinear-size": (lambda: nn.Upsample(size=(5, 9), mode="bilinear"), (2, 4, 4)),
    "upsampling-bilinear2d": (lambda: nn.UpsamplingBilinear2d(scale_factor=2), (1, 3, 3)),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_map_of_torch_module_matches_it_and_is_adjoint(name):
    torch.manual_seed(0)
    make, shape = MODULES[name]
    mod = make().double()
    amap = torch_affine_map("m", mod)
    x = torch.randn((3,) + shape, dtype=F64)
    with torch.no_grad():
        ref = mod(x)
        torch.testing.assert_close(amap(x), ref)
        assert tuple(amap.out_shape(shape)) == tuple(ref.shape[1:])
        ax = amap.A(x)
        r = torch.randn_like(ax)
        lhs, rhs = (ax * r).sum(), (x * amap.A_adjoint(r, shape)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


def test_reshape_map_and_unflatten():
    amap = Reshape((2, 3, 4))
    x = torch.randn(5, 24, dtype=F64)
    torch.testing.assert_close(amap(x), nn.Unflatten(1, (2, 3, 4))(x))
    r = torch.randn(5, 2, 3, 4, dtype=F64)
    torch.testing.assert_close((amap.A(x) * r).sum(), (x * amap.A_adjoint(r, (24,))).sum())
    with pytest.raises(ValueError, match="cannot be viewed"):
        amap.out_shape((25,))

"""Products with, divisions by and sums with constants in the torch.fx conversion
(liftinv.models.fx_constants): input normalisations, scalings, shifts and casts that convert (and
invert), and the constants and casts that do not, with why."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from fx_helpers import F64, same
from torch import nn

from liftinv.inversion import as_lifted, invert_lifted
from liftinv.models import ConversionError, from_module
from liftinv.models.linear_maps import ElementwiseAffine

_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class _Normalised(nn.Module):
    """A pre-trained encoder's input normalisation (and other products with and sums of constants) before
    two convolutions; ``how`` picks how the constants are written."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.scale = nn.Parameter(torch.tensor([1.5, 0.5, -2.0]).view(3, 1, 1), requires_grad=False)
        self.g = nn.Parameter(torch.tensor(1.7))  # a scalar gain: a constant once the weights are frozen
        self.a, self.b = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        how = self.how
        if how == "buffers":
            x = (x - self.mean) / self.std
        elif how == "torch-functions":
            x = torch.div(torch.sub(x, self.mean), self.std)
        elif how == "methods":  # constants reshaped and indexed: folded
            x = x.sub(self.mean.view(1, -1, 1, 1)).div(self.std[0]).mul(2)
        elif how == "indexed-reciprocal":  # torchvision-style constants, and 2 - x, x + 1
            x = 2.0 - (x - self.mean.flatten()[None, :, None, None]) * (1 / self.std) + 1
        elif how == "in-place":  # torchvision's normalize(inplace=True): x changed twice through sub_'s result
            x = x.clone()
            x.sub_(self.mean).div_(self.std)
        elif how == "scale-shift":  # a frozen parameter and a tensor built in forward
            x = x * self.scale + torch.tensor([0.1, -0.2, 0.3]).view(3, 1, 1)
        elif how == "scalar-parameter":
            return self.b(F.relu(self.a(x) * self.g))
        elif how == "shift-of-a-sum":  # the shift of a value reading two states enters one map once
            h = F.relu(self.a(x))
            return self.b(F.relu(self.a(h) + x - self.mean))
        return self.b(F.relu(self.a(x)))


@pytest.mark.parametrize("how", ["buffers", "torch-functions", "methods", "indexed-reciprocal", "in-place",
                                 "scale-shift", "scalar-parameter", "shift-of-a-sum"])
def test_products_with_and_sums_of_constants_convert(how):
    torch.manual_seed(0)
    model = _Normalised(how).eval()
    net = as_lifted(model, (3, 6, 6))
    x = torch.rand(3, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (net(x) - model(x)).abs().max() < 2e-6  # measured: 5e-7 at most
    # the constants join the convolution's layer: no layer of their own
    assert net.depth == (3 if how == "shift-of-a-sum" else 2)
    if how not in ("scalar-parameter", "shift-of-a-sum"):
        first = net.layer(1).linear
        assert isinstance(first.maps[0], ElementwiseAffine) and len(first.maps) == 2  # (x - m) / s: one map
    if how == "shift-of-a-sum":
        assert net.layer(2).skip_from == [0]
    # the map of the first layer (normalisation and convolution) is adjoint to its adjoint, in float64
    amap = net.layer(1).linear.double()
    xd = torch.randn(2, 3, 6, 6, dtype=F64)
    with torch.no_grad():
        ax = amap.A(xd)
        r = torch.randn_like(ax)
        torch.testing.assert_close((ax * r).sum(), (xd * amap.A_adjoint(r, (3, 6, 6))).sum(), rtol=1e-10, atol=1e-10)


class _Shift(nn.Module):
    def forward(self, x):
        return torch.relu(x + 1.0)


def test_a_number_added_converts():
    net = from_module(_Shift(), (2, 3))
    same(net, _Shift(), (2, 3), tol=1e-6)


class _Casts(nn.Module):
    """Casts to the dtype the module computes in, and layout no-ops."""

    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype
        self.a, self.b = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x):
        x = (x.double() if self.dtype == F64 else x.float()).to(self.dtype).contiguous()
        h = F.relu(self.a(x.type_as(self.a.weight)))
        return self.b(h.to(self.dtype)).type_as(x)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_casts_that_keep_the_dtype_convert(dtype):
    torch.manual_seed(0)
    model = _Casts(dtype).to(dtype)
    net = from_module(model, (1, 5, 5))
    assert net.depth == 2
    x = torch.rand(2, 1, 5, 5, dtype=dtype)
    with torch.no_grad():
        assert (net(x) - model(x)).abs().max() < (1e-6 if dtype == torch.float32 else 1e-12)


@pytest.mark.filterwarnings("ignore:lifted inversion:RuntimeWarning")  # 5 iterations: not converged
def test_a_normalised_encoder_inverts():
    torch.manual_seed(0)
    model = _Normalised("buffers").eval()
    net = as_lifted(model, (3, 6, 6))
    x = torch.rand(2, 3, 6, 6)
    with torch.no_grad():
        y = model(x)
    res = invert_lifted(net, y, regulariser="tv", alpha=1e-3, iters=5)
    assert res.x.shape == x.shape and torch.isfinite(res.x).all()
    assert res.final["misfit"] < res.history[0]["misfit"]


class _Constants(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.register_buffer("per_batch", torch.rand(2, 1, 1, 1))  # the traced batch has 2 samples
        self.register_buffer("channels", torch.rand(3, 1, 1))
        self.register_buffer("f64", torch.rand(1, 1, 1, dtype=F64))

    def forward(self, x):
        if self.how == "batch":
            return torch.relu(x - self.per_batch)
        if self.how == "broadcast":
            return torch.relu(x * self.channels)
        if self.how == "reciprocal":
            return torch.relu(1.0 / x)
        if self.how == "promotes":
            return torch.relu(x * self.f64)
        if self.how == "gate":
            return x * torch.sigmoid(x)
        return torch.relu(x.double()).float()


@pytest.mark.parametrize("how, match", [
    ("batch", r"operator.sub at node 'sub' uses a constant of shape \(2, 1, 1, 1\), which differs along the batch"),
    ("broadcast", r"operator.mul at node 'mul' broadcasts a value of shape \(1, 4, 4\) with a constant to shape "
                  r"\(3, 4, 4\)"),
    ("reciprocal", r"operator.truediv at node 'truediv' divides a constant by a network value: it is not affine; "
                   r"the gradient baselines invert any module: invert_gradient"),
    ("promotes", r"operator.mul at node 'mul' computes with a constant that promotes the network's values from "
                 r"torch.float32 to torch.float64"),
    ("gate", r"operator.mul at node 'mul' is not affine: it multiplies two values computed from the input.*"
             r"invert_gradient"),
    ("cast", r"Tensor.double at node 'double' casts the network's values from torch.float32 to torch.float64"),
])
def test_constants_and_casts_that_do_not_convert_say_why(how, match):
    with pytest.raises(ConversionError, match=match):
        from_module(_Constants(how), (1, 4, 4))

"""Conversion of torch modules into lifted networks (liftinv.models.fx_convert.from_module) and the
affine maps of torch modules it uses: each map against its torch module, each conversion against
the module's output, the refusals, and an inversion of a converted network."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from liftinv import from_module as exported_from_module
from liftinv.activations import ELU, LeakyReLU, NotProximalError
from liftinv.inversion import as_lifted, invert_lifted
from liftinv.models import ConversionError, IdentityMap, LiftedNetwork, from_module, from_sequential
from liftinv.models.composite_maps import CatMap
from liftinv.models.convert import torch_affine_map
from liftinv.models.linear_maps import ElementwiseAffine, Reshape, ZeroMap

F64 = torch.float64


def _randomise_bn(bn: nn.modules.batchnorm._BatchNorm) -> None:
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)


def _same(net: LiftedNetwork, model: nn.Module, shape, tol=1e-5, batch=3) -> None:
    x = torch.rand((batch,) + tuple(shape), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), atol=tol, rtol=tol)


# ------------------------------------------------------------------- the maps of torch modules

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


# ------------------------------------------------------------------------------ conversions


def test_sequential_with_the_new_modules_converts():
    torch.manual_seed(0)
    prelu = nn.PReLU(4)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.1, 0.25, 0.5, 1.0]))
    bn = nn.BatchNorm2d(3)
    _randomise_bn(bn)
    seq = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), prelu, nn.AvgPool2d(2),                 # (4, 4, 4)
        nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1), bn, nn.ELU(0.7),     # (3, 8, 8)
        nn.Upsample(scale_factor=0.5, mode="bilinear"), nn.Flatten(),          # (48,)
        nn.Linear(48, 32), nn.CELU(1.5), nn.Unflatten(1, (2, 4, 4)),
        nn.Upsample(scale_factor=2), nn.Conv2d(2, 1, 3, padding=1), nn.Sigmoid(),
    ).eval()
    net = from_sequential(seq, (1, 8, 8))
    _same(net, seq, (1, 8, 8))
    assert net.depth == 4  # the parameter-free maps join the layer of the parametrised map around them
    acts = [net.activation(li) for li in range(1, 5)]
    assert isinstance(acts[0], LeakyReLU) and isinstance(acts[1], ELU) and acts[2].beta == 1.5
    torch.testing.assert_close(from_module(seq, (1, 8, 8))(torch.ones(1, 1, 8, 8)), seq(torch.ones(1, 1, 8, 8)))


class _ResBlock(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.conv2(F.relu(self.bn1(self.conv1(x)))))


class _SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.block1, self.block2 = _ResBlock(), _ResBlock()
        self.head = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = self.block2(self.block1(x))
        x = F.avg_pool2d(x, 2)
        return self.head(x.view(x.size(0), -1))


def test_resnet_with_residual_additions_converts_with_skips():
    torch.manual_seed(0)
    model = _SmallResNet()
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            _randomise_bn(mod)
    model.eval()
    net = from_module(model, (1, 8, 8))
    _same(net, model, (1, 8, 8))
    # stem, (conv1+bn, relu), (conv2 + skip, relu) twice, head: residual layers read x_{l-2}
    assert net.depth == 6
    assert net.layer(3).skip_from == [1] and net.layer(5).skip_from == [3]
    assert all(isinstance(m, IdentityMap) for m in net.layer(3).skips)


def test_deepinv_dncnn_and_its_residual_x_minus_f_convert():
    dinv = pytest.importorskip("deepinv")
    torch.manual_seed(0)
    dncnn = dinv.models.DnCNN(1, 1, depth=5, nf=8, pretrained=None)  # out_conv(...) + x
    net = from_module(dncnn, (1, 12, 12))
    _same(net, dncnn, (1, 12, 12), tol=1e-5)
    assert net.depth == 5 and net.layer(5).skip_from == [0]

    class Residual(nn.Module):  # the classic DnCNN: x - f(x)
        def __init__(self):
            super().__init__()
            self.f = dinv.models.DnCNN(1, 1, depth=4, nf=8, pretrained=None)

        def forward(self, x):
            return x - (self.f(x) - x)  # f adds x back, so this is x - body(x)

    model = Residual()
    net = from_module(model, (1, 10, 10))
    _same(net, model, (1, 10, 10), tol=1e-5)
    assert net.layer(net.depth).skip_from == [0]


def test_conv_autoencoder_decoder_converts():
    torch.manual_seed(0)
    decoder = nn.Sequential(
        nn.Linear(16, 8 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (8, 4, 4)),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.Conv2d(4, 1, 3, padding=1),
        nn.Hardtanh(0.0, 1.0),
    )
    net = from_module(decoder, (16,))
    _same(net, decoder, (16,))
    assert net.out_shape == (1, 16, 16) and net.depth == 3


class _Affine(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 3, 1)

    def forward(self, x):
        u = F.leaky_relu(self.a(x), 0.1)
        w = torch.add(self.b(x), 2.0 * self.a(x), alpha=-0.5) - u / 4
        w = torch.clamp(F.interpolate(-w, scale_factor=2, mode="nearest"), 0.0, 2.0)
        v = F.elu(F.avg_pool2d(w, 2), alpha=0.5)
        return torch.sigmoid(v.reshape(v.size(0), -1).mul(3))


def test_functional_operations_and_parallel_branches_convert():
    torch.manual_seed(0)
    model = _Affine()
    net = from_module(model, (2, 6, 6))
    _same(net, model, (2, 6, 6))
    # layer 2 (the clamp) reads x_1 (u) and, by a skip, x_0 (b(x) and a(x) again)
    assert net.layer(2).skip_from == [0]

    class Branches(nn.Module):  # two layers reading x_0: the second has a zero main map
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 5), nn.Linear(6, 5)

        def forward(self, x):
            return torch.relu(self.a(x)) + torch.tanh(self.b(x))

    model = Branches()
    net = from_module(model, (6,))
    _same(net, model, (6,))
    assert isinstance(net.layer(2).linear, ZeroMap) and net.layer(2).skip_from == [0]


class _TinyUNet(nn.Module):
    """Two scales, a transposed-convolution upsampling and U-Net's concatenated skips (one of them
    from the input itself, along a negative dim)."""

    def __init__(self):
        super().__init__()
        self.e1, self.e2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.up, self.d1 = nn.ConvTranspose2d(8, 4, 2, stride=2), nn.Conv2d(8, 4, 3, padding=1)
        self.out = nn.Conv2d(5, 1, 1)

    def forward(self, x):
        a = F.relu(self.e1(x))
        u = F.relu(self.up(F.relu(self.e2(a))))
        d = F.relu(self.d1(torch.cat([u, a], dim=1)))
        return self.out(torch.cat((d, x), -3))


def test_unet_concatenations_convert_and_invert():
    torch.manual_seed(0)
    model = _TinyUNet().eval()
    net = from_module(model, (1, 8, 8))
    _same(net, model, (1, 8, 8))
    # cat([u, a]) reads x_3 (u) and x_1 (a) before a convolution: an identity layer closes it, whose
    # main map puts u first and zeros where a goes, and whose skip from x_1 does the reverse
    closing = net.layer(4)
    assert isinstance(closing.linear, CatMap) and isinstance(closing.linear.maps[1], ZeroMap)
    assert closing.skip_from == [1]
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        y = model(x)
    res = invert_lifted(net, y, regulariser="tv", alpha=1e-4, iters=60, x_true=x)
    # measured: misfit 0.075 -> 0.0069, 11.3 -> 20.6 dB (35.0 dB after 150 iterations)
    assert res.final["misfit"] < 0.2 * res.history[0]["misfit"]
    assert res.final["psnr"] > res.history[0]["psnr"] + 5


# ------------------------------------------------------------------------------- refusals


class _Encoder(nn.Module):
    def __init__(self, act=None, pool=None):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1),
                                     act or nn.ReLU())
        self.pool = pool or nn.Identity()

    def forward(self, x):
        return self.pool(self.encoder(x))


@pytest.mark.parametrize("model, match, cls", [
    (_Encoder(act=nn.GELU()), r"nn.GELU at 'encoder.3' is not a proximal activation: .*not monotone",
     NotProximalError),
    (_Encoder(pool=nn.MaxPool2d(2)),
     r"nn.MaxPool2d at 'pool' is neither an affine map that liftinv converts nor a proximal.*invert_gradient",
     ConversionError),
    (_Encoder(act=nn.PReLU(init=1.5)), r"nn.PReLU at 'encoder.3' is not a proximal activation: .*slope a=1.5",
     NotProximalError),
    (_Encoder(act=nn.ELU(2.0)), r"nn.ELU at 'encoder.3' .*alpha = 2 > 1", NotProximalError),
    (_Encoder(act=nn.Softplus()), r"nn.Softplus at 'encoder.3' cannot be part of a lifted network: .*proximal map, but",
     ConversionError),
    (_Encoder(pool=nn.Upsample(scale_factor=2, mode="bicubic")), r"nn.Upsample at 'pool' cannot be converted: "
     r"mode='bicubic'", ConversionError),
    (_Encoder(pool=nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")), r"nn.Conv2d at 'pool'.*padding_mode",
     ConversionError),
    (_Encoder(pool=nn.BatchNorm2d(2)), r"nn.BatchNorm2d at 'pool' is in training mode", ConversionError),
    (_Encoder(pool=nn.Dropout(0.5)), r"nn.Dropout at 'pool' is in training mode", ConversionError),
])
def test_unsupported_modules_name_the_node_and_why(model, match, cls):
    with pytest.raises(cls, match=match) as err:
        from_module(model, (1, 6, 6))
    assert isinstance(err.value, ConversionError)


class _Product(nn.Module):
    def forward(self, x):
        return torch.relu(x) * x


class _Concat(nn.Module):
    def forward(self, x):
        return torch.cat([x, torch.relu(x)], 0)


class _Shift(nn.Module):
    def forward(self, x):
        return torch.relu(x + 1.0)


class _Branching(nn.Module):
    def forward(self, x):
        return torch.relu(x) if x.sum() > 0 else x


@pytest.mark.parametrize("model, match", [
    (_Product(), r"operator.mul at node 'mul' is not affine: it multiplies two values computed from the input.*"
                 r"invert_gradient\(module, y, x_init=.*as_lifted\(part, in_shape\)"),
    (_Concat(), r"torch.cat at node 'cat' concatenates along dim 0; only a per-sample dimension"),
    (_Branching(), r"torch.fx cannot trace _Branching \(Python control flow on tensor values.*"
                   r"invert_gradient\(module, y, x_init=.*as_lifted\(part, in_shape\)"),
    (nn.Flatten(0), r"mixing the batch dim"),
])
def test_unsupported_operations_name_the_node(model, match):
    with pytest.raises(ConversionError, match=match):
        from_module(model, (2, 3))


# ------------------------------------------------- constants: normalisation, scalings, shifts, casts

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


def test_a_number_added_converts():
    net = from_module(_Shift(), (2, 3))
    _same(net, _Shift(), (2, 3), tol=1e-6)


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


def test_from_sequential_keeps_its_errors_and_exports():
    with pytest.raises(ConversionError, match=r"module 2 \(nn.MaxPool2d\) is neither an affine map"):
        from_sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), (1, 8, 8))
    with pytest.raises(ConversionError, match="expects an nn.Sequential"):
        from_sequential(_Product(), (3,))
    assert exported_from_module is from_module


# ------------------------------------------------------------------------------ inversion


def test_converted_networks_invert():
    dinv = pytest.importorskip("deepinv")
    torch.manual_seed(0)
    dncnn = dinv.models.DnCNN(1, 1, depth=4, nf=4, pretrained=None)
    model = _SmallResNet().eval()
    for network, shape in ((dncnn, (1, 8, 8)), (model, (1, 8, 8))):
        net = as_lifted(network, shape)  # any module: from_module
        x = torch.rand((2,) + shape)
        with torch.no_grad():
            y = network(x)
        res = invert_lifted(net, y, regulariser="tv", alpha=0.01, iters=10)
        assert res.x.shape == x.shape and torch.isfinite(res.x).all()
        if network is dncnn:  # (the small ResNet's outputs barely depend on x: its misfit starts near 0)
            assert res.final["misfit"] < 0.6 * res.history[0]["misfit"]  # 4.28 -> 1.84 in 10 iterations


@pytest.mark.parametrize("bad, says", [(torch.zeros(2, 1, 8, 8), "got a tensor"), ((1, 0, 8), r"got \(1, 0, 8\)"),
                                       ("188", "got .188."), ((), r"got \(\)")])
def test_a_wrong_input_shape_says_what_in_shape_must_be(bad, says):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    with pytest.raises(ConversionError, match="without the batch dimension.*" + says):
        from_module(model, bad)


class _FunctionalConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 1, 3, 3))

    def forward(self, x):
        return F.relu(F.conv2d(x, self.w, padding=1))


@pytest.mark.parametrize("model", [nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()), _FunctionalConv()])
def test_an_input_shape_the_module_cannot_run_gives_torchs_reason_and_no_traceback(model, capfd):
    with pytest.raises(ConversionError, match=r"does not run on inputs of shape \(batch, 3, 8, 8\): .*channels") as err:
        from_module(model, (3, 8, 8))
    assert "ShapeProp" not in str(err.value)
    assert "Traceback" not in capfd.readouterr().err


class _InPlace(nn.Module):
    """In-place operations change the value every later use of their operand sees."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.c1, self.c2 = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.c1(x)
        if self.how == "module":  # torchvision's ReLU(inplace=True): h is relu(h) from here on
            y = self.act(h)
            return self.c2(y) + h
        if self.how == "method":
            h.mul_(2)
            return F.relu(h)
        if self.how == "functional":  # the result unused: only h changes
            F.relu(h, inplace=True)
            return self.c2(h)
        out = self.c2(F.relu(h))  # ResNet's `out += identity`
        out += h
        return out.clamp_(0.0, 1.0)


def test_functional_softmax_converts_along_the_channels_only():
    classifier = nn.Sequential(nn.Linear(6, 4))

    class Head(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc, self.dim = classifier, dim

        def forward(self, x):
            return F.softmax(self.fc(x), dim=self.dim)

    model = Head(1)
    net = from_module(model, (6,))
    _same(net, model, (6,))
    with pytest.raises(ConversionError, match=r"softmax at node 'softmax' cannot be part of a lifted network: .*dim 1"):
        from_module(Head(0), (6,))


@pytest.mark.parametrize("how", ["module", "method", "functional", "operator"])
def test_in_place_operations_convert_with_their_aliasing(how):
    torch.manual_seed(0)
    model = _InPlace(how).eval()
    net = from_module(model, (1, 6, 6))
    _same(net, model, (1, 6, 6))


class _Broadcast(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.c(x) + x)  # x broadcast over the 4 channels


class _Floor(nn.Module):
    def forward(self, x):
        return torch.relu(torch.div(x, 2, rounding_mode="floor"))


class _OneSidedClip(nn.Module):
    def forward(self, x):
        return x.clamp(min=-1.0)


class _Bicubic(nn.Module):
    def forward(self, x):
        return torch.relu(F.interpolate(x, scale_factor=2, mode="bicubic"))


@pytest.mark.parametrize("model, match", [
    (_Broadcast(), r"operator.add at node 'add' adds values of shapes \(4, 6, 6\) and \(1, 6, 6\) by broadcasting"),
    (_Floor(), r"torch.div at node 'div' rounds \(rounding_mode='floor'\)"),
    (_Bicubic(), r"interpolate at node 'interpolate' cannot be converted: mode='bicubic'"),
    (_OneSidedClip(), r"clamp at node 'clamp' clips to \[-1.0, None\]: a one-sided clip is proximal but"),
])
def test_operations_that_are_not_converted_are_named_at_their_node(model, match):
    with pytest.raises(ConversionError, match=match):
        from_module(model, (1, 6, 6))


def test_the_inversion_entry_points_are_exported_at_the_top_level():
    import liftinv
    from liftinv import inversion

    for name in ("as_lifted", "invert_lifted", "invert_gradient"):
        assert name in liftinv.__all__ and getattr(liftinv, name) is getattr(inversion, name)


def test_a_linear_layer_on_unflattened_input_is_refused_by_name():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(4, 3), nn.ReLU()).eval()
    with pytest.raises(ConversionError, match=r"module 2 \(nn.Linear\) is applied to inputs of shape .*nn.Flatten"):
        from_sequential(model, (1, 6, 6))

"""The modules that convert into lifted networks (liftinv.models.fx_convert.from_module, by the
node rules of liftinv.models.fx_converter and fx_layers): each conversion against the module's
output (chains, residual additions, DnCNN, decoders, functional operations and parallel branches,
U-Net concatenations, softmax, in-place operations), the layers it builds, and inversions of
converted networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from fx_helpers import same
from torch import nn

from liftinv.activations import ELU, LeakyReLU
from liftinv.inversion import as_lifted, invert_lifted
from liftinv.models import ConversionError, IdentityMap, from_module, from_sequential
from liftinv.models.composite_maps import CatMap
from liftinv.models.linear_maps import ZeroMap


def _randomise_bn(bn: nn.modules.batchnorm._BatchNorm) -> None:
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)


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
    same(net, seq, (1, 8, 8))
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
    same(net, model, (1, 8, 8))
    # stem, (conv1+bn, relu), (conv2 + skip, relu) twice, head: residual layers read x_{l-2}
    assert net.depth == 6
    assert net.layer(3).skip_from == [1] and net.layer(5).skip_from == [3]
    assert all(isinstance(m, IdentityMap) for m in net.layer(3).skips)


def test_deepinv_dncnn_and_its_residual_x_minus_f_convert():
    dinv = pytest.importorskip("deepinv")
    torch.manual_seed(0)
    dncnn = dinv.models.DnCNN(1, 1, depth=5, nf=8, pretrained=None)  # out_conv(...) + x
    net = from_module(dncnn, (1, 12, 12))
    same(net, dncnn, (1, 12, 12), tol=1e-5)
    assert net.depth == 5 and net.layer(5).skip_from == [0]

    class Residual(nn.Module):  # the classic DnCNN: x - f(x)
        def __init__(self):
            super().__init__()
            self.f = dinv.models.DnCNN(1, 1, depth=4, nf=8, pretrained=None)

        def forward(self, x):
            return x - (self.f(x) - x)  # f adds x back, so this is x - body(x)

    model = Residual()
    net = from_module(model, (1, 10, 10))
    same(net, model, (1, 10, 10), tol=1e-5)
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
    same(net, decoder, (16,))
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
    same(net, model, (2, 6, 6))
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
    same(net, model, (6,))
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
    same(net, model, (1, 8, 8))
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
    same(net, model, (6,))
    with pytest.raises(ConversionError, match=r"softmax at node 'softmax' cannot be part of a lifted network: .*dim 1"):
        from_module(Head(0), (6,))


@pytest.mark.parametrize("how", ["module", "method", "functional", "operator"])
def test_in_place_operations_convert_with_their_aliasing(how):
    torch.manual_seed(0)
    model = _InPlace(how).eval()
    net = from_module(model, (1, 6, 6))
    same(net, model, (1, 6, 6))


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

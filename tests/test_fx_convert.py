"""The entry point of the torch.fx conversion (liftinv.models.fx_convert.from_module) and its
refusals (liftinv.models.fx_messages): every unsupported module or operation is named at its node
with why and, where there is one, the remedy; a wrong input shape says what in_shape must be; the
exports."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from liftinv import from_module as exported_from_module
from liftinv.activations import NotProximalError
from liftinv.models import ConversionError, from_module, from_sequential


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


def test_from_sequential_keeps_its_errors_and_exports():
    with pytest.raises(ConversionError, match=r"module 2 \(nn.MaxPool2d\) is neither an affine map"):
        from_sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), (1, 8, 8))
    with pytest.raises(ConversionError, match="expects an nn.Sequential"):
        from_sequential(_Product(), (3,))
    assert exported_from_module is from_module


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

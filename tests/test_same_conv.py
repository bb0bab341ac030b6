"""The CPU "same" convolution pair equals conv2d / conv_transpose2d, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from liftinv.models.dfb import AnalysisOperator
from liftinv.models.same_conv import same_conv, same_conv_adjoint


def _reference(kind, a, w):
    k = w.shape[-1]
    return F.conv2d(a, w, padding=k // 2) if kind == "conv" else F.conv_transpose2d(a, w, padding=k // 2)


@pytest.mark.parametrize("kind", ["conv", "adjoint"])
@pytest.mark.parametrize("channels, features, k, size", [(1, 8, 3, (9, 11)), (3, 5, 5, (7, 6)), (2, 4, 1, (5, 5))])
def test_values_and_gradients_match_torch(kind, channels, features, k, size):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(features, channels, k, k, generator=gen, dtype=torch.float64, requires_grad=True)
    n_in = channels if kind == "conv" else features
    a = torch.randn(3, n_in, *size, generator=gen, dtype=torch.float64, requires_grad=True)
    ours = (same_conv if kind == "conv" else same_conv_adjoint)(a, w)
    ref = _reference(kind, a, w)
    torch.testing.assert_close(ours, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(ours, (a, w), g), torch.autograd.grad(ref, (a, w), g))


def test_gradcheck_both_maps():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    u = torch.randn(2, 4, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(same_conv, (x, w))
    assert torch.autograd.gradcheck(same_conv_adjoint, (u, w))


def test_adjoint_identity():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(6, 3, 3, 3, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    u = torch.randn(2, 6, 8, 8, generator=gen, dtype=torch.float64)
    lhs, rhs = (same_conv(x, w) * u).sum(), (x * same_conv_adjoint(u, w)).sum()
    assert abs(float(lhs - rhs)) < 1e-10 * float(lhs.abs())


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        same_conv(torch.zeros(1, 1, 4, 4), torch.zeros(2, 1, 2, 2))
    with pytest.raises(ValueError, match="odd"):
        AnalysisOperator(1, 4, kernel_size=4)


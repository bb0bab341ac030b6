"""Linear maps: adjointness, shapes and operator norms."""

import pytest
import torch

from liftinv.models import Conv2d, Dense, IdentityMap


def _maps():
    return [
        (Dense(12, 7), (12,)),
        (Dense(2 * 4 * 4, 5, bias=False), (2, 4, 4)),  # dense head on conv features
        (Conv2d(2, 3, 3), (2, 9, 9)),
        (Conv2d(1, 4, 3, stride=2), (1, 16, 16)),
        (Conv2d(1, 4, 3, stride=2), (1, 15, 15)),  # odd size: needs output padding
        (Conv2d(3, 2, 5, stride=2, padding=1), (3, 11, 10)),
        (IdentityMap(), (3, 5)),
    ]


@pytest.mark.parametrize("amap,shape", _maps(), ids=lambda a: repr(a)[:40])
def test_adjointness(amap, shape, device):
    amap = amap.to(device).double()
    x = torch.randn((4,) + shape, device=device, dtype=torch.float64)
    ax = amap.A(x)
    assert tuple(ax.shape[1:]) == tuple(amap.out_shape(shape))
    r = torch.randn_like(ax)
    lhs = (ax * r).sum()
    rhs = (x * amap.A_adjoint(r, shape)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("amap,shape", _maps()[:4], ids=lambda a: repr(a)[:40])
def test_power_iteration_matches_dense_matrix(amap, shape):
    amap = amap.double()
    n = torch.tensor(shape).prod().item()
    basis = torch.eye(n, dtype=torch.float64).view((n,) + shape)
    matrix = amap.A(basis).flatten(1)  # rows: A e_k
    exact = torch.linalg.matrix_norm(matrix, ord=2).item() ** 2
    assert amap.exact_norm_sq(shape) == pytest.approx(exact, rel=2e-3)  # convs: clustered top singular values
    # warm start: a second call with one iteration stays close and never overshoots
    first, vec = amap.op_norm_sq(shape, n_iter=300)
    again, _ = amap.op_norm_sq(shape, vec, n_iter=1)
    assert first * (1 - 1e-12) <= again <= exact * (1 + 1e-9)  # the Rayleigh quotient only grows
    assert again == pytest.approx(exact, rel=1e-2)


def test_bias_enters_forward_not_adjoint():
    d = Dense(3, 2)
    x = torch.zeros(1, 3)
    assert torch.allclose(d(x), d.bias.view(1, -1).detach())
    assert torch.allclose(d.A_adjoint(torch.zeros(1, 2), (3,)), torch.zeros(1, 3))


def test_shape_errors():
    with pytest.raises(ValueError, match="expects 5 input features"):
        Dense(5, 2).out_shape((4,))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        Conv2d(3, 2).out_shape((1, 8, 8))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        Conv2d(1, 2, 5, padding=0).out_shape((1, 3, 3))

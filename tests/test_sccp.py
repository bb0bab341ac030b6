"""ScCP-PNN: the unrolled strongly convex Chambolle-Pock denoiser and its lifted form."""

import math

import pytest
import torch
import torch.nn.functional as F

from liftinv.denoising.models import build_denoiser, default_arch
from liftinv.lifting import LiftedProblem
from liftinv.models import Layer, SccpPNN
from liftinv.models.sccp import SccpMap, SccpOperator
from liftinv.solvers import BCD, Adam, Backprop


def _net(channels=1, depth=3, features=4, size=12, seed=0):
    """A float64 ScCP-PNN with random mu_k, nu_k (so that every coefficient is tested)."""
    torch.manual_seed(seed)
    net = SccpPNN((channels, size, size), depth=depth, features=features).double()
    with torch.no_grad():
        for op in net.ops:
            op.log_mu.fill_(math.log(0.3 + torch.rand(()).item()))
            op.log_nu.fill_(math.log(0.02 + 0.1 * torch.rand(()).item()))
    net.refresh(n_iter=30)
    return net


def _images(n, channels=1, size=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("channels", [1, 3])
def test_forward_is_the_unrolled_sccp_recursion(channels):
    """u_{k+1} = clip(u_k + D_k((1+a_k) t_k/(mu_k nu_k) x_k - a_k t_k/(mu_k nu_k) x_{k-1}), -1, 1) (scaled
    dual), x_{k+1} = clip((mu_k z + x_k - mu_k nu_k D_k^* u_{k+1}) / (1 + mu_k), 0, 1), from x_0 = x_{-1} = z,
    u_0 = D_0 z / nu_0."""
    net = _net(channels)
    z = _images(2, channels) * 1.2 - 0.1  # noisy: a little outside [0, 1]
    x_prev = x = z
    u = None
    for op in net.ops:
        tau, mu, nu = op.tau, op.mu, op.nu
        alpha = 1 / torch.sqrt(1 + 2 * mu)
        D = F.conv2d(x if u is None else (1 + alpha) * x - alpha * x_prev, op.weight, padding=1)
        u0 = F.conv2d(z, op.weight, padding=1) / nu if u is None else u
        u = (u0 + tau / (mu * nu) * D).clamp(-1, 1)
        x_prev, x = x, ((mu * z + x - mu * nu * F.conv_transpose2d(u, op.weight, padding=1)) / (1 + mu)).clamp(0, 1)
    with torch.no_grad():
        torch.testing.assert_close(net(z), x)
        # every layer's fused forward equals the sum of its maps
        states, _ = net.forward_states(z)
        for li in range(1, net.depth + 1):
            torch.testing.assert_close(net.preactivation(li, states),
                                       Layer.forward(net.layer(li), states[li - 1],
                                                     *(states[s] for s in net.layer(li).skip_from)))


def test_forward_equals_deepinvs_dsccp():
    """With every nu_k = sigma^2 (deepinv's box) the network is deepinv's DScCP with the same kernels and mu_k
    (to the accuracy of the two power iterations for tau_k, about 1e-4 here: nearly double top eigenvalues)."""
    from deepinv.models import DScCP

    torch.manual_seed(0)
    depth, features, sigma = 3, 4, 0.2
    ref = DScCP(depth=depth, n_channels_per_layer=features, pretrained=None).double()
    ref.tol, ref.max_iter = 0.0, 1000  # its per-call power iteration, run long
    with torch.no_grad():
        ref.mu.copy_(torch.tensor([0.5, 1.0, 2.0]))
    net = SccpPNN((3, 10, 10), depth=depth, features=features).double()
    with torch.no_grad():
        for k, op in enumerate(net.ops):
            op.weight.copy_(ref.conv[2 * k].weight)
            op.log_mu.fill_(math.log(float(ref.mu[k])))
            op.log_nu.fill_(math.log(sigma**2))
            op.refresh((10, 10), n_iter=1000)
    z = _images(2, 3, 10)
    with torch.no_grad():
        torch.testing.assert_close(net(z), ref(z, sigma=sigma), rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", ["start", "current", "previous", "readout", "keep", "data"])
def test_maps_are_adjoint_with_closed_form_norms(kind):
    torch.manual_seed(0)
    op = SccpOperator(2, 3, 3, nu=0.2, mu=0.7).double()
    op.refresh((8, 8), n_iter=500)
    amap = SccpMap(op, kind, own=kind in SccpMap.ANALYSIS)
    shape = (3, 8, 8) if kind == "readout" else (2, 8, 8)
    x = torch.randn((2,) + shape, dtype=torch.float64)
    r = torch.randn((2,) + amap.out_shape(shape), dtype=torch.float64)
    with torch.no_grad():
        lhs, rhs = (amap.A(x) * r).sum(), (x * amap.A_adjoint(r, shape)).sum()
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-10)
    assert amap.op_norm_sq(shape)[0] == pytest.approx(amap.exact_norm_sq(shape), rel=1e-4)


def test_structure_parameters_and_ownership():
    net = SccpPNN((1, 16, 16), depth=10, features=32)
    assert net.depth == 20 and sum(p.numel() for p in net.parameters()) == 10 * (32 * 9 + 2)
    for li in range(2, net.depth + 1, 2):  # the primal layers borrow their iteration's operator
        assert not list(net.layer(li).parameters())
    big = build_denoiser(default_arch("sccp", 3, 16, depth=20, features=64))  # deepinv's DScCP size
    assert sum(p.numel() for p in big.parameters()) == 20 * (64 * 27 + 2)
    assert net(torch.rand(1, 1, 21, 19)).shape == (1, 1, 21, 19)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(torch.rand(1, 3, 16, 16))


@pytest.mark.parametrize("channels", [1, 3])
def test_lifted_objective_equals_the_loss_at_a_forward_pass(channels):
    net = _net(channels)
    z, x = _images(3, channels, seed=2), _images(3, channels, seed=3)
    problem = LiftedProblem(net)
    states, cache = problem.init_aux(z)
    stats = problem.evaluate(states, x, cache)
    assert stats["violation"] == 0.0
    assert stats["lifted"] == pytest.approx(problem.loss(z, x).item(), rel=1e-12)
    with torch.no_grad():  # the clip's Bregman loss bounds the squared error of the clipped output
        assert float(problem.loss(z, x)) >= float(0.5 * ((net(z) - x) ** 2).flatten(1).sum(1).mean()) - 1e-12


def _tiny_problem(channels=1):
    torch.manual_seed(0)
    clean = _images(8, channels, 12, seed=4).float() * 0.6 + 0.2
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(5))
    net = SccpPNN((channels, 12, 12), depth=3, features=6)
    return net, noisy, clean


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("trainer", ["lifted", "backprop"])
def test_a_training_step_reduces_the_loss(trainer, channels):
    net, noisy, clean = _tiny_problem(channels)
    problem = LiftedProblem(net)
    solver = BCD(problem, weights=Adam(lr=1e-2), order="backward") if trainer == "lifted" \
        else Backprop(problem, lr=1e-2)
    solver.prepare(noisy.shape[0])
    with torch.no_grad():
        before = float(problem.loss(noisy, clean))
    solver.step_batch(noisy, clean)
    with torch.no_grad():
        assert float(problem.loss(noisy, clean)) < before


def test_backprop_gradient_reaches_every_parameter():
    net, noisy, clean = _tiny_problem()
    LiftedProblem(net).loss(noisy, clean).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_trains_and_reloads_through_the_registry(tmp_path):
    from liftinv.denoising.task import describe
    from liftinv.restoration import TrainConfig, load_network, train_network

    images = [img for img in _images(2, 1, 24, seed=6).float()]
    config = TrainConfig(trainer="lifted", epochs=1, batch_size=8, lr=1e-2, patch=12, stride=12)
    net, hist = train_network(default_arch("sccp", 1, 12, depth=2, features=4), describe(0.1), images, config,
                              checkpoint=tmp_path / "sccp.pt", progress=False)
    assert hist.final["iterations"] > 0
    again, ckpt = load_network(tmp_path / "sccp.pt", device="cpu")
    assert ckpt["arch"]["name"] == "sccp"
    z = images[0][None]
    with torch.no_grad():
        torch.testing.assert_close(again(z), net.cpu()(z))

"""Every linear map of the package: adjointness, shapes and operator norms, from one registry.

As deepinv's ``tests/test_physics.py`` does with its operators, ``MAPS`` lists one factory
per map (dense, convolutions strided or not, the identity, the DFB-PNN maps and the unrolled
deblurring network's maps); every test runs over all of them, in float64.  ``norm`` says what
``op_norm_sq`` returns: ``'estimate'`` (a power iteration: never above the true value, close
to it), ``'exact'`` (closed form) or ``'bound'`` (an upper bound, e.g. a product of norms).
"""

import math

import pytest
import torch

from liftinv import MLP, LiftedProblem
from liftinv.deblurring.models import ComposedMap, DataInjectionMap, DataStep, PrimalStepMap, StartMap
from liftinv.deblurring.physics import CircularBlur
from liftinv.models import Conv2d, Dense, IdentityMap
from liftinv.models.composite_maps import CatMap, ChainMap, SumMap
from liftinv.models.dfb import AnalysisOperator, DualStepMap, InjectionMap, ReadoutMap
from liftinv.models.linear_maps import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    ChannelAffine,
    ConvTranspose2d,
    ElementwiseAffine,
    Reshape,
    Scale,
    Upsample,
    ZeroMap,
    op_norms_sq,
)
from liftinv.models.power import power_iteration

SPATIAL = (10, 10)


def _dfb_op(channels=1, features=4):
    """A DFB analysis operator in float64 with its norm (and step) to convergence."""
    torch.manual_seed(0)
    op = AnalysisOperator(channels, features, 3, nu=0.2).double()
    op.refresh(SPATIAL, n_iter=500)
    return op


def _data_step(kind):
    blur = CircularBlur("gaussian:1.0", channels=1)
    step = DataStep(blur, kind, gamma=1.0 / blur.norm_sq(*SPATIAL), mu=0.05)
    return step.double()


def _composed(kind):
    op = _dfb_op()
    return ComposedMap(PrimalStepMap(_data_step(kind)), ReadoutMap(op))


# name -> (factory, per-sample input shape, what op_norm_sq returns)
MAPS = {
    "dense": (lambda: Dense(12, 7), (12,), "estimate"),
    "dense-head-on-conv": (lambda: Dense(2 * 4 * 4, 5, bias=False), (2, 4, 4), "estimate"),
    "conv": (lambda: Conv2d(2, 3, 3), (2, 9, 9), "estimate"),
    "conv-strided": (lambda: Conv2d(1, 4, 3, stride=2), (1, 16, 16), "estimate"),
    "conv-strided-odd": (lambda: Conv2d(1, 4, 3, stride=2), (1, 15, 15), "estimate"),  # output padding
    "conv-strided-padded": (lambda: Conv2d(3, 2, 5, stride=2, padding=1), (3, 11, 10), "estimate"),
    "identity": (lambda: IdentityMap(), (3, 5), "exact"),
    # general convolutions and the maps of converted torch modules (models/fx_convert.py)
    "conv-rect-dilated": (lambda: Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
                          (2, 9, 8), "estimate"),
    "conv-grouped": (lambda: Conv2d(4, 6, 3, groups=2, bias=False), (4, 7, 7), "estimate"),
    "conv-transpose": (lambda: ConvTranspose2d(3, 2, 3), (3, 6, 6), "estimate"),
    "conv-transpose-strided": (lambda: ConvTranspose2d(2, 3, 4, stride=2, padding=1), (2, 5, 5), "estimate"),
    "conv-transpose-output-padding": (lambda: ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1),
                                      (2, 4, 5), "estimate"),
    "conv-transpose-grouped-dilated": (lambda: ConvTranspose2d(4, 2, (3, 2), stride=(1, 2), groups=2,
                                                               dilation=(2, 1)), (4, 4, 4), "estimate"),
    "avgpool": (lambda: AvgPool2d(2), (2, 6, 6), "estimate"),
    "avgpool-padded-overlapping": (lambda: AvgPool2d(3, stride=2, padding=1), (2, 7, 6), "estimate"),
    "avgpool-exclude-pad-ceil": (lambda: AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                                   count_include_pad=False), (1, 8, 7), "estimate"),
    "adaptive-avgpool": (lambda: AdaptiveAvgPool2d((2, 3)), (2, 5, 7), "estimate"),
    "upsample-nearest": (lambda: Upsample(scale_factor=2), (2, 4, 3), "estimate"),
    "upsample-nearest-size": (lambda: Upsample(size=(7, 5)), (1, 3, 4), "estimate"),
    "upsample-bilinear": (lambda: Upsample(scale_factor=2, mode="bilinear"), (2, 4, 5), "estimate"),
    "upsample-bilinear-corners": (lambda: Upsample(scale_factor=3, mode="bilinear", align_corners=True),
                                  (1, 3, 4), "estimate"),
    "upsample-bilinear-size": (lambda: Upsample(size=(7, 9), mode="bilinear"), (1, 4, 4), "estimate"),
    "reshape": (lambda: Reshape((2, 3, 4)), (24,), "exact"),
    "scale": (lambda: Scale(-0.5), (3, 4), "exact"),
    "zero": (lambda: ZeroMap((2, 3)), (4,), "exact"),
    "channel-affine": (lambda: ChannelAffine(torch.tensor([0.5, -2.0, 1.0]), torch.ones(3)), (3, 4, 4), "exact"),
    "elementwise-affine-per-channel": (lambda: ElementwiseAffine(torch.tensor([0.5, -2.0, 1.5]).view(3, 1, 1),
                                                                 torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)),
                                       (3, 4, 4), "exact"),
    "elementwise-affine-per-element": (lambda: ElementwiseAffine(torch.linspace(-1.5, 1.0, 12).view(3, 4), 2.0),
                                       (2, 3, 4), "exact"),
    "elementwise-shift-only": (lambda: ElementwiseAffine(None, torch.ones(3, 1)), (3, 4), "exact"),
    "chain-elementwise-conv": (lambda: ChainMap([ElementwiseAffine(torch.tensor([2.0, -0.5]).view(2, 1, 1)),
                                                 Conv2d(2, 3, 3)]), (2, 5, 5), "estimate"),
    "chain-upsample-conv": (lambda: ChainMap([Upsample(scale_factor=2), Conv2d(2, 3, 3)]), (2, 4, 4),
                            "estimate"),
    "sum-conv-identity": (lambda: SumMap([Conv2d(2, 2, 3), IdentityMap()]), (2, 5, 5), "estimate"),
    "cat-conv-identity-zero": (lambda: CatMap([Conv2d(2, 3, 3, padding=1), IdentityMap(), ZeroMap((1, 5, 5))], 0),
                               (2, 5, 5), "estimate"),
    "cat-width-upsample": (lambda: CatMap([Upsample(size=(4, 6)), AvgPool2d((1, 2))], 2), (2, 4, 6), "estimate"),
    # DFB-PNN (models/dfb.py): I - tau D D^* has norm 1 when D has more channels out than in
    "dfb-dual-step": (lambda: DualStepMap(_dfb_op(), 1.0), (4, *SPATIAL), "exact"),
    "dfb-dual-step-inertial": (lambda: DualStepMap(_dfb_op(), -0.3), (4, *SPATIAL), "exact"),
    "dfb-injection": (lambda: InjectionMap(_dfb_op()), (1, *SPATIAL), "estimate"),
    "dfb-readout": (lambda: ReadoutMap(_dfb_op()), (4, *SPATIAL), "estimate"),
    "dfb-readout-rgb": (lambda: ReadoutMap(_dfb_op(3, 5)), (5, *SPATIAL), "estimate"),
    # unrolled deblurring network (deblurring/models.py), both data steps
    **{f"deblur-{name}-{kind}": (lambda cls=cls, kind=kind: cls(_data_step(kind)), (1, *SPATIAL), "exact")
       for kind in ("gradient", "proximal")
       for name, cls in (("primal-step", PrimalStepMap), ("data-injection", DataInjectionMap),
                         ("start", StartMap))},
    **{f"deblur-composed-{kind}": (lambda kind=kind: _composed(kind), (4, *SPATIAL), "bound")
       for kind in ("gradient", "proximal")},
}


def _build(name, device="cpu"):
    factory, shape, norm = MAPS[name]
    return factory().double().to(device), shape, norm


def _dense_norm_sq(amap, shape) -> float:
    n = math.prod(shape)
    basis = torch.eye(n, dtype=torch.float64).view((n,) + tuple(shape))
    with torch.no_grad():
        matrix = amap.A(basis).flatten(1)  # rows: A e_k
    return torch.linalg.matrix_norm(matrix, ord=2).item() ** 2


@pytest.mark.parametrize("name", list(MAPS))
def test_adjointness(name, device):
    amap, shape, _ = _build(name, device)
    x = torch.randn((4,) + shape, device=device, dtype=torch.float64)
    with torch.no_grad():
        ax = amap.A(x)
        assert tuple(ax.shape[1:]) == tuple(amap.out_shape(shape))
        r = torch.randn_like(ax)
        lhs = (ax * r).sum()
        rhs = (x * amap.A_adjoint(r, shape)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10), (float(lhs), float(rhs))


@pytest.mark.parametrize("name", list(MAPS))
def test_operator_norm_matches_the_dense_matrix(name):
    amap, shape, norm = _build(name)
    exact = _dense_norm_sq(amap, shape)
    assert amap.exact_norm_sq(shape) == pytest.approx(exact, rel=2e-3)  # convs: clustered top values
    est, vec = amap.op_norm_sq(shape, n_iter=300)
    if norm == "exact":
        assert est == pytest.approx(exact, rel=1e-6)
    elif norm == "bound":
        assert exact * (1 - 1e-9) <= est <= 1.5 * exact
    else:
        assert est <= exact * (1 + 1e-9)  # a Rayleigh quotient
        assert est == pytest.approx(exact, rel=1e-2)
    if vec is not None:  # warm start: one more iteration stays close and never overshoots
        again, _ = amap.op_norm_sq(shape, vec, n_iter=1)
        assert est * (1 - 1e-12) <= again <= exact * (1 + 1e-9)  # the Rayleigh quotient only grows


def test_power_iteration_cold_start_warm_start_and_lists():
    gen = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    b = q @ torch.diag(torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.0], dtype=torch.float64)) @ q.T
    like = b

    def op(v):
        return v @ b

    est, vec = power_iteration(op, None, 1, shape=(1, 6), like=like, cold_iters=40)
    again, _ = power_iteration(op, None, 1, shape=(1, 6), like=like, cold_iters=40)
    assert float(est) == float(again)  # the cold start is a fixed-seed vector
    assert float(est) == pytest.approx(5.0, rel=1e-6) and float(vec.norm()) == pytest.approx(1.0)
    warm, _ = power_iteration(op, vec, 1, shape=(1, 6), like=like, cold_iters=40)
    assert float(est) <= float(warm) <= 5.0 + 1e-12
    # a warm start of the wrong shape is replaced by a cold one (and cold_iters are run)
    cold, _ = power_iteration(op, torch.ones(1, 5, dtype=torch.float64), 1, shape=(1, 6), like=like,
                              cold_iters=40)
    assert float(cold) == float(est)

    # a vector made of several tensors (a layer's parameters): the same operator split in two
    def split_op(vs):
        w = torch.cat([vs[0], vs[1]], 1) @ b
        return [w[:, :2], w[:, 2:]]

    est2, vecs = power_iteration(split_op, None, 60, shape=[(1, 2), (1, 4)], like=like)
    assert float(est2) == pytest.approx(5.0, rel=1e-9)
    assert math.isclose(sum(float((v * v).sum()) for v in vecs), 1.0)


def test_batched_power_iterations_are_the_maps_own(monkeypatch):
    """op_norms_sq (LiftedProblem.map_norms batches dense maps of one shape with it) gives each map
    what its own warm op_norm_sq call gives, and refuses maps it cannot batch."""
    torch.manual_seed(0)
    maps = [Dense(6, 5).double() for _ in range(3)]
    vecs = [m.op_norm_sq((2, 3))[1] for m in maps]  # warm starts of a (2, 3)-shaped input
    alone = [m.op_norm_sq((2, 3), v) for m, v in zip(maps, vecs)]
    together = op_norms_sq(maps, vecs)
    for (est, vec), (est_b, vec_b) in zip(alone, together):
        assert est_b == pytest.approx(est, rel=1e-12) and vec_b.shape == vec.shape == (1, 2, 3)
        assert torch.allclose(vec_b, vec, rtol=0, atol=1e-12)
    assert maps[0].norm_batch_key(None) is None  # a cold start iterates alone
    with pytest.raises(ValueError, match="norm_batch_key"):
        op_norms_sq([maps[0], Dense(5, 5).double()], [vecs[0], torch.randn(1, 5, dtype=torch.float64)])
    net = MLP([4, 6, 6, 6, 2], "tanh").double()
    problem, warm = LiftedProblem(net, "bregman"), {}
    problem.map_norms(warm)  # cold: one map at a time
    expected = {rm: dict(net.sources(rm[0]))[rm[1]].op_norm_sq(net.state_shapes[rm[1]], v)[0]
                for rm, v in warm.items()}
    import liftinv.lifting.problem as problem_module
    calls = []
    monkeypatch.setattr(problem_module, "op_norms_sq", lambda maps, vecs: calls.append(len(maps)) or op_norms_sq(
        maps, vecs))
    got = problem.map_norms(warm)  # warm: the two 6x6 maps batched, the 2x6 one alone
    assert calls == [2]
    assert list(got) == list(expected) and all(got[k] == pytest.approx(expected[k], rel=1e-12) for k in got)


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
    with pytest.raises(ValueError, match=r"scale of shape \(3, 1, 1\) does not broadcast to samples of shape"):
        ElementwiseAffine(torch.ones(3, 1, 1)).out_shape((2, 4, 4))
    with pytest.raises(ValueError, match="shift of shape"):
        ElementwiseAffine(None, torch.ones(1, 3, 1, 1)).out_shape((3, 4, 4))


def test_elementwise_affine_adds_its_shift_in_forward_only():
    amap = ElementwiseAffine(torch.tensor([2.0, -1.0]).view(2, 1), torch.tensor([0.5, 1.0]).view(2, 1))
    x = torch.randn(3, 2, 4)
    torch.testing.assert_close(amap(x), x * amap.scale + amap.shift)
    torch.testing.assert_close(amap.A_adjoint(torch.ones(3, 2, 4), (2, 4)), amap.A(torch.ones(3, 2, 4)))
    assert amap.bias is None and not list(amap.parameters())  # constants: nothing to train
    assert amap.double().shift.dtype == torch.float64


def test_networks_are_ordinary_modules_for_torch_idioms():
    """``nn.Module.apply`` (the usual way to initialise a model) is not shadowed by the maps,
    and every network class is exported from ``liftinv.models``."""
    from liftinv.models import CNN, DFBPNN, MLP, ResNet  # noqa: F401

    net = MLP([4, 8, 2])
    seen = []

    def init(module):
        seen.append(type(module).__name__)
        if isinstance(module, Dense):
            torch.nn.init.zeros_(module.bias)

    assert net.apply(init) is net
    assert "Dense" in seen and all(float(p.detach().abs().sum()) == 0 for n, p in net.named_parameters() if "bias" in n)
    assert DFBPNN((1, 8, 8), depth=2, features=2)(torch.rand(1, 1, 8, 8)).shape == (1, 1, 8, 8)

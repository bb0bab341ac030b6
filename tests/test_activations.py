"""Properties of the proximal activations (liftinv.activations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from liftinv.activations import (
    ELU,
    Clip,
    HardTanh,
    Identity,
    LeakyReLU,
    NotProximalError,
    ProxActivation,
    ReLU,
    Sigmoid,
    Softmax,
    SoftThreshold,
    Tanh,
    get_activation,
    project_simplex,
)
from liftinv.activations.fastmath import expm1_nonpositive

F64 = torch.float64

ELEMENTWISE = [
    Identity(),
    ReLU(),
    LeakyReLU(0.2),
    LeakyReLU(1.0),
    Clip(-0.5, 2.0),
    Clip(torch.tensor(-0.3), torch.tensor(0.3)),
    HardTanh(),
    SoftThreshold(0.3),
    Sigmoid(),
    Tanh(),
    ELU(),
    ELU(0.3),
    ELU(2.0, beta=2.0),  # nn.CELU(2)
]
ALL = ELEMENTWISE + [Softmax()]
SMOOTH = [Sigmoid(), Tanh()]
#: per-channel activations (nn.PReLU(num_parameters=3)): slopes along dim 1, inputs shaped (B, 3, ...)
CHANNELWISE = [LeakyReLU(torch.tensor([0.1, 0.5, 1.0]))]


def ids(acts):
    return [repr(a) for a in acts]


def total(x: torch.Tensor) -> torch.Tensor:
    """Per-sample sum over the non-batch dims."""
    return x.flatten(1).sum(1)


def rand_v(gen, shape=(6, 3, 4), scale=3.0, dtype=F64):
    return scale * torch.randn(shape, generator=gen, dtype=dtype)


def rand_y(act, gen, shape=(6, 3, 4), dtype=F64):
    """Random points of dom Psi: projected normals, plus interior points for open domains."""
    raw = 2.0 * torch.randn(shape, generator=gen, dtype=dtype)
    if isinstance(act, (Sigmoid, Tanh, Softmax)):
        return act.sigma(raw) if isinstance(act, Softmax) else act.project(act.sigma(raw))
    return act.project(raw)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


# ----------------------------------------------------------------- penalty


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_penalty_dominates_squared_distance(act, gen):
    v = rand_v(gen)
    v[0] *= 100.0  # large pre-activations too
    y = rand_y(act, gen)
    b = act.penalty(y, v)
    assert b.shape == (6,)
    quad = 0.5 * total((y - act.sigma(v)) ** 2)
    assert torch.all(b >= quad - 1e-10 * (1 + quad))
    assert torch.all(torch.isfinite(b))


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_psi_of_sigma_is_psi_at_the_forward_pass(act, gen):
    v = rand_v(gen)
    expected = act.psi(act.sigma(v)).sum()  # elementwise, or per sample for softmax
    torch.testing.assert_close(torch.as_tensor(act.psi_of_sigma(v), dtype=v.dtype).sum(), expected)
    if act.psi_is_indicator:
        assert bool((act.psi(act.project(rand_v(gen))) == 0).all())


@pytest.mark.parametrize("act", ALL, ids=ids(ALL))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_penalty_vanishes_on_forward_pass(act, dtype):
    vals = [-1e3, -700.0, -50.0, -3.0, -0.3, -1e-8, 0.0, 1e-8, 0.2, 0.3, 0.7, 5.0, 40.0, 1e3]
    v = torch.tensor(vals, dtype=dtype).reshape(2, 7)
    b = act.penalty(act.sigma(v), v)
    tol = 1e-6 if dtype == torch.float64 else 1e-5
    assert torch.all(b >= 0) and torch.all(b <= tol), b


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_penalty_float32_agrees_with_float64(act, gen):
    v = rand_v(gen, scale=30.0)
    y = rand_y(act, gen)
    b64 = act.penalty(y, v)
    b32 = act.penalty(y.float(), v.float())
    assert b32.dtype == torch.float32
    torch.testing.assert_close(b32.double(), b64, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_project_lands_in_domain_and_is_idempotent(act, gen):
    y = 3.0 * torch.randn(6, 3, 4, generator=gen, dtype=F64)
    p = act.project(y)
    assert torch.all(act.in_domain(p)) and torch.all(torch.isfinite(act.phi(p)))
    torch.testing.assert_close(act.project(p), p)


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_penalty_grad_v_matches_autograd(act, gen):
    v = rand_v(gen).requires_grad_(True)
    y = rand_y(act, gen)
    (g,) = torch.autograd.grad(act.penalty(y, v).sum(), v)
    torch.testing.assert_close(g, act.penalty_grad_v(y, v.detach()), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("act", ALL, ids=ids(ALL))
def test_penalty_grad_v_matches_finite_differences(act, gen):
    v = rand_v(gen, shape=(2, 5))
    y = rand_y(act, gen, shape=(2, 5))
    g = act.penalty_grad_v(y, v)
    h = 1e-6
    for i in range(2):
        for j in range(5):
            e = torch.zeros_like(v)
            e[i, j] = h
            fd = (act.penalty(y, v + e)[i] - act.penalty(y, v - e)[i]) / (2 * h)
            assert abs(fd.item() - g[i, j].item()) < 1e-6


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_penalty_equals_naive_form_and_fenchel_young(act, gen):
    v = rand_v(gen, scale=1.5)
    y = rand_y(act, gen)
    fy = act.phi(y) + act.phi_conj(v)
    naive = total(act.phi(y)) + total(act.phi_conj(v)) - total(y * v)
    torch.testing.assert_close(act.penalty(y, v), naive, rtol=1e-9, atol=1e-9)
    if isinstance(act, Softmax):  # vector-valued: Fenchel-Young per sample
        assert torch.all(naive >= -1e-12)
    else:
        assert torch.all(fy >= y * v - 1e-12)
    # phi = 1/2 y^2 + psi
    if not isinstance(act, Softmax):
        torch.testing.assert_close(act.phi(y), 0.5 * y * y + act.psi(y))


@pytest.mark.parametrize("act", ALL + CHANNELWISE, ids=ids(ALL + CHANNELWISE))
def test_phi_conj_gradient_is_sigma(act, gen):
    v = rand_v(gen).requires_grad_(True)
    (g,) = torch.autograd.grad(act.phi_conj(v).sum(), v)
    torch.testing.assert_close(g, act.sigma(v.detach()), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
def test_derivative_matches_autograd(act, gen):
    v = rand_v(gen).requires_grad_(True)
    (g,) = torch.autograd.grad(act.sigma(v).sum(), v)
    torch.testing.assert_close(act.derivative(v.detach()), g)


def test_penalty_outside_domain_is_inf_and_tolerance_accepted():
    v = torch.zeros(3, 2, dtype=F64)
    cases = [
        (ReLU(), [[-1.0, 0.0], [-1e-9, 1.0], [2.0, 3.0]]),
        (Clip(-1.0, 1.0), [[1.5, 0.0], [1.0 + 1e-9, -1.0], [0.0, 0.0]]),
        (Sigmoid(), [[1.5, 0.5], [1.0 + 1e-9, -1e-9], [0.0, 1.0]]),
        (Tanh(), [[0.0, -1.2], [1.0 + 1e-9, -1.0 - 1e-9], [-1.0, 1.0]]),
    ]
    for act, y in cases:
        b = act.penalty(torch.tensor(y, dtype=F64), v)
        assert math.isinf(b[0].item()) and b[0] > 0, act
        assert torch.all(torch.isfinite(b[1:])), act
        assert math.isinf(act.psi(torch.tensor(y, dtype=F64))[0].max().item())
    sm = Softmax()
    y = torch.tensor([[0.5, 0.6], [1.0 + 1e-9, 0.0], [-0.5, 1.5]], dtype=F64)
    b = sm.penalty(y, v)
    assert math.isinf(b[0]) and math.isfinite(b[1]) and math.isinf(b[2])


# -------------------------------------------------------------------- prox


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
def test_sigma_is_prox_of_psi(act, gen):
    v = rand_v(gen, scale=5.0)
    torch.testing.assert_close(act.prox_psi(v, 1.0), act.sigma(v), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_in_place_prox_is_the_prox_to_the_bit(act, dtype, gen):
    """``prox_psi_`` (the sweeps' scratch form) returns what ``prox_psi`` does, bit for bit,
    whether or not it reuses its argument's memory; warm-started, too."""
    w = rand_v(gen, scale=5.0, dtype=dtype)
    want = act.prox_psi(w, 0.3)
    torch.testing.assert_close(act.prox_psi_(w.clone(), 0.3), want, rtol=0, atol=0)
    torch.testing.assert_close(act.prox_psi_warm(w.clone(), 0.3, w), act.prox_psi_warm(w, 0.3, w), rtol=0, atol=0)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=ids(ELEMENTWISE))
@pytest.mark.parametrize("c", [1e-3, 0.4, 1.0, 7.5])
def test_prox_phi_minimises(act, c, gen):
    w = rand_v(gen, shape=(200,), scale=3.0).reshape(20, 10)
    u = act.prox_phi(w, c)
    assert u.shape == w.shape and u.dtype == w.dtype

    def obj(x):
        return c * act.phi(x) + 0.5 * (x - w) ** 2

    f = obj(u)
    assert torch.all(torch.isfinite(f))
    for delta in [1e-5, 1e-3, 0.1]:
        for sign in (1.0, -1.0):
            p = act.project(u + sign * delta * torch.rand(w.shape, generator=gen, dtype=F64))
            assert torch.all(f <= obj(p) + 1e-12)
    # identity prox_{c phi}(w) = prox_{c/(1+c) Psi}(w / (1+c)) (overridden or not)
    torch.testing.assert_close(u, act.prox_psi(w / (1 + c), c / (1 + c)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=ids(ELEMENTWISE))
def test_prox_accepts_broadcast_tensor_parameter(act, gen):
    w = rand_v(gen, shape=(4, 3))
    c = torch.tensor([0.0, 0.5, 20.0], dtype=F64)
    u = act.prox_phi(w, c)
    for j in range(3):
        torch.testing.assert_close(u[:, j], act.prox_phi(w[:, j], float(c[j])))
    t = torch.tensor([[0.0], [0.3], [1.0], [4.0]], dtype=F64)
    u = act.prox_psi(w, t)
    for i in range(4):
        torch.testing.assert_close(u[i], act.prox_psi(w[i], float(t[i])))
    with pytest.raises(ValueError):
        act.prox_phi(w, -1.0)


# ----------------------------------------------------------------- softmax


def test_softmax_penalty_is_cross_entropy(gen):
    sm = Softmax()
    v = rand_v(gen, shape=(7, 5), scale=4.0)
    v[0, 0] = 900.0
    labels = torch.randint(0, 5, (7,), generator=gen)
    y = F.one_hot(labels, 5).to(F64)
    torch.testing.assert_close(sm.penalty(y, v), F.cross_entropy(v, labels, reduction="none"))
    v4 = rand_v(gen, shape=(3, 4, 2, 5))
    lab4 = torch.randint(0, 4, (3, 2, 5), generator=gen)
    y4 = F.one_hot(lab4, 4).permute(0, 3, 1, 2).to(F64)
    ce = F.cross_entropy(v4, lab4, reduction="none").flatten(1).sum(1)
    torch.testing.assert_close(sm.penalty(y4, v4), ce)


def test_simplex_projection(gen):
    y = 3.0 * torch.randn(40, 6, 3, generator=gen, dtype=F64)
    x = project_simplex(y, dim=1)
    assert torch.all(x >= 0)
    torch.testing.assert_close(x.sum(1), torch.ones(40, 3, dtype=F64))
    torch.testing.assert_close(project_simplex(x, dim=1), x)
    # KKT: x = max(y - theta, 0) with one theta per slice
    diff = y - x
    theta = torch.where(x > 0, diff, torch.full_like(diff, -math.inf)).amax(1, keepdim=True)
    torch.testing.assert_close(torch.where(x > 0, diff, theta), theta.expand_as(diff))
    assert torch.all(torch.where(x > 0, theta, y) <= theta + 1e-12)
    torch.testing.assert_close(Softmax().project(y), x)


def test_softmax_last_layer_only_and_vjp(gen):
    sm = Softmax()
    w = rand_v(gen, shape=(3, 4))
    for fn in (lambda: sm.prox_phi(w, 1.0), lambda: sm.prox_psi(w, 1.0), lambda: sm.derivative(w)):
        with pytest.raises(NotImplementedError):
            fn()
    with pytest.raises(NotImplementedError, match="last-layer"):
        sm.prox_phi(w, 1.0)
    v = w.clone().requires_grad_(True)
    g = torch.randn(3, 4, generator=gen, dtype=F64)
    (ref,) = torch.autograd.grad((sm(v) * g).sum(), v)
    torch.testing.assert_close(sm.vjp(w, g), ref)


# -------------------------------------------------------------- hypothesis

_finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)
_special = st.sampled_from([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 1e4, -1e4, 0.5, 1.0, -1.0])
_elements = st.one_of(_finite, _special)


def _range_ok(act, s, ref):
    if isinstance(act, ReLU):
        return bool(torch.all(s >= 0))
    if isinstance(act, Clip):
        lo, hi = float(act.low), float(act.high)
        return bool(torch.all((s >= lo) & (s <= hi)))
    if isinstance(act, Sigmoid):
        return bool(torch.all((s >= 0) & (s <= 1)))
    if isinstance(act, Tanh):
        return bool(torch.all((s >= -1) & (s <= 1)))
    if isinstance(act, Softmax):
        return bool(torch.all(s >= 0)) and bool(torch.allclose(s.sum(1), torch.ones_like(s[:, 0])))
    if isinstance(act, SoftThreshold):
        return bool(torch.all(s.abs() <= ref.abs()))
    if isinstance(act, ELU):
        return bool(torch.all(s >= -act.alpha))
    return True


@pytest.mark.parametrize("act", ALL, ids=ids(ALL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_hypothesis_finite_and_nonnegative(act, dtype, data):
    arr = hnp.arrays(dtype, (3, 4), elements=_elements)
    v = torch.from_numpy(data.draw(arr))
    y = act.project(torch.from_numpy(data.draw(arr)))
    c = data.draw(st.one_of(st.floats(0.0, 1e3), st.sampled_from([0.0, 1e-8, 1e3])))
    s = act.sigma(v)
    assert s.dtype == v.dtype and torch.all(torch.isfinite(s)) and _range_ok(act, s, v)
    b = act.penalty(y, v)
    assert torch.all(torch.isfinite(b)) and torch.all(b >= 0)
    assert torch.all(torch.isfinite(act.phi_conj(v)))
    assert torch.all(act.penalty(s, v) >= 0)
    if not isinstance(act, Softmax):
        u = act.prox_phi(v, c)
        assert torch.all(torch.isfinite(u)) and torch.all(act.in_domain(u))
        assert torch.all(torch.isfinite(act.prox_psi(v, c)))


# --------------------------------------------------------------- registry


@pytest.mark.parametrize(
    "name, cls",
    [
        ("identity", Identity),
        ("linear", Identity),
        ("relu", ReLU),
        ("leaky_relu", LeakyReLU),
        ("clip", Clip),
        ("hardtanh", HardTanh),
        ("soft_threshold", SoftThreshold),
        ("softshrink", SoftThreshold),
        ("sigmoid", Sigmoid),
        ("tanh", Tanh),
        ("softmax", Softmax),
        ("Leaky-ReLU", LeakyReLU),
    ],
)
def test_get_activation_by_name(name, cls):
    act = get_activation(name)
    assert type(act) is cls and isinstance(act, ProxActivation) and act.lipschitz == 1.0


def test_get_activation_kwargs_and_instances():
    assert get_activation("leaky_relu", negative_slope=0.3).negative_slope == 0.3
    c = get_activation("clip", low=-2.0, high=0.5)
    assert (c.low, c.high) == (-2.0, 0.5) and repr(c) == "Clip(low=-2.0, high=0.5)"
    assert get_activation("softshrink", lambd=0.25).threshold == 0.25
    act = Tanh()
    assert get_activation(act) is act
    with pytest.raises(ValueError):
        get_activation("relu", bogus=1)


def _prelu(slopes) -> nn.PReLU:
    module = nn.PReLU(len(slopes))
    with torch.no_grad():
        module.weight.copy_(torch.tensor(slopes))
    return module


@pytest.mark.parametrize(
    "module",
    [
        nn.Identity(),
        nn.ReLU(),
        nn.LeakyReLU(0.3),
        nn.LeakyReLU(1.0),
        nn.Hardtanh(-2.0, 0.5),
        nn.Hardtanh(),
        nn.ReLU6(),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Softshrink(0.4),
        nn.Softmax(dim=1),
        nn.PReLU(),
        nn.PReLU(init=0.0),
        _prelu([0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 1.0]),
        nn.ELU(),
        nn.ELU(0.4),
        nn.ELU(0.0),
        nn.CELU(2.5),
    ],
    ids=lambda m: repr(m),
)
def test_module_conversion_preserves_sigma(module, gen):
    act = get_activation(module)
    v = rand_v(gen, shape=(5, 7), scale=4.0)
    torch.testing.assert_close(act(v), module.double()(v))


@pytest.mark.parametrize("spec", ["gelu", "silu", "swish", "mish", nn.GELU(), nn.SiLU(), nn.Mish()])
def test_non_proximal_activations_rejected(spec):
    with pytest.raises(NotProximalError, match="monotone"):
        get_activation(spec)


@pytest.mark.parametrize("bad", [nn.LeakyReLU(-0.1), nn.LeakyReLU(2.0), nn.SELU(), "selu", nn.ELU(1.5),
                                 nn.ELU(-0.5), nn.PReLU(init=1.5), nn.Hardshrink()])
def test_non_proximal_slopes_rejected(bad):
    with pytest.raises(NotProximalError, match="Lipschitz|monotone"):
        get_activation(bad)


def test_prelu_and_elu_refusals_name_the_slope():
    with pytest.raises(NotProximalError, match=r"nn.PReLU\(num_parameters=3\) has slope a=-0.2 \(channel 1\)"):
        get_activation(_prelu([0.5, -0.2, 0.3]))
    with pytest.raises(NotProximalError, match=r"nn.PReLU\(num_parameters=1\) has slope a=1.5.*1-Lipschitz"):
        get_activation(nn.PReLU(init=1.5))
    with pytest.raises(NotProximalError, match=r"nn.ELU\(alpha=2\) is not 1-Lipschitz.*alpha <= 1"):
        get_activation(nn.ELU(2.0))
    with pytest.raises(ValueError, match="mixes slope 0"):
        get_activation(_prelu([0.0, 0.5]))
    with pytest.raises(ValueError, match="proximal map, but"):
        get_activation(nn.Softplus())
    assert isinstance(get_activation(_prelu([0.3, 0.3])), LeakyReLU)  # equal slopes: one number
    assert get_activation("elu", alpha=0.5).alpha == 0.5


# ------------------------------------------------------------ ELU and PReLU

ELUS = [a for a in ELEMENTWISE if isinstance(a, ELU)]


def _elu_reference_root(act, w, a, b):
    """a u + b phi'(u) = w for w < 0 by 200 bisections in zeta = phi'(u)/beta (float64)."""
    lo, hi = torch.full_like(w, -1e6), torch.zeros_like(w)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        pos = a * act.alpha * torch.expm1(mid) + b * act.beta * mid - w > 0
        hi, lo = torch.where(pos, mid, hi), torch.where(pos, lo, mid)
    return act.alpha * torch.expm1(0.5 * (lo + hi))


@pytest.mark.parametrize("act", ELUS, ids=ids(ELUS))
def test_elu_prox_accuracy_over_extreme_ranges(act):
    mag = torch.logspace(-9, 4, 27, dtype=F64)
    w = torch.cat([-mag, -act.alpha * (1 - mag[:12]), -act.alpha * (1 + mag[:12])])
    t = torch.cat([torch.logspace(-8, 0, 17, dtype=F64), torch.tensor([1.5, 3.0, 10.0, 1e3], dtype=F64)])
    W, T = torch.meshgrid(w, t, indexing="ij")
    ref = _elu_reference_root(act, W, 1 - T, T)  # prox_{t Psi}: (1 - t) u + t phi'(u) = w
    assert (act.prox_psi(W, T) - ref).abs().max() < 1e-12
    u32 = act.prox_psi(W.float(), T.float())  # t >> 1 cancels (1 - t) u against t phi'(u): up to t = 10 here
    assert u32.dtype == torch.float32 and (u32.double() - ref)[T <= 10].abs().max() < 2e-6
    torch.testing.assert_close(act.prox_psi(W, 0.0), W.clamp_min(-act.alpha))  # t = 0: the projection


@pytest.mark.parametrize("t", [0.3, 1.0, 3.0, "column"])
def test_elu_prox_with_one_regime_per_call_is_the_root(t):
    """A step shared by every entry (a number, or a per-sample column as the inversion passes) takes
    solve_exponential's uniform paths (all convex for t <= 1, all concave above, no masks): the
    root of (1 - t) u + t phi'(u) = w to 1e-12 in float64, and within float32's rounding of alpha in
    float32."""
    act = ELU(0.7)
    w = -torch.logspace(-9, 3, 6 * 40, dtype=F64).reshape(6, 40)  # every sample its own range
    w = torch.cat([w, w.abs()], 1)  # positive entries: the identity
    steps = [0.05, 0.3, 0.9, 1.0, 2.0, 30.0]
    T = torch.tensor(steps, dtype=F64).view(6, 1) if t == "column" else torch.tensor(t, dtype=F64)
    Tb = T.expand_as(w)
    ref = torch.where(w >= 0, w, _elu_reference_root(act, w, 1 - Tb, Tb))
    assert (act.prox_psi(w, T) - ref).abs().max() < 1e-12
    u32 = act.prox_psi(w.float(), T.float())
    assert ((u32.double() - ref).abs() <= 4 * torch.finfo(torch.float32).eps * ref.abs().clamp_min(act.alpha)).all()


def test_fast_expm1_keeps_float32_relative_accuracy():
    z = torch.cat([-torch.logspace(-12, 2, 20001, dtype=F64), torch.tensor([-1e-30, -1e-40], dtype=F64)])
    got = expm1_nonpositive(z.float())
    assert got.dtype == torch.float32
    ref = torch.expm1(z.float().double())  # the float32 inputs, exactly
    rel = ((got.double() - ref).abs() / ref.abs()).max()
    assert rel <= 2 * torch.finfo(torch.float32).eps  # measured 1.4 ulp; torch.expm1 0.5
    special = expm1_nonpositive(torch.tensor([0.0, -0.0, -math.inf, math.nan]))
    assert special[:3].tolist() == [0.0, 0.0, -1.0] and math.copysign(1, special[1]) < 0 and special[3].isnan()
    torch.testing.assert_close(expm1_nonpositive(z), torch.expm1(z), rtol=0, atol=0)  # float64: torch's


@pytest.mark.parametrize("alpha, beta", [(0.7, 1.0), (1.0, 1.0), (0.5, 2.0)])
def test_elu_value_without_a_graph_is_exact_to_float32_rounding(alpha, beta):
    """Without a graph the float32 ELU skips expm1 (fastmath.elu_no_graph): within alpha eps of the
    float64 value (absolute), exactly v where v > 0; with a graph it is torch's F.elu, to the bit."""
    act = ELU(alpha, beta)
    v = torch.cat([torch.linspace(-30, 3, 10001), -torch.logspace(-12, 0, 1001)])
    got = act.sigma(v)
    ref = torch.where(v > 0, v.double(), alpha * torch.expm1(v.double() / beta))
    assert float((got.double() - ref).abs().max()) <= alpha * torch.finfo(torch.float32).eps
    assert torch.equal(got[v > 0], v[v > 0])
    if beta == 1.0:
        w = v.clone().requires_grad_()
        assert torch.equal(act.sigma(w), F.elu(v, alpha))


@pytest.mark.parametrize("act", CHANNELWISE, ids=ids(CHANNELWISE))
def test_channelwise_slopes_act_along_dim_1(act, gen):
    a = act.negative_slope.to(F64)
    v = rand_v(gen, shape=(4, 3, 5))
    torch.testing.assert_close(act(v), F.prelu(v, a))
    b = act.penalty(act.sigma(v), v)
    assert torch.all(b >= 0) and torch.all(b <= 1e-12)
    for c in (0.0, 0.4, 7.5):  # prox_phi channel by channel equals the scalar leaky ReLU's
        u = act.prox_phi(v, c)
        for j in range(3):
            torch.testing.assert_close(u[:, j], LeakyReLU(float(a[j])).prox_phi(v[:, j], c))
    with pytest.raises(ValueError, match="per-channel slopes"):
        act(torch.zeros(2, 4))


@pytest.mark.parametrize(
    "make",
    [
        lambda: get_activation("no_such_act"),
        lambda: get_activation(nn.ELU(alpha=2.0)),
        lambda: get_activation(nn.Softplus()),
        lambda: get_activation(_prelu([0.0, 0.5, 0.5])),
        lambda: ELU(0.0),
        lambda: ELU(1.5),
        lambda: ELU(-0.5),
        lambda: LeakyReLU(torch.tensor([0.5, 1.5])),
        lambda: get_activation(nn.Softmax(dim=-1)),
        lambda: get_activation(3),
        lambda: LeakyReLU(0.0),
        lambda: LeakyReLU(1.5),
        lambda: LeakyReLU(-0.5),
        lambda: Clip(1.0, 0.0),
        lambda: Clip(0.0, 0.0),
        lambda: Clip(torch.tensor(1.0), 0.5),
        lambda: SoftThreshold(0.0),
        lambda: SoftThreshold(-1.0),
        lambda: Clip(0.0, math.inf),
    ],
)
def test_invalid_specs_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_unknown_name_lists_supported():
    with pytest.raises(ValueError, match="relu") as err:
        get_activation("swishy")
    assert not isinstance(err.value, NotProximalError)


def test_modules_compose_and_tensor_bounds_carry_gradients():
    net = nn.Sequential(nn.Linear(3, 4), LeakyReLU(0.1), nn.Linear(4, 2), Sigmoid())
    assert net(torch.randn(5, 3)).shape == (5, 2)
    assert "LeakyReLU(negative_slope=0.1)" in repr(net)
    nu = torch.tensor(0.5, requires_grad=True)
    act = Clip(-nu, nu)
    act(torch.tensor([2.0, -3.0, 0.1])).sum().backward()
    assert nu.grad.item() == pytest.approx(0.0)  # +nu - nu
    assert "Clip(low=-0.5, high=0.5)" == repr(act)


@pytest.mark.parametrize("dtype, t", [(torch.float32, 2e7), (torch.float64, 1e16)])
@pytest.mark.parametrize("tensor_t", [False, True], ids=["number-t", "tensor-t"])
def test_tanh_prox_at_a_step_whose_one_minus_t_rounds_to_minus_t(dtype, t, tensor_t):
    from liftinv.activations import Tanh

    w = torch.tensor([0.0, 1e-3, -0.5, 0.5], dtype=dtype)
    x = Tanh().prox_psi(w, torch.full_like(w, t) if tensor_t else t)
    assert torch.isfinite(x).all() and x[0] == 0  # the root of W = 0 is 0, not 0/0
    assert x[2] == -x[3] and (x[1:].abs() < 0.01).all()  # odd, and pulled towards argmin Psi = 0

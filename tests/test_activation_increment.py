"""ProxActivation.increment: sigma(v) - sigma(v - d), without cancellation for small steps d."""

from __future__ import annotations

import pytest
import torch
from test_activations import CHANNELWISE, ELEMENTWISE, ids

F64 = torch.float64


def _points(shape, dtype=F64):
    g = torch.Generator().manual_seed(0)
    v = 3 * torch.randn(shape, generator=g, dtype=dtype)
    d = torch.randn(shape, generator=g, dtype=dtype)
    return v, d


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
def test_increment_is_the_difference(act):
    """Across kinks, saturations and large steps: the plain difference, to round-off (float64)."""
    v, d = _points((64, 3, 5))
    expected = act.sigma(v) - act.sigma(v - d)
    torch.testing.assert_close(act.increment(v, d), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(act.increment(v, d, act.sigma(v)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
def test_increment_keeps_float32_precision_for_tiny_steps(act):
    """increment / d is the secant slope, about sigma'(v) for tiny d: computed in float32 it matches
    the float64 slope to 1e-4 where the plain float32 difference has lost every digit (d = 1e-9 |v|)."""
    v64, d64 = _points((64, 3, 5))
    d64 = 1e-9 * v64.abs().clamp_min(1.0) * d64.sign()
    v32, d32 = v64.float(), d64.float()
    slope = act.increment(v32, d32).double() / d32.double()
    exact = act.derivative(v64)
    torch.testing.assert_close(slope, exact, rtol=1e-4, atol=1e-4)
    plain = (act.sigma(v32) - act.sigma(v32 - d32)).double() / d32.double()
    if type(act).__name__ != "Identity":  # what the cancellation-free form avoids
        assert float((plain - exact).abs().max()) > 0.5 * float(exact.abs().max())


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
@pytest.mark.parametrize("h", [1e-3, 0.7])
def test_secant_is_the_increment_over_the_step(act, h):
    """secant_ (the mirror step's residual, in its argument's memory) is increment(v, h g) / h:
    across kinks and saturations to round-off in float64, and exactly g where a clip unit stays
    inside its box in float32."""
    v, g = _points((64, 3, 5))
    torch.testing.assert_close(act.secant_(v, g.clone(), h, act.sigma(v)), act.increment(v, h * g) / h,
                               rtol=1e-10, atol=1e-10)
    v32, g32 = v.float(), 1e-6 * g.float()
    inside = (act.sigma(v32) == v32) & (act.sigma(v32 - h * g32) == v32 - h * g32)
    if type(act).__name__ in ("Clip", "HardTanh") and isinstance(act.low, float):
        assert inside.any()
        assert torch.equal(act.secant_(v32, g32.clone(), h)[inside], g32[inside])


@pytest.mark.parametrize("act", ELEMENTWISE + CHANNELWISE, ids=ids(ELEMENTWISE + CHANNELWISE))
def test_secant_keeps_float32_precision_for_tiny_steps(act):
    """For a step h = 1e-9 the float32 secant is sigma'(v) g to 1e-4, as increment's slope is."""
    v64, g64 = _points((64, 3, 5))
    v32, g32 = v64.float(), g64.float()
    secant = act.secant_(v32, g32.clone(), 1e-9).double()
    torch.testing.assert_close(secant, act.derivative(v64) * g32.double(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("act", [c for c in ELEMENTWISE if type(c).__name__ in ("Clip", "HardTanh", "ReLU")], ids=repr)
@pytest.mark.parametrize("h", [1.7e-5, 1e-3, 0.0123])
@pytest.mark.parametrize("g_scale", [1.0, 1e-7])  # a clip's direct form, then its cancellation-free one
def test_secant_is_exactly_zero_where_a_unit_stays_saturated(act, h, g_scale):
    """A unit beyond a bound that the step does not bring back passes no residual, exactly, in
    float32 and for any step: a bound's round-off would be a bias on every saturated unit."""
    v, g = _points((64, 3, 5), torch.float32)
    v, g = v.sign() * (v.abs() + 5.0), g_scale * g  # every unit far beyond a bound (or at the ReLU's 0 side)
    stays = act.sigma(v - h * g) == act.sigma(v)
    assert stays.any() and bool((act.sigma(v) != v).any())
    saturated = stays & (act.sigma(v) != v)
    secant = act.secant_(v, g.clone(), h)
    assert torch.equal(secant[saturated], torch.zeros_like(secant[saturated]))


CLIPS = [c for c in ELEMENTWISE if type(c).__name__ in ("Clip", "HardTanh") and isinstance(c.low, float)]
DIRECT = CLIPS + [c for c in ELEMENTWISE if type(c).__name__ == "Sigmoid"]  # the activations with a direct form
SMOOTH = [c for c in ELEMENTWISE if type(c).__name__ in ("Sigmoid", "Tanh")]


@pytest.mark.parametrize("act", DIRECT, ids=repr)
@pytest.mark.parametrize("h", [1e-3, 0.0123, 0.7])
def test_secant_direct_form_stays_within_its_roundoff_bound(act, h):
    """Where the step is large against the float32 round-off, a clip's or sigmoid's secant is the
    direct (sigma(v) - sigma(v - hg))/h, to the bit, and within eps B / h (B = secant_roundoff: a
    clip's larger bound, the sigmoid's 2) of the exact secant, plus the division's round-off."""
    from liftinv.activations.base import DIRECT_SECANT_ROUNDOFF

    v64, g64 = _points((64, 3, 5))
    v, g = v64.float(), g64.float()
    bound = torch.finfo(torch.float32).eps * act.secant_roundoff
    assert bound <= DIRECT_SECANT_ROUNDOFF * h * float(g.pow(2).mean().sqrt())  # the direct form applies
    got = act.secant_(v, g.clone(), h)
    assert torch.equal(got, (act.sigma(v) - act.sigma(torch.add(v, g, alpha=-h))) / h)
    exact = act.increment(v.double(), h * g.double()) / h
    assert bool(((got.double() - exact).abs() <= bound / h + 1e-6 * exact.abs()).all())


@pytest.mark.parametrize("act", SMOOTH, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["f32", "f64"])
def test_smooth_secant_expansion_is_exact_to_the_dtype_where_it_applies(act, dtype):
    """For displacements hg below sqrt(eps / 1.5) / kappa the secant is the expansion
    sigma'(v) g (1 + kappa T h g) (no transcendental function), as accurate as the exact form:
    within a few eps of the float64 secant relative to the largest entry, and for the sigmoid
    entry by entry where 1 - s keeps its relative precision (|v| < 2; back-propagation's
    s (1 - s) has the same round-off)."""
    v64, g64 = _points((64, 3, 5))
    eps = torch.finfo(dtype).eps
    h = 0.5 * (eps / 1.5) ** 0.5 / (act._kappa * float(g64.abs().max()))  # half the expansion's reach
    v, g = v64.to(dtype), g64.to(dtype)
    expanded = act._expanded_secant_(v, g.clone(), h, act.sigma(v))
    assert expanded is not None
    assert torch.equal(act.secant_(v, g.clone(), h), expanded)  # the form secant_ takes
    exact = act.increment(v64, h * g64) / h  # float64, cancellation-free
    err = (expanded.double() - exact).abs()
    assert float(err.max()) <= 8 * eps * float(exact.abs().max())
    if type(act).__name__ == "Sigmoid":
        moderate = v64.abs() < 2
        assert bool((err[moderate] <= 8 * eps * exact[moderate].abs()).all())
    assert act._expanded_secant_(v, g.clone(), 4 * h, act.sigma(v)) is None  # beyond its reach


@pytest.mark.parametrize("reach", [1e-3, 1e-2, 3e-2])
def test_tanh_secant_of_moderate_steps_is_exact_to_float32(reach):
    """The steps of a network in training (h max|g| of 1e-3 to 1e-2 at every layer of a depth-20 MLP)
    are beyond the expanded form's reach; there tanh(hg)/h = g (1 - (hg)^2/3) to float32's precision
    replaces one of the exact form's two tanh: within a few eps of the float64 secant."""
    from liftinv.activations import get_activation

    act = get_activation("tanh")
    v64, g64 = _points((64, 3, 5))
    h = reach / float(g64.abs().max())
    v, g = v64.float(), g64.float()
    assert act._expanded_secant_(v, g.clone(), h, act.sigma(v)) is None  # beyond the expansion
    got = act.secant_(v, g.clone(), h)
    exact = act.increment(v64, h * g64) / h  # float64, cancellation-free
    eps = torch.finfo(torch.float32).eps
    assert float((got.double() - exact).abs().max()) <= 8 * eps * float(exact.abs().max())


@pytest.mark.parametrize("act", CLIPS, ids=repr)
def test_clip_secant_keeps_the_exact_form_where_the_direct_one_would_round(act):
    """For a step too small against the round-off (eps B / h above DIRECT_SECANT_ROUNDOFF times the
    RMS of g), the cancellation-free form: exactly g where both points are inside the box, where
    the direct form would be off by up to eps B / h."""
    v, g = (t.float() for t in _points((64, 3, 5)))
    h = 1e-4
    g = 1e-6 * g  # displacements of 1e-10 against states of order 1
    inside = (act.sigma(v) == v) & (act.sigma(v - h * g) == v - h * g)
    assert inside.any()
    got = act.secant_(v, g.clone(), h)
    assert torch.equal(got[inside], g[inside])
    direct = (act.sigma(v) - act.sigma(v - h * g)) / h
    assert not torch.equal(direct[inside], g[inside])  # what the exact form avoids


def test_identity_secant_is_its_argument():
    """A linear layer's mirror residual is g exactly, in g's memory (no pass, no round-off)."""
    from liftinv.activations import Identity

    v, g = _points((8, 3))
    assert Identity().secant_(v, g, 1e-3) is g


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, 1.0), (2.0, 2.0)])
@pytest.mark.parametrize("reach", [1e-8, 1e-5, 1e-3, 1e-2, 0.1])
def test_elu_series_secant_keeps_full_relative_precision(alpha, beta, reach):
    """Below its reach the ELU's float32 secant sums a few terms of 1 - e^{-delta/beta} (no expm1):
    entry by entry within a few eps of the float64 secant, where a step stays on one piece and where
    it crosses the kink (a quarter of the points lie within the step of 0); beyond 0.15 (five terms
    in float32) secant_ takes increment's form."""
    from liftinv.activations.elu import ELU, _series_terms

    act = ELU(alpha, beta)
    v64, g64 = _points((64, 3, 5))
    v64[:16] *= 1e-3 * reach / 1e-2
    h = reach * beta / float(g64.abs().max())
    v, g = v64.float(), g64.float()
    x = h * float(g.abs().max()) / beta
    terms = _series_terms(x, torch.finfo(torch.float32).eps)
    assert terms is not None
    got = act.secant_(v, g.clone(), h)
    assert torch.equal(got, act._series_secant_(v, g.clone(), h, terms))  # the form secant_ takes
    exact = act.increment(v.double(), h * g.double()) / h  # float64, at the float32 points
    assert bool(((got.double() - exact).abs() <= 4 * torch.finfo(torch.float32).eps * exact.abs()).all())
    crossing = (v.double() > 0) != (v.double() - h * g.double() > 0)
    assert crossing.any()
    assert _series_terms(0.16, torch.finfo(torch.float32).eps) is None


@pytest.mark.parametrize("reach", [1e-9, 1e-5, 1e-3])
def test_elu_series_secant_in_float64(reach):
    """In float64 the series covers smaller steps (five terms up to 1.1e-3), entry by entry within
    a few eps of increment's secant."""
    from liftinv.activations.elu import ELU, _series_terms

    act = ELU(0.8, 1.0)
    v, g = _points((64, 3, 5))
    v[:16] *= 1e-3 * reach
    h = reach / float(g.abs().max())
    terms = _series_terms(reach, torch.finfo(F64).eps)
    assert terms is not None
    got = act.secant_(v, g.clone(), h)
    assert torch.equal(got, act._series_secant_(v, g.clone(), h, terms))
    exact = act.increment(v, h * g) / h
    assert bool(((got - exact).abs() <= 8 * torch.finfo(F64).eps * exact.abs()).all())

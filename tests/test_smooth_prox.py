"""The iterative proxes of the smooth activations (sigmoid, tanh): optimality, accuracy over
extreme ranges, the scalar-step path and the warm start the lifted sweeps use."""

from __future__ import annotations

import pytest
import torch
from test_activations import ELEMENTWISE, F64, SMOOTH, ids

from liftinv.activations import Sigmoid, get_activation


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def _phi_prime(act, u):
    return torch.logit(u) if isinstance(act, Sigmoid) else torch.atanh(u)


def _reference_root(act, w, c):
    """u + c phi'(u) = w by 200 bisections in the logit variable z (float64)."""
    g = torch.sigmoid if isinstance(act, Sigmoid) else torch.tanh
    hi = (w.abs() + 1.0) / c + 1.0
    lo = -hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        pos = g(mid) + c * mid - w > 0
        hi, lo = torch.where(pos, mid, hi), torch.where(pos, lo, mid)
    return g(0.5 * (lo + hi))


@pytest.mark.parametrize("act", SMOOTH, ids=ids(SMOOTH))
def test_smooth_prox_solves_optimality_equation(act, gen):
    w = 2.0 * torch.randn(50, generator=gen, dtype=F64)
    for c in [0.05, 1.0, 30.0]:
        u = act.prox_phi(w, c)  # u + c phi'(u) = w
        inner = (act.project(u) == u) & (u.abs() < 1 - 1e-6)  # logit/artanh not saturated
        assert inner.sum() >= 20
        lhs = u + c * _phi_prime(act, u)
        torch.testing.assert_close(lhs[inner], w[inner], rtol=1e-9, atol=1e-9)
    for t in [0.3, 1.0, 2.0, 10.0]:  # prox of t Psi, Psi' = phi' - id (t > 1 included)
        u = act.prox_psi(w, t)
        inner = (act.project(u) == u) & (u.abs() < 1 - 1e-6)
        assert inner.sum() >= 20
        lhs = u + t * (_phi_prime(act, u) - u)
        torch.testing.assert_close(lhs[inner], w[inner], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("act", SMOOTH, ids=ids(SMOOTH))
def test_smooth_prox_accuracy_over_extreme_ranges(act):
    mag = torch.logspace(-9, 4, 27, dtype=F64)
    w = torch.cat([-mag, torch.linspace(-2, 2, 21, dtype=F64), mag, 1 - mag[:12], 1 + mag[:12]])
    c = torch.logspace(-8, 8, 33, dtype=F64)
    W, C = torch.meshgrid(w, c, indexing="ij")
    ref = _reference_root(act, W, C)
    assert (act.prox_phi(W, C) - ref).abs().max() < 1e-12
    u32 = act.prox_phi(W.float(), C.float())
    assert u32.dtype == torch.float32
    assert (u32.double() - ref).abs().max() < 2e-6
    for t in [1e-12, 1e-8, 1e-3, 0.5, 1.0, 3.0, 1e4, 1e8]:  # a number t: the scalar path, as accurate
        elementwise = act.prox_psi(w, torch.tensor(t, dtype=F64))
        assert (act.prox_psi(w, t) - elementwise).abs().max() < 1e-12
        err32 = (act.prox_psi(w.float(), t).double() - elementwise).abs().max()
        # float32 loses digits to cancellation for t >> 1 on either path (a = 1 - t, b = t)
        assert err32 < max(2e-6, 2 * (act.prox_psi(w.float(), torch.tensor(t)).double() - elementwise).abs().max())


@pytest.mark.parametrize("act", ELEMENTWISE, ids=ids(ELEMENTWISE))
def test_warm_prox_is_the_prox_from_any_guess(act, gen):
    """``prox_psi_warm(w, t, v)`` (the lifted sweeps' own-term prox, started from sigma(v)) gives
    ``prox_psi(w, t)`` for good guesses, bad guesses and guesses on the wrong side, t > 1 too."""
    w = 3.0 * torch.randn(400, generator=gen, dtype=F64)
    for t in [1e-4, 0.3, 0.9, 2.0, 50.0]:
        ref = act.prox_psi(w, torch.tensor(t, dtype=F64))  # a tensor t: the elementwise path
        torch.testing.assert_close(act.prox_psi(w, t), ref, rtol=0, atol=1e-12)  # a number: the scalar path
        for v in (w, -w, 40.0 * torch.randn(400, generator=gen, dtype=F64), torch.zeros_like(w)):
            torch.testing.assert_close(act.prox_psi_warm(w, t, v), ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(act.prox_psi_warm(w.float(), t, w.float()), ref.float(), rtol=0, atol=2e-6)


def test_warm_start_at_the_forward_pass_needs_fewer_newton_steps(monkeypatch):
    """At a state near the forward pass the guess's tangent is close enough that the quadratic
    stopping rule ends after one or two further Newton steps; the generic start needs more."""
    from liftinv.activations import scalar_solve

    calls = []
    real = scalar_solve._iterate

    def counting(newton, z, increasing, dtype, **kw):
        n = [0]

        def counted(q):
            n[0] += 1
            return newton(q)

        out = real(counted, z, increasing, dtype, **kw)
        calls.append(n[0])
        return out

    monkeypatch.setattr(scalar_solve, "_iterate", counting)
    gen = torch.Generator().manual_seed(0)
    v = 2.0 * torch.randn(10_000, generator=gen)
    act, c = get_activation("tanh"), 0.8
    t = c / (1 + c)
    w = (act.sigma(v) + 1e-3 * torch.randn(v.shape, generator=gen)).lerp(v, t)  # a small sweep step away
    cold, warm = act.prox_psi(w, t), act.prox_psi_warm(w, t, v)
    torch.testing.assert_close(warm, cold, rtol=0, atol=2e-6)
    assert calls[1] <= 2 and calls[0] >= scalar_solve.CHECK_EVERY > calls[1], calls


@pytest.mark.parametrize("act", SMOOTH, ids=ids(SMOOTH))
def test_warm_scalar_path_is_accurate_over_extreme_ranges(act, gen):
    """The lifted sweeps' prox (a number t < 1, a guess v): its quadratic stopping rule keeps the
    accuracy of the generic iterations, from near and from far guesses, in float64 and float32."""
    mag = torch.logspace(-9, 4, 27, dtype=F64)
    w = torch.cat([-mag, torch.linspace(-2, 2, 21, dtype=F64), mag, 1 - mag[:12], 1 + mag[:12]])
    for t in [1e-8, 1e-3, 0.2, 0.5, 0.9, 1 - 1e-6]:
        c = t / (1.0 - t)  # prox_{t Psi}(w) = prox_{c phi}(w / (1 - t))
        ref = _reference_root(act, w / (1.0 - t), torch.tensor(c, dtype=F64))
        near = torch.logit(ref.clamp(1e-300, 1 - 1e-16)) if isinstance(act, Sigmoid) else torch.atanh(
            ref.clamp(-1 + 1e-16, 1 - 1e-16))
        for v in (near + 1e-3 * torch.randn(w.shape, generator=gen, dtype=F64),
                  10.0 * torch.randn(w.shape, generator=gen, dtype=F64), -near):
            assert (act.prox_psi_warm(w, t, v) - ref).abs().max() < 1e-12
            assert (act.prox_psi_warm(w.float(), t, v.float()).double() - ref).abs().max() < 2e-6

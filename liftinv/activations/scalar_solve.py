r"""Vectorised monotone Newton solver behind the prox of the sigmoid and tanh activations.

Both proxes reduce to a scalar equation in the *logit* variable :math:`z` (with
:math:`u = \sigma(z)` resp. :math:`u = \tanh z`):

.. math:: a\,g(z) + b\,z = w,\qquad g(z) = m + r\tanh(\kappa z),\quad b \ge 0,

(sigmoid: :math:`m = r = \kappa = \tfrac12`; tanh: :math:`m = 0`, :math:`r = \kappa = 1`).  For
example :math:`\mathrm{prox}_{c\phi}(w)` solves :math:`u + c\,\mathrm{logit}(u) = w`, i.e.
:math:`a = 1, b = c`; :math:`\mathrm{prox}_{t\Psi}` gives :math:`a = 1 - t, b = t`.  Callers
guarantee :math:`F'(z) = a r\kappa\,\mathrm{sech}^2(\kappa z) + b > 0` (true for these uses
because :math:`\Psi` is convex), so the root is unique.

Write :math:`A = a r`, :math:`W = w - a m` and, by oddness of :math:`\tanh`, solve for
:math:`|W|` and restore the sign, so the root :math:`z^\star \ge 0` lies where :math:`\tanh` is
concave.  Choice made here (the papers give no solver): on :math:`[0,\infty)` the function
:math:`F(z) = A\tanh(\kappa z) + bz - |W|` is

* concave if :math:`A \ge 0`: a Newton step from *any* :math:`z \ge 0` lands at or below
  :math:`z^\star`, and from below the iterates increase monotonically to :math:`z^\star`;
  we start from the best of three lower bounds (the root of the linearisation at 0,
  :math:`(|W| - A)/b`, and one Newton step from :math:`\tanh^{-1}(|W|/A)/\kappa`);
* convex if :math:`A < 0`: the mirror image, iterates decrease from an upper bound.

So plain Newton, monotone and safeguarded by the bounds (no bisection needed), converges
globally; at most a fixed number of iterations (no Python loop over elements; a convergence
check every ``CHECK_EVERY`` iterations stops them once no entry moves) reaches ~1e-12 relative
accuracy in float64 and ~1e-6 in float32 over :math:`|w| \le 10^4`,
:math:`10^{-8} \le b \le 10^8` (checked in the tests), except for prox steps far above 1 with an
output near 0, where :math:`A \approx -b` cancels :math:`bz` (tanh at :math:`t = 10^8`,
:math:`w = 10^{-6}`: 7e-9; the solvers use :math:`t < 1`).
"""

from __future__ import annotations

import torch

__all__ = ["solve_saturating", "solve_exponential", "NEWTON_ITERS"]

#: Fixed Newton iteration counts per dtype.  Over |w| <= 1e6, 1e-12 <= b <= 1e12 float64 needs
#: at most ~28 (20 for b >= 1e-8); float32 reaches its round-off floor by ~15.
NEWTON_ITERS = {torch.float64: 32, torch.float32: 24, torch.float16: 16, torch.bfloat16: 16}
#: iterations between convergence checks (each check is one reduction and, on a GPU, one sync)
CHECK_EVERY = 3


def solve_saturating(a, b, w, m: float, r: float, kappa: float, start=None) -> torch.Tensor:
    r"""Root :math:`z` of :math:`a(m + r\tanh(\kappa z)) + bz = w` for ``b > 0`` (broadcast).

    Entries with ``b == 0`` are returned as ``0`` (the caller handles that limit).  ``start``: a
    guess of the root (any real numbers of the broadcast shape): one Newton step from it is a
    bound on the right side of the root (the tangent of the concave, resp. convex, branch), so
    the monotone iterations start there instead of at the three generic bounds; a good guess
    (the lifted sweeps know one, the forward pass) saves most of the iterations.
    """
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return _solve_saturating_scalar(float(a), float(b), w, m, r, kappa, start)
    a, b, w = torch.broadcast_tensors(a, b, w)
    dtype = w.dtype
    zcap = torch.finfo(dtype).max ** 0.25
    tiny = torch.finfo(dtype).eps
    bpos = b > 0
    bs = torch.where(bpos, b, torch.ones_like(b))
    A = a * r
    W = w - a * m
    sign = torch.where(W < 0, -torch.ones_like(W), torch.ones_like(W))
    Wa = W.abs()
    concave = A >= 0

    def newton(z):
        th = torch.tanh(kappa * z)
        f = A * th + bs * z - Wa
        fp = A * kappa * (1.0 - th * th) + bs
        return (z - f / fp).clamp(0.0, zcap)

    # Starting point: a lower bound (concave case) or an upper bound (convex case).
    slope0 = A * kappa + bs
    z_lin = (Wa / slope0).clamp(0.0, zcap)  # root of the linearisation at 0
    z_sat = ((Wa - A) / bs).clamp(0.0, zcap)  # from |tanh| <= 1
    if start is None:
        A_safe = torch.where(A > 0, A, torch.ones_like(A))
        ratio = torch.where(A > 0, Wa / A_safe, torch.zeros_like(Wa)).clamp(0.0, 1.0 - tiny)
        z_inv = newton(torch.atanh(ratio) / kappa)
    else:  # the tangent at the guess (mirrored to z >= 0 like W): a bound on the same side, taken
        # (concave case) no farther out than the root's upper bound |W|/b, as in the scalar path
        guess = (sign * start).clamp(0.0, zcap)
        z_inv = newton(torch.where(concave, torch.minimum(guess, Wa / bs), guess))
    z = torch.where(
        concave, torch.maximum(torch.maximum(z_lin, z_sat), z_inv),
        torch.minimum(torch.minimum(z_lin, z_sat), z_inv) if start is not None else torch.minimum(z_lin, z_sat),
    )
    z = _iterate(newton, z, concave, dtype)
    # b = 0, or W = 0 (whose root is 0; 0/0 above where a + b has lost a term to round-off)
    return torch.where(bpos & (Wa > 0), sign * z, torch.zeros_like(z))


def _solve_saturating_scalar(a: float, b: float, w, m, r, kappa, start) -> torch.Tensor:
    """:func:`solve_saturating` for numbers ``a`` and ``b`` (one step size for a whole tensor, as
    in the lifted sweeps): the same iterations, with the case analysis done once in Python
    instead of elementwise and each Newton step in 8 fused kernels (tanh, ``add``, ``sub_``,
    ``addcmul``, ``mul_``, ``add_``, ``addcdiv``, ``clamp_``).

    With a guess (``start``) and ``A >= 0`` (every prox of the lifted sweeps: :math:`a = 1 - t`,
    :math:`t < 1`), the iterations start from the guess's tangent alone (a lower bound, like the
    generic ones it replaces) and stop by the quadratic rule of :func:`_iterate`: from the forward
    pass's logit one step beyond the tangent is usually enough (two Newton steps where the generic
    rule needs four)."""
    if b <= 0:
        return torch.zeros_like(w)
    zcap = torch.finfo(w.dtype).max ** 0.25
    A = a * r
    W = w - a * m if m else w
    sign = torch.sign(W)  # 0 where W = 0, whose root is 0
    Wa = W.abs()
    one = torch.ones_like(Wa)
    Ak = A * kappa

    def newton(z):
        th = torch.tanh(z if kappa == 1.0 else z * kappa)
        neg_f = torch.add(Wa, z, alpha=-b).sub_(th, alpha=A)  # -F(z) = |W| - b z - A th
        if A >= 0 or Ak + b <= 0:  # F' = A kappa (1 - th^2) + b as two non-negative terms (b survives
            # when tiny; also where a = 1 - t has lost its 1 to round-off, t > 1/eps) ...
            fp = torch.addcmul(one, th, th, value=-1.0).mul_(Ak).add_(b)
        else:  # ... and for A < 0 as (A kappa + b) + |A| kappa th^2: no cancellation when t >> 1
            fp = torch.addcmul(one, th, th, value=-Ak / (Ak + b)).mul_(Ak + b)
        return torch.addcdiv(z, neg_f, fp).clamp_(0.0, zcap)

    if start is not None and A >= 0:  # the guess's tangent: a lower bound of the root
        # from a guess no farther than the root's upper bound |W|/b: a tangent taken far out carries
        # a round-off of eps |guess|, which the monotone iterations could not undo
        z = newton(torch.minimum((sign * start).clamp_(0.0, zcap), Wa / b))
        return sign * _iterate(newton, z, True, w.dtype, quadratic=kappa)
    # the bounds of solve_saturating; the guess's tangent, or the arctanh start, where it helps
    z = (Wa / (Ak + b)).clamp_(0.0, zcap)
    z_sat = ((Wa - A) / b).clamp_(0.0, zcap)
    pick = torch.maximum if A >= 0 else torch.minimum
    z = pick(z, z_sat)
    if start is not None:
        z = pick(z, newton((sign * start).clamp_(0.0, zcap)))
    elif A > 0:
        z = pick(z, newton(torch.atanh((Wa / A).clamp_(0.0, 1.0 - torch.finfo(w.dtype).eps)) / kappa))
    z = _iterate(newton, z, A >= 0, w.dtype)
    return torch.where(Wa > 0, sign * z, 0.0)  # W = 0: the root is 0 (0/0 where the slope rounds to 0)


def _iterate(newton, z, increasing, dtype, quadratic: float | None = None) -> torch.Tensor:
    r"""The monotone Newton iterations, at most ``NEWTON_ITERS[dtype]``.

    Default rule: every ``CHECK_EVERY`` iterations, stop once no entry moved by more than a few
    ulps (the monotone iterates have then converged: a further step changes nothing but
    round-off).  ``quadratic = kappa`` (the concave branch, iterates increasing from a lower
    bound): after every step :math:`d_k = z_k - z_{k-1}`, stop once :math:`4\kappa d_k^2 \le`
    tol.  There :math:`|F''| \le 2\kappa F'` and :math:`F'` decreases towards the root, so the
    errors obey :math:`e_k \le \kappa e_{k-1}^2`; once :math:`\kappa e_{k-1} \le 1/2`,
    :math:`e_{k-1} \le 2 d_k` and :math:`e_k \le 4\kappa d_k^2`: the last iterate is within tol.
    """
    tol = 4.0 * torch.finfo(dtype).eps
    for k in range(1, NEWTON_ITERS.get(dtype, 32) + 1):
        zn = newton(z)
        if isinstance(increasing, bool):
            zn = torch.maximum(z, zn) if increasing else torch.minimum(z, zn)
        else:
            zn = torch.where(increasing, torch.maximum(z, zn), torch.minimum(z, zn))
        if quadratic is not None:
            step = float((zn - z).abs_().max()) if zn.numel() else 0.0
            if 4.0 * quadratic * step * step <= tol:
                return zn
        elif k % CHECK_EVERY == 0 and not bool(((zn - z).abs() > tol * (1.0 + z.abs())).any()):
            return zn
        z = zn
    return z


def solve_exponential(a, b, w) -> torch.Tensor:
    r"""Root :math:`\zeta \le 0` of :math:`a(e^\zeta - 1) + b\zeta = w` for :math:`w \le 0`,
    ``b > 0`` and :math:`a + b > 0` (broadcast; the prox of the ELU activation).

    :math:`F(\zeta) = a(e^\zeta - 1) + b\zeta - w` increases on :math:`\zeta \le 0`; it is convex
    for :math:`a \ge 0`, where Newton's method decreases monotonically from an upper bound,
    and concave for :math:`a < 0`, where it increases from a lower bound.  The start is the
    best of the root of the tangent at 0, :math:`(w + a)/b` (from :math:`-1 \le e^\zeta - 1
    \le 0`) and, for :math:`a > 0`, one Newton step from :math:`\log(1 + w/a)` (the root
    without the :math:`b` term, which starts the exponential tail where the other two are far).
    Entries with ``b == 0`` and ``w > 0`` are returned as ``0`` (the caller handles them).
    """
    # the cases every entry shares, decided on a and b before they broadcast (per-sample columns in
    # the solvers): each spares the masks and where's of the mixed case (a where costs four
    # multiplications on a CPU)
    b_pos = bool((b > 0).all())
    a_pos = bool((a > 0).all())
    convex = True if bool((a >= 0).all()) else False if bool((a < 0).all()) else None
    a, b, w = torch.broadcast_tensors(a, b, w)
    dtype = w.dtype
    zcap = torch.finfo(dtype).max ** 0.25  # e^-zcap is 0: a root beyond it gives the same u
    bpos = None if b_pos else b > 0
    bs = b if b_pos else torch.where(bpos, b, torch.ones_like(b))
    wn = w.clamp_max(0.0)

    def newton(z):  # e - 1 for expm1: exact for e >= 1/2 and within eps/2 below, the rounding of F's
        e = torch.exp(z)  # other terms, at a tenth of expm1's cost in float32 on a CPU (fastmath)
        return (z - (a * (e - 1.0) + bs * z - wn) / (a * e + bs)).clamp(-zcap, 0.0)

    z_tan = (wn / (a + bs)).clamp_min(-zcap)
    z_sat = ((wn + a) / bs).clamp(-zcap, zcap)
    if convex is not False:  # the upper bounds of the convex entries
        a_safe = a if a_pos else torch.where(a > 0, a, torch.ones_like(a))
        inside = (wn > -a) if a_pos else (a > 0) & (wn > -a)
        # only a start (a Newton step from any point bounds the convex root from above): log(1 + x),
        # not log1p, which costs ten of log in float32 on a CPU
        ratio = torch.where(inside, wn / a_safe, torch.zeros_like(wn))
        z_log = torch.where(inside, torch.log(ratio.add_(1.0).clamp_min_(torch.finfo(dtype).tiny)), z_tan)
        up = torch.minimum(torch.minimum(z_tan, z_sat), newton(z_log))
    if convex is None:
        convex = a >= 0
        z = torch.where(convex, up, torch.maximum(z_tan, z_sat))
    else:
        z = up if convex else torch.maximum(z_tan, z_sat)
    z = _iterate(newton, z.clamp(-zcap, 0.0), ~convex if isinstance(convex, torch.Tensor) else not convex, dtype)
    return z if b_pos else torch.where(bpos, z, torch.zeros_like(z))

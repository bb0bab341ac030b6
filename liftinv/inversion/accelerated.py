r"""Accelerated proximal gradient over all lifted blocks at once (the default lifted solver).

The lifted Bregman inversion objective (see :mod:`liftinv.inversion.lifted`) splits as

.. math::
    E(x_0, X) = S(x_0, X) + \sum_{l=1}^{L-1}\lambda_l\Psi_l(x_l) + \alpha J(x_0),\qquad
    S = \sum_{l<L}\lambda_l\big(\tfrac12\|x_l\|^2 + \phi_l^*(v_l) - \langle x_l, v_l\rangle\big)
        + B_{\sigma_L}(y, v_L),

with :math:`S` smooth (its gradient needs :math:`\sigma`, never :math:`\sigma'`):

.. math::
    \nabla_{x_m}S = \lambda_m(x_m - v_m) + \sum_{r\ \text{reads}\ m}\lambda_rM_{r,m}^\top(\sigma_r(v_r) - x_r)
    \quad(x_L := y,\ \lambda_L := 1,\ \text{no own term for } m = 0).

One iteration updates **every block from one snapshot** (so the whole network costs one pass
of pre-activations and one of adjoints, vectorised over samples and layers):

.. math::
    x_m^+ = \mathrm{prox}_{\mu_m\lambda_m\Psi_m}(z_m - \mu_m\nabla_{z_m}S),\qquad
    x_0^+ = \mathrm{prox}_{\mu_0\alpha J}(z_0 - \mu_0\nabla_{z_0}S),

in the block-diagonal metric :math:`\mu_m = s/L_m`, :math:`L_m = \lambda_m[m\ge1] +
\sum_r\lambda_r\|M_{r,m}\|^2` (the blocks' own Lipschitz constants, from power iteration), with

* **backtracking** on the scale :math:`s`, one per sample: a step is accepted when
  :math:`S(x^+)\le S(z) + \langle\nabla S(z), x^+ - z\rangle + \sum_m\|x_m^+ - z_m\|^2/(2\mu_m)`
  (the block bounds ignore the coupling between blocks; the test restores a valid majoriser;
  each sample's own terms, with a slack of the rounding error of :math:`S` in the states'
  precision), and the scale then grows by 10%; a sample whose step fails keeps its iterate and
  its extrapolated point for this iteration, halves its scale and takes the step again at the
  next (backtracking costs that sample an iteration, never the batch an extra pass);
* one pass over the network per iteration: the pre-activations are affine in the states, so
  those of the extrapolated point follow from those of the last two iterates;
* **FISTA extrapolation** :math:`z = x^+ + \tfrac{t_k - 1}{t_{k+1}}(x^+ - x)` with the
  **gradient restart** of O'Donoghue and Candès (momentum reset when
  :math:`\langle z - x^+, x^+ - x\rangle > 0`); :math:`S` is finite off :math:`\mathrm{dom}\,\Psi_l`
  too, so the extrapolated hidden states are not projected;
* optional **penalty continuation** :math:`\lambda_l \leftarrow \min(g\lambda_l, \lambda_{\max})`
  (``lam_growth`` :math:`g`, off by default), which drives the constraint violation to zero so
  that the estimate approaches a minimiser of the nested problem, at the price of a worse
  conditioned problem (docs/inversion.md);
* a **stopping rule** (in :class:`~liftinv.inversion.LiftedInversion`): a sample whose relative
  change over all its blocks, :math:`\|x^+ - x\|/\|x\|`, stays below ``tol`` for 5 iterations
  in a row is frozen (:attr:`JointStep.active`); the run stops when every sample is.

The step scale, the FISTA sequence, the restart test and the TV prox's warm start are kept per
sample, so every sample of a batch is its own problem: its iterates do not depend on the others
(exactly so in float64; in float32 the batched products may round differently with the batch).

Sums of the objective are accumulated in float64: near a solution :math:`S` is a small number
made of large cancelling terms, and a float32 sufficient-decrease test would reject every step.
"""

from __future__ import annotations

import torch

from ..lifting.problem import LiftedProblem

#: the sufficient-decrease test's slack, in units of the states' precision times the magnitude
#: of S (the sum of its layers' absolute values)
ROUNDING = 32.0


def _sum64(t: torch.Tensor) -> torch.Tensor:
    """Per-sample sums in float64: ``(B, ...) -> (B,)``."""
    return t.flatten(1).sum(1, dtype=torch.float64)


def _column(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A ``(B,)`` tensor shaped to broadcast against the ``(B, ...)`` tensor ``ref``."""
    return t.to(ref.dtype).view((-1,) + (1,) * (ref.dim() - 1))


def _pick(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` for the samples where ``mask`` (shape ``(B,)``) holds, ``b`` elsewhere."""
    return torch.where(mask.view((-1,) + (1,) * (a.dim() - 1)), a, b)


class JointStep:
    """One accelerated proximal-gradient iteration over all blocks (module docstring).

    ``norms``: :math:`\\|M_{r,m}\\|^2` of every map (input included), ``regulariser`` and
    ``alpha``: the input prior.  The iterate and the extrapolated point are passed in and
    returned; the object keeps their pre-activations, the FISTA sequence and the step scale.

    Every sample of the batch is its own problem: the step scale, its backtracking, the FISTA
    sequence, the restart test and the relative change are kept per sample (shape ``(B,)``),
    so a sample's iterates do not depend on the others in its batch.  ``active`` (a ``(B,)``
    mask, all true by default) freezes the samples where it is false at their iterate: the
    driver sets it for samples that have met the stopping rule.
    """

    def __init__(self, problem: LiftedProblem, norms: dict, regulariser, alpha: float,
                 step_scale: float = 1.0) -> None:
        self.problem, self.norms, self.regulariser, self.alpha = problem, norms, regulariser, float(alpha)
        self.net = problem.network
        self.scale0 = float(step_scale)
        self.scale = self.t = None  # per sample, (B,) float64, from the first call
        self.active: torch.Tensor | None = None
        self._v_x = self._v_z = None  # pre-activations of the iterate and the extrapolated point

    def lipschitz(self) -> list[float]:
        """:math:`L_m` of every block :math:`m = 0..L-1` at the current :math:`\\lambda`.  A
        subclass may return a tensor for a hidden block (a diagonal metric, broadcast against
        the state; ``benchmarks/invert_solver_study.py`` tries one); the input block's must
        stay a number (the prox of :math:`\\alpha J` takes one step per sample)."""
        prob = self.problem
        lips = [prob.lam_of(m) if m >= 1 else 0.0 for m in range(self.net.depth)]
        for (r, m), n in self.norms.items():
            lips[m] += prob.lam_of(r) * n
        return [max(v, 1e-12) for v in lips]

    def preactivations(self, states) -> list[torch.Tensor]:
        r""":math:`v_1, \dots, v_L` of ``states`` (one pass over the network)."""
        return self.net.preactivations(list(range(1, self.net.depth + 1)), states)

    def sample_smooth(self, states, y, vs, magnitude: bool = False):
        r""":math:`S` per sample (float64, shape ``(B,)``) from the pre-activations ``vs``; with
        ``magnitude``, also the per-sample sum of the layers' absolute contributions (the scale of
        the rounding error of :math:`S`, which sums terms of both signs).

        Per element of a hidden layer, with :math:`s = \sigma(v)`,
        :math:`\tfrac12x^2 + \phi^*(v) - xv = \tfrac12(x - s)^2 + (s - x)(v - s) - \Psi(s)`: finite
        for every :math:`x` (so an extrapolated point need not lie in :math:`\mathrm{dom}\,\Psi`)
        and free of the cancellation of the expanded form.
        """
        net, prob = self.net, self.problem
        total = torch.zeros(y.shape[0], dtype=torch.float64, device=y.device)
        size = torch.zeros_like(total)
        for li, v in enumerate(vs, start=1):
            act = net.activation(li)
            if li == net.depth:
                part = act.penalty(y, v).double()
            else:
                x, sv = states[li], act.sigma(v)
                d = sv - x
                term = (v - sv).add_(d, alpha=0.5).mul_(d)  # d^2/2 + d (v - s)
                psi = act.psi_of_sigma(v, sv)  # elementwise, or one value per sample (softmax)
                if torch.is_tensor(psi) and psi.shape == term.shape:
                    part = _sum64(term.sub_(psi))
                else:
                    part = _sum64(term) - (psi.double() if torch.is_tensor(psi) else 0.0)
                part = prob.lam_of(li) * part
            total += part
            size += part.abs()
        return (total, size) if magnitude else total

    def smooth(self, states, y, vs) -> torch.Tensor:
        """:math:`S` summed over the samples (a float64 scalar)."""
        return self.sample_smooth(states, y, vs).sum()

    def gradient(self, states, y, vs) -> list[torch.Tensor]:
        r""":math:`\nabla_{x_m}S` for every block, from the pre-activations ``vs``."""
        net, prob = self.net, self.problem
        terms = []
        for r in range(1, net.depth + 1):
            res = net.activation(r).penalty_grad_v(prob.target(r, states, y), vs[r - 1])
            lam = prob.lam_of(r)
            if lam != 1.0:
                res.mul_(lam)
            terms.extend((r, m, res) for m, _ in net.sources(r))
        grads = [torch.zeros_like(s) for s in states]
        for (_, m, _), prod in zip(terms, net.adjoints(terms)):
            grads[m].add_(prod)
        for m in range(1, net.depth):
            grads[m].add_(states[m] - vs[m - 1], alpha=prob.lam_of(m))
        return grads

    def prox(self, w: list[torch.Tensor], mus: list) -> list[torch.Tensor]:
        """The blocks' proximal maps at steps ``mus`` (numbers or per-sample columns)."""
        out = [self.regulariser.prox(w[0], mus[0] * self.alpha) if self.regulariser.active(self.alpha) else w[0]]
        for m in range(1, len(w)):
            out.append(self.net.activation(m).prox_psi(w[m], mus[m] * self.problem.lam_of(m)))
        return out

    def _trial(self, z, y, grads, lips, s_z, slack):
        """The proximal-gradient step from ``z`` at the per-sample scales: the new blocks, their
        pre-activations and which samples pass the sufficient-decrease test."""
        scale = self.scale
        mus = [_column(scale, zm) / lip for zm, lip in zip(z, lips)]
        new = self.prox([zm - mu * g for zm, g, mu in zip(z, grads, mus)], mus)
        v_new = self.preactivations(new)
        bound = s_z.clone()
        for nm, zm, g, mu in zip(new, z, grads, mus):  # + <d, g> + |d|^2 / (2 mu), d = x+ - z
            d = nm - zm
            bound += _sum64(d.mul(0.5 / mu).add_(g).mul_(d))  # mu: a column, or a tensor (a diagonal metric)
        ok = self.sample_smooth(new, y, v_new) <= bound + slack
        return new, v_new, ok | (scale < 1e-8)

    @torch.no_grad()
    def __call__(self, z: list[torch.Tensor], x: list[torch.Tensor], y: torch.Tensor):
        r"""From the extrapolated point ``z`` and the last iterate ``x``: the new iterate, the
        next extrapolated point and the relative change of each sample (shape ``(B,)``; ``inf``
        for a sample whose step was rejected).

        The pre-activations are affine in the states, so those of the next extrapolated point
        are :math:`(1 + \beta)v(x^+) - \beta v(x)` and one iteration costs one pass over the
        network for :math:`v(x^+)` (also used by the backtracking test) and one adjoint pass for
        the gradient, like one gradient evaluation of the nested problem.  A sample whose step
        fails the sufficient-decrease test keeps its iterate and its extrapolated point for this
        iteration, halves its scale and takes the step again at the next: its backtracking costs
        it an iteration, never the batch an extra pass.
        """
        batch = y.shape[0]
        if self._v_z is None:  # first call: z = x
            self._v_z = self._v_x = self.preactivations(z)
            self.scale = torch.full((batch,), self.scale0, dtype=torch.float64, device=y.device)
            self.t = torch.ones(batch, dtype=torch.float64, device=y.device)
        active = self.active if self.active is not None else torch.ones(batch, dtype=torch.bool, device=y.device)
        vz = self._v_z
        s_z, size = self.sample_smooth(z, y, vz, magnitude=True)
        # the test's slack: the rounding error of S in the states' precision (per element; a
        # per-sample test in float32 otherwise fails on noise near a solution and the scale collapses)
        slack = (ROUNDING * torch.finfo(y.dtype).eps) * size
        grads = self.gradient(z, y, vz)
        reg = self.regulariser
        warm = reg.warm_state()  # a rejected sample retries its prox from the same warm start
        new, v_new, ok = self._trial(z, y, grads, self.lipschitz(), s_z, slack)
        moved, rejected = ok & active, active & ~ok
        self.scale = torch.where(moved, (1.1 * self.scale).clamp_max(1e3),
                                 torch.where(rejected, 0.5 * self.scale, self.scale))
        if bool(rejected.any()) and reg.warm_state() is not None:
            start = warm if warm is not None else torch.zeros_like(reg.warm_state())
            reg.load_warm_state(_pick(rejected, start, reg.warm_state()))
        t_next = 0.5 * (1.0 + (1.0 + 4.0 * self.t * self.t).sqrt())
        steps = [nm - xm for nm, xm in zip(new, x)]  # x+ - x
        restart = sum(_sum64((zm - nm).mul_(dm)) for zm, nm, dm in zip(z, new, steps)) > 0
        t_next = torch.where(restart, torch.ones_like(t_next), t_next)
        momentum = torch.where(restart | ~moved, torch.zeros_like(t_next), (self.t - 1.0) / t_next)
        self.t = torch.where(moved, t_next, self.t)
        if bool((momentum != 0).any()):
            z_next = [nm + _column(momentum, nm) * dm for nm, dm in zip(new, steps)]
            v_z = [vn + _column(momentum, vn) * (vn - vx) for vn, vx in zip(v_new, self._v_x)]
        else:
            z_next, v_z = [nm.clone() for nm in new], v_new
        if not bool(moved.all()):  # rejected samples stay at x and retry from z; frozen ones stay at x
            new = [_pick(moved, nm, xm) for nm, xm in zip(new, x)]
            v_new = [_pick(moved, a, b) for a, b in zip(v_new, self._v_x)]
            z_next = [_pick(moved, a, _pick(rejected, zm, xm)) for a, zm, xm in zip(z_next, z, x)]
            v_z = [_pick(moved, a, _pick(rejected, b, c)) for a, b, c in zip(v_z, self._v_z, self._v_x)]
            steps = [_pick(moved, dm, torch.zeros_like(dm)) for dm in steps]
        self._v_x, self._v_z = v_new, v_z
        change = (sum(_sum64(dm * dm) for dm in steps) / sum(_sum64(xm * xm) for xm in x).clamp_min(1e-30)).sqrt()
        return new, z_next, torch.where(rejected, torch.full_like(change, float("inf")), change)

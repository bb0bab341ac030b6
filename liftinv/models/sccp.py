r"""Unrolled strongly convex Chambolle-Pock proximal denoiser (ScCP-PNN), in lifted form.

Denoising :math:`\min_x \tfrac12\|x - z\|^2 + \iota_{[0,1]}(x) + \nu\|Dx\|_1` with the
primal-dual (Chambolle-Pock) algorithm accelerated by the strong convexity of the data term
(Chambolle and Pock 2011, Alg. 2), unrolled with a learned convolution :math:`D_k` per
iteration (``C -> F`` channels, tied adjoint :math:`D_k^*` = transposed convolution), as in
Le, Repetti and Pustelnik's ScCP proximal network (deepinv's ``DScCP``):

.. math::
    u_{k+1} = \mathrm{clip}_{[-\nu,\nu]}\big(u_k + \tfrac{\tau_k}{\mu_k}D_k((1+\alpha_k)x_k - \alpha_kx_{k-1})\big),
    \qquad
    x_{k+1} = \mathrm{clip}_{[0,1]}\Big(\frac{\mu_k z + x_k - \mu_kD_k^*u_{k+1}}{1+\mu_k}\Big),

from :math:`x_0 = x_{-1} = z`, :math:`u_0 = D_0z`; the output is :math:`x_K`.  The dual step is
:math:`\tau_k/\mu_k` and the primal step :math:`\mu_k`, so their product :math:`\tau_k = 0.99/\|D_k\|^2`
(warm-started power iteration, refreshed after every weight update and treated as a
constant, exactly as in :class:`~liftinv.models.DFBPNN`) keeps every iteration a
Chambolle-Pock step; the inertia :math:`\alpha_k = 1/\sqrt{1+2\mu_k}` follows the primal step
and, as in deepinv, is a constant of the gradient (computed from the detached
:math:`\mu_k`).  :math:`\mu_k = e^{\log\mu_k}` and :math:`\nu_k = e^{\log\nu_k}` are learned
per iteration (initially 1 and 0.01; deepinv ties the box radius to the noise level,
:math:`\nu = \sigma^2`, 0.0096 at :math:`\sigma = 25/255`).

**Lifted form.**  With the dual variable scaled by its box, :math:`\tilde u_k = u_k/\nu_k` (as
in DFB-PNN), both half-steps are affine maps followed by a clip, so every iteration gives
two lifted layers, each state an auxiliary with its own proximal activation:

.. math::
    \tilde u_{k+1} &= \mathrm{clip}_{[-1,1]}\Big(\tilde u_k + D_k\big(c_kx_k - d_kx_{k-1}\big)\Big),
    \quad c_k = (1+\alpha_k)\tfrac{\tau_k}{\mu_k\nu_k},\ d_k = \alpha_k\tfrac{\tau_k}{\mu_k\nu_k},\\
    x_{k+1} &= \mathrm{clip}_{[0,1]}\Big(\tfrac{\mu_k}{1+\mu_k}z + \tfrac1{1+\mu_k}x_k
    - \tfrac{\mu_k\nu_k}{1+\mu_k}D_k^*\tilde u_{k+1}\Big).

The first dual layer folds :math:`u_0 = D_0 z` in,
:math:`\tilde u_1 = \mathrm{clip}(\tfrac{1+\tau_0/\mu_0}{\nu_0}D_0z)`, and the first primal layer
reads :math:`z` once (:math:`x_0 = z`).  States
``[z, ũ_1, x_1, ũ_2, x_2, ..., ũ_K, x_K]``: the dual layer of iteration :math:`k` reads
:math:`x_k` and, by skips, :math:`\tilde u_k` and :math:`x_{k-1}`; the primal layer reads
:math:`\tilde u_{k+1}` and, by skips, :math:`x_k` and :math:`z`.  The output layer is the
last primal step, so the loss is the clip's Bregman penalty :math:`B_{[0,1]}(x, v_{2K})`
(:math:`\ge\tfrac12\|x - x_K\|^2`, zero exactly when :math:`x_K = x`).  With all
:math:`\nu_k` equal this is exactly the ScCP iteration with threshold :math:`\nu`.

Operator :math:`k` (kernel, :math:`\log\mu_k`, :math:`\log\nu_k`) is shared by the two layers of
its iteration; it is a parameter of the dual layer only (the primal layer's maps borrow it
without registering it), so every parameter belongs to one weight block.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..activations import Clip
from ..utils.checks import check_image_scale, check_positive
from .dfb import DFBPNN, AnalysisOperator, check_sizes
from .linear_maps import IdentityMap, LinearMap
from .network import Layer, LiftedNetwork
from .power import power_iteration


class SccpOperator(AnalysisOperator):
    r"""An :class:`~liftinv.models.dfb.AnalysisOperator` :math:`D_k` (kernel, box radius
    :math:`\nu_k`, step :math:`\tau_k = 0.99/\|D_k\|^2`) with the primal step
    :math:`\mu_k = e^{\log\mu_k}` and the inertia :math:`\alpha_k = 1/\sqrt{1+2\mu_k}` (a constant)."""

    def __init__(self, channels: int, features: int, kernel_size: int = 3, nu: float = 0.01,
                 mu: float = 1.0) -> None:
        super().__init__(channels, features, kernel_size, nu)
        if mu <= 0:
            raise ValueError(f"mu must be positive, got {mu}")
        self.log_mu = nn.Parameter(torch.tensor(math.log(mu)))

    @property
    def mu(self) -> torch.Tensor:
        return self.log_mu.exp()

    @property
    def alpha(self) -> torch.Tensor:
        return 1.0 / torch.sqrt(1.0 + 2.0 * self.mu.detach())

    def coefficient(self, kind: str) -> torch.Tensor:
        """The scalar of the map ``kind`` (see :class:`SccpMap`)."""
        tau, mu, nu = self.tau, self.mu, self.nu
        if kind == "start":
            return (1.0 + tau / mu) / nu
        if kind == "current":
            return (1.0 + self.alpha) * tau / (mu * nu)
        if kind == "previous":
            return -self.alpha * tau / (mu * nu)
        if kind == "readout":
            return -mu * nu / (1.0 + mu)
        if kind == "keep":
            return 1.0 / (1.0 + mu)
        if kind == "data":
            return mu / (1.0 + mu)
        raise ValueError(f"unknown ScCP map {kind!r}")


class SccpMap(LinearMap):
    r"""One map of a ScCP layer, a scalar :math:`c` (:meth:`SccpOperator.coefficient`) times
    :math:`D_k`, :math:`D_k^*` or the identity:

    ========== ===================================== =====================
    kind       map                                   reads
    ========== ===================================== =====================
    start      :math:`\tfrac{1+\tau/\mu}{\nu} D`        :math:`z` (dual layer 1)
    current    :math:`(1+\alpha)\tfrac{\tau}{\mu\nu} D` :math:`x_k`
    previous   :math:`-\alpha\tfrac{\tau}{\mu\nu} D`    :math:`x_{k-1}`
    readout    :math:`-\tfrac{\mu\nu}{1+\mu} D^*`       :math:`\tilde u_{k+1}`
    keep       :math:`\tfrac1{1+\mu} I`               :math:`x_k`
    data       :math:`\tfrac{\mu}{1+\mu} I`           :math:`z`
    ========== ===================================== =====================

    Scalars act on the ``C``-channel side.  ``own=False`` borrows the operator (its
    parameters are not registered here).  Norms are closed forms,
    :math:`c^2\|D\|^2` or :math:`c^2`.
    """

    ANALYSIS, SYNTHESIS, SCALAR = ("start", "current", "previous"), ("readout",), ("keep", "data")

    def __init__(self, op: SccpOperator, kind: str, own: bool = True) -> None:
        super().__init__()
        if kind not in self.ANALYSIS + self.SYNTHESIS + self.SCALAR:
            raise ValueError(f"unknown ScCP map {kind!r}")
        self.kind = kind
        if own:
            self.owned = op
        else:
            self._borrowed = [op]  # a list, so that nn.Module does not register it

    @property
    def op(self) -> SccpOperator:
        return self._modules["owned"] if "owned" in self._modules else self._borrowed[0]

    @property
    def radius(self) -> int:
        """How far (pixels) an output pixel reads its input."""
        return 0 if self.kind in self.SCALAR else self.op.weight.shape[-1] // 2

    def coef(self) -> torch.Tensor:
        return self.op.coefficient(self.kind)

    def A(self, x):
        c = self.coef()
        if self.kind in self.ANALYSIS:
            return self.op.D(c * x)
        if self.kind in self.SYNTHESIS:
            return c * self.op.Dt(x)
        return c * x

    def A_adjoint(self, r, x_shape):
        c = self.coef()
        if self.kind in self.ANALYSIS:
            return c * self.op.Dt(r)
        if self.kind in self.SYNTHESIS:
            return self.op.D(c * r)
        return c * r

    def out_shape(self, x_shape):
        f, ch = self.op.weight.shape[:2]
        if self.kind in self.ANALYSIS:
            return (f,) + tuple(x_shape[1:])
        if self.kind in self.SYNTHESIS:
            return (ch,) + tuple(x_shape[1:])
        return tuple(x_shape)

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        c2 = float(self.coef().detach() ** 2)
        return (c2 if self.kind in self.SCALAR else c2 * float(self.op.norm_sq)), None

    def exact_norm_sq(self, x_shape):
        est, _ = power_iteration(lambda v: self.A_adjoint(self.A(v), x_shape), None, 500,
                                 shape=(1,) + tuple(x_shape), like=self.op.weight, seed=0, cold_iters=20)
        return float(est)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, own={'owned' in self._modules}"


class SccpLayer(Layer):
    """A ScCP half-step; the pre-activation is not linear in the parameters (weight steps use
    Adam).  The forward pass applies :math:`D` once to the sum of the scaled inputs that it
    reads through :math:`D` (one convolution for the dual step)."""

    params_linear = False

    def forward(self, x_prev, *x_skips):
        analysis, v = None, None
        for amap, x in zip((self.linear, *self.skips), (x_prev, *x_skips)):
            if isinstance(amap, SccpMap) and amap.kind in SccpMap.ANALYSIS:
                term = amap.coef() * x
                analysis, op = (term if analysis is None else analysis + term), amap.op
            else:
                v = amap(x) if v is None else v + amap(x)
        if analysis is not None:
            analysis = op.D(analysis)
            v = analysis if v is None else v + analysis
        return v


class SccpPNN(LiftedNetwork):
    r"""Unrolled ScCP proximal denoiser, ``depth`` iterations (``2 depth`` lifted layers),
    ``features`` dual channels; grayscale or colour from ``in_shape = (C, H, W)`` (the
    training patch shape; :meth:`forward` accepts any spatial size).

    Parameters per iteration: the :math:`F\times C\times k\times k` kernel, :math:`\log\mu_k`
    and :math:`\log\nu_k`, i.e. ``depth (F C k^2 + 2)`` in all (2900 for ``depth=10,
    features=32``, grayscale; 3179 for the DFB-PNN of the same size).
    """

    def __init__(self, in_shape=(1, 40, 40), depth: int = 10, features: int = 32, kernel_size: int = 3,
                 nu: float = 0.01, mu: float = 1.0) -> None:
        in_shape, depth, features, nu = check_sizes("SccpPNN", in_shape, depth, features, nu)
        mu = check_positive(mu, "SccpPNN mu")
        c = in_shape[0]
        ops = [SccpOperator(c, features, kernel_size, nu, mu) for _ in range(depth)]
        layers = []
        for k, op in enumerate(ops):  # states: 0 = z, 2k - 1 = u_k, 2k = x_k
            if k == 0:
                layers.append(SccpLayer(SccpMap(op, "start"), "clip"))
                primal_skips = [(0, IdentityMap())]  # (mu z + x_0) / (1 + mu) = z
            else:
                layers.append(SccpLayer(SccpMap(op, "current"), "clip",
                                        skip=[(2 * k - 1, IdentityMap()), (2 * k - 2, SccpMap(op, "previous"))]))
                primal_skips = [(2 * k, SccpMap(op, "keep", own=False)), (0, SccpMap(op, "data", own=False))]
            layers.append(SccpLayer(SccpMap(op, "readout", own=False), Clip(0.0, 1.0), skip=primal_skips))
        super().__init__(layers, in_shape=in_shape)
        self.ops = nn.ModuleList(ops)
        self.refresh(n_iter=30)

    # the same step-size rule and input contract as the DFB-PNN
    refresh = DFBPNN.refresh
    check_input = DFBPNN.check_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised image of a floating image on the [0, 1] scale (0-255 and integer images refused)."""
        check_image_scale(x, f"{type(self).__name__}: x")
        return super().forward(x)

r"""Unrolled deblurring networks with the blur inside every layer (a :class:`LiftedNetwork`).

Problem :math:`\min_x \tfrac12\|Ax-y\|^2 + \nu\|Dx\|_1` (A: circular blur, fixed, from deepinv).
Forward-backward with the proximal step computed by one warm-started dual (DFB) iteration
(as in :mod:`liftinv.models.dfb`, dual variable scaled by :math:`\nu`), unrolled K times:

.. math::
    z_k = M x_{k-1} + N y,\qquad
    \tilde u_k = \mathrm{clip}_{[-1,1]}\big(\tilde u_{k-1} - \tau_kD_kD_k^*\tilde u_{k-1}
        + \tfrac{\tau_k}{\nu_k}D_kz_k\big),\qquad
    x_k = z_k - \nu'_kD_k'^*\tilde u_k ,

with :math:`x_0 = y`, :math:`\tilde u_0 = 0`, output :math:`x_K`. The data step is either

* ``'gradient'`` (forward-backward): :math:`M = I - \gamma A^*A`, :math:`N = \gamma A^*`,
  :math:`\gamma = 1/\|A\|^2` (deepinv's ``A``/``A_adjoint``); :math:`\|M\|\le1`;
* ``'proximal'`` (half-quadratic splitting): :math:`M = \mu_k(A^*A+\mu_kI)^{-1}`,
  :math:`N = (A^*A+\mu_kI)^{-1}A^*`, by FFT (exact for the circular blur), with a learned
  :math:`\mu_k > 0` per step; :math:`\|M\|\le1`.

Every layer is affine-then-prox, so lifted training needs no extra code. States:
:math:`[y, z_1, \tilde u_1, z_2, \tilde u_2, \dots, z_K, \tilde u_K]`, output :math:`x_K`:

* layer 1: :math:`z_1 = (M+N)y` (identity activation);
* u-layer: :math:`\mathrm{clip}(\mathrm{Inj}_k z_k + \mathrm{Dual}_k\tilde u_{k-1})`
  (the DFB maps of :mod:`liftinv.models.dfb`);
* z-layer: :math:`z_{k+1} = M\,\mathrm{Read}'_k\tilde u_k + M z_k + N y` (identity);
* last layer: :math:`x_K = \mathrm{Read}'_K\tilde u_K + z_K` (identity).

Our choice (documented, not from a paper): the readout operators :math:`D'_k` are learned
separately from the :math:`D_k` (as DFB-PNN's readout :math:`D_K`), because the lifted solvers
give one weight block per layer and a parameter may belong to one layer only. With
:math:`D'_k = D_k` and equal :math:`\nu` the network is exactly FB with one inner DFB iteration.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models.dfb import AnalysisOperator, DFBLayer, DualStepMap, InjectionMap, ReadoutMap
from ..models.linear_maps import IdentityMap, LinearMap
from ..models.network import Layer, LiftedNetwork
from ..utils.checks import check_image_scale, check_tensor
from .physics import CircularBlur, as_kernel, check_kernel_fits

DATA_STEPS = ("gradient", "proximal")


class DataStep(nn.Module):
    r"""The fixed data step of one iteration: :math:`M` and :math:`N` (see the module doc).

    ``'gradient'`` uses deepinv's ``A``/``A_adjoint``; ``'proximal'`` Fourier multipliers
    :math:`\mu/(|\hat h|^2+\mu)` and :math:`\bar{\hat h}/(|\hat h|^2+\mu)` with a learned
    :math:`\mu = e^{\log\mu}`.
    """

    def __init__(self, blur: CircularBlur, kind: str, gamma: float, mu: float) -> None:
        super().__init__()
        if kind not in DATA_STEPS:
            raise ValueError(f"data_step must be one of {DATA_STEPS}, got {kind!r}")
        self.blur, self.kind, self.gamma = blur, kind, float(gamma)
        if kind == "proximal":
            self.log_mu = nn.Parameter(torch.tensor(math.log(mu)))

    def _mult(self, x: torch.Tensor, which: str) -> torch.Tensor:
        h = self.blur.transfer(x.shape[-2], x.shape[-1], x.device, dtype=x.dtype)
        mu = self.log_mu.exp()
        den = h.real**2 + h.imag**2 + mu
        return mu / den if which == "M" else h.conj() / den

    def M(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "gradient":
            return x - self.gamma * self.blur.A_adjoint(self.blur.A(x))
        return torch.fft.ifft2(torch.fft.fft2(x) * self._mult(x, "M")).real

    def N(self, y: torch.Tensor, adjoint: bool = False) -> torch.Tensor:
        if self.kind == "gradient":
            return self.gamma * (self.blur.A(y) if adjoint else self.blur.A_adjoint(y))
        m = self._mult(y, "N")
        return torch.fft.ifft2(torch.fft.fft2(y) * (m.conj() if adjoint else m)).real

    def MN(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """:math:`Mx + Ny` (one FFT pair fewer for the proximal step)."""
        if self.kind == "gradient":
            return x + self.gamma * self.blur.A_adjoint(y - self.blur.A(x))
        num = torch.fft.fft2(x) * self._mult(x, "M") + torch.fft.fft2(y) * self._mult(y, "N")
        return torch.fft.ifft2(num).real


class _StepMap(LinearMap):
    """Base of the maps built from a :class:`DataStep`; fixed norms from the transfer function."""

    def __init__(self, step: DataStep) -> None:
        super().__init__()
        self.step = step

    def out_shape(self, x_shape):
        return tuple(x_shape)

    def _norm_sq(self, x_shape) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        return self._norm_sq(x_shape), None

    def exact_norm_sq(self, x_shape):
        return self._norm_sq(x_shape)

    def _h2(self, x_shape):
        h = self.step.blur.transfer(x_shape[-2], x_shape[-1], dtype=self.step.blur.kernel.dtype)
        return h.abs() ** 2, h


class PrimalStepMap(_StepMap):
    r""":math:`x\mapsto Mx` (symmetric, :math:`\|M\|\le1`)."""

    def A(self, x):
        return self.step.M(x)

    def A_adjoint(self, r, x_shape):
        return self.step.M(r)

    def _norm_sq(self, x_shape):
        h2, _ = self._h2(x_shape)
        with torch.no_grad():
            if self.step.kind == "gradient":
                return float(((1 - self.step.gamma * h2).abs().max()) ** 2)
            mu = float(self.step.log_mu.exp())
            return float((mu / (h2 + mu)).max() ** 2)


class DataInjectionMap(_StepMap):
    r""":math:`y\mapsto Ny` (:math:`\gamma A^*y` or :math:`(A^*A+\mu)^{-1}A^*y`)."""

    def A(self, y):
        return self.step.N(y)

    def A_adjoint(self, r, x_shape):
        return self.step.N(r, adjoint=True)

    def _norm_sq(self, x_shape):
        h2, _ = self._h2(x_shape)
        with torch.no_grad():
            if self.step.kind == "gradient":
                return float(self.step.gamma**2 * h2.max())
            mu = float(self.step.log_mu.exp())
            return float((h2 / (h2 + mu) ** 2).max())


class StartMap(_StepMap):
    r""":math:`y\mapsto (M+N)y`, the first data step from :math:`x_0 = y`."""

    def A(self, y):
        return self.step.MN(y, y)

    def A_adjoint(self, r, x_shape):
        return self.step.M(r) + self.step.N(r, adjoint=True)

    def _norm_sq(self, x_shape):
        _, h = self._h2(x_shape)
        with torch.no_grad():
            h2 = h.abs() ** 2
            if self.step.kind == "gradient":
                g = self.step.gamma
                t = 1 - g * h2 + g * h.conj()
            else:
                mu = self.step.log_mu.exp()
                t = (mu + h.conj()) / (h2 + mu)
            return float(t.abs().max() ** 2)


class ComposedMap(LinearMap):
    r""":math:`x\mapsto \mathrm{outer}(\mathrm{inner}(x))` (no biases); the norm estimate is
    the product of the outer's fixed norm and the inner's power-iteration estimate."""

    def __init__(self, outer: _StepMap, inner: LinearMap) -> None:
        super().__init__()
        self.outer, self.inner = outer, inner

    def A(self, x):
        return self.outer.A(self.inner.A(x))

    def A_adjoint(self, r, x_shape):
        mid = self.inner.out_shape(x_shape)
        return self.inner.A_adjoint(self.outer.A_adjoint(r, mid), x_shape)

    def out_shape(self, x_shape):
        return self.outer.out_shape(self.inner.out_shape(x_shape))

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        est, vec = self.inner.op_norm_sq(x_shape, vec, n_iter)
        return self.outer.op_norm_sq(self.inner.out_shape(x_shape))[0] * est, vec

    def exact_norm_sq(self, x_shape):
        """The norm of the composition itself (the estimate above is the product bound)."""
        return LinearMap.op_norm_sq(self, x_shape, n_iter=500)[0]


class DataLayer(Layer):
    r"""z-layer :math:`z_{k+1} = M(z_k + \mathrm{Read}'\tilde u_k) + Ny`, fused: one data step."""

    params_linear = False

    def forward(self, x_prev, *x_skips):
        if isinstance(self.linear, ComposedMap) and len(x_skips) == 2:
            step = self.linear.outer.step
            x = x_skips[0] + self.linear.inner.A(x_prev)
            return step.MN(x, x_skips[1])
        return super().forward(x_prev, *x_skips)


class UnrolledDeblurNet(LiftedNetwork):
    r"""K unrolled (FB or HQS) iterations with learned DFB proximal layers; see the module doc.

    ``in_shape = (C, H, W)`` is the training patch shape; :meth:`forward` accepts any size
    at least as large as the kernel.  :meth:`set_kernel` swaps the (fixed) blur.
    """

    def __init__(self, kernel, in_shape=(1, 40, 40), iters: int = 6, features: int = 16,
                 kernel_size: int = 3, nu: float = 0.05, data_step: str = "proximal",
                 mu: float = 0.05, gamma: float | None = None) -> None:
        c = int(in_shape[0])
        if iters < 1:
            raise ValueError(f"iters must be >= 1, got {iters}")
        k = as_kernel(kernel)
        check_kernel_fits(k, in_shape, "training patch")
        blur = CircularBlur(k, channels=c)
        gamma = 1.0 / blur.norm_sq(*in_shape[1:]) if gamma is None else float(gamma)
        if data_step == "gradient" and not 0 < gamma * blur.norm_sq(*in_shape[1:]) < 2:
            raise ValueError(f"gamma must lie in (0, 2/||A||^2) for the gradient step, got {gamma}")
        steps = [DataStep(blur, data_step, gamma, mu) for _ in range(iters)]
        ops = [AnalysisOperator(c, features, kernel_size, nu) for _ in range(iters)]
        reads = [AnalysisOperator(c, features, kernel_size, nu) for _ in range(iters)]
        layers: list[Layer] = [Layer(StartMap(steps[0]), "identity")]
        for k_ in range(iters):
            z_idx = 2 * k_ + 1  # state index of z_{k+1}
            skips = [(z_idx - 1, DualStepMap(ops[k_]))] if k_ > 0 else None
            layers.append(DFBLayer(InjectionMap(ops[k_]), "clip", skip=skips))
            if k_ < iters - 1:
                nxt = steps[k_ + 1]
                layers.append(DataLayer(ComposedMap(PrimalStepMap(nxt), ReadoutMap(reads[k_])), "identity",
                                        skip=[(z_idx, PrimalStepMap(nxt)), (0, DataInjectionMap(nxt))]))
        layers.append(DFBLayer(ReadoutMap(reads[-1]), "identity", skip=(2 * iters - 1, IdentityMap())))
        super().__init__(layers, in_shape=in_shape)
        self.blur = blur
        self.steps = nn.ModuleList(steps)
        self.ops = nn.ModuleList(ops)
        self.reads = nn.ModuleList(reads)
        self.refresh(n_iter=30)

    @torch.no_grad()
    def refresh(self, n_iter: int = 1) -> None:
        """Recompute every :math:`\\tau_k = 0.99/\\|D_k\\|^2` (and the readout norms)."""
        for op in (*self.ops, *self.reads):
            op.refresh(self.in_shape[1:], n_iter)

    @torch.no_grad()
    def set_kernel(self, kernel) -> None:
        """Use another blur kernel (the learned weights do not depend on it).  It may be larger than
        the training patch: :meth:`check_input` checks it against each image it restores."""
        like = self.blur.kernel  # the network's device and dtype (a float64 network blurs in float64)
        k = as_kernel(kernel).to(like)
        blur = CircularBlur(k, channels=self.in_shape[0]).to(like)
        grid = [max(n, s) for n, s in zip(self.in_shape[1:], k.shape[-2:])]  # a grid the kernel fits
        for step in self.steps:
            step.blur = blur
            if step.kind == "gradient":
                step.gamma = 1.0 / blur.norm_sq(*grid)
        self.blur = blur

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        check_tensor(x, name, like=self.ops[0].weight)
        if x.dim() != 4 or x.shape[1] != self.in_shape[0]:
            raise ValueError(f"{name} must be shaped (B, {self.in_shape[0]}, H, W), got {tuple(x.shape)}")
        check_kernel_fits(self.blur.kernel, x.shape, name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The restored image of a blurred floating image on the [0, 1] scale (0-255 and integer
        images refused)."""
        check_image_scale(x, f"{type(self).__name__}: x")
        return super().forward(x)


def default_deblur_arch(kernel, channels: int = 1, patch: int = 40, iters: int = 6, features: int = 16,
                        data_step: str = "proximal", mu: float = 0.05) -> dict:
    """Architecture dictionary of an :class:`UnrolledDeblurNet` (stored in checkpoints)."""
    return {"name": "unrolled-deblur", "channels": channels, "patch": patch, "iters": iters,
            "features": features, "kernel_size": 3, "nu": 0.05, "data_step": data_step, "mu": mu,
            "kernel": as_kernel(kernel).tolist()}


def build_deblurrer(arch: dict) -> UnrolledDeblurNet:
    if arch.get("name") != "unrolled-deblur":
        raise ValueError(f"not an unrolled deblurring architecture: {arch.get('name')!r}")
    return UnrolledDeblurNet(torch.tensor(arch["kernel"]), (arch["channels"], arch["patch"], arch["patch"]),
                             iters=arch["iters"], features=arch["features"], kernel_size=arch["kernel_size"],
                             nu=arch["nu"], data_step=arch["data_step"], mu=arch["mu"])

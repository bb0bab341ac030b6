r"""Unrolled dual forward-backward proximal denoisers (DFB-PNN) and their inertial variant.

Denoising :math:`\min_x \tfrac12\|x - z\|^2 + \nu\|Dx\|_1` by dual forward-backward
(Combettes et al. 2010) iterates on a dual variable :math:`u` (``F`` channels):
:math:`u_{k+1} = \mathrm{clip}_{[-\nu,\nu]}(u_k - \tau D(D^*u_k - z))`,
:math:`\hat x = z - D^*u`.  Unrolled with a learned convolution :math:`D_k` per layer
(``C -> F`` channels, tied adjoint :math:`D_k^*` = transposed convolution), step
:math:`\tau_k = 0.99/\|D_k\|^2` (warm-started power iteration, refreshed after every
weight update and treated as a constant by both trainers), and the dual variable
scaled by the learned threshold, :math:`\tilde u = u/\nu`, every layer is
affine-then-prox with the fixed activation :math:`\mathrm{clip}_{[-1,1]}`:

.. math::
    \tilde u_{k+1} = \mathrm{clip}_{[-1,1]}\big(\tilde u_k - \tau_kD_kD_k^*\tilde u_k
    + \tfrac{\tau_k}{\nu_k}D_kz\big),\quad \tilde u_0 = 0,\qquad
    \hat x = z - \nu_KD_K^*\tilde u_K .

With all :math:`\nu_k` equal this is exactly DFB with threshold :math:`\nu`; learning
one :math:`\nu_k > 0` per layer (parametrised by its logarithm) is our choice.  The
map :math:`\tilde u \mapsto \tilde u - \tau D D^*\tilde u` is symmetric with norm at most 1.

The **inertial** variant (FISTA-type acceleration, which gives skip connections,
Le et al. 2024) extrapolates :math:`w_k = \tilde u_k + \alpha_k(\tilde u_k - \tilde u_{k-1})`
before each step, with :math:`\alpha_k = (t_{k-1}-1)/t_k` from FISTA's sequence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.checks import check_image_scale, check_number, check_positive, check_tensor
from .linear_maps import IdentityMap, LinearMap
from .network import Layer, LiftedNetwork
from .power import power_iteration
from .same_conv import same_conv, same_conv_adjoint


class AnalysisOperator(nn.Module):
    r"""A learned convolution :math:`D: \mathbb R^{C\times H\times W}\to\mathbb R^{F\times H\times W}`,
    its adjoint, its threshold :math:`\nu = e^{\log\nu}` and step :math:`\tau = 0.99/\|D\|^2`."""

    def __init__(self, channels: int, features: int, kernel_size: int = 3, nu: float = 0.1) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a 'same' convolution), got {kernel_size}")
        w = torch.empty(features, channels, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.weight = nn.Parameter(w)
        self.log_nu = nn.Parameter(torch.tensor(math.log(nu)))
        self.register_buffer("tau", torch.tensor(1.0))
        self.register_buffer("norm_sq", torch.tensor(1.0))
        self._vec: torch.Tensor | None = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # new weights: the warm start of the power iteration belongs to the old ones (one warm
        # iteration from it underestimated |D|^2 up to 7x on a loaded shipped model, tau |D|^2 = 7.05),
        # so the next refresh starts cold (30 iterations)
        self._vec = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def nu(self) -> torch.Tensor:
        return self.log_nu.exp()

    def D(self, x: torch.Tensor) -> torch.Tensor:
        return same_conv(x, self.weight)

    def Dt(self, u: torch.Tensor) -> torch.Tensor:
        return same_conv_adjoint(u, self.weight)

    @torch.no_grad()
    def refresh(self, spatial: tuple[int, int], n_iter: int = 1) -> None:
        r"""Update :math:`\|D\|^2` (warm power iteration on :math:`D^*D`, at least 30 from a
        cold start; :func:`~liftinv.models.power.power_iteration`) and :math:`\tau`."""
        shape = (1, self.weight.shape[1]) + tuple(spatial)
        est, self._vec = power_iteration(lambda v: self.Dt(self.D(v)), self._vec, n_iter,
                                         shape=shape, like=self.weight, seed=0, cold_iters=30)
        self.norm_sq.copy_(est)
        self.tau.copy_(0.99 / est)


class DualStepMap(LinearMap):
    r""":math:`\tilde u \mapsto \beta(\tilde u - \tau D D^*\tilde u)`: symmetric, norm :math:`\le|\beta|`."""

    def __init__(self, op: AnalysisOperator, beta: float = 1.0) -> None:
        super().__init__()
        self.op, self.beta = op, float(beta)

    def A(self, u):
        out = u + self.op.D(self.op.Dt(u) * -self.op.tau)  # scalar and sign on the C-channel side
        return out if self.beta == 1.0 else self.beta * out

    def A_adjoint(self, r, x_shape):
        return self.A(r)

    def out_shape(self, x_shape):
        return tuple(x_shape)

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        return self.beta**2, None  # eigenvalues of I - tau D D^* lie in (-1, 1] when tau ||D||^2 < 2

    def exact_norm_sq(self, x_shape):
        return super().op_norm_sq(x_shape, n_iter=500)[0]


class InjectionMap(LinearMap):
    r""":math:`z \mapsto (\tau/\nu) D z`, the noisy image entering a layer."""

    def __init__(self, op: AnalysisOperator) -> None:
        super().__init__()
        self.op = op

    def A(self, z):
        return self.op.D((self.op.tau / self.op.nu) * z)

    def A_adjoint(self, r, x_shape):
        return (self.op.tau / self.op.nu) * self.op.Dt(r)

    def out_shape(self, x_shape):
        return (self.op.weight.shape[0],) + tuple(x_shape[1:])

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        r""":math:`(\tau/\nu)^2\|D\|^2` from the operator's own estimate (kept by ``refresh``)."""
        return float((self.op.tau / self.op.nu.detach()) ** 2 * self.op.norm_sq), None


class ReadoutMap(LinearMap):
    r""":math:`\tilde u \mapsto -\nu D^*\tilde u`, the primal estimate's correction."""

    def __init__(self, op: AnalysisOperator) -> None:
        super().__init__()
        self.op = op

    def A(self, u):
        return -self.op.nu * self.op.Dt(u)

    def A_adjoint(self, r, x_shape):
        return -self.op.nu * self.op.D(r)

    def out_shape(self, x_shape):
        return (self.op.weight.shape[1],) + tuple(x_shape[1:])

    def op_norm_sq(self, x_shape, vec=None, n_iter: int = 1):
        return float(self.op.nu.detach() ** 2 * self.op.norm_sq), None


class DFBLayer(Layer):
    """A DFB layer: its maps share one :class:`AnalysisOperator`, so the pre-activation
    is not linear in the parameters (weight steps use Adam, not Lipschitz steps).

    The forward pass fuses the maps: with :math:`w = \\sum_j\\beta_j\\tilde u_j` (the
    inertial combination), :math:`v = w + D\\big(\\tfrac{\\tau}{\\nu}z - \\tau D^*w\\big)`,
    one convolution :math:`D` instead of one per map, scalars and signs on the image side
    (no full-size negation forward or backward).
    """

    params_linear = False

    def forward(self, x_prev, *x_skips):
        maps, xs = (self.linear, *self.skips), (x_prev, *x_skips)
        duals = [(m.beta, x) for m, x in zip(maps, xs) if isinstance(m, DualStepMap)]
        z = [x for m, x in zip(maps, xs) if isinstance(m, InjectionMap)]
        if len(duals) + len(z) != len(maps) or len(z) != 1:
            return super().forward(x_prev, *x_skips)  # e.g. the readout layer
        op = self.linear.op
        img = z[0] * (op.tau / op.nu)
        if not duals:
            return op.D(img)
        w = None
        for beta, x in duals:
            w = (x if beta == 1.0 else beta * x) if w is None else w + beta * x
        return w + op.D(img - op.tau * op.Dt(w))


def dual_steps(ops, us, z=None) -> list[torch.Tensor]:
    r""":math:`u_j + D_j\big(\tfrac{\tau_j}{\nu_j}z - \tau_jD_j^*u_j\big)` for several layers at once
    (without ``z``: :math:`u_j - \tau_jD_jD_j^*u_j`).

    The layers' channels are stacked, :math:`(B, GF, H, W)`, and :math:`D^*` and
    :math:`D` are each one grouped convolution (``groups = G``): two kernel launches for
    the whole colour group instead of two per layer.  Returns one view per layer.
    """
    g, (f, c, k, _) = len(ops), ops[0].weight.shape
    weight = torch.cat([op.weight for op in ops])  # (G F, C, k, k)
    tau = torch.stack([op.tau for op in ops]).repeat_interleave(c).view(1, g * c, 1, 1)
    u = torch.cat(list(us), 1)
    inner = F.conv_transpose2d(u, weight, padding=k // 2, groups=g) * -tau
    if z is not None:
        ratio = torch.stack([op.tau / op.nu for op in ops]).repeat_interleave(c).view(1, g * c, 1, 1)
        inner = inner + z.repeat(1, g, 1, 1) * ratio
    return list((u + F.conv2d(inner, weight, padding=k // 2, groups=g)).split(f, 1))


def check_sizes(name: str, in_shape, depth, features, nu) -> tuple[tuple[int, int, int], int, int, float]:
    """The settings of an unrolled denoiser ``name`` (``"DFBPNN"``, ``"SccpPNN"``) as ``(in_shape,
    depth, features, nu)``: ``in_shape`` three positive integers (C, H, W), ``depth`` and
    ``features`` integers >= 1 and ``nu`` a finite number > 0; else a ``ValueError`` naming the
    argument (they failed inside torch's convolution or ``math.log``)."""
    if isinstance(in_shape, (str, bytes)) or not hasattr(in_shape, "__len__") or len(in_shape) != 3:
        raise ValueError(f"{name} in_shape: expected (C, H, W), the channels and a training patch's size, e.g. "
                         f"(1, 40, 40), got {in_shape!r}")
    in_shape = tuple(check_number(n, f"{name} in_shape", minimum=1, integer=True) for n in in_shape)
    depth = check_number(depth, f"{name} depth", minimum=1, integer=True)
    features = check_number(features, f"{name} features", minimum=1, integer=True)
    return in_shape, depth, features, check_positive(nu, f"{name} nu")


class DFBPNN(LiftedNetwork):
    r"""Unrolled DFB proximal denoiser with ``depth`` layers, ``features`` dual channels.

    ``in_shape = (C, H, W)`` is the training patch shape; :meth:`forward` accepts any
    spatial size.  ``inertial=True`` gives the FISTA-accelerated variant.
    """

    def __init__(
        self,
        in_shape=(1, 40, 40),
        depth: int = 10,
        features: int = 32,
        kernel_size: int = 3,
        nu: float = 0.1,
        inertial: bool = False,
    ) -> None:
        in_shape, depth, features, nu = check_sizes("DFBPNN", in_shape, depth, features, nu)
        c = in_shape[0]
        ops = [AnalysisOperator(c, features, kernel_size, nu) for _ in range(depth + 1)]
        layers = [DFBLayer(InjectionMap(ops[0]), "clip")]
        t_prev = 1.0
        for k in range(1, depth):
            t = 0.5 * (1 + math.sqrt(1 + 4 * t_prev**2))
            alpha = (t_prev - 1) / t if inertial else 0.0
            t_prev = t
            skips = [(0, InjectionMap(ops[k]))]
            if alpha > 0 and k >= 2:  # w_k = u_k + alpha_k (u_k - u_{k-1}); u_0 = 0 has no state
                skips.append((k - 1, DualStepMap(ops[k], -alpha)))
            layers.append(DFBLayer(DualStepMap(ops[k], 1.0 + alpha), "clip", skip=skips))
        layers.append(DFBLayer(ReadoutMap(ops[depth]), "identity", skip=(0, IdentityMap())))
        super().__init__(layers, in_shape=in_shape)
        self.ops = nn.ModuleList(ops)
        self.refresh(n_iter=30)

    @torch.no_grad()
    def refresh(self, n_iter: int = 1) -> None:
        """Recompute every step size :math:`\\tau_k = 0.99/\\|D_k\\|^2` after a weight update."""
        for op in self.ops:
            op.refresh(self.in_shape[1:], n_iter)

    # -- layers batched together (an even/odd auxiliary sweep) ---------------------------------
    def _plain_step(self, li: int) -> AnalysisOperator | None:
        """The operator of layer ``li`` when it is a plain DFB step
        :math:`v = \tilde u + D(\tfrac{\tau}{\nu}z - \tau D^*\tilde u)` (no inertia), else None."""
        layer = self.layer(li)
        plain = (isinstance(layer.linear, DualStepMap) and layer.linear.beta == 1.0
                 and layer.skip_from == [0] and isinstance(layer.skips[0], InjectionMap))
        return layer.linear.op if plain else None

    def preactivations(self, ls, states):
        r"""Pre-activations of several layers; the plain DFB steps among them (independent
        layers of one colour group) in one grouped computation, see :func:`dual_steps`."""
        plain = [li for li in ls if self._plain_step(li) is not None]
        if len(plain) < 2:
            return super().preactivations(ls, states)
        batched = dict(zip(plain, dual_steps([self._plain_step(li) for li in plain],
                                             [states[li - 1] for li in plain], states[0])))
        return [batched[li] if li in batched else self.preactivation(li, states) for li in ls]

    def adjoints(self, terms):
        r""":math:`M_{r,m}^\top g`; those of the plain dual steps (symmetric maps
        :math:`g - \tau D D^*g`) in one grouped computation."""
        plain = [i for i, (r, m, _) in enumerate(terms) if m == r - 1 and self._plain_step(r) is not None]
        if len(plain) < 2:
            return super().adjoints(terms)
        out = super().adjoints([t for i, t in enumerate(terms) if i not in plain])[::-1]
        done = dict(zip(plain, dual_steps([self._plain_step(terms[i][0]) for i in plain],
                                          [terms[i][2] for i in plain])))
        return [done[i] if i in done else out.pop() for i in range(len(terms))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised image; ``x`` must be a floating image on the [0, 1] scale (noise
        included): an integer tensor or values above 10 (a 0-255 image) are refused."""
        check_image_scale(x, f"{type(self).__name__}: x")
        return super().forward(x)

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Any spatial size: the network is fully convolutional."""
        check_tensor(x, name, like=self.ops[0].weight)
        if x.dim() != 4 or x.shape[1] != self.in_shape[0]:
            raise ValueError(f"{name} must be shaped (B, {self.in_shape[0]}, H, W), got {tuple(x.shape)}")

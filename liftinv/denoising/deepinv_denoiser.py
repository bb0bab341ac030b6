r"""liftinv's trained denoisers as ``deepinv.models.Denoiser``, for deepinv's plug-and-play solvers.

A network trained at one noise level :math:`\sigma_t` (DFB-PNN, ScCP-PNN, DnCNN) is asked by a
plug-and-play solver to denoise at the level :math:`\sigma` of its choice (``g_param``).  With
``rescale=True`` (the default) the wrapper uses the scaling trick

.. math::
    D_\sigma(x) = \frac1s\,N(s\,x),\qquad s = \sigma_t/\sigma,

so that the network sees noise of its own level :math:`\sigma_t`.  For the DFB-PNN this is
exact in a sense: denoising :math:`s z` by DFB with threshold :math:`\nu` and dividing by
:math:`s` is DFB on :math:`z` with threshold :math:`\nu/s = \nu\sigma/\sigma_t`, the threshold
proportional to the noise level.  A network that clips its estimate to a box (the ScCP-PNN's
:math:`[0, 1]`) would cut a scaled-up image at 1, so for those the image is only scaled down,
:math:`s = \min(\sigma_t/\sigma, 1)`: above :math:`\sigma_t` rescaled, below it the network as
trained.  ``rescale=False`` ignores :math:`\sigma` (the network's fixed level).  At
:math:`\sigma = \sigma_t` (or ``sigma=None``) all are the network itself.  What each choice
measured is in docs/networks.md (section "deepinv's Denoiser interface").
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from deepinv.models import Denoiser

from ..activations import Clip
from ..models.network import LiftedNetwork
from ..utils.checks import check_image_scale, check_sigma01
from .tiling import BUDGET_MB, denoise_tiled


def clips_output(net: torch.nn.Module) -> bool:
    """True when ``net`` is (or wraps) a lifted network whose output activation is a clip to a box."""
    lifted = next((m for m in net.modules() if isinstance(m, LiftedNetwork)), None)
    return lifted is not None and isinstance(lifted.activation(lifted.depth), Clip)


def _positive_sigma(denoiser: Denoiser, x: torch.Tensor, sigma) -> torch.Tensor:
    """deepinv's per-sample ``sigma`` tensor for batch ``x`` (broadcastable to it); refuses levels <= 0 and
    warns once (per denoiser) about a level above 1."""
    sigma = denoiser._handle_sigma(sigma, batch_size=x.shape[0], ndim=x.ndim, device=x.device, dtype=x.dtype)
    if bool((sigma <= 0).any()):
        raise ValueError(f"sigma must be positive, got {sigma.flatten().tolist()}")
    if bool((sigma > 1).any()) and not getattr(denoiser, "_warned_large_sigma", False):
        # images in [0, 1]: a level above 1 is either a 0-255 value by mistake or a diffusion sampler's
        # early, very strong level (DiffPIR asks for 78.7): said once, and denoised
        big = float(sigma.max())
        warnings.warn(f"sigma {big:g} is above 1: deepinv's denoisers take the noise level on the images' [0, 1] "
                      f"scale; if {big:g} is on the 0-255 scale, pass {big:g}/255 = {big / 255:.4g} (a diffusion "
                      "sampler's strong early levels are fine)", UserWarning, stacklevel=3)
        denoiser._warned_large_sigma = True
    return sigma


class LiftinvDenoiser(Denoiser):
    """A trained liftinv network :math:`N` (``net(x)``, trained at noise ``sigma_trained`` on the
    [0, 1] scale) as a deepinv denoiser ``forward(x, sigma)``; see the module docstring."""

    def __init__(self, net: torch.nn.Module, sigma_trained: float, rescale: bool = True) -> None:
        super().__init__(device=next(net.parameters()).device)
        self.net = net
        self.sigma_trained = check_sigma01(sigma_trained, "sigma_trained")
        self.rescale = bool(rescale)
        self.scale_up = not clips_output(net)

    def forward(self, x: torch.Tensor, sigma=None, **kwargs) -> torch.Tensor:
        if sigma is None or not self.rescale:
            return self.net(x)
        s = self.sigma_trained / _positive_sigma(self, x, sigma)
        if not self.scale_up:
            s = s.clamp(max=1.0)
        if bool((s == 1).all()):
            return self.net(x)
        if isinstance(self.net, LiftedNetwork):  # its own input check would read a scaled-up image as 0-255:
            check_image_scale(x, f"{type(self.net).__name__}: x")  # the check on what the caller gave,
            return LiftedNetwork.forward(self.net, x * s) / s  # then the network without it
        return self.net(x * s) / s

    def extra_repr(self) -> str:
        return f"sigma_trained={self.sigma_trained:.4g}, rescale={self.rescale}, scale_up={self.scale_up}"


def family_choice(sigma: float, levels) -> tuple[int, float, float]:
    r"""``(k, s, w)``: the grayscale rule of :class:`FamilyDenoiser` at noise level ``sigma`` among
    the increasing trained ``levels`` (same scale), the denoiser
    :math:`D(x) = w\,N_k(s\,x)/s + (1 - w)\,x` (:class:`Rescaled`): the largest
    :math:`\sigma_k \le \sigma` with :math:`s = \sigma_k/\sigma`, :math:`w = 1`; below the smallest
    level that network as trained (:math:`s = 1`), blended with the identity,
    :math:`w = \sigma/\sigma_1` (it would remove noise of level :math:`\sigma_1`: on the training
    images at sigma 1/255 it gave 36.3 dB where the noisy input has 48.1 and the blend 48.0).

    >>> family_choice(35, [10, 15, 25, 50]), family_choice(5, [10, 15, 25, 50])
    ((2, 0.7142857142857143, 1.0), (0, 1.0, 0.5))
    """
    below = [k for k, level in enumerate(levels) if level <= sigma * (1 + 1e-6)]
    if not below:
        return 0, 1.0, sigma / levels[0]
    k = below[-1]
    return k, min(levels[k] / sigma, 1.0), 1.0


class Rescaled(torch.nn.Module):
    r"""A grayscale denoiser run at a noise level other than its own:
    :math:`x \mapsto w\,N(s\,x)/s + (1 - w)\,x`, :math:`s, w \in (0, 1]`.  Above its level
    (:math:`s < 1`, :math:`w = 1`) the image is scaled so that the network sees the noise level it
    was trained at (safe for networks that clip to :math:`[0, 1]`); below it (:math:`s = 1`,
    :math:`w < 1`) its output is blended with the input (:func:`family_choice`)."""

    def __init__(self, network: torch.nn.Module, scale: float, weight: float = 1.0) -> None:
        super().__init__()
        if not (0 < scale <= 1 and 0 < weight <= 1):
            raise ValueError(f"Rescaled: scale and weight must be in (0, 1], got {scale} and {weight}")
        self.network, self.scale, self.weight = network, float(scale), float(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x * self.scale) / self.scale if self.scale != 1.0 else self.network(x)
        return out if self.weight == 1.0 else torch.lerp(x, out, self.weight)

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}, weight={self.weight:.4g}"


class FamilyDenoiser(Denoiser):
    r"""Networks trained at several noise levels :math:`\sigma_1 < \dots < \sigma_n` as one deepinv
    denoiser for every :math:`\sigma`, for plug-and-play schedules that sweep the strength.

    Grayscale: at :math:`\sigma`, the network of the largest :math:`\sigma_m \le \sigma`, rescaled
    so that it sees its own level, :math:`D_\sigma(x) = N_m(s\,x)/s`, :math:`s = \sigma_m/\sigma \le 1`
    (safe for networks that clip to :math:`[0, 1]`); below :math:`\sigma_1`, :math:`N_1` as trained
    blended with the identity, :math:`D_\sigma(x) = wN_1(x) + (1 - w)x`, :math:`w = \sigma/\sigma_1`
    (:func:`family_choice`).  Colour (``color=True``): the grayscale networks on the opponent colour channels,
    planned for :math:`\sigma` (:class:`~liftinv.denoising.opponent.OpponentDenoiser`).  A batch
    whose samples carry different :math:`\sigma` is denoised sample by sample.  Every call runs
    through :func:`~liftinv.denoising.tiling.denoise_tiled` with ``budget_mb`` (the whole image in
    one pass when it fits; exact tiles otherwise), so a plug-and-play solver on a large photograph
    stays in bounded memory (a shipped model needs about 3.4 kB per pixel); an input that requires
    grad (with grad enabled) goes through in one differentiable pass instead.

    ``networks``: ``{sigma_m: network}``, noise levels on the [0, 1] scale, networks mapping
    ``(B, 1, H, W)`` to the same shape.  With a single fixed network, :class:`LiftinvDenoiser` is
    the same thing; on deblurring with deepinv's PnP-HQS and the DPIR schedule the shipped family
    scored 0.2-0.5 dB above the sigma-15 network alone (docs/networks.md).
    """

    def __init__(self, networks: dict, color: bool = False) -> None:
        if not networks:
            raise ValueError("FamilyDenoiser: give at least one {sigma: network}")
        levels = sorted(check_sigma01(s, "FamilyDenoiser noise level") for s in networks)
        first = networks[next(iter(networks))]
        super().__init__(device=next(first.parameters()).device)
        self.levels = levels
        self.networks = torch.nn.ModuleList(networks[s] for s in sorted(networks))
        self.color = bool(color)
        #: the memory budget of one denoising pass, in MiB (see :func:`denoise_tiled`)
        self.budget_mb = BUDGET_MB

    def denoiser_for(self, sigma: float) -> torch.nn.Module:
        """The module that denoises at level ``sigma`` ([0, 1] scale)."""
        if self.color:
            from .opponent import OpponentDenoiser, opponent_plan, opponent_weights

            plan = opponent_plan(sigma, self.levels)
            nets = [self.networks[self.levels.index(level)] for level, _ in plan]
            return OpponentDenoiser(nets, [scale for _, scale in plan], opponent_weights(sigma, plan, self.levels))
        k, s, w = family_choice(sigma, self.levels)
        return Rescaled(self.networks[k], s, w)

    def forward(self, x: torch.Tensor, sigma=None, **kwargs) -> torch.Tensor:
        if sigma is None:
            raise ValueError("FamilyDenoiser needs sigma, the noise level to denoise at ([0, 1] scale)")
        values = _positive_sigma(self, x, sigma).flatten().tolist()
        if len(set(values)) > 1:  # one level per sample
            return torch.cat([self.forward(x[i:i + 1], v) for i, v in enumerate(values)])
        denoiser = self.denoiser_for(values[0])
        if torch.is_grad_enabled() and x.requires_grad:  # gradients through the denoiser (e.g. in a
            return denoiser(x)  # sampler): the whole image in one differentiable pass, no tiling
        return denoise_tiled(denoiser, x, budget_mb=self.budget_mb)

    def extra_repr(self) -> str:
        return "levels=(" + ", ".join(f"{level * 255:.3g}/255" for level in self.levels) + f"), color={self.color}"


def as_deepinv_denoiser(net: torch.nn.Module | str | Path, sigma_trained: float | None = None, *,
                        rescale: bool = True, device=None) -> LiftinvDenoiser:
    """``net`` (a trained network, or the path of a checkpoint written by ``liftinv train``, whose
    noise level is then read from it) as a :class:`LiftinvDenoiser`, in eval mode."""
    if isinstance(net, (str, Path)):
        from ..checkpoint import require_task
        from ..restoration import load_network

        path = str(net)
        net, ckpt = load_network(net, device)
        require_task(ckpt, path, "denoising")
        if sigma_trained is None:
            sigma_trained = ckpt["task"]["sigma"]
    if sigma_trained is None:
        raise ValueError("sigma_trained (the noise level the network was trained at, [0, 1] scale) is required")
    return LiftinvDenoiser(net, sigma_trained, rescale=rescale).eval()

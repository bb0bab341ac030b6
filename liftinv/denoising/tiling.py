r"""Denoising large images in overlapping tiles, with bounded memory and no seams.

The image is covered by square tiles of ``tile`` pixels whose neighbours overlap by at least
``overlap`` pixels.  Each tile is run through the network together with a margin of ``halo``
context pixels on every side that is inside the image, and only its own ``tile x tile`` part of
the output is kept.  The kept parts are blended with separable weights
:math:`w_i(p) = a_i(p_y)\,b_i(p_x)` that ramp as :math:`\sin^2` across the overlaps and are
normalised per row and column, so that :math:`\sum_i w_i(p) = 1` at every pixel and the result is
a convex combination of the tiles' outputs, continuous across every seam.

**Exactness.**  A fully convolutional network whose output pixel reads the input within a radius
:math:`R` (its receptive field, :func:`receptive_radius`) gives, on a tile with a halo
:math:`\ge R`, exactly the untiled output on the tile's kept part (at the image's borders the
tile sees the same zero padding as the whole image).  So with ``halo >= R`` (the default when
:math:`R` is known) the blended output equals untiled inference to float rounding everywhere,
seams included; with a smaller halo it is exact at the pixels farther than :math:`R` from the
kept part's inner edges that lie in one tile only, and blended over the overlaps.  An image
no larger than one tile is run whole (the untiled output, bit for bit).

**Memory.**  One tile of :math:`(t + 2h)^2` pixels is in flight at a time; :func:`auto_tile`
picks the largest tile whose estimated footprint fits a budget (1 GiB by default).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models.dfb import DualStepMap
from ..models.linear_maps import Conv2d, IdentityMap
from ..models.network import LiftedNetwork

#: default memory budget of one tile's forward pass
BUDGET_MB = 1024


# -- receptive field ------------------------------------------------------------------------------
def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _same_conv_radius(conv) -> int | None:
    """The radius of a stride-1 'same' convolution (a lifted ``Conv2d`` or an ``nn.Conv2d``) padded
    with zeros or reflections; ``None`` for any other (its tiles would not be exact)."""
    k, s, d = (_pair(getattr(conv, name, 1)) for name in ("kernel_size", "stride", "dilation"))
    span = tuple(di * (ki - 1) for ki, di in zip(k, d))  # the footprint minus one pixel
    padding = getattr(conv, "padding", 0)
    if padding == "same":  # an odd span is padded unevenly: the far side gets the larger half
        reach = tuple(t - t // 2 for t in span)
    elif all(t % 2 == 0 for t in span) and _pair(padding) == tuple(t // 2 for t in span):
        reach = tuple(t // 2 for t in span)  # explicit padding keeps the size only for an even span
    else:
        return None
    if s != (1, 1) or getattr(conv, "padding_mode", "zeros") == "circular":
        return None
    return max(reach)


def _map_radius(amap) -> int | None:
    """How far an output pixel of a lifted map reads its input (None: unknown or not a stride-1
    convolution)."""
    if hasattr(amap, "radius"):
        return int(amap.radius)
    if isinstance(amap, IdentityMap):
        return 0
    if isinstance(amap, Conv2d):
        return _same_conv_radius(amap)
    op = getattr(amap, "op", None)
    if op is not None and hasattr(op, "weight"):  # the DFB maps: D, D^* or D D^*
        r = op.weight.shape[-1] // 2
        return 2 * r if isinstance(amap, DualStepMap) else r
    return None


def _lifted_radius(net: LiftedNetwork) -> int | None:
    radius = [0]
    for li in range(1, net.depth + 1):
        reach = [_map_radius(amap) for _, amap in net.sources(li)]
        if any(r is None for r in reach):
            return None
        radius.append(max(radius[m] + r for (m, _), r in zip(net.sources(li), reach)))
    return radius[-1]


def receptive_radius(net: nn.Module) -> int | None:
    """The radius :math:`R` in pixels of the network's receptive field, or ``None`` if unknown.

    Lifted networks: propagated through the layers' maps (:math:`R_l = \\max_m R_m + r_{l,m}`;
    the DFB- and ScCP-PNN of ``K`` iterations with 3x3 kernels have :math:`R = 2K`).  Other
    modules (deepinv's DnCNN): the sum of the radii of their stride-1 ``nn.Conv2d`` layers, an
    upper bound for chains and residual chains of convolutions; ``None`` when the module holds
    anything that changes the resolution (pooling, strides, transposed convolutions, dense layers,
    convolutions without 'same' padding) or wraps around the image (circular padding).
    """
    lifted = [m for m in net.modules() if isinstance(m, LiftedNetwork)]
    if lifted:
        radii = [_lifted_radius(m) for m in lifted]
        return None if any(r is None for r in radii) else max(radii)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    unknown = (nn.Linear, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Upsample,
               nn.PixelShuffle, nn.PixelUnshuffle)
    if not convs or any(isinstance(m, unknown) for m in net.modules()):
        return None
    reaches = [_same_conv_radius(c) for c in convs]
    return None if any(r is None for r in reaches) else sum(reaches)


# -- tile size ------------------------------------------------------------------------------------
def bytes_per_pixel(net: nn.Module) -> int:
    """An estimate of the bytes one pixel costs in a no-grad forward pass: a lifted network keeps
    its states and pre-activations (two tensors per layer) plus a few temporaries; another network
    (a chain of convolutions) about four activations of its widest layer."""
    p = next(net.parameters())
    size = p.element_size()
    lifted = next((m for m in net.modules() if isinstance(m, LiftedNetwork)), None)
    if lifted is not None:
        channels = [s[0] for s in lifted.state_shapes[1:]]
        return size * (2 * sum(channels) + 4 * max(channels))
    widths = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] or [p.numel()]
    return size * 4 * max(widths)


def auto_tile(net: nn.Module, height: int, width: int, budget_mb: float = BUDGET_MB, halo: int = 0) -> int:
    """The tile side for an image of ``height x width``: the whole image when its forward pass
    fits ``budget_mb`` (estimated by :func:`bytes_per_pixel`), otherwise the largest multiple of 32
    whose tile with its halo fits (at least 64)."""
    max_pixels = budget_mb * 2**20 / bytes_per_pixel(net)
    if height * width <= max_pixels:
        return max(height, width)
    side = int(math.isqrt(int(max_pixels))) - 2 * halo
    return max(64, side // 32 * 32)


# -- tiles and weights ----------------------------------------------------------------------------
def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Starts of the fewest tiles of ``tile`` pixels covering ``size`` with neighbours overlapping
    by at least ``overlap``, spread evenly (the first at 0, the last ending at ``size``)."""
    if size <= tile:
        return [0]
    n = math.ceil((size - overlap) / (tile - overlap))
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def blend_weights(size: int, tile: int, overlap: int, dtype=torch.float32) -> list[tuple[int, torch.Tensor]]:
    r"""``[(start, weights)]`` along one axis: each tile's weights ramp as
    :math:`\sin^2(\tfrac\pi2\,\tfrac{i + 1/2}{\text{overlap}})` over the first and last ``overlap``
    pixels on the sides that have a neighbour, then are divided by their sum over the tiles, so
    that they add up to 1 at every pixel."""
    starts = tile_starts(size, tile, overlap)
    tile = min(tile, size)
    ramp = torch.sin(0.5 * math.pi * (torch.arange(overlap, dtype=torch.float64) + 0.5) / max(overlap, 1)) ** 2
    raw = []
    for s in starts:
        w = torch.ones(tile, dtype=torch.float64)
        if overlap and s > 0:
            w[:overlap] = ramp
        if overlap and s + tile < size:
            w[tile - overlap:] = torch.minimum(w[tile - overlap:], ramp.flip(0))
        raw.append(w)
    total = torch.zeros(size, dtype=torch.float64)
    for s, w in zip(starts, raw):
        total[s:s + tile] += w
    return [(s, (w / total[s:s + tile]).to(dtype)) for s, w in zip(starts, raw)]


# -- inference ------------------------------------------------------------------------------------
@torch.no_grad()
def denoise_tiled(net: nn.Module, image: torch.Tensor, tile: int | None = None, overlap: int = 32,
                  halo: int | None = None, budget_mb: float = BUDGET_MB) -> torch.Tensor:
    """``net(image)`` computed tile by tile (see the module docstring).

    ``image``: ``(C, H, W)`` or ``(B, C, H, W)``, any device (tiles are moved to the network's
    device one at a time; the result is assembled on the image's device and returned in its
    shape, not clipped).  ``tile``: the tile side in pixels, ``None`` for :func:`auto_tile` with
    ``budget_mb``.  ``overlap``: the blending width between neighbouring tiles.  ``halo``: context
    pixels around each tile, ``None`` for :func:`receptive_radius` (``overlap`` when unknown).
    """
    if image.dim() not in (3, 4):
        raise ValueError(f"image must be shaped (C, H, W) or (B, C, H, W), got {tuple(image.shape)}")
    single = image.dim() == 3
    x = image[None] if single else image
    h, w = x.shape[-2:]
    if halo is None:
        halo = receptive_radius(net)
        halo = overlap if halo is None else halo
    if tile is None:
        tile = auto_tile(net, h, w, budget_mb / x.shape[0], halo)  # the budget is for the whole batch
    whole = h <= tile and w <= tile
    if overlap < 0 or halo < 0 or (tile <= overlap and not whole):
        raise ValueError(f"need tile > overlap >= 0 and halo >= 0, got tile={tile}, overlap={overlap}, halo={halo}")
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        out = net(x.to(device)).to(x.device) if whole else _blend_tiles(net, x, tile, overlap, halo, device)
    finally:
        net.train(was_training)
    return out[0] if single else out


def _blend_tiles(net, x, tile, overlap, halo, device):
    h, w = x.shape[-2:]
    out = None
    for y0, wy in blend_weights(h, tile, overlap, x.dtype):
        for x0, wx in blend_weights(w, tile, overlap, x.dtype):
            th, tw = wy.numel(), wx.numel()
            top, left = max(y0 - halo, 0), max(x0 - halo, 0)
            crop = x[..., top:min(y0 + th + halo, h), left:min(x0 + tw + halo, w)]
            res = net(crop.to(device)).to(x.device)
            if res.shape[-2:] != crop.shape[-2:]:
                raise ValueError(f"tiling needs a network whose output has its input's size; this one maps "
                                 f"{tuple(crop.shape[-2:])} pixels to {tuple(res.shape[-2:])}: run it on the "
                                 "whole image (--tile 0 on the command line)")
            res = res[..., y0 - top:y0 - top + th, x0 - left:x0 - left + tw]
            if out is None:
                out = x.new_zeros(x.shape[:-3] + (res.shape[-3], h, w))
            out[..., y0:y0 + th, x0:x0 + tw] += res * (wy[:, None] * wx[None, :])
    return out

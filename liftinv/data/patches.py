"""Square patches of images, with the eight flips/rotations as augmentation.

Images are (C, H, W) float32 tensors in [0, 1] given as a list (sizes may differ), a
(B, C, H, W) tensor, or one (C, H, W) tensor. Patches come back as one (N, C, size, size)
tensor on the images' device.

The dihedral group of the square has eight elements; :func:`dihedral` numbers them ``k = 0..7``:
``k % 4`` quarter turns counter-clockwise (``torch.rot90`` over the last two dims), followed, for
``k >= 4``, by a left-right flip. ``k = 0`` is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..utils.checks import check_image_range

__all__ = ["check_image_range", "dihedral", "dihedral_all", "extract_patches"]

Images = torch.Tensor | Sequence[torch.Tensor]


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Apply element ``k`` (0..7) of the dihedral group to the last two dims of ``x``."""
    if not isinstance(k, int) or not 0 <= k < 8:
        raise ValueError(f"dihedral: k must be an int in 0..7, got {k!r}")
    y = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if k >= 4 else y


def dihedral_all(x: torch.Tensor) -> torch.Tensor:
    """All eight dihedral versions of a (N, C, s, s) batch: (8N, C, s, s), patch-major.

    Row ``8 * i + k`` is ``dihedral(x[i], k)``.
    """
    return torch.stack([dihedral(x, k) for k in range(8)], dim=1).flatten(0, 1)


def _as_list(images: Images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return list(images.unbind(0))
        if images.dim() == 3:
            return [images]
        raise ValueError(
            f"extract_patches: images must be (C, H, W), (B, C, H, W) or a list of (C, H, W) "
            f"tensors, got a tensor of shape {tuple(images.shape)}"
        )
    try:
        items = list(images)
    except TypeError:
        raise TypeError(
            f"extract_patches: images must be a tensor or a list of tensors, got "
            f"{type(images).__name__}"
        ) from None
    for i, im in enumerate(items):
        if not isinstance(im, torch.Tensor) or im.dim() != 3:
            shape = tuple(im.shape) if isinstance(im, torch.Tensor) else type(im).__name__
            raise ValueError(
                f"extract_patches: images[{i}] must be a (C, H, W) tensor, got {shape}"
            )
    return items


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"extract_patches: {name} must be a positive int, got {value!r}")
    return value


def extract_patches(
    images: Images,
    size: int,
    stride: int | None = None,
    mode: str = "grid",
    n: int | None = None,
    seed: int = 0,
    augment: bool | str = False,
) -> torch.Tensor:
    """Cut square patches out of images.

    Parameters
    ----------
    images:
        A list of (C, H, W) tensors (sizes may differ, channels may not), a (B, C, H, W) tensor or
        one (C, H, W) tensor; float values in [0, 1], finite.
    size:
        Patch side in pixels; every image must be at least ``size`` x ``size``.
    stride:
        Grid mode only: step between patch corners (default ``size``, non-overlapping).
    mode:
        ``'grid'``: every patch of the regular grid of each image, image by image, rows then
        columns (a remainder narrower than ``size`` at the bottom/right is dropped).
        ``'random'``: ``n`` patches with corners drawn uniformly over all valid positions of all
        images (so an image contributes in proportion to its number of positions).
    n:
        ``'random'``: number of patches (required). ``'grid'``: optional; keeps ``n`` grid patches
        drawn without replacement (seeded), in grid order.
    seed:
        Seed of a private ``torch.Generator``; the global RNG is untouched.
    augment:
        ``False``: none. ``True`` or ``'random'``: each patch is replaced by one dihedral
        transform drawn uniformly (seeded), so the count is unchanged. ``'all'``: every patch in
        all eight dihedral versions (:func:`dihedral_all`), so the count is multiplied by 8.

    Returns
    -------
    torch.Tensor
        (N, C, size, size), same dtype and device as the images.
    """
    items = _as_list(images)
    if not items:
        raise ValueError("extract_patches: images is empty")
    size = _positive_int(size, "size")
    if mode not in ("grid", "random"):
        raise ValueError(f"extract_patches: mode must be 'grid' or 'random', got {mode!r}")
    if augment not in (False, True, "random", "all"):
        raise ValueError(
            f"extract_patches: augment must be False, True, 'random' or 'all', got {augment!r}"
        )
    if stride is not None:
        stride = _positive_int(stride, "stride")
        if mode == "random":
            raise ValueError("extract_patches: stride applies to mode='grid' only")
    else:
        stride = size
    if n is not None:
        n = _positive_int(n, "n")
    elif mode == "random":
        raise ValueError("extract_patches: mode='random' needs n, the number of patches")

    channels = items[0].shape[0]
    for i, im in enumerate(items):
        check_image_range(im, f"extract_patches: images[{i}]")
        c, h, w = im.shape
        if c != channels:
            raise ValueError(
                f"extract_patches: images[{i}] has {c} channels but images[0] has {channels}"
            )
        if (im.dtype, im.device) != (items[0].dtype, items[0].device):
            raise ValueError(
                f"extract_patches: images[{i}] is {im.dtype} on {im.device} but images[0] is "
                f"{items[0].dtype} on {items[0].device}; convert them to one dtype and device"
            )
        if h < size or w < size:
            raise ValueError(
                f"extract_patches: patch size {size} is larger than images[{i}] of size "
                f"{h}x{w} (H x W)"
            )

    gen = torch.Generator().manual_seed(int(seed))
    if mode == "grid":
        chunks = [
            im.unfold(1, size, stride)
            .unfold(2, size, stride)
            .permute(1, 2, 0, 3, 4)
            .reshape(-1, channels, size, size)
            for im in items
        ]
        patches = torch.cat(chunks, dim=0)
        if n is not None:
            if n > patches.shape[0]:
                raise ValueError(
                    f"extract_patches: n={n} but the grid holds only {patches.shape[0]} patches"
                )
            keep = torch.randperm(patches.shape[0], generator=gen)[:n].sort().values
            patches = patches[keep.to(patches.device)]
    else:
        counts = torch.tensor(
            [(im.shape[1] - size + 1) * (im.shape[2] - size + 1) for im in items],
            dtype=torch.float64,
        )
        which = torch.multinomial(counts / counts.sum(), n, replacement=True, generator=gen)
        patches = torch.empty(n, channels, size, size, dtype=items[0].dtype, device=items[0].device)
        offs = torch.arange(size)
        for i, im in enumerate(items):
            idx = (which == i).nonzero().flatten()
            if idx.numel() == 0:
                continue
            top = torch.randint(0, im.shape[1] - size + 1, (idx.numel(),), generator=gen)
            left = torch.randint(0, im.shape[2] - size + 1, (idx.numel(),), generator=gen)
            rows = (top[:, None] + offs).to(im.device)  # (m, size)
            cols = (left[:, None] + offs).to(im.device)
            crop = im[:, rows[:, :, None], cols[:, None, :]]  # (C, m, size, size)
            patches[idx.to(im.device)] = crop.permute(1, 0, 2, 3)

    patches = patches.contiguous()
    if augment in (True, "random"):
        ks = torch.randint(0, 8, (patches.shape[0],), generator=gen)
        out = torch.empty_like(patches)
        for k in range(8):
            sel = (ks == k).nonzero().flatten().to(patches.device)
            if sel.numel():
                out[sel] = dihedral(patches[sel], k)
        patches = out
    elif augment == "all":
        patches = dihedral_all(patches).contiguous()
    return patches

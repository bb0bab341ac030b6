"""A small patch-classification task built from the embedded images.

Each class is one embedded image; a sample is a ``size`` x ``size`` patch and its label is the
index of the image it was cut from (the order of :func:`liftinv.data.embedded_names` with
``split='all'``: train images, then test images). It gives the CNN classification benchmark a
task with no download.

Train and test are disjoint by construction: every image is cut into its grid of
*non-overlapping* patches (stride = size), the grid cells are shuffled (seeded) and the first
``n_test`` go to the test set, the next ``n_per_image - n_test`` to the training set. No pixel of
a test patch appears in a training patch, and both sets sample the whole of each image (a split by
image region would give train and test different content, e.g. sky against ground). Classes are
balanced: every image contributes the same numbers of patches.
"""

from __future__ import annotations

import torch

from liftinv.data.images import embedded_names, load_embedded
from liftinv.data.patches import extract_patches

__all__ = ["patch_classification_dataset"]


def patch_classification_dataset(
    size: int = 16,
    n_per_image: int = 256,
    color: bool = False,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Patches of the embedded images labelled by the image they come from.

    Parameters
    ----------
    size:
        Patch side (pixels).
    n_per_image:
        Patches per image, train and test together; at most the number of non-overlapping
        ``size`` x ``size`` cells of the smallest image (432 for size 16 in grayscale, where coins
        is 303x384).
    color:
        ``False``: the 9 embedded images, one channel. ``True``: the 4 colour photographs, three
        channels.
    seed:
        Seed of the shuffle; the global RNG is untouched.
    test_fraction:
        Share of each image's patches that go to the test set, in (0, 1); the test count per
        image is ``round(n_per_image * test_fraction)`` and must leave at least one patch on each
        side.

    Returns
    -------
    (x_train, y_train, x_test, y_test)
        ``x_*`` float32 (N, C, size, size) in [0, 1]; ``y_*`` int64 (N,) class indices in
        ``range(len(embedded_names('all', color)))``. Samples are grouped by class (shuffle them in
        the data loader).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"patch_classification_dataset: size must be a positive int, got {size!r}")
    if isinstance(n_per_image, bool) or not isinstance(n_per_image, int) or n_per_image < 2:
        raise ValueError(
            f"patch_classification_dataset: n_per_image must be an int >= 2, got {n_per_image!r}"
        )
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(
            f"patch_classification_dataset: test_fraction must lie in (0, 1), got {test_fraction!r}"
        )
    n_test = int(round(n_per_image * float(test_fraction)))
    if not 1 <= n_test <= n_per_image - 1:
        raise ValueError(
            f"patch_classification_dataset: test_fraction={test_fraction} with "
            f"n_per_image={n_per_image} leaves {n_test} test and {n_per_image - n_test} train "
            "patches per image; both must be at least 1"
        )

    names = embedded_names("all", color)
    images = load_embedded("all", color)
    gen = torch.Generator().manual_seed(int(seed))
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    cells = [extract_patches(im, size, stride=size, mode="grid") for im in images]
    counts = [c.shape[0] for c in cells]
    smallest = min(range(len(names)), key=counts.__getitem__)
    if counts[smallest] < n_per_image:
        h, w = images[smallest].shape[1:]
        raise ValueError(
            f"patch_classification_dataset: n_per_image={n_per_image} but image "
            f"{names[smallest]!r} ({h}x{w}) holds only {counts[smallest]} non-overlapping "
            f"{size}x{size} patches; use n_per_image <= {counts[smallest]}"
        )
    for label, grid in enumerate(cells):
        order = torch.randperm(grid.shape[0], generator=gen)[:n_per_image]
        xs_te.append(grid[order[:n_test]])
        xs_tr.append(grid[order[n_test:]])
        ys_te.append(torch.full((n_test,), label, dtype=torch.int64))
        ys_tr.append(torch.full((n_per_image - n_test,), label, dtype=torch.int64))
    return (
        torch.cat(xs_tr).contiguous(),
        torch.cat(ys_tr),
        torch.cat(xs_te).contiguous(),
        torch.cat(ys_te),
    )

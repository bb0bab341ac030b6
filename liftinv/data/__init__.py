"""Data: the embedded default images, image folders, patches and a patch-classification task.

All images are float32 tensors with values in [0, 1]; loaders return lists of (C, H, W) tensors,
patch functions return (N, C, size, size) batches. Nothing is downloaded at run time.
"""

from liftinv.data.classification import patch_classification_dataset
from liftinv.data.images import (
    COLOR_NAMES,
    EXCLUDED,
    IMAGE_EXTENSIONS,
    TEST_NAMES,
    TRAIN_NAMES,
    embedded_names,
    list_image_files,
    load_embedded,
    load_folder,
    load_image,
    save_image,
    to_float01,
)
from liftinv.data.patches import check_image_range, dihedral, dihedral_all, extract_patches

__all__ = [
    "COLOR_NAMES",
    "EXCLUDED",
    "IMAGE_EXTENSIONS",
    "TEST_NAMES",
    "TRAIN_NAMES",
    "check_image_range",
    "dihedral",
    "dihedral_all",
    "embedded_names",
    "extract_patches",
    "list_image_files",
    "load_embedded",
    "load_folder",
    "load_image",
    "save_image",
    "patch_classification_dataset",
    "to_float01",
]

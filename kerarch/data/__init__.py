"""Datasets and input pipelines: IDX files, MNIST/Fashion-MNIST, tf.data."""

from kerarch.data.idx import read_idx, write_idx
from kerarch.data.images import ImageData, load_image_classification
from kerarch.data.pipeline import make_dataset, on_batches, on_images, scale_images

__all__ = [
    "ImageData",
    "load_image_classification",
    "make_dataset",
    "on_batches",
    "on_images",
    "read_idx",
    "scale_images",
    "write_idx",
]

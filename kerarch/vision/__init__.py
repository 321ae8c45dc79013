"""Computer-vision builders: LeNet-5 to ViT."""

from kerarch.vision.lenet import lenet5  # noqa: F401

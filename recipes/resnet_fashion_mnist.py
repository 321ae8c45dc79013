"""resnet-fashion-mnist: the resnet-cifar10 trainer (CIFAR ResNet-20, He et al. 2016) on Fashion-MNIST.

Runs offline (the Debian Fashion-MNIST copy, see the README). Inputs stay
28x28x1: the CIFAR ResNet works on any size (feature maps 28, 14, 7).
Target: at least 93 % test accuracy with the defaults. Measured: 93.34 % on
the 10,000 test images after the 15 default epochs (validation 94.34 %),
4,515 s on a 2-core CPU (README, "Measured results").
"""

import dataclasses

from kerarch.config import option
from kerarch.frame import register_recipe
from kerarch.frame.resnet_trainer import ResnetConfig, ResnetTrainer


@dataclasses.dataclass
class ResnetFashionMnistConfig(ResnetConfig):
    epochs: int = option(15, "Passes over the training data (the default run: 93.34 % test accuracy; "
                         "target >= 93 %).", minimum=1)


@register_recipe("resnet-fashion-mnist")
class ResnetFashionMnist(ResnetTrainer):
    """CIFAR ResNet-20 on 28x28 Fashion-MNIST with the resnet-cifar10 trainer; runs offline."""

    Config = ResnetFashionMnistConfig

"""resnet-cifar10: CIFAR ResNet-20/32/44/56/110 (He et al. 2016, section 4.2) on CIFAR-10.

The trainer (`kerarch.frame.resnet_trainer.ResnetTrainer`) is shared with
resnet-fashion-mnist: SGD with momentum, L2 weight decay on the kernels,
warmup + cosine or the paper's step schedule, pad-crop-flip augmentation in
tf.data, mixed precision when a GPU is visible.

Expected accuracy. Paper (Table 6, 164 epochs of the step schedule on
45k/5k, 4-pixel pad-crop-flip): ResNet-20 8.75 % error (91.25 %), ResNet-32
92.49 %, ResNet-44 92.83 %, ResNet-56 93.03 %, ResNet-110 93.57 %. Reproduce
the paper's schedule with `epochs=164 schedule=step warmup_epochs=0`
(about 64k steps at batch 128). The default here is a shortened 30-epoch
warmup + cosine run: its accuracy is not measured yet (no CIFAR-10 copy on
the development machine, which is offline).
"""

import dataclasses

from kerarch.config import option
from kerarch.data.cifar import load_cifar10
from kerarch.frame import register_recipe
from kerarch.frame.resnet_trainer import ResnetConfig, ResnetTrainer


@dataclasses.dataclass
class ResnetCifar10Config(ResnetConfig):
    dataset: str = option("cifar10", "CIFAR-10 (resnet-fashion-mnist trains on Fashion-MNIST).", choices=("cifar10",))
    data_dir: str | None = option(
        None, "The cifar-10-batches-py folder (python version of CIFAR-10, extracted from "
        "cifar-10-python.tar.gz); default: Keras cache, TFDS, download."
    )


@register_recipe("resnet-cifar10")
class ResnetCifar10(ResnetTrainer):
    """CIFAR ResNet-20 (depth configurable) on CIFAR-10: SGD, pad-crop-flip, warmup+cosine or step schedule."""

    Config = ResnetCifar10Config

    def load_images(self):
        return load_cifar10(self.config.data_dir)

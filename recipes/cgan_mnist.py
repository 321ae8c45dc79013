"""cgan-mnist: class-conditional GAN (Mirza & Osindero 2014) with DCGAN networks on MNIST or Fashion-MNIST.

The generator is asked for a class: the report compares the FID-LeNet classifier's accuracy on
the generated images (against the requested labels) with its accuracy on real test images.
"""

import dataclasses

from kerarch.config import option
from kerarch.frame import ImageGan, register_recipe
from kerarch.frame.image_gan import NonSaturatingGanConfig
from kerarch.generative import cgan_discriminator, cgan_generator
from kerarch.generative.adversarial import ConditionalGAN


@dataclasses.dataclass
class CganMnistConfig(NonSaturatingGanConfig):
    epochs: int = option(16, "Passes over the training data (16: every requested digit is recognised at least "
                             "90 % of the time on real MNIST; 8 epochs: 84 % for the worst).", minimum=1)
    embedding_dim: int = option(50, "Size of the label embedding concatenated to the generator's noise.", minimum=1)
    grid_size: int = option(8, "Sample grids have one row per class and grid_size images per row.", minimum=1)


@register_recipe("cgan-mnist")
class CganMnist(ImageGan):
    """Class-conditional DCGAN: one sample row per class, label accuracy of a classifier, FID-LeNet."""

    Config = CganMnistConfig
    conditional = True
    samples_title = "cGAN samples, one class per row"

    def build_model(self, data):
        cfg = self.config
        shape = dict(num_classes=data.num_classes, image_shape=data.input_shape, filters=cfg.filters)
        generator = cgan_generator(latent_dim=cfg.latent_dim, embedding_dim=cfg.embedding_dim, **shape)
        discriminator = cgan_discriminator(**shape)
        gan = ConditionalGAN(generator, discriminator, latent_dim=cfg.latent_dim, seed=cfg.seed)
        return self.compile(gan, data, label_smoothing=cfg.label_smoothing)

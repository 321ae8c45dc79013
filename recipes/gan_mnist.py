"""gan-mnist: DCGAN (Radford et al. 2016) on MNIST or Fashion-MNIST.

Data, sample grids, FID-LeNet (see kerarch.generative.fid) and the
generator's export are the ImageGan kind's (kerarch.frame.image_gan).
"""

from kerarch.frame import ImageGan, register_recipe
from kerarch.frame.image_gan import NonSaturatingGanConfig
from kerarch.generative import dcgan_discriminator, dcgan_generator
from kerarch.generative.adversarial import GAN


@register_recipe("gan-mnist")
class GanMnist(ImageGan):
    """DCGAN on 28x28 digits or garments; sample grid per epoch, FID-LeNet, exports the generator."""

    Config = NonSaturatingGanConfig
    samples_title = "DCGAN samples"

    def build_model(self, data):
        cfg = self.config
        generator = dcgan_generator(latent_dim=cfg.latent_dim, image_shape=data.input_shape, filters=cfg.filters)
        discriminator = dcgan_discriminator(image_shape=data.input_shape, filters=cfg.filters)
        gan = GAN(generator, discriminator, latent_dim=cfg.latent_dim, seed=cfg.seed)
        return self.compile(gan, data, label_smoothing=cfg.label_smoothing)

"""wgan-gp-mnist: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017) on MNIST or Fashion-MNIST.

A DCGAN generator against a batch-norm-free critic (`wgan_critic`) with the
paper's settings; the critic's Wasserstein estimate E[critic(real)] - E[critic(fake)]
(in curves.png) should fall as the samples improve.
"""

from kerarch.frame import register_recipe
from kerarch.frame.image_gan import WassersteinGan
from kerarch.generative import dcgan_generator, wgan_critic
from kerarch.generative.adversarial import WGANGP


@register_recipe("wgan-gp-mnist")
class WganGpMnist(WassersteinGan):
    """WGAN-GP: DCGAN generator, layer-norm critic, Wasserstein estimate per epoch, FID-LeNet."""

    samples_title = "WGAN-GP samples"

    def build_model(self, data):
        cfg = self.config
        generator = dcgan_generator(latent_dim=cfg.latent_dim, image_shape=data.input_shape, filters=cfg.filters)
        critic = wgan_critic(image_shape=data.input_shape, filters=cfg.filters)
        return self.compile(WGANGP(generator, critic, latent_dim=cfg.latent_dim, seed=cfg.seed), data)

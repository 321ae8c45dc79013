"""wgan-gp-mnist: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017) on MNIST or Fashion-MNIST.

A DCGAN generator against a batch-norm-free critic (`wgan_critic`), with
the paper's settings: λ = 10, n_critic = 5, Adam(1e-4, beta_1=0, beta_2=0.9).
The critic's Wasserstein estimate E[critic(real)] - E[critic(fake)] is a
training metric (in curves.png); it should fall as the samples improve.
"""

import dataclasses

import numpy as np

from kerarch.config import option
from kerarch.data import make_dataset
from kerarch.generative import dcgan_generator, fid_report, wgan_critic
from kerarch.frame import register_recipe
from kerarch.generative.adversarial import WGANGP
from recipes.gan_mnist import GanMnist, ImageGanConfig, to_tanh_range


@dataclasses.dataclass
class WganGpMnistConfig(ImageGanConfig):
    epochs: int = option(4, "Passes over the training data; each takes N / (n_critic x batch_size) generator steps "
                         "(187 on 60,000 images).", minimum=1)
    batch_size: int = option(64, "Critic batch (paper: 64); a train step reads n_critic of them.", minimum=1)
    learning_rate: float = option(1e-4, "Adam learning rate of both networks (paper: 1e-4).", minimum=0.0)
    beta_1: float = option(0.0, "Adam beta_1 (paper: 0).")
    beta_2: float = option(0.9, "Adam beta_2 (paper: 0.9).")
    n_critic: int = option(5, "Critic steps per generator step (paper: 5).", minimum=1)
    gp_weight: float = option(10.0, "Weight λ of the gradient penalty (paper: 10).", minimum=0.0)


@register_recipe("wgan-gp-mnist")
class WganGpMnist(GanMnist):
    """WGAN-GP: DCGAN generator, layer-norm critic, Wasserstein estimate per epoch, FID-LeNet."""

    Config = WganGpMnistConfig

    def build_model(self, data):
        cfg = self.config
        generator = dcgan_generator(latent_dim=cfg.latent_dim, image_shape=data.input_shape, filters=cfg.filters)
        critic = wgan_critic(image_shape=data.input_shape, filters=cfg.filters)
        gan = WGANGP(generator, critic, latent_dim=cfg.latent_dim, seed=cfg.seed)
        adam = dict(beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        generator_steps = self.generator_steps(data)  # each network's schedule spans its own steps
        gan.compile(g_optimizer=self.make_optimizer(data, total_steps=generator_steps, **adam),
                    d_optimizer=self.make_optimizer(data, total_steps=generator_steps * cfg.n_critic, **adam),
                    gp_weight=cfg.gp_weight, n_critic=cfg.n_critic, jit_compile=self.jit_compile)
        return gan

    def generator_steps(self, data):
        """Generator steps of the run: one per n_critic critic batches, whole batches only (see `datasets`)."""
        cfg = self.config
        per_epoch = cfg.steps_per_epoch or self.num_train_examples(data) // (cfg.batch_size * cfg.n_critic)
        return max(1, cfg.epochs * per_epoch)

    def datasets(self, data):
        # One batch feeds n_critic critic steps; whole batches only, so every replica gets an equal share.
        train = make_dataset(
            data.x_train, batch_size=self.config.batch_size * self.config.n_critic, shuffle=True,
            seed=self.config.seed, map_fn=to_tanh_range, drop_remainder=True,
        )
        return train, None

    def evaluate(self, model, data):
        """The critic's Wasserstein estimate on held-out images, FID-LeNet with its real floor, samples."""
        self.save_samples(model, data, "WGAN-GP")
        real = np.asarray(to_tanh_range(data.x_test[:1000]))
        fake = model.generator.predict(self.noise(self.config.fid_examples, self.config.seed + 1), verbose=0)
        score = lambda images: float(model.discriminator.predict(images, verbose=0).mean())  # noqa: E731
        return {
            "dataset": data.name,
            "wasserstein_estimate_test": score(real) - score(fake[:1000]),
            "generated_pixel_mean": float((fake[:1000].mean() + 1) / 2),
            "real_pixel_mean": float((real.mean() + 1) / 2),
            **fid_report(self.fid_scorer(data), data, (fake + 1.0) / 2.0, seed=self.config.seed),
        }

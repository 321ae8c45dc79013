"""vae-mnist: the variational autoencoder (Kingma & Welling 2014) on MNIST or Fashion-MNIST."""

import dataclasses

import numpy as np

from kerarch.config import image_dataset_option, option
from kerarch.frame import register_recipe
from kerarch.frame.image_autoencoder import ImageAutoencoder, ImageAutoencoderConfig, elbo_metrics
from kerarch.generative import vae


@dataclasses.dataclass
class VaeMnistConfig(ImageAutoencoderConfig):
    epochs: int = option(15, "Passes over the training data.", minimum=1)
    dataset: str = image_dataset_option("mnist")
    latent_dim: int = option(2, "Size of z; 2 also draws the latent-space map and the decoded manifold.", minimum=1)
    beta: float = option(1.0, "Weight of the KL term (1: the VAE's ELBO; >1: beta-VAE).", minimum=0.0)
    grid_size: int = option(10, "Sample and manifold grids are grid_size x grid_size images.", minimum=2)


@register_recipe("vae-mnist")
class VaeMnist(ImageAutoencoder):
    """VAE on 28x28 digits or garments; test ELBO (reconstruction + KL), samples, 2-D latent map."""

    Config = VaeMnistConfig

    def build_model(self, data):
        cfg = self.config
        model = self.compile(vae(**self.architecture(data), beta=cfg.beta, seed=cfg.seed), data)
        model(np.zeros((1, *data.input_shape), "float32"))  # build before fit, so a resumed run can restore weights
        return model

    def evaluate(self, model, data):
        """Test negative ELBO in nats per image, split into its reconstruction and KL terms, and the pictures."""
        cfg, images, n = self.config, self.test_images(data), self.config.grid_size
        z_mean, z_log_var = model.encoder.predict(images, batch_size=cfg.batch_size, verbose=0)
        metrics = {"dataset": data.name,
                   **elbo_metrics(model, images, z_mean, z_log_var, seed=cfg.seed, batch_size=cfg.batch_size)}
        decode = lambda z: model.decoder.predict(z, verbose=0)  # noqa: E731
        self.add_grid(decode(self.prior_samples(n**2)), "samples.png", "Samples from the prior",
                      title="Samples: decoder(z), z ~ N(0, I)")
        rows = [("test", images), ("decoded mean", decode(z_mean[:n]))]
        self.add_reconstructions(rows, "Test images and decoder(z_mean)", count=n,
                                 title="Test images and their reconstructions")
        if cfg.latent_dim == 2:
            self.add_latent_plane(decode, z_mean, data, size=n)
        return metrics

    def prior_samples(self, n):
        return np.random.default_rng(self.config.seed).normal(size=(n, self.config.latent_dim)).astype("float32")

    def model_to_export(self, model):
        return model.decoder

    def export_inputs(self, data):
        prior = self.prior_samples(264)
        return prior[:200], prior[200:], None

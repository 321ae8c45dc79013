"""autoencoder-fashion: a (denoising) autoencoder on Fashion-MNIST, measured against PCA."""

import dataclasses

import numpy as np

from kerarch.config import image_dataset_option, option
from kerarch.frame import register_recipe
from kerarch.frame.image_autoencoder import (
    ImageAutoencoder, ImageAutoencoderConfig, gaussian_corruption, pca_reconstructions, pixel_mse,
)
from kerarch.generative import autoencoder

LOSSES = {"mse": "mean_squared_error", "bce": "binary_crossentropy"}


@dataclasses.dataclass
class AutoencoderFashionConfig(ImageAutoencoderConfig):
    dataset: str = image_dataset_option("fashion_mnist")
    latent_dim: int = option(32, "Size of the code; PCA keeps as many components.", minimum=1)
    loss: str = option("mse", "Reconstruction loss: mse or bce (cross-entropy on pixels in [0, 1]).", choices=LOSSES)
    denoise: bool = option(False, "Train as a denoising autoencoder: Gaussian noise on the inputs, clean targets.")
    noise_stddev: float = option(0.3, "Standard deviation of the noise when denoise=true (pixels in [0, 1]).",
                                 minimum=0.0)
    grid_examples: int = option(10, "Test images shown in the reconstruction grid.", minimum=1)


@register_recipe("autoencoder-fashion")
class AutoencoderFashion(ImageAutoencoder):
    """Autoencoder (dense or conv, optionally denoising) on garments; test reconstruction error vs PCA."""

    Config = AutoencoderFashionConfig
    image_targets = True
    metrics = ("mean_squared_error",)

    @property
    def noise_stddev(self):
        return self.config.noise_stddev if self.config.denoise else 0.0

    def build_model(self, data):
        model = autoencoder(**self.architecture(data), noise_stddev=self.noise_stddev)
        return self.compile(model, data, loss=LOSSES[self.config.loss])

    def evaluate(self, model, data):
        """Per-pixel test MSE of the autoencoder and of PCA with as many components as the code has."""
        cfg, clean = self.config, self.test_images(data)
        inputs = gaussian_corruption(clean, self.noise_stddev, seed=cfg.seed)
        reconstructed = model.predict(inputs, batch_size=cfg.batch_size, verbose=0)
        pca, explained = pca_reconstructions(self.train_images(data), inputs, components=cfg.latent_dim, seed=cfg.seed)
        metrics = {"dataset": data.name, "test_mse": pixel_mse(clean, reconstructed),
                   "pca_test_mse": pixel_mse(clean, pca), "pca_explained_variance": explained}
        rows = [("original", clean), ("autoencoder", reconstructed), (f"PCA-{cfg.latent_dim}", pca)]
        if self.noise_stddev:
            metrics["noisy_input_mse"] = pixel_mse(clean, inputs)
            rows.insert(1, ("noisy input", np.clip(inputs, 0.0, 1.0)))
        metrics["mse_ratio_to_pca"] = metrics["test_mse"] / metrics["pca_test_mse"]
        self.add_reconstructions(rows, "Test images, their autoencoder reconstructions and PCA's",
                                 count=min(cfg.grid_examples, len(clean)), title="Test reconstructions")
        return metrics

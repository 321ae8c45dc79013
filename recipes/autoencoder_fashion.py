"""autoencoder-fashion: a (denoising) autoencoder on Fashion-MNIST, measured against PCA."""

import dataclasses

import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.generative import autoencoder
from kerarch.frame import Recipe, register_recipe
from kerarch.plots import image_grid


@dataclasses.dataclass
class AutoencoderFashionConfig(RecipeConfig):
    epochs: int = option(10, "Passes over the training data.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("fashion_mnist", "fashion_mnist or mnist (falls back to Fashion-MNIST offline).",
                          choices=("fashion_mnist", "mnist"))
    kind: str = option("conv", "Encoder/decoder layout.", choices=("conv", "dense"))
    latent_dim: int = option(32, "Size of the code; PCA keeps as many components.", minimum=1)
    filters: int = option(32, "Channels of the first conv layer (conv kind).", minimum=1)
    hidden_units: int = option(256, "Width of the dense hidden layer of encoder and decoder.", minimum=1)
    loss: str = option("mse", "Reconstruction loss: mse or bce (binary cross-entropy on pixels in [0, 1]).",
                       choices=("mse", "bce"))
    denoise: bool = option(False, "Train as a denoising autoencoder: Gaussian noise on the inputs, clean targets.")
    noise_stddev: float = option(0.3, "Standard deviation of the corruption when denoise=true (pixels in [0, 1]).",
                                 minimum=0.0)
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)
    grid_examples: int = option(10, "Test images shown in the reconstruction grid.", minimum=1)


def _as_pairs(images):
    """uint8 images -> (input, target) pairs in [0, 1]: an autoencoder's target is its input."""
    scaled = scale_images(images)
    return scaled, scaled


@register_recipe("autoencoder-fashion")
class AutoencoderFashion(Recipe):
    """Autoencoder (dense or conv, optionally denoising) on garments; test reconstruction error vs PCA."""

    Config = AutoencoderFashionConfig
    task = "regression"

    def load_data(self):
        data = load_image_classification(self.config.dataset, self.config.data_dir)
        return split_validation(data, self.config.validation_examples, self.config.train_examples, self.config.seed)

    @property
    def noise_stddev(self):
        return self.config.noise_stddev if self.config.denoise else 0.0

    def build_model(self, data):
        cfg = self.config
        model = autoencoder(
            image_shape=data.input_shape, latent_dim=cfg.latent_dim, kind=cfg.kind, filters=cfg.filters,
            hidden_units=(cfg.hidden_units,), noise_stddev=self.noise_stddev,
        )
        loss = {"mse": "mean_squared_error", "bce": "binary_crossentropy"}[cfg.loss]
        model.compile(optimizer=self.make_optimizer(data), loss=loss, metrics=["mean_squared_error"],
                      jit_compile=self.jit_compile)
        return model

    def datasets(self, data):
        batch = self.config.batch_size
        train = make_dataset(data.x_train, batch_size=batch, shuffle=True, seed=self.config.seed, map_fn=_as_pairs)
        val = make_dataset(data.x_val, batch_size=batch, map_fn=_as_pairs)
        return train, val

    def evaluate(self, model, data):
        """Per-pixel test MSE of the autoencoder and of PCA with as many components as the code has."""
        from sklearn.decomposition import PCA

        clean = np.asarray(scale_images(data.x_test))
        inputs = self.corrupt(clean)
        reconstructed = model.predict(inputs, batch_size=self.config.batch_size, verbose=0)
        pca = PCA(n_components=self.config.latent_dim, random_state=self.config.seed)
        pca.fit(np.asarray(scale_images(data.x_train)).reshape(len(data.x_train), -1))
        pca_reconstructed = np.clip(pca.inverse_transform(pca.transform(inputs.reshape(len(inputs), -1))), 0.0, 1.0)
        metrics = {
            "dataset": data.name,
            "test_mse": _mse(clean, reconstructed),
            "pca_test_mse": _mse(clean, pca_reconstructed.reshape(clean.shape)),
            "pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
        }
        if self.noise_stddev:
            metrics["noisy_input_mse"] = _mse(clean, inputs)
        metrics["mse_ratio_to_pca"] = metrics["test_mse"] / metrics["pca_test_mse"]
        self.draw_grid(clean, inputs, reconstructed, pca_reconstructed.reshape(clean.shape))
        return metrics

    def corrupt(self, clean):
        """The test inputs: clean images, or with denoise=true the same Gaussian corruption as in training."""
        if not self.noise_stddev:
            return clean
        noise = np.random.default_rng(self.config.seed).normal(scale=self.noise_stddev, size=clean.shape)
        return (clean + noise).astype("float32")

    def draw_grid(self, clean, inputs, reconstructed, pca_reconstructed):
        n = min(self.config.grid_examples, len(clean))
        rows = [("original", clean), ("autoencoder", reconstructed), (f"PCA-{self.config.latent_dim}", pca_reconstructed)]
        if self.noise_stddev:
            rows.insert(1, ("noisy input", np.clip(inputs, 0.0, 1.0)))
        images = np.concatenate([images[:n] for _, images in rows])
        path = image_grid(images, self.run.path / "reconstructions.png", rows=len(rows),
                          row_labels=[label for label, _ in rows], title="Test reconstructions")
        self.run.add_picture(path, "Test images, their autoencoder reconstructions and PCA's")

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test[:1000])), None


def _mse(images, reconstructed):
    return float(np.mean(np.square(np.asarray(images, "float64") - np.asarray(reconstructed, "float64"))))

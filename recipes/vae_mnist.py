"""vae-mnist: the variational autoencoder (Kingma & Welling 2014) on MNIST or Fashion-MNIST."""

import dataclasses

import keras
import numpy as np
from scipy.stats import norm

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.generative import kl_divergence, vae
from kerarch.frame import Recipe, register_recipe
from kerarch.plots import image_grid, pyplot, save_figure


@dataclasses.dataclass
class VaeMnistConfig(RecipeConfig):
    epochs: int = option(15, "Passes over the training data.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("mnist", "mnist (falls back to Fashion-MNIST offline) or fashion_mnist.",
                          choices=("mnist", "fashion_mnist"))
    kind: str = option("conv", "Encoder/decoder layout.", choices=("conv", "dense"))
    latent_dim: int = option(2, "Size of z; 2 also draws the latent-space map and the decoded manifold.", minimum=1)
    filters: int = option(32, "Channels of the first conv layer (conv kind).", minimum=1)
    hidden_units: int = option(256, "Width of the dense hidden layer of encoder and decoder.", minimum=1)
    beta: float = option(1.0, "Weight of the KL term (1: the VAE's ELBO; >1: beta-VAE).", minimum=0.0)
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)
    grid_size: int = option(10, "Sample and manifold grids are grid_size x grid_size images.", minimum=2)


@register_recipe("vae-mnist")
class VaeMnist(Recipe):
    """VAE on 28x28 digits or garments; test ELBO (reconstruction + KL), samples, 2-D latent map."""

    Config = VaeMnistConfig
    task = "regression"

    def load_data(self):
        data = load_image_classification(self.config.dataset, self.config.data_dir)
        return split_validation(data, self.config.validation_examples, self.config.train_examples, self.config.seed)

    def build_model(self, data):
        cfg = self.config
        model = vae(image_shape=data.input_shape, latent_dim=cfg.latent_dim, kind=cfg.kind, filters=cfg.filters,
                    hidden_units=(cfg.hidden_units,), beta=cfg.beta, seed=cfg.seed)
        model.compile(optimizer=self.make_optimizer(data), jit_compile=self.jit_compile)
        model(np.zeros((1, *data.input_shape), "float32"))  # build before fit, so a resumed run can restore weights
        return model

    def datasets(self, data):
        batch = self.config.batch_size
        train = make_dataset(data.x_train, batch_size=batch, shuffle=True, seed=self.config.seed, map_fn=scale_images)
        val = make_dataset(data.x_val, batch_size=batch, map_fn=scale_images)
        return train, val

    def evaluate(self, model, data):
        """Test negative ELBO in nats per image, split into its reconstruction and KL terms, and the pictures."""
        images = np.asarray(scale_images(data.x_test))
        z_mean, z_log_var = model.encoder.predict(images, batch_size=self.config.batch_size, verbose=0)
        reconstruction, kl = self.elbo_terms(model, images, z_mean, z_log_var)
        self.draw_samples(model)
        self.draw_reconstructions(model, images, z_mean)
        if self.config.latent_dim == 2:
            self.draw_latent_map(z_mean, data)
            self.draw_manifold(model)
        return {
            "dataset": data.name,
            "test_neg_elbo_nats": reconstruction + kl,
            "test_reconstruction_nats": reconstruction,
            "test_kl_nats": kl,
            "active_latent_dims": int(np.sum(np.var(z_mean, axis=0) > 0.01)),  # Burda et al. 2016's activity test
        }

    def elbo_terms(self, model, images, z_mean, z_log_var):
        """Mean reconstruction term (one sample of z per image) and mean KL over the test set."""
        seed = keras.random.SeedGenerator(self.config.seed)
        z = z_mean + np.exp(0.5 * z_log_var) * keras.ops.convert_to_numpy(keras.random.normal(z_mean.shape, seed=seed))
        reconstructed = model.decoder.predict(z, batch_size=self.config.batch_size, verbose=0)
        errors = [
            keras.ops.convert_to_numpy(model.reconstruction_error(images[i : i + 1000], reconstructed[i : i + 1000]))
            for i in range(0, len(images), 1000)
        ]
        kl = keras.ops.convert_to_numpy(kl_divergence(z_mean, z_log_var))
        return float(np.concatenate(errors).mean()), float(kl.mean())

    def prior_samples(self, n):
        return np.random.default_rng(self.config.seed).normal(size=(n, self.config.latent_dim)).astype("float32")

    def draw_samples(self, model):
        images = model.decoder.predict(self.prior_samples(self.config.grid_size**2), verbose=0)
        path = image_grid(images, self.run.path / "samples.png", title="Samples: decoder(z), z ~ N(0, I)")
        self.run.add_picture(path, "Samples from the prior")

    def draw_reconstructions(self, model, images, z_mean):
        n = self.config.grid_size
        decoded = model.decoder.predict(z_mean[:n], verbose=0)
        path = image_grid(np.concatenate([images[:n], decoded]), self.run.path / "reconstructions.png", rows=2,
                          row_labels=["test", "decoded mean"], title="Test images and their reconstructions")
        self.run.add_picture(path, "Test images and decoder(z_mean)")

    def draw_latent_map(self, z_mean, data):
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
        points = ax.scatter(z_mean[:, 0], z_mean[:, 1], c=data.y_test, cmap="tab10", s=2, alpha=0.7)
        legend = ax.legend(*points.legend_elements(), title="class", fontsize=7, loc="center left",
                           bbox_to_anchor=(1.0, 0.5))
        for text, name in zip(legend.get_texts(), data.class_names):
            text.set_text(name)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_title(f"Test images in latent space ({data.name}), z_mean")
        fig.tight_layout()
        path = self.run.path / "latent_space.png"
        save_figure(fig, path)
        self.run.add_picture(path, "Encoded test images, coloured by class")

    def draw_manifold(self, model):
        """Decoded grid over the prior's quantiles, as in Kingma & Welling's figure 4."""
        n = self.config.grid_size
        quantiles = norm.ppf(np.linspace(0.05, 0.95, n))
        z = np.array([[a, b] for b in quantiles[::-1] for a in quantiles], "float32")
        path = image_grid(model.decoder.predict(z, verbose=0), self.run.path / "manifold.png", rows=n,
                          title="Decoded latent grid (prior quantiles 5%..95%)")
        self.run.add_picture(path, "The learned 2-D manifold")

    def model_to_export(self, model):
        return model.decoder

    def export_inputs(self, data):
        prior = self.prior_samples(264)
        return prior[:200], prior[200:], None

"""The ImageAutoencoder kind: recipes that encode 28x28 images and decode them (an autoencoder, the VAE).

The kind loads the images in [0, 1] with a validation split, hands the
builder the architecture the config sets, draws the report's picture grids
and exports the model with training and test images. The module's
functions measure reconstructions: per-pixel MSE, a PCA baseline with as
many components as the code has, and a VAE's negative ELBO.
"""

import dataclasses

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.splits import split_validation
from kerarch.frame.recipe import Recipe
from kerarch.generative import kl_divergence
from kerarch.plots import class_scatter, image_grid


@dataclasses.dataclass
class ImageAutoencoderConfig(RecipeConfig):
    """Keys every autoencoder recipe on 28x28 images accepts."""

    kind: str = option("conv", "Encoder/decoder layout.", choices=("conv", "dense"))
    filters: int = option(32, "Channels of the first conv layer (conv kind).", minimum=1)
    hidden_units: int = option(256, "Width of the dense hidden layer of encoder and decoder.", minimum=1)
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)


class ImageAutoencoder(Recipe):
    """Base of the recipes that encode 28x28 images and decode them: images in [0, 1], a validation split.

    A subclass's config adds `latent_dim`.
    """

    Config = ImageAutoencoderConfig
    task = "regression"
    #: True: (image, image) batches for a Keras loss; False: images alone (the model computes its own loss).
    image_targets = False

    def load_data(self):
        cfg = self.config
        data = load_image_classification(cfg.dataset, cfg.data_dir)
        return split_validation(data, cfg.validation_examples, cfg.train_examples, cfg.seed)

    def architecture(self, data):
        """The builder arguments the config sets (`autoencoder`'s and `vae`'s)."""
        cfg = self.config
        return dict(image_shape=data.input_shape, latent_dim=cfg.latent_dim, kind=cfg.kind, filters=cfg.filters,
                    hidden_units=(cfg.hidden_units,))

    def datasets(self, data):
        batch = self.config.batch_size
        map_fn = _as_pairs if self.image_targets else scale_images
        train = make_dataset(data.x_train, batch_size=batch, shuffle=True, seed=self.config.seed, map_fn=map_fn)
        val = make_dataset(data.x_val, batch_size=batch, map_fn=map_fn)
        return train, val

    def train_images(self, data):
        return np.asarray(scale_images(data.x_train))

    def test_images(self, data):
        return np.asarray(scale_images(data.x_test))

    def add_grid(self, images, filename, caption, **grid):
        """Saves images in [0, 1] as a grid PNG in the run folder, shown in the report (`grid`: `image_grid`'s)."""
        self.run.add_picture(image_grid(images, self.run.path / filename, **grid), caption)

    def add_reconstructions(self, rows, caption, *, count, title):
        """reconstructions.png: one labelled row per (label, images) in `rows`, the first `count` images of each."""
        self.add_grid(np.concatenate([images[:count] for _, images in rows]), "reconstructions.png", caption,
                      rows=len(rows), row_labels=[label for label, _ in rows], title=title)

    def add_latent_plane(self, decode, z_mean, data, *, size):
        """For a 2-D code: the test images' z_mean coloured by class, and `decode`d codes on a size x size grid
        over the prior's quantiles (Kingma & Welling's figure 4)."""
        path = class_scatter(z_mean, data.y_test, self.run.path / "latent_space.png", class_names=data.class_names,
                             xlabel="z[0]", ylabel="z[1]", title=f"Test images in latent space ({data.name}), z_mean")
        self.run.add_picture(path, "Encoded test images, coloured by class")
        from scipy.stats import norm

        quantiles = norm.ppf(np.linspace(0.05, 0.95, size))
        z = np.array([[a, b] for b in quantiles[::-1] for a in quantiles], "float32")
        self.add_grid(decode(z), "manifold.png", "The learned 2-D manifold", rows=size,
                      title="Decoded latent grid (prior quantiles 5%..95%)")

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), self.test_images(data)[:1000], None


def _as_pairs(images):
    """uint8 images -> (input, target) pairs in [0, 1]: an autoencoder's target is its input."""
    scaled = scale_images(images)
    return scaled, scaled


def pixel_mse(images, reconstructed):
    """Mean squared error per pixel, in float64."""
    return float(np.mean(np.square(np.asarray(images, "float64") - np.asarray(reconstructed, "float64"))))


def gaussian_corruption(images, stddev, *, seed):
    """`images` plus seeded Gaussian noise of `stddev` (float32); `images` themselves when `stddev` is 0."""
    if not stddev:
        return images
    return (images + np.random.default_rng(seed).normal(scale=stddev, size=images.shape)).astype("float32")


def pca_reconstructions(train_images, images, *, components, seed):
    """PCA with `components` components fitted on `train_images` (in [0, 1]), applied to `images`.

    Returns (the reconstructions, clipped to [0, 1], shaped like `images`; the explained variance ratio).
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=components, random_state=seed).fit(np.asarray(train_images).reshape(len(train_images), -1))
    reconstructed = np.clip(pca.inverse_transform(pca.transform(images.reshape(len(images), -1))), 0.0, 1.0)
    return reconstructed.reshape(images.shape), float(pca.explained_variance_ratio_.sum())


def elbo_metrics(model, images, z_mean, z_log_var, *, seed, batch_size, chunk=1000):
    """A VAE's test negative ELBO in nats per image, its reconstruction term (one seeded sample of z per image) and
    KL term, and the active latent dimensions (variance of z_mean over the images above 0.01, Burda et al. 2016)."""
    noise = keras.ops.convert_to_numpy(keras.random.normal(z_mean.shape, seed=keras.random.SeedGenerator(seed)))
    reconstructed = model.decoder.predict(z_mean + np.exp(0.5 * z_log_var) * noise, batch_size=batch_size, verbose=0)
    errors = [model.reconstruction_error(images[i : i + chunk], reconstructed[i : i + chunk])
              for i in range(0, len(images), chunk)]
    reconstruction = float(np.concatenate([keras.ops.convert_to_numpy(error) for error in errors]).mean())
    kl = float(keras.ops.convert_to_numpy(kl_divergence(z_mean, z_log_var)).mean())
    return {
        "test_neg_elbo_nats": reconstruction + kl,
        "test_reconstruction_nats": reconstruction,
        "test_kl_nats": kl,
        "active_latent_dims": int(np.sum(np.var(z_mean, axis=0) > 0.01)),
    }

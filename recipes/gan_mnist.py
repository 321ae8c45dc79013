"""gan-mnist: DCGAN (Radford et al. 2016) on MNIST or Fashion-MNIST.

Also the base of cgan-mnist and wgan-gp-mnist: data, sample grids, FID-LeNet
(see kerarch.generative.fid) and the generator's export live here.
"""

import dataclasses
import functools

import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.generative import FidLenet, dcgan_discriminator, dcgan_generator, fid_report
from kerarch.frame import Recipe, register_recipe
from kerarch.generative.adversarial import GAN
from kerarch.training import SampleGrid, default_callbacks
from kerarch.plots import image_grid

# The generator's tanh range.
to_tanh_range = functools.partial(scale_images, low=-1.0, high=1.0)


@dataclasses.dataclass
class ImageGanConfig(RecipeConfig):
    """Keys every GAN recipe on 28x28 images accepts."""

    epochs: int = option(4, "Passes over the training data (4 fit a 2-core CPU in under 10 minutes).", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("mnist", "mnist (falls back to Fashion-MNIST offline) or fashion_mnist.",
                          choices=("mnist", "fashion_mnist"))
    latent_dim: int = option(64, "Size of the noise vector z.", minimum=1)
    filters: int = option(32, "Generator/discriminator base width (the paper's 64 is ~3x slower on a CPU).", minimum=1)
    learning_rate: float = option(2e-4, "Learning rate of both networks (paper: Adam, 2e-4).", minimum=0.0)
    beta_1: float = option(0.5, "Adam's beta_1 (paper: 0.5).")
    grid_size: int = option(8, "Sample grids are grid_size x grid_size images.", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)
    fid_examples: int = option(5000, "Generated, test and training images compared by FID-LeNet "
                               "(capped by the test set's size).", minimum=2)
    fid_classifier_epochs: int = option(5, "Epochs of the LeNet-5 whose features FID-LeNet compares (5 epochs "
                                           "of all 60,000 MNIST digits: 98.2 % on the real test digits).", minimum=1)
    fid_classifier_examples: int = option(60_000, "Training images of that LeNet-5 (at most all of them).", minimum=1)


@dataclasses.dataclass
class GanMnistConfig(ImageGanConfig):
    label_smoothing: float = option(0.1, "One-sided label smoothing of the real targets (Salimans et al. 2016).")


@register_recipe("gan-mnist")
class GanMnist(Recipe):
    """DCGAN on 28x28 digits or garments; sample grid per epoch, FID-LeNet, exports the generator."""

    Config = GanMnistConfig
    task = "regression"

    def load_data(self):
        data = load_image_classification(self.config.dataset, self.config.data_dir)
        if self.config.train_examples:
            data.x_train = data.x_train[: self.config.train_examples]
            data.y_train = data.y_train[: self.config.train_examples]
        return data

    def build_model(self, data):
        cfg = self.config
        generator = dcgan_generator(latent_dim=cfg.latent_dim, image_shape=data.input_shape, filters=cfg.filters)
        discriminator = dcgan_discriminator(image_shape=data.input_shape, filters=cfg.filters)
        gan = GAN(generator, discriminator, latent_dim=cfg.latent_dim, seed=cfg.seed)
        gan.compile(
            g_optimizer=self.make_optimizer(data, beta_1=cfg.beta_1),
            d_optimizer=self.make_optimizer(data, beta_1=cfg.beta_1),
            label_smoothing=cfg.label_smoothing,
            jit_compile=self.jit_compile,
        )
        return gan

    def datasets(self, data):
        # Whole batches only, so every replica gets an equal share.
        train = make_dataset(
            data.x_train, batch_size=self.config.batch_size, shuffle=True, seed=self.config.seed,
            map_fn=to_tanh_range, drop_remainder=True,
        )
        return train, None

    def noise(self, n, seed):
        return np.random.default_rng(seed).normal(size=(n, self.config.latent_dim)).astype("float32")

    def fixed_noise(self):
        return self.noise(self.config.grid_size**2, self.config.seed)

    def callbacks(self, model, data):
        samples = SampleGrid(
            lambda z: (model.generator.predict(z, verbose=0) + 1.0) / 2.0, self.fixed_noise(), self.run.path / "samples"
        )
        return default_callbacks(self.run.path, best=False) + [samples]

    def fid_scorer(self, data):
        """The LeNet-5 behind FID-LeNet, trained once per run and kept in the run folder."""
        cfg = self.config
        return FidLenet.for_data(
            self.run.path / "fid_lenet.keras", data, epochs=cfg.fid_classifier_epochs,
            examples=cfg.fid_classifier_examples, seed=cfg.seed,
        )

    def save_samples(self, model, data, title):
        images = model.generator.predict(self.fixed_noise(), verbose=0)
        path = image_grid((images + 1.0) / 2.0, self.run.path / "samples.png", title=f"{title} samples ({data.name})")
        self.run.add_picture(path, "Generated samples (fixed noise)")

    def evaluate(self, model, data):
        """Discriminator's belief on held-out real vs generated images, FID-LeNet with its real floor, samples."""
        self.save_samples(model, data, "DCGAN")
        real = np.asarray(to_tanh_range(data.x_test[:1000]))
        fake = model.generator.predict(self.noise(self.config.fid_examples, self.config.seed + 1), verbose=0)
        sigmoid = lambda logits: 1.0 / (1.0 + np.exp(-logits))  # noqa: E731
        return {
            "dataset": data.name,
            "d_prob_real_test": float(sigmoid(model.discriminator.predict(real, verbose=0)).mean()),
            "d_prob_generated": float(sigmoid(model.discriminator.predict(fake[:1000], verbose=0)).mean()),
            "generated_pixel_mean": float((fake[:1000].mean() + 1) / 2),
            "real_pixel_mean": float((real.mean() + 1) / 2),
            **fid_report(self.fid_scorer(data), data, (fake + 1.0) / 2.0, seed=self.config.seed),
        }

    def model_to_export(self, model):
        return model.generator

    def export_inputs(self, data):
        rng = np.random.default_rng(self.config.seed + 2)
        noise = lambda n: rng.normal(size=(n, self.config.latent_dim)).astype("float32")  # noqa: E731
        return noise(200), noise(64), None

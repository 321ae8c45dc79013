"""cgan-mnist: class-conditional GAN (Mirza & Osindero 2014) with DCGAN networks on MNIST or Fashion-MNIST.

The generator is asked for a class; the objective test of that is the
label accuracy: the FID-LeNet classifier (a LeNet-5 trained on the same
data) reads the generated images, and its accuracy against the requested
labels is compared with its accuracy on real test images.
"""

import dataclasses

import keras
import numpy as np

from kerarch.config import option
from kerarch.data import make_dataset
from kerarch.generative import cgan_discriminator, cgan_generator, fid_report, intra_class_fid
from kerarch.generative.fid import to_unit_range
from kerarch.frame import register_recipe
from kerarch.generative.adversarial import ConditionalGAN
from kerarch.training import SampleGrid, default_callbacks
from kerarch.plots import image_grid
from recipes.gan_mnist import GanMnist, GanMnistConfig, to_tanh_range


@dataclasses.dataclass
class CganMnistConfig(GanMnistConfig):
    epochs: int = option(8, "Passes over the training data (8: the classifier recognises 93 % of the digits drawn "
                            "on real MNIST, 4 epochs 91 %).", minimum=1)
    embedding_dim: int = option(50, "Size of the label embedding concatenated to the generator's noise.", minimum=1)
    grid_size: int = option(8, "Sample grids have one row per class and grid_size images per row.", minimum=1)


@register_recipe("cgan-mnist")
class CganMnist(GanMnist):
    """Class-conditional DCGAN: one sample row per class, label accuracy of a classifier, FID-LeNet."""

    Config = CganMnistConfig

    def build_model(self, data):
        cfg = self.config
        generator = cgan_generator(
            latent_dim=cfg.latent_dim, num_classes=data.num_classes, image_shape=data.input_shape,
            filters=cfg.filters, embedding_dim=cfg.embedding_dim,
        )
        discriminator = cgan_discriminator(num_classes=data.num_classes, image_shape=data.input_shape, filters=cfg.filters)
        gan = ConditionalGAN(generator, discriminator, latent_dim=cfg.latent_dim, seed=cfg.seed)
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
            data.x_train, data.y_train, batch_size=self.config.batch_size, shuffle=True, seed=self.config.seed,
            map_fn=to_tanh_range, drop_remainder=True,
        )
        return train, None

    def labelled_noise(self, per_class, num_classes, seed):
        """[noise (per_class * num_classes, latent_dim), labels (.., 1)]: per_class of each class, class by class."""
        labels = np.repeat(np.arange(num_classes), per_class).reshape(-1, 1).astype("int32")
        return [self.noise(len(labels), seed), labels]

    def callbacks(self, model, data):
        samples = SampleGrid(
            lambda inputs: (model.generator.predict(inputs, verbose=0) + 1.0) / 2.0,
            self.labelled_noise(self.config.grid_size, data.num_classes, self.config.seed),
            self.run.path / "samples", rows=data.num_classes, row_labels=list(data.class_names),
        )
        return default_callbacks(self.run.path, best=False) + [samples]

    def evaluate(self, model, data):
        """Label accuracy of generated images, FID-LeNet overall and within classes, each with its real reference."""
        cfg = self.config
        grid = (model.generator.predict(self.labelled_noise(cfg.grid_size, data.num_classes, cfg.seed), verbose=0) + 1) / 2
        path = image_grid(grid, self.run.path / "samples.png", rows=data.num_classes, row_labels=list(data.class_names),
                          title=f"cGAN samples, one class per row ({data.name})")
        self.run.add_picture(path, "Generated samples (one row per requested class)")

        noise, labels = self.labelled_noise(max(1, cfg.fid_examples // data.num_classes), data.num_classes, cfg.seed + 1)
        generated = (model.generator.predict([noise, labels], verbose=0) + 1.0) / 2.0
        order = np.random.default_rng(cfg.seed).permutation(len(labels))  # fid_report takes a prefix: mix the classes
        scorer = self.fid_scorer(data)
        intra, intra_floor = intra_class_fid(scorer, data, generated, labels, seed=cfg.seed)
        return {
            "dataset": data.name,
            "label_accuracy": scorer.accuracy(generated, labels),
            **per_class_label_accuracy(scorer, generated, labels, data),
            "classifier_accuracy_real_test": scorer.accuracy(to_unit_range(data.x_test), data.y_test),
            **fid_report(scorer, data, generated[order], seed=cfg.seed),
            "fid_lenet_intra_class": intra,
            "fid_lenet_intra_class_real_floor": intra_floor,
        }

    def model_to_export(self, model):
        return packed_generator(model.generator, self.config.latent_dim)

    def export_inputs(self, data):
        def packed(per_class, seed):
            noise, labels = self.labelled_noise(per_class, data.num_classes, seed)
            return np.concatenate([noise, labels.astype("float32")], axis=1)

        return packed(20, self.config.seed + 2), packed(8, self.config.seed + 3), None


def packed_generator(generator, latent_dim):
    """A one-input view of the conditional generator for export: (B, latent_dim + 1) -> images.

    kerarch's exporter takes one float input, so the noise and the class id
    travel side by side in one float32 tensor (the class id last). Same
    layers and weights as `generator`.
    """
    packed = keras.Input(shape=(latent_dim + 1,), dtype="float32", name="z_and_label")
    label = keras.ops.cast(packed[:, latent_dim:], "int32")
    return keras.Model(packed, generator([packed[:, :latent_dim], label]), name=generator.name)


def per_class_label_accuracy(scorer, generated, labels, data):
    """The classifier's accuracy on the generated images of each requested class, the worst class, and the
    classifier's own accuracy on the real test images of each class (the ceiling for that class)."""
    generated_per_class = accuracy_per_class(scorer, generated, labels.reshape(-1), data.class_names)
    worst = min(generated_per_class, key=generated_per_class.get)
    return {"label_accuracy_per_class": generated_per_class, "label_accuracy_worst_class": generated_per_class[worst],
            "label_accuracy_worst_class_name": worst,
            "classifier_accuracy_real_test_per_class": accuracy_per_class(
                scorer, to_unit_range(data.x_test), data.y_test, data.class_names)}


def accuracy_per_class(scorer, images, labels, class_names):
    """{class name: the classifier's accuracy on the images of that class}."""
    return {str(name): scorer.accuracy(images[labels == index], labels[labels == index])
            for index, name in enumerate(class_names)}

"""The ImageGan kind: GANs on 28x28 images (MNIST or Fashion-MNIST).

An ImageGan recipe builds its networks and adversarial training model
(`kerarch.generative.adversarial`) and compiles it with `self.compile`; the
kind loads the images (scaled to the generator's tanh range), draws a sample
grid from fixed noise after every epoch, judges the generator by FID-LeNet
(see kerarch.generative.fid) and the critic's own view of held-out images,
and exports the generator. A `conditional` GAN also reads the labels, draws
one sample row per class, is judged by the label accuracy of the FID-LeNet
classifier on its samples, and exports the generator with noise and class
id in one input.

`WassersteinGan` is the kind for a WGAN-GP (Gulrajani et al. 2017): a train
step reads n_critic critic batches, each network's optimizer is scheduled
over its own steps, and the critic is judged by its Wasserstein estimate.
"""

import dataclasses
import functools

import numpy as np

from kerarch.config import RecipeConfig, image_dataset_option, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.frame.recipe import Recipe
from kerarch.generative.fid import FidLenet, fid_report, intra_class_fid, per_class_label_accuracy, to_unit_range
from kerarch.plots import image_grid
from kerarch.training import SampleGrid, default_callbacks

# The generator's tanh range, and back to [0, 1].
to_tanh_range = functools.partial(scale_images, low=-1.0, high=1.0)


def from_tanh_range(images):
    return (images + 1.0) / 2.0


@dataclasses.dataclass
class ImageGanConfig(RecipeConfig):
    """Keys every GAN recipe on 28x28 images accepts."""

    epochs: int = option(4, "Passes over the training data (4 fit a 2-core CPU in under 10 minutes).", minimum=1)
    dataset: str = image_dataset_option("mnist")
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
class NonSaturatingGanConfig(ImageGanConfig):
    """Keys of the GANs trained with the non-saturating loss (`GAN`, `ConditionalGAN`)."""

    label_smoothing: float = option(0.1, "One-sided label smoothing of the real targets (Salimans et al. 2016).")


class ImageGan(Recipe):
    """A GAN on 28x28 images: sample grid per epoch, FID-LeNet, exports the generator.

    A subclass defines `build_model` and, unless its discriminator outputs
    logits, `critic_metrics`.
    """

    Config = ImageGanConfig
    task = "regression"
    #: True for a class-conditional GAN: (image, label) batches, a sample row per class, label accuracy.
    conditional = False
    #: Title of the final sample grid, before the dataset's name.
    samples_title = "GAN samples"

    def load_data(self):
        data = load_image_classification(self.config.dataset, self.config.data_dir)
        if self.config.train_examples:
            data.x_train = data.x_train[: self.config.train_examples]
            data.y_train = data.y_train[: self.config.train_examples]
        return data

    def compile(self, gan, data, **options):
        """Compiles `gan` with an optimizer per network (the config's, with its beta_1) unless `options` give them."""
        if "g_optimizer" not in options:
            options["g_optimizer"] = self.make_optimizer(data, beta_1=self.config.beta_1)
            options["d_optimizer"] = self.make_optimizer(data, beta_1=self.config.beta_1)
        return super().compile(gan, data, **options)

    def batch_size_per_step(self):
        """Images one train step reads."""
        return self.config.batch_size

    def datasets(self, data):
        # Whole batches only, so every replica gets an equal share.
        arrays = (data.x_train, data.y_train) if self.conditional else (data.x_train,)
        train = make_dataset(*arrays, batch_size=self.batch_size_per_step(), shuffle=True, seed=self.config.seed,
                             map_fn=to_tanh_range, drop_remainder=True)
        return train, None

    def noise(self, n, seed):
        return np.random.default_rng(seed).normal(size=(n, self.config.latent_dim)).astype("float32")

    def labelled_noise(self, per_class, num_classes, seed):
        """[noise (per_class * num_classes, latent_dim), labels (.., 1)]: per_class of each class, class by class."""
        labels = np.repeat(np.arange(num_classes), per_class).reshape(-1, 1).astype("int32")
        return [self.noise(len(labels), seed), labels]

    def grid_inputs(self, data):
        """The fixed generator inputs of the sample grids and the grids' layout (conditional: a row per class)."""
        cfg = self.config
        if self.conditional:
            layout = dict(rows=data.num_classes, row_labels=list(data.class_names))
            return self.labelled_noise(cfg.grid_size, data.num_classes, cfg.seed), layout
        return self.noise(cfg.grid_size**2, cfg.seed), {}

    def callbacks(self, model, data):
        inputs, layout = self.grid_inputs(data)
        samples = SampleGrid(lambda z: from_tanh_range(model.generator.predict(z, verbose=0)), inputs,
                             self.run.path / "samples", **layout)
        return default_callbacks(self.run.path, best=False) + [samples]

    def fid_scorer(self, data):
        """The LeNet-5 behind FID-LeNet, trained once per run and kept in the run folder."""
        cfg = self.config
        return FidLenet.for_data(
            self.run.path / "fid_lenet.keras", data, epochs=cfg.fid_classifier_epochs,
            examples=cfg.fid_classifier_examples, seed=cfg.seed,
        )

    def save_samples(self, model, data):
        inputs, layout = self.grid_inputs(data)
        images = from_tanh_range(model.generator.predict(inputs, verbose=0))
        path = image_grid(images, self.run.path / "samples.png", title=f"{self.samples_title} ({data.name})", **layout)
        caption = "one row per requested class" if self.conditional else "fixed noise"
        self.run.add_picture(path, f"Generated samples ({caption})")

    def critic_metrics(self, model, real, generated):
        """The discriminator's mean probability that held-out real and generated images (tanh range) are real."""
        sigmoid = lambda logits: 1.0 / (1.0 + np.exp(-logits))  # noqa: E731
        return {
            "d_prob_real_test": float(sigmoid(model.discriminator.predict(real, verbose=0)).mean()),
            "d_prob_generated": float(sigmoid(model.discriminator.predict(generated, verbose=0)).mean()),
        }

    def evaluate(self, model, data):
        """The critic on held-out real vs generated images, FID-LeNet with its real floor, samples."""
        self.save_samples(model, data)
        if self.conditional:
            return self.evaluate_conditional(model, data)
        cfg = self.config
        real = np.asarray(to_tanh_range(data.x_test[:1000]))
        fake = model.generator.predict(self.noise(cfg.fid_examples, cfg.seed + 1), verbose=0)
        return {
            "dataset": data.name,
            **self.critic_metrics(model, real, fake[:1000]),
            "generated_pixel_mean": float((fake[:1000].mean() + 1) / 2),
            "real_pixel_mean": float((real.mean() + 1) / 2),
            **fid_report(self.fid_scorer(data), data, from_tanh_range(fake), seed=cfg.seed),
        }

    def evaluate_conditional(self, model, data):
        """Label accuracy of generated images, FID-LeNet overall and within classes, each with its real reference."""
        cfg = self.config
        per_class = max(1, cfg.fid_examples // data.num_classes)
        noise, labels = self.labelled_noise(per_class, data.num_classes, cfg.seed + 1)
        generated = from_tanh_range(model.generator.predict([noise, labels], verbose=0))
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
        from kerarch.export.adapters import packed_generator

        return packed_generator(model.generator, self.config.latent_dim) if self.conditional else model.generator

    def export_inputs(self, data):
        """Noise (conditional: noise and class id side by side, as `packed_generator` reads them)."""
        seed = self.config.seed
        if self.conditional:
            def packed(per_class, seed):
                noise, labels = self.labelled_noise(per_class, data.num_classes, seed)
                return np.concatenate([noise, labels.astype("float32")], axis=1)

            return packed(20, seed + 2), packed(8, seed + 3), None
        rng = np.random.default_rng(seed + 2)
        noise = lambda n: rng.normal(size=(n, self.config.latent_dim)).astype("float32")  # noqa: E731
        return noise(200), noise(64), None


@dataclasses.dataclass
class WassersteinGanConfig(ImageGanConfig):
    """Keys of a WGAN-GP, with the paper's settings."""

    epochs: int = option(4, "Passes over the training data; each takes N / (n_critic x batch_size) generator steps "
                         "(187 on 60,000 images).", minimum=1)
    batch_size: int = option(64, "Critic batch (paper: 64); a train step reads n_critic of them.", minimum=1)
    learning_rate: float = option(1e-4, "Adam learning rate of both networks (paper: 1e-4).", minimum=0.0)
    beta_1: float = option(0.0, "Adam beta_1 (paper: 0).")
    beta_2: float = option(0.9, "Adam beta_2 (paper: 0.9).")
    n_critic: int = option(5, "Critic steps per generator step (paper: 5).", minimum=1)
    gp_weight: float = option(10.0, "Weight λ of the gradient penalty (paper: 10).", minimum=0.0)


class WassersteinGan(ImageGan):
    """A WGAN-GP on 28x28 images: n_critic critic batches per train step, the critic's Wasserstein estimate.

    A subclass's `build_model` returns `self.compile(WGANGP(...), data)`.
    """

    Config = WassersteinGanConfig

    def compile(self, gan, data, **options):
        """Compiles `gan` with λ, n_critic and an Adam per network, each scheduled over the steps it takes
        (`options` replace or add `compile` arguments)."""
        cfg = self.config
        adam = dict(beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        generator_steps = self.generator_steps(data)
        defaults = dict(g_optimizer=self.make_optimizer(data, total_steps=generator_steps, **adam),
                        d_optimizer=self.make_optimizer(data, total_steps=generator_steps * cfg.n_critic, **adam),
                        gp_weight=cfg.gp_weight, n_critic=cfg.n_critic)
        return super().compile(gan, data, **{**defaults, **options})

    def generator_steps(self, data):
        """Generator steps of the run: one per n_critic critic batches, whole batches only."""
        cfg = self.config
        per_epoch = cfg.steps_per_epoch or self.num_train_examples(data) // self.batch_size_per_step()
        return max(1, cfg.epochs * per_epoch)

    def batch_size_per_step(self):
        """One batch feeds n_critic critic steps."""
        return self.config.batch_size * self.config.n_critic

    def critic_metrics(self, model, real, generated):
        """The critic's Wasserstein estimate on held-out real vs generated images."""
        score = lambda images: float(model.discriminator.predict(images, verbose=0).mean())  # noqa: E731
        return {"wasserstein_estimate_test": score(real) - score(generated)}

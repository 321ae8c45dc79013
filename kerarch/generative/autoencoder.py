"""Autoencoders (dense and convolutional, optionally denoising) and the variational autoencoder.

The encoder and decoder are separate functional builders; `autoencoder`
composes them into one model, `VAE` trains them with the evidence lower
bound through Keras 3's backend-agnostic `compute_loss`.
"""

import keras
from keras import layers, ops

from kerarch.registry import register_builder

_KINDS = ("dense", "conv")


def _check(kind, image_shape):
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    if kind == "conv" and (image_shape[0] % 4 or image_shape[1] % 4):
        raise ValueError(f"kind='conv' needs height and width divisible by 4, got {image_shape}.")


@register_builder("autoencoder_encoder")
def autoencoder_encoder(*, image_shape=(28, 28, 1), latent_dim=32, kind="conv", filters=32, hidden_units=(256,),
                        outputs=1, name="encoder"):
    """Images -> latent code(s): dense (flatten, hidden layers) or conv (two stride-2 convs).

    Args:
        image_shape: (height, width, channels); divisible by 4 for `kind="conv"`.
        latent_dim: size of each latent vector.
        kind: "dense" or "conv".
        filters: channels of the first conv (the second has twice as many).
        hidden_units: widths of the dense hidden layers.
        outputs: 1 (the code) or 2 (a VAE's `z_mean` and `z_log_var`).
        name: model name.

    Returns:
        A functional `keras.Model` from (B, H, W, C) to (B, latent_dim) (a list of two for outputs=2).

    Reference:
        Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with
        Neural Networks", Science 2006.
    """
    _check(kind, image_shape)
    images = keras.Input(shape=image_shape, name="images")
    x = images
    if kind == "conv":
        for i, width in enumerate((filters, 2 * filters), start=1):
            x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"down{i}_conv")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"hidden{i}")(x)
    if outputs == 1:
        return keras.Model(images, layers.Dense(latent_dim, name="code")(x), name=name)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(images, [z_mean, z_log_var], name=name)


@register_builder("autoencoder_decoder")
def autoencoder_decoder(*, image_shape=(28, 28, 1), latent_dim=32, kind="conv", filters=32, hidden_units=(256,),
                        output_activation="sigmoid", name="decoder"):
    """Latent code -> images, mirroring `autoencoder_encoder` (transposed convs for `kind="conv"`).

    `output_activation="sigmoid"` gives pixels in [0, 1], for a binary
    cross-entropy or MSE reconstruction loss; None gives logits.
    """
    _check(kind, image_shape)
    height, width, channels = image_shape
    code = keras.Input(shape=(latent_dim,), name="code")
    x = code
    for i, units in enumerate(reversed(hidden_units), start=1):
        x = layers.Dense(units, activation="relu", name=f"hidden{i}")(x)
    if kind == "dense":
        x = layers.Dense(height * width * channels, activation=output_activation, name="pixels")(x)
        return keras.Model(code, layers.Reshape(image_shape, name="images")(x), name=name)
    x = layers.Dense((height // 4) * (width // 4) * 2 * filters, activation="relu", name="project")(x)
    x = layers.Reshape((height // 4, width // 4, 2 * filters), name="reshape")(x)
    for i, units in enumerate((2 * filters, filters), start=1):
        x = layers.Conv2DTranspose(units, 3, strides=2, padding="same", activation="relu", name=f"up{i}_conv")(x)
    images = layers.Conv2D(channels, 3, padding="same", activation=output_activation, name="images")(x)
    return keras.Model(code, images, name=name)


@register_builder("autoencoder")
def autoencoder(*, image_shape=(28, 28, 1), latent_dim=32, kind="conv", filters=32, hidden_units=(256,),
                noise_stddev=0.0, name="autoencoder"):
    """Encoder and decoder composed into one model; `noise_stddev` > 0 makes it a denoising autoencoder.

    The Gaussian corruption (`keras.layers.GaussianNoise`) acts only while
    training: the model learns to reconstruct the clean input from a noisy
    one, and at inference it maps images to their reconstructions.

    Reference:
        Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing
        Robust Features with Denoising Autoencoders", ICML 2008.
    """
    shared = dict(image_shape=image_shape, latent_dim=latent_dim, kind=kind, filters=filters, hidden_units=hidden_units)
    encoder, decoder = autoencoder_encoder(**shared), autoencoder_decoder(**shared)
    images = keras.Input(shape=image_shape, name="images")
    x = layers.GaussianNoise(noise_stddev, name="corruption")(images) if noise_stddev else images
    return keras.Model(images, decoder(encoder(x)), name=name)


@keras.saving.register_keras_serializable(package="kerarch")
class Sampling(layers.Layer):
    """The reparameterisation trick: z = mean + exp(log_var / 2) * eps, eps ~ N(0, I)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def kl_divergence(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example: -0.5 * sum(1 + log_var - mean^2 - exp(log_var))."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


@keras.saving.register_keras_serializable(package="kerarch")
class VAE(keras.Model):
    """Variational autoencoder trained on the negative ELBO, reconstruction and KL logged separately.

    `fit(images)` needs no targets. The reconstruction term is the binary
    cross-entropy summed over pixels (images in [0, 1]) or, with
    `reconstruction="mse"`, the summed squared error; the KL term is
    `kl_divergence` times `beta` (1 is the plain VAE). Calling the model
    returns reconstructions from sampled codes.

    Reference:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    """

    def __init__(self, encoder, decoder, *, reconstruction="bce", beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if reconstruction not in ("bce", "mse"):
            raise ValueError(f"reconstruction must be 'bce' or 'mse', got {reconstruction!r}.")
        self.encoder, self.decoder = encoder, decoder
        self.reconstruction, self.beta = reconstruction, beta
        self.sampling = Sampling(seed=seed, name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def call(self, images, training=False):
        z_mean, z_log_var = self.encoder(images, training=training)
        return self.decoder(self.sampling([z_mean, z_log_var]), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        z_mean, z_log_var = self.encoder(x, training=training)
        reconstructed = self.decoder(self.sampling([z_mean, z_log_var]), training=training)
        reconstruction = ops.mean(self.reconstruction_error(x, reconstructed))
        kl = ops.mean(kl_divergence(z_mean, z_log_var))
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return reconstruction + self.beta * kl

    def reconstruction_error(self, images, reconstructed):
        """Per-example reconstruction term, summed over pixels."""
        images = ops.cast(images, reconstructed.dtype)
        if self.reconstruction == "mse":
            per_pixel = ops.square(images - reconstructed)
        else:
            per_pixel = keras.losses.binary_crossentropy(images[..., None], reconstructed[..., None])
        return ops.sum(ops.reshape(per_pixel, (ops.shape(images)[0], -1)), axis=-1)

    @property
    def metrics(self):
        return [*super().metrics, self.reconstruction_tracker, self.kl_tracker]

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "reconstruction": self.reconstruction,
            "beta": self.beta,
            "seed": self.sampling.seed,
        }

    @classmethod
    def from_config(cls, config):
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


@register_builder("vae")
def vae(*, image_shape=(28, 28, 1), latent_dim=2, kind="conv", filters=32, hidden_units=(256,),
        reconstruction="bce", beta=1.0, seed=None, name="vae"):
    """A `VAE` whose encoder outputs (z_mean, z_log_var) and whose decoder ends in a sigmoid.

    Compile with an optimizer only (`model.compile("adam")`): the loss is the
    model's own negative ELBO. Build it before `fit` by calling it once or
    let `fit` build it.

    Saved models: the `.keras` file needs kerarch's `VAE` class to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`):
    a `keras.Model` subclass, for its own loss (`compute_loss`) and
    sampling layer. Its `encoder` and `decoder` are plain functional models.

    Reference:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    """
    shared = dict(image_shape=image_shape, latent_dim=latent_dim, kind=kind, filters=filters, hidden_units=hidden_units)
    encoder = autoencoder_encoder(**shared, outputs=2, name=f"{name}_encoder")
    decoder = autoencoder_decoder(**shared, name=f"{name}_decoder")
    return VAE(encoder, decoder, reconstruction=reconstruction, beta=beta, seed=seed, name=name)

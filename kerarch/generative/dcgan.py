"""DCGAN generator and discriminator for small square images, and the WGAN-GP critic.

The networks are assembled from two tensor-in/tensor-out bodies,
`generator_body` and `discriminator_body`, which the class-conditional
builders in `kerarch.generative.cgan` reuse.
"""

import keras
from keras import layers

from kerarch.registry import register_builder

NORMALIZATIONS = ("batch", "layer", None)


def generator_body(x, *, image_shape, filters, kernel_size):
    """Projects a (batch, d) vector to 1/4-size feature maps and upsamples twice by 2 to tanh images."""
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"image_shape height and width must be divisible by 4, got {image_shape}.")
    x = layers.Dense((height // 4) * (width // 4) * filters * 4, use_bias=False, name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((height // 4, width // 4, filters * 4), name="reshape")(x)
    for i, (mult, stride) in enumerate([(2, 1), (1, 2)], start=1):
        x = layers.Conv2DTranspose(
            filters * mult, kernel_size, strides=stride, padding="same", use_bias=False, name=f"up{i}_conv"
        )(x)
        x = layers.BatchNormalization(name=f"up{i}_bn")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    return layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same", activation="tanh", name="images")(x)


def discriminator_body(x, *, filters, kernel_size, dropout, normalization):
    """Two strided convolutions with LeakyReLU (0.2) down to one logit per image."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}.")
    x = layers.Conv2D(filters, kernel_size, strides=2, padding="same", name="down1_conv")(x)
    x = layers.LeakyReLU(0.2, name="down1_lrelu")(x)
    x = layers.Conv2D(
        filters * 2, kernel_size, strides=2, padding="same", use_bias=normalization is None, name="down2_conv"
    )(x)
    if normalization == "batch":
        x = layers.BatchNormalization(name="down2_bn")(x)
    elif normalization == "layer":
        x = layers.LayerNormalization(axis=(1, 2, 3), name="down2_ln")(x)
    x = layers.LeakyReLU(0.2, name="down2_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(1, name="logit")(x)


@register_builder("dcgan_generator")
def dcgan_generator(
    *,
    latent_dim=100,
    image_shape=(28, 28, 1),
    filters=64,
    kernel_size=4,
    name="dcgan_generator",
):
    """DCGAN generator: project and reshape, then fractionally-strided convs.

    Follows the paper's guidelines: no pooling or dense hidden layers after
    the projection, batch norm everywhere but the output, ReLU inside and
    tanh at the output (images in [-1, 1]). For 28x28 images the latent
    vector is projected to 7x7x(4*filters) and upsampled twice by 2.

    Args:
        latent_dim: size of the noise vector z.
        image_shape: (height, width, channels); height and width divisible by 4.
        filters: width of the last hidden layer; earlier layers are 2x and 4x.
        kernel_size: kernel of the transposed convolutions.
        name: model name.

    Returns:
        A functional `keras.Model` mapping (batch, latent_dim) to images.

    Reference:
        Radford, Metz & Chintala, "Unsupervised Representation Learning with
        Deep Convolutional Generative Adversarial Networks", ICLR 2016.
    """
    z = keras.Input(shape=(latent_dim,), name="z")
    images = generator_body(z, image_shape=image_shape, filters=filters, kernel_size=kernel_size)
    return keras.Model(z, images, name=name)


@register_builder("dcgan_discriminator")
def dcgan_discriminator(
    *,
    image_shape=(28, 28, 1),
    filters=64,
    kernel_size=4,
    dropout=0.3,
    normalization="batch",
    name="dcgan_discriminator",
):
    """DCGAN discriminator: strided convolutions with LeakyReLU, one logit out.

    Follows the paper: strided convolutions instead of pooling, LeakyReLU
    (slope 0.2), batch norm on every layer but the input one. Outputs a
    real/fake logit (train it with `from_logits=True`).

    Args:
        image_shape: (height, width, channels) of the images, in [-1, 1].
        filters: width of the first convolution; the second is 2x.
        kernel_size: kernel of the strided convolutions.
        dropout: dropout before the logit (0 disables it).
        normalization: "batch" (paper), "layer" (per image, as a WGAN-GP
            critic needs) or None.
        name: model name.

    Returns:
        A functional `keras.Model` mapping images to (batch, 1) logits.

    Reference:
        Radford, Metz & Chintala, "Unsupervised Representation Learning with
        Deep Convolutional Generative Adversarial Networks", ICLR 2016.
    """
    images = keras.Input(shape=image_shape, name="images")
    logits = discriminator_body(
        images, filters=filters, kernel_size=kernel_size, dropout=dropout, normalization=normalization
    )
    return keras.Model(images, logits, name=name)


@register_builder("wgan_critic")
def wgan_critic(*, image_shape=(28, 28, 1), filters=64, kernel_size=4, name="wgan_critic"):
    """The DCGAN discriminator as a WGAN-GP critic: layer norm, no dropout, an unbounded score.

    The gradient penalty constrains the critic's gradient per input image,
    which batch norm breaks by mixing the images of a batch; the paper
    recommends layer normalization instead. Train it with
    `kerarch.training.WGANGP`.

    Args:
        image_shape: (height, width, channels) of the images, in [-1, 1].
        filters: width of the first convolution; the second is 2x.
        kernel_size: kernel of the strided convolutions.
        name: model name.

    Returns:
        A functional `keras.Model` mapping images to (batch, 1) critic scores.

    Reference:
        Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training
        of Wasserstein GANs", NeurIPS 2017.
    """
    return dcgan_discriminator(
        image_shape=image_shape, filters=filters, kernel_size=kernel_size, dropout=0.0, normalization="layer", name=name
    )

"""Class-conditional GAN builders: DCGAN networks that also read a class label."""

import keras
from keras import layers

from kerarch.generative.dcgan import discriminator_body, generator_body
from kerarch.registry import register_builder


@register_builder("cgan_generator")
def cgan_generator(
    *,
    latent_dim=100,
    num_classes=10,
    image_shape=(28, 28, 1),
    filters=64,
    kernel_size=4,
    embedding_dim=50,
    name="cgan_generator",
):
    """Conditional generator: noise z and a class label in, an image of that class out.

    As in the paper, the label y joins z before the first hidden layer; the
    paper's one-hot y times a weight matrix is the same as an embedding of
    the class index, which is what is used. The joint vector then goes
    through the DCGAN generator (project, reshape, two fractionally-strided
    convolutions, tanh images in [-1, 1]).

    Args:
        latent_dim: size of the noise vector z.
        num_classes: number of classes the label can take.
        image_shape: (height, width, channels); height and width divisible by 4.
        filters: width of the last hidden layer; earlier layers are 2x and 4x.
        kernel_size: kernel of the transposed convolutions.
        embedding_dim: size of the label embedding concatenated to z.
        name: model name.

    Returns:
        A functional `keras.Model` mapping [(batch, latent_dim) noise,
        (batch, 1) int labels] to images.

    Reference:
        Mirza & Osindero, "Conditional Generative Adversarial Nets",
        arXiv:1411.1784, 2014; the convolutional layers follow Radford, Metz
        & Chintala, "Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks", ICLR 2016.
    """
    z = keras.Input(shape=(latent_dim,), name="z")
    label = keras.Input(shape=(1,), dtype="int32", name="label")
    embedded = layers.Embedding(num_classes, embedding_dim, name="label_embedding")(label)  # (B, 1, E)
    embedded = layers.Flatten(name="label_flatten")(embedded)
    x = layers.Concatenate(name="z_and_label")([z, embedded])
    images = generator_body(x, image_shape=image_shape, filters=filters, kernel_size=kernel_size)
    return keras.Model([z, label], images, name=name)


@register_builder("cgan_discriminator")
def cgan_discriminator(
    *,
    num_classes=10,
    image_shape=(28, 28, 1),
    filters=64,
    kernel_size=4,
    dropout=0.3,
    name="cgan_discriminator",
):
    """Conditional discriminator: is this image a real example of this class?

    As in the paper, y is concatenated to the input x: the label's embedding
    is one extra image-sized channel beside the pixels, so every
    convolution sees it. The rest is the DCGAN discriminator (strided
    convolutions, LeakyReLU 0.2, batch norm but on the first layer), one
    real/fake logit out.

    Args:
        num_classes: number of classes the label can take.
        image_shape: (height, width, channels) of the images, in [-1, 1].
        filters: width of the first convolution; the second is 2x.
        kernel_size: kernel of the strided convolutions.
        dropout: dropout before the logit (0 disables it).
        name: model name.

    Returns:
        A functional `keras.Model` mapping [images, (batch, 1) int labels] to
        (batch, 1) logits.

    Reference:
        Mirza & Osindero, "Conditional Generative Adversarial Nets",
        arXiv:1411.1784, 2014; Radford, Metz & Chintala, ICLR 2016.
    """
    height, width, _ = image_shape
    images = keras.Input(shape=image_shape, name="images")
    label = keras.Input(shape=(1,), dtype="int32", name="label")
    plane = layers.Embedding(num_classes, height * width, name="label_embedding")(label)  # (B, 1, H*W)
    plane = layers.Reshape((height, width, 1), name="label_plane")(plane)
    x = layers.Concatenate(name="images_and_label")([images, plane])
    logits = discriminator_body(x, filters=filters, kernel_size=kernel_size, dropout=dropout, normalization="batch")
    return keras.Model([images, label], logits, name=name)

"""Generative builders: GANs, autoencoders and the variational autoencoder."""

from kerarch.generative.dcgan import dcgan_discriminator, dcgan_generator  # noqa: F401
from kerarch.generative.autoencoder import (  # noqa: F401
    VAE,
    autoencoder,
    autoencoder_decoder,
    autoencoder_encoder,
    kl_divergence,
    vae,
)

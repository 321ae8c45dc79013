"""Generative builders: GANs (and, later, autoencoders and VAEs)."""

from kerarch.generative.dcgan import dcgan_discriminator, dcgan_generator  # noqa: F401

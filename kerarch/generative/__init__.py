"""Generative builders: GANs, autoencoders and the variational autoencoder; their training models; FID-LeNet."""

from kerarch.generative.adversarial import GAN, WGANGP, AdversarialModel, ConditionalGAN, gradient_penalty  # noqa: F401

from kerarch.generative.dcgan import dcgan_discriminator, dcgan_generator, wgan_critic  # noqa: F401
from kerarch.generative.cgan import cgan_discriminator, cgan_generator  # noqa: F401
from kerarch.generative.fid import FidLenet, classifier_score, fid_report, frechet_distance, intra_class_fid  # noqa: F401
from kerarch.generative.autoencoder import (  # noqa: F401
    VAE,
    autoencoder,
    autoencoder_decoder,
    autoencoder_encoder,
    kl_divergence,
    vae,
)

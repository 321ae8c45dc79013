"""SimCLR: contrastive learning of an encoder from two augmented views of each image.

`fit` takes batches of view pairs, `((view1, view2),)` (see
`kerarch.selfsup.augment.two_views`), and no labels. The loss lives in
`compute_loss`, which every backend's train step calls, so training runs on
TensorFlow (also under tf.distribute) and JAX alike.
"""

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution  # what Keras's own losses do under tf.distribute

from kerarch.registry import register_builder
from kerarch.selfsup.heads import headless_encoder, mlp_head
from kerarch.selfsup.losses import nt_xent


def encode_views(encoder, head, views, training):
    """Both views through `encoder` and `head` as one batch of 2N: returns (head(view1), head(view2))."""
    view1, view2 = views
    both = ops.concatenate([view1, view2], axis=0)
    return tuple(ops.split(head(encoder(both, training=training), training=training), 2, axis=0))


@keras.saving.register_keras_serializable(package="kerarch")
class SimCLR(keras.Model):
    """An encoder and projection head trained with the NT-Xent loss.

    Calling the model on `(view1, view2)` returns their projections
    `(z1, z2)`; `model.encoder` is the representation to keep. Compile with
    an optimizer only: the loss is the model's own.

    Under MirroredStrategy each replica contrasts the views of its own share
    of the batch (negatives are not gathered across replicas) and batch
    normalisation uses per-replica statistics; the gradients are averaged as
    usual.

    Args:
        encoder: model from images to (B, features).
        projector: model from (B, features) to (B, projection_dim).
        temperature: NT-Xent temperature.

    Reference:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020.
    """

    def __init__(self, encoder, projector, *, temperature=0.5, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.projector = encoder, projector
        self.temperature = temperature
        self.built = True

    def call(self, views, training=False):
        return encode_views(self.encoder, self.projector, views, training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        z1, z2 = y_pred
        return scale_loss_for_distribution(nt_xent(z1, z2, temperature=self.temperature))

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "projector": keras.saving.serialize_keras_object(self.projector),
            "temperature": self.temperature,
        }

    @classmethod
    def from_config(cls, config):
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["projector"] = keras.saving.deserialize_keras_object(config["projector"])
        return cls(**config)


@register_builder("simclr")
def simclr(*, input_shape=(28, 28, 1), encoder="simple_cnn", encoder_args=None, projection_units=128,
           projection_dim=64, temperature=0.5, name="simclr"):
    """A `SimCLR` model: a headless registered vision builder and a two-layer MLP projector.

    Args:
        input_shape: (height, width, channels) of the views.
        encoder: registry name of the encoder's builder (see
            `headless_encoder`), or a model with a (B, features) output.
        encoder_args: further keyword arguments of that builder.
        projection_units: width of the projector's hidden layer (paper: 2048).
        projection_dim: size of the projection the loss sees (paper: 128).
        temperature: NT-Xent temperature (paper: 0.5 for CIFAR-10, 0.1 with large batches).
        name: model name; the encoder is `<name>_encoder`.

    Returns:
        A `SimCLR` model (compile it with an optimizer only).

    Saved models: the `.keras` file needs kerarch's `SimCLR` class to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`):
    a `keras.Model` subclass, for its own contrastive loss. Its
    `encoder` is a plain functional model.

    Reference:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020.
    """
    backbone = headless_encoder(encoder, input_shape=input_shape, encoder_args=encoder_args, name=f"{name}_encoder")
    projector = mlp_head(input_dim=backbone.output.shape[-1], hidden_units=projection_units, output_dim=projection_dim,
                         name=f"{name}_projector")
    return SimCLR(backbone, projector, temperature=temperature, name=name)

"""BYOL: an online network learns to predict a slowly moving average of itself, without negatives.

`fit` takes batches of view pairs, `((view1, view2),)`, and no labels. Only
the online encoder, projector and predictor receive gradients; the target
encoder and projector follow them by an exponential moving average.

Where the moving average runs: `compute_loss` of step k + 1 first moves the
target towards the online weights that step k's optimizer update produced,
then runs the target forward. That is the paper's order (update after
`apply_gradients`, use at the next step) moved to the one hook that every
backend's train step calls: on JAX the new target weights come back as
non-trainable state like BatchNorm statistics; on TensorFlow they are
variable assignments. Under MirroredStrategy every replica applies the same
update to its own copy of the target from identical online weights (the
copies stay equal; tested with two replicas). The update that would follow
the last step is never needed: the target is only used for training.
"""

import math

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution  # what Keras's own losses do under tf.distribute

from kerarch.registry import register_builder
from kerarch.selfsup.heads import headless_encoder, mlp_head
from kerarch.selfsup.losses import byol_loss
from kerarch.selfsup.simclr import encode_views


def target_decay(step, *, total_steps, base=0.996):
    """BYOL's EMA decay tau = 1 - (1 - base) (cos(pi k / K) + 1) / 2: `base` at step 0, rising to 1 at step K.

    Works on Python numbers and on tensors; `step` beyond `total_steps` keeps 1.
    """
    progress = ops.minimum(ops.cast(step, "float32") / float(total_steps), 1.0)
    return 1.0 - (1.0 - base) * (ops.cos(math.pi * progress) + 1.0) / 2.0


def ema_update(targets, sources, decay):
    """target <- decay * target + (1 - decay) * source for each pair of variables (no gradient through it)."""
    for target, source in zip(targets, sources):
        source = ops.stop_gradient(ops.cast(source, target.dtype))
        target.assign(ops.cast(decay, target.dtype) * target + ops.cast(1.0 - decay, target.dtype) * source)


def frozen_copy(model, name):
    """A copy of functional `model` (weights too) whose variables are non-trainable.

    The layers stay trainable, so BatchNorm still normalises with batch
    statistics when called with `training=True`, as BYOL's target does.
    """
    copy = model.__class__.from_config({**model.get_config(), "name": name})
    copy.set_weights(model.get_weights())
    for variable in copy.weights:
        variable.trainable = False
    return copy


@keras.saving.register_keras_serializable(package="kerarch")
class BYOL(keras.Model):
    """Online encoder + projector + predictor, EMA target encoder + projector, symmetric loss.

    Calling the model on `(view1, view2)` returns the online predictions
    `(p1, p2)`; the loss is byol_loss(p1, sg(target(view2))) +
    byol_loss(p2, sg(target(view1))). `model.encoder` is the representation
    to keep. Compile with an optimizer only.

    Args:
        encoder: model from images to (B, features).
        projector: model from (B, features) to (B, projection_dim).
        predictor: model from (B, projection_dim) to (B, projection_dim).
        base_decay: tau_base of the target's EMA (paper: 0.996).
        total_steps: K, the optimizer steps of the whole run, over which tau
            rises to 1 on a cosine.

    Reference:
        Grill et al., "Bootstrap Your Own Latent: A New Approach to
        Self-Supervised Learning", NeurIPS 2020.
    """

    def __init__(self, encoder, projector, predictor, *, base_decay=0.996, total_steps=1000, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= base_decay <= 1.0:
            raise ValueError(f"base_decay must be in [0, 1], got {base_decay!r}.")
        self.encoder, self.projector, self.predictor = encoder, projector, predictor
        self.base_decay, self.total_steps = base_decay, int(total_steps)
        self.target_encoder = frozen_copy(encoder, f"{self.name}_target_encoder")
        self.target_projector = frozen_copy(projector, f"{self.name}_target_projector")
        self.target_updates = keras.Variable(0.0, trainable=False, name="target_updates")  # k of the tau schedule
        self.built = True

    def call(self, views, training=False):
        z1, z2 = encode_views(self.encoder, self.projector, views, training)
        return self.predictor(z1, training=training), self.predictor(z2, training=training)

    def target_pairs(self):
        """(target variable, online variable) for every trainable online encoder and projector weight."""
        pairs = []
        for target, online in ((self.target_encoder, self.encoder), (self.target_projector, self.projector)):
            pairs += [(t, o) for t, o in zip(target.weights, online.weights) if o.trainable]
        return pairs

    def update_target(self):
        """One EMA step of the target with tau from the cosine schedule, then k += 1."""
        targets, sources = zip(*self.target_pairs())
        ema_update(targets, sources, target_decay(self.target_updates, total_steps=self.total_steps, base=self.base_decay))
        self.target_updates.assign(self.target_updates + 1.0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        p1, p2 = y_pred
        if training:
            self.update_target()
        t1, t2 = (ops.stop_gradient(t) for t in encode_views(self.target_encoder, self.target_projector, x, training))
        return scale_loss_for_distribution(byol_loss(p1, t2) + byol_loss(p2, t1))

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "projector": keras.saving.serialize_keras_object(self.projector),
            "predictor": keras.saving.serialize_keras_object(self.predictor),
            "base_decay": self.base_decay,
            "total_steps": self.total_steps,
        }

    @classmethod
    def from_config(cls, config):
        for key in ("encoder", "projector", "predictor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@register_builder("byol")
def byol(*, input_shape=(28, 28, 1), encoder="simple_cnn", encoder_args=None, projection_units=256,
         projection_dim=64, prediction_units=256, base_decay=0.996, total_steps=1000, name="byol"):
    """A `BYOL` model: a headless registered vision builder, MLP projector and predictor, EMA target.

    Args:
        input_shape: (height, width, channels) of the views.
        encoder: registry name of the encoder's builder (see
            `headless_encoder`), or a model with a (B, features) output.
        encoder_args: further keyword arguments of that builder.
        projection_units: hidden width of the projector (paper: 4096).
        projection_dim: size of the projection (paper: 256).
        prediction_units: hidden width of the predictor (paper: 4096).
        base_decay: tau_base of the target's EMA (paper: 0.996).
        total_steps: optimizer steps of the run (K of the tau schedule).
        name: model name; the encoder is `<name>_encoder`.

    Returns:
        A `BYOL` model (compile it with an optimizer only).

    Saved models: the `.keras` file needs kerarch's `BYOL` class to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`):
    a `keras.Model` subclass, for its target network updated in
    `train_step`. Its `encoder` is a plain functional model.

    Reference:
        Grill et al., "Bootstrap Your Own Latent: A New Approach to
        Self-Supervised Learning", NeurIPS 2020.
    """
    backbone = headless_encoder(encoder, input_shape=input_shape, encoder_args=encoder_args, name=f"{name}_encoder")
    projector = mlp_head(input_dim=backbone.output.shape[-1], hidden_units=projection_units, output_dim=projection_dim,
                         name=f"{name}_projector")
    predictor = mlp_head(input_dim=projection_dim, hidden_units=prediction_units, output_dim=projection_dim,
                         name=f"{name}_predictor")
    return BYOL(backbone, projector, predictor, base_decay=base_decay, total_steps=total_steps, name=name)

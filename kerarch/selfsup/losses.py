"""Self-supervised losses in keras.ops (Keras has neither), computed in float32."""

import keras
from keras import ops


def nt_xent(z1, z2, *, temperature=0.5):
    """SimCLR's normalized temperature-scaled cross-entropy, averaged over the 2N views.

    `z1[i]` and `z2[i]` are the projections of two views of image i. Each of
    the 2N projections is L2-normalised; for view k the logits are its
    cosine similarities to the 2N - 1 other views divided by `temperature`,
    and the target is its partner view. The other 2N - 2 views of the batch
    are the negatives.

    Args:
        z1: (N, D) projections of the first views.
        z2: (N, D) projections of the second views.
        temperature: softmax temperature tau.

    Returns:
        The scalar mean loss.

    Reference:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020, eq. (1).
    """
    z = ops.normalize(ops.cast(ops.concatenate([z1, z2], axis=0), "float32"), axis=-1)  # (2N, D)
    n = ops.shape(z1)[0]
    logits = ops.matmul(z, ops.transpose(z)) / temperature  # (2N, 2N)
    logits = ops.where(ops.eye(2 * n, dtype="bool"), -1e9, logits)  # a view is not its own candidate
    partners = ops.concatenate([ops.arange(n) + n, ops.arange(n)], axis=0)
    return ops.mean(keras.losses.sparse_categorical_crossentropy(partners, logits, from_logits=True))


def byol_loss(predictions, targets):
    """BYOL's regression loss 2 - 2 cos(p, z'), the squared distance of the L2-normalised vectors, batch mean.

    Reference:
        Grill et al., "Bootstrap Your Own Latent: A New Approach to
        Self-Supervised Learning", NeurIPS 2020, eq. (2).
    """
    p = ops.normalize(ops.cast(predictions, "float32"), axis=-1)
    z = ops.normalize(ops.cast(targets, "float32"), axis=-1)
    return ops.mean(2.0 - 2.0 * ops.sum(p * z, axis=-1))

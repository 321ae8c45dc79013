"""Metrics the recipes report that Keras does not compute (on NumPy arrays, after training)."""

import numpy as np


def recall_at_k(embeddings, labels, ks=(1, 5), *, chunk=1000):
    """{k: fraction of rows whose k nearest other rows (Euclidean) include one of the same label}.

    Retrieval recall@k: each row queries all the others; recall@1 is
    leave-one-out 1-nearest-neighbour accuracy. Distances are computed
    `chunk` queries at a time.
    """
    embeddings = np.asarray(embeddings, "float32").reshape(len(embeddings), -1)
    squared = np.sum(embeddings**2, axis=1)
    hits = dict.fromkeys(ks, 0)
    for start in range(0, len(embeddings), chunk):
        rows = np.arange(start, min(start + chunk, len(embeddings)))
        distances = squared[rows, None] - 2.0 * embeddings[rows] @ embeddings.T + squared[None, :]
        distances[np.arange(len(rows)), rows] = np.inf  # a query is not its own neighbour
        nearest = np.argpartition(distances, max(ks), axis=1)[:, : max(ks)]
        nearest = np.take_along_axis(nearest, np.argsort(np.take_along_axis(distances, nearest, 1), 1), 1)
        same = labels[nearest] == labels[rows, None]
        for k in ks:
            hits[k] += int(np.sum(np.any(same[:, :k], axis=1)))
    return {k: hits[k] / len(embeddings) for k in ks}


def layer_gradient_norms(model, x, y, *, depth):
    """L2 norms of the loss gradient for the kernels of dense1 .. dense<depth>, on one batch (training mode).

    The gradients come from `tf.GradientTape`: the TensorFlow backend, as every recipe's tf.data pipeline.
    """
    import tensorflow as tf

    kernels = [model.get_layer(f"dense{i}").kernel for i in range(1, depth + 1)]
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    gradients = tape.gradient(loss, [kernel.value for kernel in kernels])
    return [float(tf.norm(g)) for g in gradients]

"""Image augmentation and resizing for tf.data pipelines (TensorFlow only, like the rest of kerarch.data)."""

import tensorflow as tf

from kerarch.data.pipeline import on_batches, on_images


def pad_crop_flip(*, pad=4, flip=True):
    """He et al.'s CIFAR augmentation: zero-pad `pad` pixels per side, crop back at random, flip left-right.

    Returns an element function for `make_dataset(augment_fn=...)`, on images
    alone or (image, label) pairs, for images of a static shape (H, W, C);
    stateless, driven by the `seed=` that `make_dataset` passes. It takes a
    batch (N, H, W, C) as well, with its own crop and flip for each image,
    and is marked `on_batches`, so `make_dataset` applies it once per batch.

    Reference:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016, section 4.2.
    """

    def augment(images, seed):
        if images.shape.rank == 3:
            return augment(images[None], seed)[0]
        batch, (height, width) = tf.shape(images)[0], images.shape[1:3]
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        # Each image's crop, as the rows and columns of the padded batch it keeps; a flip reverses the columns.
        offsets = tf.random.stateless_uniform((batch, 2), crop_seed, 0, 2 * pad + 1, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(height)  # (N, H)
        columns = offsets[:, 1:] + tf.range(width)  # (N, W)
        if flip:
            flipped = tf.random.stateless_uniform((batch, 1), flip_seed) < 0.5
            columns = tf.where(flipped, tf.reverse(columns, axis=[1]), columns)
        padded = tf.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        return tf.gather(tf.gather(padded, rows, batch_dims=1), columns, axis=2, batch_dims=1)

    return on_batches(on_images(augment))


def fit_images(size, *, method="pad"):
    """Brings images to `size` x `size`: "pad" centres them on zeros (exact pixels), "bilinear" resizes.

    Returns an element function for `make_dataset(map_fn=...)`; works on one
    image or a batch, float images in, float32 out.
    """
    if method not in ("pad", "bilinear"):
        raise ValueError(f"method must be 'pad' or 'bilinear', got {method!r}.")

    def fit(image):
        if method == "pad":
            return tf.image.resize_with_crop_or_pad(image, size, size)
        return tf.image.resize(image, (size, size), method="bilinear")

    return on_images(fit)

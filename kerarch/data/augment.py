"""Image augmentation and resizing for tf.data pipelines (TensorFlow only, like the rest of kerarch.data)."""

import tensorflow as tf

from kerarch.data.pipeline import on_images


def pad_crop_flip(*, pad=4, flip=True):
    """He et al.'s CIFAR augmentation: zero-pad `pad` pixels per side, crop back at random, flip left-right.

    Returns an element function for `make_dataset(augment_fn=...)`, on images
    alone or (image, label) pairs, for images of a static shape (H, W, C);
    stateless, driven by the `seed=` that `make_dataset` passes.
    """

    def augment(image, seed):
        height, width, channels = image.shape
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        if pad:
            image = tf.image.resize_with_crop_or_pad(image, height + 2 * pad, width + 2 * pad)
            image = tf.image.stateless_random_crop(image, (height, width, channels), seed=crop_seed)
        return tf.image.stateless_random_flip_left_right(image, seed=flip_seed) if flip else image

    return on_images(augment)


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

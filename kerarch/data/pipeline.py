"""tf.data input pipelines from in-memory arrays.

    train = make_dataset(data.x_train, data.y_train, batch_size=128,
                         shuffle=True, seed=0, map_fn=scale_images,
                         augment_fn=on_images(keras.layers.RandomFlip("horizontal")))

Element functions (`map_fn`, `augment_fn`) are called the way tf.data calls
them: `fn(x)` for a dataset of images alone, `fn(x, y)` for (image, label)
pairs, and return an element of the same structure. `scale_images` takes
both forms; `on_images` lifts any image-only function to both forms.
"""

import numbers

import tensorflow as tf

from kerarch.errors import KerarchError

_MAX_SHUFFLE_BUFFER = 100_000


def make_dataset(
    x,
    y=None,
    *,
    batch_size,
    shuffle=False,
    seed=None,
    map_fn=None,
    augment_fn=None,
    cache=True,
    repeat=False,
    drop_remainder=False,
):
    """A batched, prefetched `tf.data.Dataset` over arrays.

    Order of stages: slices -> map_fn -> cache -> shuffle -> repeat ->
    augment_fn -> batch -> prefetch. So deterministic preprocessing runs
    once and is cached, while augmentation draws new randomness every epoch.

    Args:
        x: array of examples (first axis indexes examples).
        y: optional array of labels, as long as `x`; elements are then
            (x, y) pairs.
        batch_size: examples per batch.
        shuffle: shuffle with a buffer of min(len(x), 100,000), reshuffled
            each epoch.
        seed: shuffle seed, for a reproducible order.
        map_fn: deterministic per-example function applied before caching,
            such as `scale_images`.
        augment_fn: random per-example function applied after shuffling,
            called as `augment_fn(*element, seed=seed)` with a stateless
            seed (shape (2,), new for every element and every epoch): use
            `tf.image.stateless_random_*` / `tf.random.stateless_*` with it.
        cache: keep the mapped examples in memory after the first epoch.
        repeat: repeat forever (use `steps_per_epoch` when training).
        drop_remainder: drop the last batch when smaller than `batch_size`.

    Returns:
        A `tf.data.Dataset`.

    Raises:
        KerarchError: empty `x`, `x` and `y` of different lengths, or a
            batch size below 1.
    """
    _check_inputs(x, y, batch_size)
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if map_fn is not None:
        ds = ds.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if shuffle:
        buffer = min(len(x), _MAX_SHUFFLE_BUFFER)
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if augment_fn is not None:
        # Stateful random ops in a tf.data map replay the same values on every new iterator (every
        # epoch) once a global seed is set, so augmentation gets a fresh stateless seed per element.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)  # (2,) int64
        ds = tf.data.Dataset.zip((ds, seeds)).map(_with_seed(augment_fn), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def scale_images(images, labels=None, *, low=0.0, high=1.0):
    """Maps uint8 pixel values 0..255 linearly to float32 in [low, high].

    Works on one image or a batch, eagerly or inside tf.data. Usable directly
    as `map_fn` on images alone or on (image, label) pairs; for another range
    use `functools.partial(scale_images, low=-1.0, high=1.0)`.

    Args:
        images: uint8 tensor or array.
        labels: passed through unchanged when given.
        low: value of pixel 0.
        high: value of pixel 255.

    Returns:
        The float32 images, or (images, labels) when labels are given.
    """
    scaled = tf.cast(images, tf.float32) * ((high - low) / 255.0) + low
    return scaled if labels is None else (scaled, labels)


def on_images(fn):
    """Lifts an image-only function to elements with or without labels.

    `on_images(fn)(image)` is `fn(image)` and `on_images(fn)(image, label)`
    is `(fn(image), label)`; keyword arguments (an augmentation's `seed=`) pass through. So layers such as `keras.layers.RandomFlip` or
    functions such as `tf.image.random_flip_left_right` serve as `augment_fn`.

    Args:
        fn: function of an image tensor returning an image tensor.

    Returns:
        The lifted function.
    """

    def apply(image, *rest, **kwargs):
        return fn(image, **kwargs) if not rest else (fn(image, **kwargs), *rest)

    return apply


def _with_seed(augment_fn):
    def augment(element, seed):
        return augment_fn(*(element if isinstance(element, tuple) else (element,)), seed=seed)

    return augment


def _check_inputs(x, y, batch_size):
    """Raises KerarchError for inputs make_dataset cannot use."""
    if len(x) == 0:
        raise KerarchError("make_dataset got no examples (x is empty).")
    if y is not None and len(y) != len(x):
        raise KerarchError(
            f"make_dataset got {len(x):,} examples but {len(y):,} labels; they must match."
        )
    integral = isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool)
    if not integral or batch_size < 1:
        raise KerarchError(f"batch_size must be a positive integer, got {batch_size!r}.")

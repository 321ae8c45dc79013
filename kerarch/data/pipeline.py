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

    Order of stages: map_fn -> cache -> shuffle -> repeat -> augment_fn ->
    batch -> prefetch. So deterministic preprocessing runs once and is
    cached, while augmentation draws new randomness every epoch.

    The cached examples stay in memory as whole tensors and batches are
    gathered from them by index: `map_fn` runs once, vectorised over all
    examples, when the dataset is made; shuffling permutes the indices (a
    uniform permutation, new every epoch), so no buffer of examples fills
    before the first batch. An `augment_fn` marked by `on_batches` (such as
    `pad_crop_flip`) runs once per batch, after batching.

    Args:
        x: array of examples (first axis indexes examples).
        y: optional array of labels, as long as `x`; elements are then
            (x, y) pairs.
        batch_size: examples per batch.
        shuffle: visit the examples in a uniformly random order, drawn anew
            each epoch (and each repetition).
        seed: shuffle seed, for a reproducible order.
        map_fn: deterministic per-example function applied before caching,
            such as `scale_images`; with `cache` it runs once, through
            `tf.vectorized_map` over all examples.
        augment_fn: random per-example function applied after shuffling,
            called as `augment_fn(*element, seed=seed)` with a stateless
            seed (shape (2,), new for every element and every epoch): use
            `tf.image.stateless_random_*` / `tf.random.stateless_*` with it.
            Marked by `on_batches`, it is instead called once per batch,
            `augment_fn(*batch, seed=seed)`, and draws for every example
            of the batch separately.
        cache: keep the mapped examples in memory (else `map_fn` runs on
            every example every epoch).
        repeat: repeat forever (use `steps_per_epoch` when training).
        drop_remainder: drop the last batch when smaller than `batch_size`.

    Returns:
        A `tf.data.Dataset`.

    Raises:
        KerarchError: empty `x`, `x` and `y` of different lengths, or a
            batch size below 1.
    """
    _check_inputs(x, y, batch_size)
    with tf.device("/CPU:0"):  # host memory, as tf.data's own cache
        examples = tf.nest.map_structure(tf.convert_to_tensor, x if y is None else (x, y))
        if map_fn is not None and cache:
            examples, map_fn = _map_all(map_fn, examples), None
    batch_augment = augment_fn if getattr(augment_fn, "on_batches", False) else None
    example_augment = None if batch_augment else augment_fn
    per_example = map_fn is not None or example_augment is not None

    indices = tf.data.Dataset.range(len(x))
    if shuffle:
        # A buffer of indices, not of examples: the order a buffer of all the examples gave for the same
        # seed, at 8 bytes an example.
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        indices = indices.repeat()
    if not per_example:
        indices = indices.batch(batch_size, drop_remainder=drop_remainder)
    ds = indices.map(lambda index: _gather(examples, index), num_parallel_calls=tf.data.AUTOTUNE)
    if map_fn is not None:
        ds = ds.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    if example_augment is not None:
        ds = _augmented(ds, example_augment, seed)
    if per_example:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if batch_augment is not None:
        ds = _augmented(ds, batch_augment, seed)
    return ds.prefetch(tf.data.AUTOTUNE)


def on_batches(augment_fn):
    """Marks an `augment_fn` that `make_dataset` may call on whole batches.

    The function must take a single element as well as a batch of them
    (leading axis), with or without labels, and draw its randomness for each
    example of a batch separately from the one `seed=`; `make_dataset` then
    calls it once per batch, which costs far less than once per example.

    Args:
        augment_fn: function `(*element_or_batch, seed=seed)`.

    Returns:
        `augment_fn`, marked.
    """
    augment_fn.on_batches = True
    return augment_fn


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


def _map_all(map_fn, examples):
    """`map_fn` applied to every example, called as tf.data would call it, vectorised over the first axis."""

    def map_all(*parts):  # traced by tf.data, as in Dataset.map (and not retraced by tf.function on each call)
        return tf.vectorized_map(lambda element: map_fn(*element), parts, fallback_to_while_loop=True)

    return tf.data.Dataset.from_tensors(examples).map(map_all).get_single_element()


def _gather(examples, index):
    """The example at `index` (a scalar), or the batch of examples at `index` (a vector)."""
    return tf.nest.map_structure(lambda tensor: tf.gather(tensor, index), examples)


def _augmented(ds, augment_fn, seed):
    """`ds` with `augment_fn(*element, seed=...)` applied to each element, with a fresh stateless seed each."""
    # Stateful random ops in a tf.data map replay the same values on every new iterator (every
    # epoch) once a global seed is set, so augmentation gets a fresh stateless seed per element.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)  # (2,) int64

    def augment(element, element_seed):
        return augment_fn(*(element if isinstance(element, tuple) else (element,)), seed=element_seed)

    return tf.data.Dataset.zip((ds, seeds)).map(augment, num_parallel_calls=tf.data.AUTOTUNE)


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

"""SimCLR-style view augmentation for tf.data (TensorFlow only, like kerarch.data).

    view = random_view()                        # image, seed -> one random view
    train = make_dataset(x, batch_size=256, shuffle=True, seed=0, map_fn=scale_images,
                         augment_fn=two_views(view), drop_remainder=True)   # batches ((view1, view2),)

Every random choice is a stateless op driven by the `seed=` that
`make_dataset` draws afresh for every element and epoch, so views differ
between the two branches, between images and between epochs, and replay
exactly under the same seeds.
"""

import tensorflow as tf

# The whole image as the one "object" the random crop has to overlap.
_WHOLE_IMAGE = (((0.0, 0.0, 1.0, 1.0),),)  # (batch, boxes, 4)


def random_resized_crop(image, seed, *, area=(0.3, 1.0), aspect_ratio=(3 / 4, 4 / 3)):
    """A random crop covering `area` of the image with `aspect_ratio`, resized (bilinear) back to the image size.

    Reference:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (the
        crop SimCLR uses, with area (0.08, 1) on ImageNet).
    """
    height, width, _ = image.shape
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.constant(_WHOLE_IMAGE, tf.float32), seed=seed, min_object_covered=area[0],
        aspect_ratio_range=aspect_ratio, area_range=area, max_attempts=10, use_image_if_no_bounding_boxes=True,
    )
    return tf.ensure_shape(tf.image.resize(tf.slice(image, begin, size), (height, width)), image.shape)


def gaussian_blur(image, sigma, *, size=3):
    """Blurs an (H, W, C) image with a `size` x `size` Gaussian of std `sigma` (reflected borders)."""
    offsets = tf.range(size, dtype=tf.float32) - (size - 1) / 2
    weights = tf.exp(-tf.square(offsets) / (2.0 * tf.square(tf.cast(sigma, tf.float32))))
    weights /= tf.reduce_sum(weights)
    channels = image.shape[-1]
    kernel = tf.tile((weights[:, None] * weights[None, :])[:, :, None, None], (1, 1, channels, 1))
    half = size // 2
    padded = tf.pad(image[None], ((0, 0), (half, half), (half, half), (0, 0)), mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, strides=(1, 1, 1, 1), padding="VALID")[0]


def random_view(*, crop_area=(0.3, 1.0), flip=True, brightness=0.4, contrast=0.4, jitter_probability=0.8,
                blur_probability=0.5, blur_sigma=(0.1, 1.0)):
    """SimCLR's augmentation for small grayscale images: crop and resize, flip, jitter, blur.

    Colour jitter reduces to brightness (a random factor in [1 - b, 1 + b])
    and contrast (a factor in [1 - c, 1 + c]) on one channel, applied
    together with probability `jitter_probability`; the 3x3 Gaussian blur
    (SimCLR's kernel of 10 % of the side) with `blur_probability`. The
    result is clipped to [0, 1].

    Args:
        crop_area: range of the crop's share of the image area.
        flip: random left-right flips.
        brightness: brightness strength b (0: none).
        contrast: contrast strength c (0: none).
        jitter_probability: chance of brightness and contrast jitter.
        blur_probability: chance of a blur.
        blur_sigma: range of the blur's standard deviation, in pixels.

    Returns:
        `view(image, seed)`: an (H, W, C) float image in [0, 1] and a
        stateless seed of shape (2,) to one augmented view.

    Reference:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for
        Contrastive Learning of Visual Representations", ICML 2020, appendix A.
    """

    def view(image, seed):
        crop_seed, flip_seed, jitter_seed, apply_seed, blur_seed, sigma_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 6))
        image = random_resized_crop(tf.cast(image, tf.float32), crop_seed, area=crop_area)
        if flip:
            image = tf.image.stateless_random_flip_left_right(image, flip_seed)
        apply_jitter, apply_blur = tf.unstack(tf.random.stateless_uniform((2,), apply_seed) < (jitter_probability,
                                                                                               blur_probability))
        if brightness or contrast:
            image = tf.where(apply_jitter, _jitter(image, jitter_seed, brightness, contrast), image)
        if blur_probability:
            sigma = tf.random.stateless_uniform((), sigma_seed, *blur_sigma)
            image = tf.where(apply_blur, gaussian_blur(image, sigma), image)
        return tf.clip_by_value(image, 0.0, 1.0)

    return view


def _jitter(image, seed, brightness, contrast):
    brightness_seed, contrast_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if brightness:
        image = image * tf.random.stateless_uniform((), brightness_seed, 1.0 - brightness, 1.0 + brightness)
    if contrast:
        image = tf.image.stateless_random_contrast(image, 1.0 - contrast, 1.0 + contrast, contrast_seed)
    return image


def two_views(view):
    """An element function for `make_dataset(augment_fn=...)`: image -> ((view1, view2),), labels dropped.

    The 1-tuple makes Keras read the pair as the model's input `x` (a
    2-tuple would be read as (x, y)).
    """

    def augment(image, *_labels, seed):
        first, second = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        return ((view(image, first), view(image, second)),)

    return augment

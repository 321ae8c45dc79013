"""Tests of make_dataset's batched paths: cached map_fn, index shuffling, augmentation per batch (pad_crop_flip)."""

import numpy as np
import pytest
import tensorflow as tf

from kerarch.data import make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.data.pipeline import on_batches


def _epoch(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in ds]


def _pad_crops_and_flips(image, pad):
    """Every image pad_crop_flip can make of `image` (H, W, C)."""
    height, width, _ = image.shape
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    crops = [padded[top:top + height, left:left + width] for top in range(2 * pad + 1) for left in range(2 * pad + 1)]
    return crops + [crop[:, ::-1] for crop in crops]


def _picks(out, images, pad):
    """Index of each output among its own image's possible crops and flips (fails when it is none of them)."""
    return [next(i for i, c in enumerate(_pad_crops_and_flips(image, pad)) if np.array_equal(c, o))
            for o, image in zip(out, images)]


def test_shuffle_reproducible_with_seed_and_new_each_epoch_and_repetition():
    x, y = np.zeros((50, 3), np.uint8), np.arange(50)
    ds = make_dataset(x, y, batch_size=8, shuffle=True, seed=4)
    first, second = (np.concatenate([b[1] for b in _epoch(ds)]) for _ in range(2))
    again = np.concatenate([b[1] for b in _epoch(make_dataset(x, y, batch_size=8, shuffle=True, seed=4))])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)
    repeated = np.concatenate([b[1].numpy() for b in make_dataset(
        x, y, batch_size=10, shuffle=True, seed=4, repeat=True, drop_remainder=True).take(10)])
    for part in repeated.reshape(2, 50):  # each repetition a whole permutation, a new one
        np.testing.assert_array_equal(np.sort(part), y)
    assert not np.array_equal(*repeated.reshape(2, 50))


@pytest.mark.parametrize("cache", [True, False])
def test_map_fn_values_and_structure_kept_and_unshuffled_order_exact(cache):
    x = np.arange(7 * 4, dtype=np.int32).reshape(7, 4)

    def pairs(chunk, label):  # a dict of inputs, as teacher_forcing / next_token_pairs return
        return {"ids": chunk[:-1], "mask": tf.ones_like(chunk[:-1])}, chunk[1:] + tf.cast(label, tf.int32)

    ds = make_dataset(x, np.arange(7), batch_size=3, map_fn=pairs, cache=cache, drop_remainder=True)
    assert ds.element_spec[0]["ids"].shape.as_list() == [3, 3]
    assert ds.element_spec[1].dtype == tf.int32
    batches = _epoch(ds)
    assert len(batches) == 2 and int(ds.cardinality()) == 2
    np.testing.assert_array_equal(np.concatenate([b[0]["ids"] for b in batches]), x[:6, :-1])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), x[:6, 1:] + np.arange(6)[:, None])


def test_pad_crop_flip_on_a_batch_draws_for_each_image():
    images = np.random.default_rng(0).integers(0, 256, (64, 5, 5, 2), dtype=np.uint8)
    out = pad_crop_flip(pad=2)(tf.constant(images), seed=tf.constant([1, 2])).numpy()
    assert out.dtype == np.uint8 and out.shape == images.shape
    picks = _picks(out, images, pad=2)
    assert len(set(picks)) > 20  # 50 possible crops and flips, drawn independently per image
    assert {pick >= 25 for pick in picks} == {True, False}  # flipped and not
    one, label = pad_crop_flip(pad=2)(tf.constant(images[3]), tf.constant(7), seed=tf.constant([5, 6]))
    assert one.shape == (5, 5, 2) and int(label) == 7
    _picks([one.numpy()], images[3:4], pad=2)


def test_make_dataset_applies_marked_augmentation_per_batch():
    calls = []

    @on_batches
    def shift(images, labels, seed):
        calls.append(images.shape.rank)
        return images + tf.random.stateless_uniform(tf.shape(images), seed, 0, 1), labels

    x = np.zeros((10, 2), np.float32)
    batches = _epoch(make_dataset(x, np.arange(10), batch_size=4, shuffle=True, seed=0, augment_fn=shift))
    assert calls == [2] and [len(b[0]) for b in batches] == [4, 4, 2]
    noise = np.concatenate([b[0] for b in batches])
    assert len(np.unique(noise)) == noise.size  # each example its own draws


def test_pad_crop_flip_through_make_dataset():
    images = np.random.default_rng(1).integers(0, 256, (20, 6, 6, 1), dtype=np.uint8)
    ds = make_dataset(images, np.arange(20), batch_size=8, shuffle=True, seed=0, map_fn=scale_images,
                      augment_fn=pad_crop_flip(pad=1))
    assert ds.element_spec[0] == tf.TensorSpec((None, 6, 6, 1), tf.float32)
    for epoch in range(2):
        batches = _epoch(ds)
        out, labels = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
        _picks(np.rint(out * 255).astype(np.uint8), images[labels], pad=1)

"""Tests of kerarch.data on small fixtures written here; no network, no real datasets."""

import gzip
import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerarch.data import (
    ImageData,
    load_image_classification,
    make_dataset,
    on_images,
    read_idx,
    scale_images,
    write_idx,
)
from kerarch.data import sources
from kerarch.data.augment import pad_crop_flip
from kerarch.errors import KerarchError

STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _arrays(n_train=12, n_test=5, side=28, seed=0):
    """Random uint8 images and labels 0..9: [x_train, y_train, x_test, y_test]."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        np.arange(n_train, dtype=np.uint8) % 10,
        rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        np.arange(n_test, dtype=np.uint8) % 10,
    ]


def _write_idx_set(folder, arrays=None, gz=True):
    """Writes the 4 standard IDX files into `folder`; returns the arrays."""
    arrays = _arrays() if arrays is None else arrays
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(STEMS, arrays):
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


def _write_npz(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))


def _prepare_tfds(data_dir, name, arrays):
    """Writes `arrays` as an already prepared TFDS dataset `name` in `data_dir`."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=os.fspath(data_dir))
    os.makedirs(builder.data_dir, exist_ok=True)
    splits = []
    for split, x, y in (("train", *arrays[:2]), ("test", *arrays[2:])):
        template = tfds.core.ShardedFileTemplate(
            data_dir=builder.data_dir,
            template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
            dataset_name=name,
            split=split,
            filetype_suffix="tfrecord",
        )
        path = template.sharded_filepath(shard_index=0, num_shards=1)
        with tf.io.TFRecordWriter(os.fspath(path)) as writer:
            for image, label in zip(x, y):
                example = {"image": image[..., None], "label": int(label)}
                writer.write(builder.info.features.serialize_example(example))
        splits.append(tfds.core.SplitInfo(
            name=split, shard_lengths=[len(x)], num_bytes=0, filename_template=template))
    builder.info.set_splits(tfds.core.SplitDict(splits))
    builder.info.write_to_directory(builder.data_dir)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Every automatic source pointed at an empty tmp folder; downloads off."""
    home = tmp_path / "home"
    paths = {
        "keras": tmp_path / "keras_home" / "datasets",
        "tfds": tmp_path / "tfds",
        "system": tmp_path / "system_fashion",
    }
    for path in (home, *paths.values()):
        path.mkdir(parents=True)
    monkeypatch.setenv("HOME", os.fspath(home))
    monkeypatch.setenv("KERAS_HOME", os.fspath(paths["keras"].parent))
    monkeypatch.setenv("TFDS_DATA_DIR", os.fspath(paths["tfds"]))
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    monkeypatch.setenv("KERARCH_FASHION_MNIST_DIR", os.fspath(paths["system"]))
    return paths


# --- IDX files --------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    assert path.read_bytes().startswith(b"\x1f\x8b") == gz


def test_idx_layout_is_big_endian(tmp_path):
    write_idx(tmp_path / "a", np.array([1, 256], dtype=np.int16))
    assert (tmp_path / "a").read_bytes() == bytes(
        [0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 1, 0])


def test_idx_gzip_told_by_magic_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b", array)
    (tmp_path / "a.gz").rename(tmp_path / "gzipped_without_suffix")
    (tmp_path / "b").rename(tmp_path / "plain.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped_without_suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)


def _idx_bytes(array):
    return bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() \
        + array.tobytes()


@pytest.mark.parametrize("content, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "is not an IDX file"),
    (b"", "empty file"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x07", "unknown dtype code 0x0A"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated inside its header"),
    (_idx_bytes(np.zeros((4, 3), np.uint8))[:-5],
     "is truncated: the header announces shape (4, 3) of uint8, so expected 12 bytes "
     "of data, found 7"),
    (_idx_bytes(np.zeros((4, 3), np.uint8)) + b"\x00\x00",
     "has extra bytes after the data: the header announces shape (4, 3) of uint8, "
     "so expected 12 bytes of data, found 14"),
])
def test_read_idx_rejects_malformed(tmp_path, content, message):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(KerarchError, match="bad-idx1-ubyte") as info:
        read_idx(path)
    assert message in str(info.value)


def test_read_idx_rejects_malformed_inside_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros((4, 3), np.uint8))[:-1]))
    with pytest.raises(KerarchError, match="is truncated"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_read_idx_rejects_corrupt_gzip(tmp_path, damage):
    path = tmp_path / "a.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    if damage == "cut":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
        data[-5] ^= 0xFF  # the stored CRC
    path.write_bytes(bytes(data))
    with pytest.raises(KerarchError, match=r"a\.gz is a corrupt gzip file"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(KerarchError, match="Cannot read IDX file .*nope"):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("array, message", [
    (np.zeros(3, np.int64), "not int64"),
    (np.float32(1.0), "got shape ()"),
])
def test_write_idx_rejects_what_idx_cannot_hold(tmp_path, array, message):
    with pytest.raises(KerarchError, match="Cannot write") as info:
        write_idx(tmp_path / "a", array)
    assert message in str(info.value)
    assert os.listdir(tmp_path) == []


# --- load_image_classification: data_dir -------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_data_dir_idx(tmp_path, places, gz):
    arrays = _write_idx_set(tmp_path / "d", gz=gz)
    data = load_image_classification("mnist", tmp_path / "d")
    assert isinstance(data, ImageData)
    assert data.name == "mnist"
    assert data.source == f"data_dir {tmp_path / 'd'} (IDX files)"
    assert data.notice is None
    assert data.x_train.shape == (12, 28, 28, 1) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (5, 28, 28, 1)
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    np.testing.assert_array_equal(data.x_train[..., 0], arrays[0])
    np.testing.assert_array_equal(data.y_test, arrays[3])
    assert data.class_names == [str(d) for d in range(10)]
    assert data.num_classes == 10
    assert data.input_shape == (28, 28, 1)


def test_data_dir_npz(tmp_path, places):
    arrays = _arrays()
    _write_npz(tmp_path / "d" / "mnist.npz", arrays)
    data = load_image_classification("mnist", data_dir=os.fspath(tmp_path / "d"))
    assert data.source == f"data_dir {tmp_path / 'd'} (mnist.npz)"
    np.testing.assert_array_equal(data.x_test[..., 0], arrays[2])
    np.testing.assert_array_equal(data.y_train, arrays[1])


def test_fashion_names_and_alias(tmp_path, places):
    _write_idx_set(tmp_path / "d")
    data = load_image_classification("fashion-mnist", tmp_path / "d")
    assert data.name == "fashion_mnist"
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert len(data.class_names) == 10


def test_unknown_name():
    with pytest.raises(KerarchError, match="known: fashion_mnist, mnist"):
        load_image_classification("cifar10")


@pytest.mark.parametrize("make", ["missing_folder", "empty", "three_files"])
def test_data_dir_without_files_names_them(tmp_path, places, make):
    folder = tmp_path / "d"
    _write_idx_set(places["system"])  # a source that must not be used
    if make != "missing_folder":
        folder.mkdir()
    if make == "three_files":
        _write_idx_set(folder)
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(KerarchError, match=f"data_dir {folder}") as info:
        load_image_classification("fashion_mnist", folder)
    message = str(info.value)
    for name in (*STEMS, "fashion_mnist.npz"):
        assert name in message
    if make == "three_files":
        assert "Missing: t10k-labels-idx1-ubyte and fashion_mnist.npz" in message


def test_data_dir_count_mismatch(tmp_path, places):
    x_train, y_train, x_test, y_test = _arrays()
    _write_idx_set(tmp_path / "d", [x_train, y_train[:-1], x_test, y_test])
    with pytest.raises(KerarchError, match="train split has 12 images but 11 labels"):
        load_image_classification("mnist", tmp_path / "d")


def test_data_dir_labels_out_of_range(tmp_path, places):
    x_train, y_train, x_test, y_test = _arrays()
    _write_npz(tmp_path / "d" / "mnist.npz", [x_train, y_train + 5, x_test, y_test])
    with pytest.raises(KerarchError, match=r"labels must lie in 0\.\.9, found 5\.\.14"):
        load_image_classification("mnist", tmp_path / "d")


def test_corrupt_data_dir_does_not_fall_through(tmp_path, places):
    _write_npz(places["keras"] / "mnist.npz", _arrays())
    _write_idx_set(tmp_path / "d")
    (tmp_path / "d" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(KerarchError, match="corrupt gzip"):
        load_image_classification("mnist", tmp_path / "d")


@pytest.mark.parametrize("content, message", [
    (b"not a zip", "is not a readable .npz file"),
    (None, "lacks the arrays y_test"),
])
def test_data_dir_bad_npz(tmp_path, places, content, message):
    path = tmp_path / "d" / "mnist.npz"
    if content is None:
        x_train, y_train, x_test, _ = _arrays()
        path.parent.mkdir()
        np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test)
    else:
        path.parent.mkdir()
        path.write_bytes(content)
    with pytest.raises(KerarchError, match=message):
        load_image_classification("mnist", tmp_path / "d")


# --- load_image_classification: automatic sources ----------------------------


def test_keras_cache_mnist_first(places):
    arrays = _arrays(seed=1)
    _write_npz(places["keras"] / "mnist.npz", arrays)
    _prepare_tfds(places["tfds"], "mnist", _arrays(seed=2))
    data = load_image_classification("mnist")
    assert data.name == "mnist" and data.notice is None
    assert data.source == f"Keras cache {places['keras'] / 'mnist.npz'}"
    np.testing.assert_array_equal(data.x_train[..., 0], arrays[0])


def test_keras_cache_fashion_idx_folder(places):
    arrays = _write_idx_set(places["keras"] / "fashion-mnist", _arrays(seed=1))
    _write_idx_set(places["system"], _arrays(seed=2))
    data = load_image_classification("fashion_mnist")
    assert data.source == f"Keras cache {places['keras'] / 'fashion-mnist'}"
    np.testing.assert_array_equal(data.x_test[..., 0], arrays[2])


def test_prepared_tfds_dir(places):
    arrays = _arrays(seed=3)
    _prepare_tfds(places["tfds"], "mnist", arrays)
    data = load_image_classification("mnist")
    assert data.name == "mnist" and data.notice is None
    assert data.source == f"TFDS data dir {places['tfds']} (mnist)"
    assert data.x_train.shape == (12, 28, 28, 1) and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.x_train[..., 0], arrays[0])
    np.testing.assert_array_equal(data.y_test, arrays[3])


def test_fashion_from_system_copy(places):
    arrays = _write_idx_set(places["system"])
    data = load_image_classification("fashion_mnist")
    assert data.name == "fashion_mnist" and data.notice is None
    assert "KERARCH_FASHION_MNIST_DIR" in data.source
    np.testing.assert_array_equal(data.y_train, arrays[1])


def test_corrupt_cache_is_skipped_with_warning(places, caplog):
    (places["keras"] / "fashion-mnist").mkdir()
    (places["keras"] / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    _write_idx_set(places["system"])
    with caplog.at_level(logging.WARNING, logger="kerarch"):
        data = load_image_classification("fashion_mnist")
    assert "KERARCH_FASHION_MNIST_DIR" in data.source
    assert any("Skipping Keras cache" in r.getMessage() and "lacks" in r.getMessage()
               for r in caplog.records)


def test_mnist_falls_back_to_fashion_with_notice(places, caplog):
    _write_idx_set(places["system"])
    with caplog.at_level(logging.INFO, logger="kerarch"):
        data = load_image_classification("mnist")
    assert data.name == "fashion_mnist"
    assert data.class_names[0] == "T-shirt/top"
    assert data.x_train.shape == (12, 28, 28, 1)
    assert data.notice.startswith("MNIST was not found, so Fashion-MNIST")
    for hint in ("data_dir=", "mnist.npz", os.fspath(places["keras"]), *STEMS):
        assert hint in data.notice
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [data.notice]
    assert all(r.name == "kerarch" for r in caplog.records)
    assert any(r.levelno == logging.INFO and "Loaded fashion_mnist" in r.getMessage()
               for r in caplog.records)


def test_fallback_prefers_fashion_keras_cache(places):
    _write_idx_set(places["keras"] / "fashion-mnist")
    _write_idx_set(places["system"])
    data = load_image_classification("mnist")
    assert data.name == "fashion_mnist"
    assert data.source == f"Keras cache {places['keras'] / 'fashion-mnist'}"


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_nothing_found(places, name):
    with pytest.raises(KerarchError, match="No copy of") as info:
        load_image_classification(name)
    message = str(info.value)
    for place in ("Keras cache", os.fspath(places["tfds"]), "TFDS download",
                  "skipped, downloads are off", "apt-get install dataset-fashion-mnist",
                  "data_dir="):
        assert place in message
    if name == "fashion_mnist":
        assert os.fspath(places["system"]) in message


def test_unreachable_network_skips_download(places, monkeypatch, caplog):
    monkeypatch.setattr(sources, "reachable", lambda host: False)
    _write_idx_set(places["system"])
    with caplog.at_level(logging.INFO, logger="kerarch"):
        data = load_image_classification("mnist", allow_download=True)
    assert data.name == "fashion_mnist"
    assert "unreachable" in data.notice
    assert any("downloads are unavailable" in r.getMessage() for r in caplog.records)


def test_failed_download_logs_and_continues(places, monkeypatch, caplog):
    import tensorflow_datasets as tfds

    def broken_builder(name, **kwargs):
        raise RuntimeError(f"no route to {name}\nsecond line")

    monkeypatch.setattr(sources, "reachable", lambda host: True)
    monkeypatch.setattr(tfds, "builder", broken_builder)
    _write_idx_set(places["system"])
    with caplog.at_level(logging.INFO, logger="kerarch"):
        data = load_image_classification("mnist", allow_download=True)
    assert data.name == "fashion_mnist"
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO
                and r.getMessage().startswith("TFDS download")]
    assert failures == ["TFDS download of mnist failed: RuntimeError: no route to mnist"]
    assert "TFDS download (mnist into" in data.notice


# --- make_dataset --------------------------------------------------------------


def _labels(ds):
    return np.concatenate([y.numpy() for _, y in ds])


def test_make_dataset_batches():
    x = np.zeros((10, 4, 4, 1), np.uint8)
    y = np.arange(10)
    ds = make_dataset(x, y, batch_size=4)
    assert [tuple(b[0].shape) for b in ds] == [(4, 4, 4, 1), (4, 4, 4, 1), (2, 4, 4, 1)]
    np.testing.assert_array_equal(_labels(ds), y)
    dropped = make_dataset(x, y, batch_size=4, drop_remainder=True)
    assert [len(b[1]) for b in dropped] == [4, 4]
    assert dropped.element_spec[0].shape.as_list() == [4, 4, 4, 1]


def test_make_dataset_without_labels():
    ds = make_dataset(np.arange(5, dtype=np.float32), batch_size=2)
    assert [b.numpy().tolist() for b in ds] == [[0, 1], [2, 3], [4]]


def test_make_dataset_shuffle_keeps_labels():
    y = np.arange(200)
    ds = make_dataset(np.zeros((200, 2), np.uint8), y, batch_size=32, shuffle=True, seed=1)
    first, second = _labels(ds), _labels(ds)
    assert not np.array_equal(first, y)
    assert not np.array_equal(first, second)  # reshuffled each epoch
    np.testing.assert_array_equal(np.sort(first), y)
    np.testing.assert_array_equal(np.sort(second), y)


def test_augmentation_differs_between_epochs_under_a_global_seed():
    keras.utils.set_random_seed(3)  # what run_recipe does; stateful random ops would replay every epoch
    x = np.arange(8 * 6 * 6, dtype=np.uint8).reshape(8, 6, 6, 1)
    ds = make_dataset(x, batch_size=8, augment_fn=pad_crop_flip(pad=2))
    first, second = (next(iter(ds)).numpy() for _ in range(2))
    assert first.shape == (8, 6, 6, 1) and not np.array_equal(first, second)


def test_make_dataset_map_then_augment():
    x = np.full((6, 2, 2, 1), 255, np.uint8)
    y = np.arange(6)

    def add_noise(image, label, seed):
        return image + tf.random.stateless_uniform(tf.shape(image), seed, 0.0, 0.01), label

    ds = make_dataset(x, y, batch_size=6, map_fn=scale_images, augment_fn=add_noise)
    first = next(iter(ds))[0].numpy()
    second = next(iter(ds))[0].numpy()
    assert first.dtype == np.float32
    assert np.all((first >= 1.0) & (first < 1.01))
    assert not np.array_equal(first, second)  # augmentation is not cached, and differs per epoch
    np.testing.assert_array_equal(next(iter(ds))[1].numpy(), y)


def test_make_dataset_repeat_and_prefetch():
    ds = make_dataset(np.arange(3), batch_size=2, repeat=True)
    assert [b.numpy().tolist() for b in ds.take(3)] == [[0, 1], [2, 0], [1, 2]]
    assert "Prefetch" in type(ds).__name__


@pytest.mark.parametrize("kwargs, message", [
    ({"x": np.zeros((0, 2)), "batch_size": 2}, "no examples"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(2), "batch_size": 2}, "3 examples but 2 labels"),
    ({"x": np.zeros((3, 2)), "batch_size": 0}, "positive integer"),
    ({"x": np.zeros((3, 2)), "batch_size": 2.0}, "positive integer"),
])
def test_make_dataset_rejects(kwargs, message):
    x = kwargs.pop("x")
    with pytest.raises(KerarchError, match=message):
        make_dataset(x, **kwargs)


def test_scale_images_forms():
    pixels = np.array([0, 51, 255], np.uint8)
    np.testing.assert_allclose(scale_images(pixels).numpy(), [0.0, 0.2, 1.0])
    scaled, label = scale_images(pixels, tf.constant(7), low=-1.0, high=1.0)
    np.testing.assert_allclose(scaled.numpy(), [-1.0, -0.6, 1.0], atol=1e-6)
    assert int(label) == 7


def test_on_images_lifts_image_functions():
    flip = on_images(lambda image, **seed: image[::-1])
    image = tf.constant([1, 2, 3])
    assert flip(image).numpy().tolist() == [3, 2, 1]
    assert flip(image, seed=(1, 2)).numpy().tolist() == [3, 2, 1]
    flipped, label = flip(image, tf.constant(4))
    assert flipped.numpy().tolist() == [3, 2, 1] and int(label) == 4
    ds = make_dataset(np.array([[1, 2], [3, 4]]), np.array([0, 1]), batch_size=2,
                      augment_fn=flip)
    x, y = next(iter(ds))
    assert x.numpy().tolist() == [[2, 1], [4, 3]] and y.numpy().tolist() == [0, 1]

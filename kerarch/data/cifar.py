"""CIFAR-10 found on or off line.

    data = load_cifar10()              # or load_cifar10(data_dir="~/data/cifar-10-batches-py")
    data.x_train.shape                 # (50000, 32, 32, 3) uint8
    data.source                        # where it came from

Sources, first hit wins: the `data_dir` you give (nothing else is tried
then); the Keras cache (~/.keras/datasets/cifar-10-batches-py, or where
Keras 3 extracts it); an already prepared TensorFlow Datasets folder; a TFDS
download, then a Keras download, when allowed and the network answers.
Nothing found is a KerarchError that says how to supply the data.

The python version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html)
is a folder `cifar-10-batches-py` of pickled batches `data_batch_1` ..
`data_batch_5` (10,000 images each) and `test_batch`: each a dict with
b"data", a uint8 array (N, 3072) whose rows are the red, green and blue
32x32 planes in row-major order, and b"labels", a list of N ints in 0..9.
The pickles are read with an unpickler that only rebuilds numpy arrays, so
a planted file cannot run code.
"""

import logging
import os
import pickle
import zlib

import numpy as np

from kerarch.data.images import TFDS_DOWNLOAD_HOST, ImageData, check_image_arrays, tfds_image_arrays
from kerarch.data.sources import (
    Miss,
    Source,
    download,
    keras_datasets_dir,
    one_line,
    prepared_tfds,
    search,
    tfds_dir,
    tfds_download,
)
from kerarch.errors import KerarchError

logger = logging.getLogger("kerarch")

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_KERAS_HOST = "www.cs.toronto.edu"
_PIXELS = 32 * 32 * 3


def load_cifar10(data_dir=None, *, allow_download=None):
    """Loads CIFAR-10 into memory from the first source that has it.

    Args:
        data_dir: the `cifar-10-batches-py` folder (or a folder holding it).
            When given, it is the only source tried.
        allow_download: whether TFDS or Keras may download; None means yes
            unless the environment sets KERARCH_OFFLINE=1.

    Returns:
        An `ImageData`: uint8 images (N, 32, 32, 3), int64 labels.

    Raises:
        KerarchError: data_dir missing, incomplete or corrupt; or no source
            holds CIFAR-10 (the message lists each one tried and how to
            supply it).
    """
    if data_dir is not None:
        folder = _batches_folder(os.path.expanduser(os.fspath(data_dir)))
        return _image_data(read_cifar10_folder(folder), f"data_dir {folder}")
    sources = [
        Source(f"Keras cache {os.path.join(keras_datasets_dir(), FOLDER)}", _from_keras_cache),
        prepared_tfds("cifar10", tfds_image_arrays, check=_check),
        tfds_download("cifar10", tfds_image_arrays, host=TFDS_DOWNLOAD_HOST, allow_download=allow_download,
                      check=_check),
        Source(f"Keras download ({URL})", lambda: _keras_download(allow_download)),
    ]
    return _image_data(*search(sources, title="CIFAR-10", supply=_supply()))


def read_cifar10_folder(folder):
    """[x_train, y_train, x_test, y_test] from a `cifar-10-batches-py` folder, validated."""
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise KerarchError(
            f"{folder} lacks {', '.join(missing)}; a CIFAR-10 folder holds {', '.join(TRAIN_BATCHES)} and "
            f"{TEST_BATCH} (the python version, {URL}, extracted)."
        )
    train = [_read_batch(os.path.join(folder, name)) for name in TRAIN_BATCHES]
    x_test, y_test = _read_batch(os.path.join(folder, TEST_BATCH))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return _check([x_train, y_train, x_test, y_test], folder)


def write_cifar10_batch(path, images, labels, *, batch_label="batch"):
    """Writes uint8 images (N, 32, 32, 3) and labels as one batch file in CIFAR-10's format (for tests)."""
    images = np.asarray(images, np.uint8)
    data = images.transpose(0, 3, 1, 2).reshape(len(images), _PIXELS)
    batch = {b"batch_label": batch_label.encode(), b"labels": [int(y) for y in labels], b"data": data,
             b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, bytes and numpy arrays only; anything else is refused."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            module = "numpy._core." + module[len("numpy.core."):]  # numpy 2 renamed it
        return super().find_class(module, name)


def _read_batch(path):
    """(images (N, 32, 32, 3) uint8, labels (N,) int64) from one pickled batch."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
            KeyError, zlib.error, UnicodeDecodeError, MemoryError) as e:
        raise KerarchError(f"{path} is not a readable CIFAR-10 batch ({one_line(e)}); the file is corrupt "
                           f"or not from the python version of CIFAR-10 ({URL}).") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise KerarchError(f"{path} is not a CIFAR-10 batch: expected a dict with b'data' and b'labels', got {keys}.")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise KerarchError(f"{path}: b'data' must be uint8 shaped (N, {_PIXELS}), got {data.dtype} {data.shape}.")
    if labels.ndim != 1 or len(labels) != len(data) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise KerarchError(f"{path}: b'labels' must hold one integer per image ({len(data)}), got {labels.dtype} "
                           f"{labels.shape}.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes -> (N, H, W, C)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _batches_folder(path):
    """`path` itself, or its `cifar-10-batches-py` subfolder when it has one."""
    if not os.path.isdir(path):
        raise KerarchError(
            f"data_dir {path} is not an existing folder; expected the {FOLDER} folder (with "
            f"{', '.join(TRAIN_BATCHES)}, {TEST_BATCH}) from {URL}."
        )
    inner = os.path.join(path, FOLDER)
    return inner if os.path.isdir(inner) and not os.path.isfile(os.path.join(path, TEST_BATCH)) else path


def _keras_cache_folders():
    """Where Keras versions leave the extracted batches."""
    root = keras_datasets_dir()
    return [
        os.path.join(root, FOLDER),
        os.path.join(root, "cifar-10-batches-py-target", FOLDER),
        os.path.join(root, "cifar-10-batches-py-target_extracted", FOLDER),
        os.path.join(root, "cifar-10-batches-py_extracted", FOLDER),
    ]


def _from_keras_cache():
    """Arrays from the first Keras cache folder that exists; `Miss` if none does."""
    for folder in _keras_cache_folders():
        if os.path.isdir(folder):
            return read_cifar10_folder(folder)
    raise Miss("not found")


def _keras_download(allow_download):
    """keras.datasets.cifar10.load_data(), when downloads are allowed and the host answers."""
    (x_train, y_train), (x_test, y_test) = download(
        _keras_load_data, what="Keras download of cifar10", host=_KERAS_HOST, allow_download=allow_download
    )
    return _check([x_train, y_train.reshape(-1), x_test, y_test.reshape(-1)], "Keras download")


def _keras_load_data():
    """((x_train, y_train), (x_test, y_test)) of keras.datasets.cifar10, downloaded."""
    import keras

    return keras.datasets.cifar10.load_data()


def _check(arrays, where):
    """`check_image_arrays` for CIFAR-10's 10 classes."""
    return check_image_arrays(arrays, where, num_classes=len(CLASS_NAMES))


def _image_data(arrays, source):
    x_train, y_train, x_test, y_test = arrays
    if x_train.shape[1:] != (32, 32, 3):
        raise KerarchError(f"{source}: CIFAR-10 images must be 32x32x3, got {x_train.shape[1:]}.")
    logger.info("Loaded cifar10 (%s train, %s test images) from %s.", f"{len(x_train):,}", f"{len(x_test):,}", source)
    return ImageData("cifar10", x_train, y_train, x_test, y_test, list(CLASS_NAMES), source)


def _supply():
    """How to supply CIFAR-10 by hand, for the error message when no source holds it."""
    return (
        f"download {URL} (163 MB) on a machine with internet, extract it with `tar xzf cifar-10-python.tar.gz`, "
        f"and pass data_dir=<where>/{FOLDER} (the folder with {', '.join(TRAIN_BATCHES)}, {TEST_BATCH}), or move that "
        f"folder to {os.path.join(keras_datasets_dir(), FOLDER)}; or prepare it with TensorFlow Datasets "
        f"(`tfds build cifar10`) into {tfds_dir()} (TFDS_DATA_DIR); or allow downloads (unset "
        "KERARCH_OFFLINE) on a machine with internet."
    )

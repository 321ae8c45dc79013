"""Image-classification datasets (MNIST, Fashion-MNIST) found on or off line.

    data = load_image_classification("mnist")
    data.x_train.shape  # (60000, 28, 28, 1) uint8
    data.source         # where it came from

Sources, first hit wins: the `data_dir` you give (nothing else is tried then);
the Keras cache (for MNIST also its `mnist` folder of IDX files, where
`make data` installs the original files); an already prepared TensorFlow Datasets folder; the local
offline copy of Fashion-MNIST (Debian package dataset-fashion-mnist); a TFDS
download, when allowed and the network answers. MNIST found nowhere falls
back to Fashion-MNIST (same 28x28 grayscale format) with a logged notice.
"""

import dataclasses
import functools
import logging
import os
import zipfile
import zlib

import numpy as np

from kerarch.data.idx import read_idx
from kerarch.data.sources import (
    Miss,
    Source,
    first_hit,
    keras_datasets_dir,
    nothing_found,
    one_line,
    prepared_tfds,
    tfds_dir,
    tfds_download,
)
from kerarch.errors import KerarchError

logger = logging.getLogger("kerarch")

_IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# How messages name the IDX files; _idx_names lists each one's accepted spellings.
_IDX_FILES = (
    f"the 4 IDX files {', '.join(_IDX_STEMS)} (each plain or .gz; dotted names such as "
    "train-images.idx3-ubyte work too)"
)
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Folder under the Keras datasets folder where `make data` (kerarch.data.fetch) installs MNIST's IDX files.
MNIST_INSTALL_FOLDER = "mnist"
_SYSTEM_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
# Where TFDS downloads MNIST, Fashion-MNIST and CIFAR-10 from.
TFDS_DOWNLOAD_HOST = "storage.googleapis.com"


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What identifies one dataset in each source."""

    name: str  # kerarch name, also the TFDS name
    title: str
    class_names: tuple
    npz_name: str  # file name in data_dir and the Keras cache
    keras_cache: str  # path under the Keras datasets folder


_SPECS = {
    "mnist": _Spec(
        name="mnist",
        title="MNIST",
        class_names=tuple(str(d) for d in range(10)),
        npz_name="mnist.npz",
        keras_cache="mnist.npz",
    ),
    "fashion_mnist": _Spec(
        name="fashion_mnist",
        title="Fashion-MNIST",
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        npz_name="fashion_mnist.npz",
        keras_cache="fashion-mnist",
    ),
}


@dataclasses.dataclass
class ImageData:
    """An image-classification dataset held in memory.

    Attributes:
        name: the dataset actually loaded ("fashion_mnist" when MNIST fell
            back to it).
        x_train, x_test: uint8 images shaped (N, H, W, C).
        y_train, y_test: int64 class indices shaped (N,).
        class_names: one name per class index.
        source: where the data came from, for people to read.
        notice: why a substitute dataset was loaded, or None.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    source: str
    notice: str | None = None

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)

    @property
    def input_shape(self):
        """Shape of one image, (H, W, C)."""
        return tuple(self.x_train.shape[1:])


def load_image_classification(name, data_dir=None, *, allow_download=None):
    """Loads MNIST or Fashion-MNIST into memory from the first source that has it.

    Args:
        name: "mnist" or "fashion_mnist" ("fashion-mnist" works too).
        data_dir: a folder holding the 4 IDX files (train-images-idx3-ubyte,
            train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
            t10k-labels-idx1-ubyte, each plain or .gz, also with a dot:
            train-images.idx3-ubyte, ...) or `<name>.npz` with
            arrays x_train, y_train, x_test, y_test. When given, it is the only
            source tried.
        allow_download: whether TFDS may download; None means yes unless the
            environment sets KERARCH_OFFLINE=1.

    Returns:
        An `ImageData`.

    Raises:
        KerarchError: unknown name; data_dir missing, incomplete or corrupt;
            or no source holds the dataset (the message lists each one tried).
    """
    spec = _spec(name)
    if data_dir is not None:
        return _image_data(spec, *_from_data_dir(os.fspath(data_dir), spec))
    tried = []
    hit = first_hit([*_local_sources(spec), _download_source(spec, allow_download)], tried)
    if hit:
        return _image_data(spec, *hit)
    if spec.name == "mnist":
        fashion = _SPECS["fashion_mnist"]
        hit = first_hit(_local_sources(fashion), tried)
        if hit:
            return _fallback(fashion, *hit, tried)
    raise KerarchError(nothing_found(spec.title, tried, _supply(spec)))


def _spec(name):
    """The dataset spec for a user-given name."""
    spec = _SPECS.get(str(name).lower().replace("-", "_"))
    if spec is None:
        raise KerarchError(
            f"Unknown image-classification dataset {name!r}; known: {', '.join(sorted(_SPECS))}."
        )
    return spec


def _local_sources(spec):
    """The sources that need no network: Keras cache, TFDS folder, system copy."""
    sources = [
        Source(f"Keras cache {_keras_path(spec)}", lambda: _from_keras_cache(spec)),
        prepared_tfds(spec.name, tfds_image_arrays, check=functools.partial(_check, spec)),
    ]
    if spec.name == "mnist":
        installed = _mnist_install_dir()
        where = f"Keras cache {installed} (IDX files; `make data` installs the original MNIST files here)"
        sources.insert(1, Source(where, lambda: _from_idx_folder(spec, installed)))
    if spec.name == "fashion_mnist":
        folder = _system_fashion_dir()
        sources.append(Source(_system_fashion_label(), lambda: _from_idx_folder(spec, folder)))
    return sources


def _download_source(spec, allow_download):
    """The TFDS download source."""
    return tfds_download(spec.name, tfds_image_arrays, host=TFDS_DOWNLOAD_HOST, allow_download=allow_download,
                         check=functools.partial(_check, spec))


def _from_data_dir(data_dir, spec):
    """(arrays, source) from the user's folder; any problem is a KerarchError."""
    expected = f"expected {_IDX_FILES} or {spec.npz_name} with arrays {', '.join(_NPZ_KEYS)}"
    if not os.path.isdir(data_dir):
        raise KerarchError(f"data_dir {data_dir} is not an existing folder; {expected}.")
    paths = _find_idx(data_dir)
    where = f"data_dir {data_dir}"
    if all(paths.values()):
        return _check(spec, [read_idx(p) for p in paths.values()], where), f"{where} (IDX files)"
    npz = os.path.join(data_dir, spec.npz_name)
    if os.path.isfile(npz):
        return _check(spec, _read_npz(npz), npz), f"{where} ({spec.npz_name})"
    missing = [stem for stem, path in paths.items() if path is None]
    raise KerarchError(
        f"data_dir {data_dir} does not hold {spec.title}: {expected}. "
        f"Missing: {', '.join(missing)} and {spec.npz_name}."
    )


def _from_keras_cache(spec):
    """Arrays from the Keras datasets cache (an .npz file or an IDX folder)."""
    path = _keras_path(spec)
    if path.endswith(".npz"):
        if not os.path.isfile(path):
            raise Miss("not found")
        return _check(spec, _read_npz(path), path)
    return _from_idx_folder(spec, path)


def _from_idx_folder(spec, folder):
    """Arrays from a folder of the 4 IDX files; `Miss` if it holds none."""
    paths = _find_idx(folder)
    missing = [stem for stem, path in paths.items() if path is None]
    if len(missing) == len(_IDX_STEMS):
        raise Miss("not found")
    if missing:
        raise KerarchError(f"{folder} lacks {', '.join(missing)} (plain or .gz).")
    return _check(spec, [read_idx(p) for p in paths.values()], folder)


def tfds_image_arrays(builder):
    """[x_train, y_train, x_test, y_test] from a prepared TFDS builder."""
    import tensorflow_datasets as tfds

    arrays = []
    for split in ("train", "test"):
        ds = builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        arrays.extend(tfds.as_numpy(ds))
    return arrays


def _find_idx(folder):
    """Maps each standard IDX file stem to its path in `folder`, or None if absent."""
    found = {}
    for stem in _IDX_STEMS:
        candidates = (os.path.join(folder, name) for name in _idx_names(stem))
        found[stem] = next((p for p in candidates if os.path.isfile(p)), None)
    return found


def _idx_names(stem):
    """The file names accepted for `stem`: with a dash or a dot before "idx", plain or gzipped."""
    dotted = stem.replace("-idx", ".idx")
    return stem, stem + ".gz", dotted, dotted + ".gz"


def _read_npz(path):
    """[x_train, y_train, x_test, y_test] from a Keras-style .npz file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise KerarchError(
                    f"{path} lacks the arrays {', '.join(missing)}; "
                    f"expected {', '.join(_NPZ_KEYS)}."
                )
            return [npz[k] for k in _NPZ_KEYS]
    except (OSError, ValueError, EOFError, AttributeError, zipfile.BadZipFile, zlib.error) as e:
        # AttributeError: a plain .npy array, which is not a context manager.
        raise KerarchError(f"{path} is not a readable .npz file ({one_line(e)}).") from e


def check_image_arrays(arrays, where, *, num_classes):
    """[x_train, y_train, x_test, y_test] validated: uint8 (N, H, W, C) images, int64 labels in range.

    Raises:
        KerarchError: naming `where`, for images or labels of the wrong
            dtype or shape, labels outside [0, num_classes), or splits whose
            image and label counts differ.
    """
    x_train, y_train, x_test, y_test = arrays
    images = [_as_images(x, where) for x in (x_train, x_test)]
    labels = [_as_labels(y, where, num_classes) for y in (y_train, y_test)]
    for split, x, y in zip(("train", "test"), images, labels):
        if len(x) != len(y):
            raise KerarchError(
                f"{where}: the {split} split has {len(x):,} images but {len(y):,} labels."
            )
    if images[0].shape[1:] != images[1].shape[1:]:
        raise KerarchError(
            f"{where}: train images are {images[0].shape[1:]} but test images "
            f"are {images[1].shape[1:]}."
        )
    return [images[0], labels[0], images[1], labels[1]]


def _check(spec, arrays, where):
    """`check_image_arrays` for the classes of `spec`."""
    return check_image_arrays(arrays, where, num_classes=len(spec.class_names))


def _as_images(x, where):
    """uint8 images with a channel axis."""
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise KerarchError(
            f"{where}: images must be uint8 shaped (N, H, W) or (N, H, W, C), "
            f"got {x.dtype} {x.shape}."
        )
    return x[..., np.newaxis] if x.ndim == 3 else x


def _as_labels(y, where, num_classes):
    """int64 labels, checked to lie in [0, num_classes)."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise KerarchError(
            f"{where}: labels must be integers shaped (N,), got {y.dtype} {y.shape}."
        )
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise KerarchError(
            f"{where}: labels must lie in 0..{num_classes - 1}, found {y.min()}..{y.max()}."
        )
    return y.astype(np.int64)


def _image_data(spec, arrays, source, notice=None):
    """An ImageData for `spec`, logging where it came from."""
    x_train, y_train, x_test, y_test = arrays
    logger.info("Loaded %s (%s train, %s test images) from %s.",
                spec.name, f"{len(x_train):,}", f"{len(x_test):,}", source)
    return ImageData(spec.name, x_train, y_train, x_test, y_test,
                     list(spec.class_names), source, notice)


def _fallback(fashion, arrays, source, tried):
    """Fashion-MNIST standing in for MNIST, with a logged notice."""
    notice = (
        f"MNIST was not found, so Fashion-MNIST from {source} is used instead "
        "(same 28x28 grayscale format, 10 classes, but clothing, not digits: "
        f"results are not MNIST results). To use real MNIST, {_how_to_supply_mnist()}. "
        f"Tried: {'; '.join(tried)}."
    )
    logger.warning(notice)
    return _image_data(fashion, arrays, source, notice)


def _supply(spec):
    """How to supply `spec` by hand, for the error message when no source holds it."""
    supply = (
        _how_to_supply_mnist() if spec.name == "mnist"
        else f"pass data_dir= a folder holding {_IDX_FILES}, or put them in {_keras_path(spec)}"
    )
    return (
        f"{supply}; or prepare it with TensorFlow Datasets into "
        f"{tfds_dir()} (TFDS_DATA_DIR); or allow downloads (unset KERARCH_OFFLINE) "
        "on a machine with internet; or run `apt-get install dataset-fashion-mnist` "
        f"for the offline Fashion-MNIST copy in {_SYSTEM_FASHION_DIR}"
        + (" (used in place of MNIST)." if spec.name == "mnist" else ".")
    )


def _how_to_supply_mnist():
    """How to give kerarch real MNIST, for messages."""
    return (
        f"pass data_dir= a folder holding {_IDX_FILES} or mnist.npz (arrays {', '.join(_NPZ_KEYS)}), "
        f"or put mnist.npz in {os.path.join(keras_datasets_dir(), '')}, or run `make data` (installs the "
        f"original IDX files, verified, into {_mnist_install_dir()})"
    )


def _mnist_install_dir():
    """The Keras-cache folder of MNIST's IDX files that `make data` fills."""
    return os.path.join(keras_datasets_dir(), MNIST_INSTALL_FOLDER)


def _keras_path(spec):
    """Where Keras caches `spec`."""
    return os.path.join(keras_datasets_dir(), spec.keras_cache)


def _system_fashion_dir():
    """The offline Fashion-MNIST folder ($KERARCH_FASHION_MNIST_DIR or the Debian one)."""
    return os.environ.get("KERARCH_FASHION_MNIST_DIR") or _SYSTEM_FASHION_DIR


def _system_fashion_label():
    """How to name the offline Fashion-MNIST copy in messages."""
    if os.environ.get("KERARCH_FASHION_MNIST_DIR"):
        return f"offline copy {_system_fashion_dir()} (KERARCH_FASHION_MNIST_DIR)"
    return f"Debian package dataset-fashion-mnist ({_SYSTEM_FASHION_DIR})"

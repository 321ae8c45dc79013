"""Where the dataset loaders look: sources tried in order, and what each one said.

A loader declares its sources as data, `Source(where, load)` in search order,
and calls `search`:

    sources = [
        Source(f"Keras cache {path}", lambda: read_npz(path)),
        prepared_tfds("mnist", read_builder),
        tfds_download("mnist", read_builder, host=HOST, allow_download=allow_download),
    ]
    data, where = search(sources, title="MNIST", supply="pass data_dir= ...")

`load()` returns the data, raises `Miss` when its source does not hold it
(or was skipped) and `KerarchError` when the copy there is unusable; both are
recorded, and the search goes on. The first hit wins, and its `where` is the
data's `source`. Nothing found is a KerarchError that lists what was tried and
says how to supply a copy.

Places come from the environment: the Keras cache is $KERAS_HOME/datasets
(default ~/.keras/datasets), the TensorFlow Datasets folder $TFDS_DATA_DIR
(default ~/tensorflow_datasets), and KERARCH_OFFLINE=1 turns downloads off.
A download is tried only when its host answers within `PROBE_SECONDS`.
"""

import logging
import os
import socket
import threading
import typing

from kerarch.errors import KerarchError

logger = logging.getLogger("kerarch")

PROBE_SECONDS = 3.0


class Miss(Exception):
    """A source that does not hold the dataset, or was skipped; says why."""


class Source(typing.NamedTuple):
    """One place to look for a dataset.

    Attributes:
        where: the place, for people to read; the data's `source` when it hits.
        load: returns the data; raises `Miss` if the place does not hold it,
            `KerarchError` if its copy is unusable.
    """

    where: str
    load: typing.Callable


def search(sources, *, title, supply):
    """(data, where) from the first of `sources` that holds the data.

    Args:
        sources: `Source`s in search order.
        title: the dataset's name in messages.
        supply: how to supply a copy by hand, for the error message.

    Raises:
        KerarchError: no source holds the data; the message lists what each
            one said, then `supply`.
    """
    tried = []
    hit = first_hit(sources, tried)
    if hit is None:
        raise KerarchError(nothing_found(title, tried, supply))
    return hit


def first_hit(sources, tried):
    """(data, where) from the first of `sources` that holds the data, or None.

    Appends what each source that missed said to `tried`: a `Miss` is logged
    at debug level, an unusable copy (`KerarchError`) is a warning.
    """
    for where, load in sources:
        try:
            data = load()
        except Miss as e:
            logger.debug("%s: %s", where, e)
            tried.append(f"{where}: {e}")
            continue
        except KerarchError as e:
            logger.warning("Skipping %s: %s", where, e)
            tried.append(f"{where}: unusable ({e})")
            continue
        return data, where
    return None


def nothing_found(title, tried, supply):
    """The error message when no source holds `title`: what was tried, then how to `supply` a copy."""
    return f"No copy of {title} was found. Tried: {'; '.join(tried)}. To supply it, {supply}"


def keras_datasets_dir():
    """The Keras datasets cache folder ($KERAS_HOME/datasets, default ~/.keras/datasets)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def tfds_dir():
    """The TFDS data dir ($TFDS_DATA_DIR, default ~/tensorflow_datasets)."""
    default = os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    return os.environ.get("TFDS_DATA_DIR") or default


def downloads_allowed():
    """False when the environment sets KERARCH_OFFLINE=1 (or true, yes)."""
    return os.environ.get("KERARCH_OFFLINE", "").lower() not in ("1", "true", "yes")


def prepared_tfds(name, read, *, check=None):
    """The `Source` of an already prepared TFDS dataset in `tfds_dir()`; it never downloads.

    Args:
        name: the TFDS name ("mnist", "glue/sst2").
        read: read(builder) -> the data of the prepared builder.
        check: check(data, where) -> the validated data, or None. Its
            KerarchError marks the copy unusable.
    """
    return Source(f"TFDS data dir {tfds_dir()} ({name})", lambda: _load_prepared_tfds(name, read, check))


def tfds_download(name, read, *, host, allow_download, check=None):
    """The `Source` that downloads and prepares a TFDS dataset into `tfds_dir()`, when `download` may.

    Args:
        name, read, check: as for `prepared_tfds`.
        host: the download host probed first.
        allow_download: whether downloads may happen; None means
            `downloads_allowed()`.
    """

    def load():
        data = download(lambda: _download_tfds(name, read), what=f"TFDS download of {name}", host=host,
                        allow_download=allow_download)
        return check(data, "TFDS download") if check else data

    return Source(f"TFDS download ({name} into {tfds_dir()})", load)


def download(fetch, *, what, host, allow_download):
    """fetch() when downloads are allowed and `host` answers; else, or when it fails, a `Miss` saying why.

    Args:
        fetch: downloads and returns the data.
        what: the download, for the log line when it fails.
        host: probed on port 443 first.
        allow_download: whether downloads may happen; None means
            `downloads_allowed()`.
    """
    if not (downloads_allowed() if allow_download is None else allow_download):
        raise Miss("skipped, downloads are off (KERARCH_OFFLINE=1 or allow_download=False)")
    if not reachable(host):
        logger.info("%s:443 did not answer within %g s; downloads are unavailable.", host, PROBE_SECONDS)
        raise Miss(f"skipped, {host}:443 unreachable (offline?)")
    try:
        return fetch()
    except Exception as e:  # Any failure means: try the next source.
        logger.info("%s failed: %s", what, one_line(e))
        raise Miss(f"failed: {one_line(e)}") from e


def reachable(host, port=443, seconds=PROBE_SECONDS):
    """Whether a TCP connection to host:port opens within `seconds`.

    Probed in a daemon thread, because name resolution ignores socket timeouts.
    """
    connected = []
    done = threading.Event()

    def probe():
        try:
            socket.create_connection((host, port), timeout=seconds).close()
            connected.append(True)
        except OSError:
            pass
        done.set()

    threading.Thread(target=probe, daemon=True).start()
    done.wait(seconds)
    return bool(connected)


def one_line(error):
    """The first line of an exception's message, with its type."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _load_prepared_tfds(name, read, check):
    """read(builder) of the prepared TFDS dataset `name`; `Miss` if it is not prepared."""
    root = tfds_dir()
    # A cheap look first, so a missing dataset costs no TFDS import.
    if "://" not in root and not os.path.isdir(os.path.join(root, *name.split("/"))):
        raise Miss("not prepared")
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=root)
        data = read(builder) if builder.is_prepared() else None
    except Exception as e:  # TFDS and tf.data raise many types.
        raise KerarchError(one_line(e)) from e
    if data is None:
        raise Miss("not prepared")
    return check(data, f"TFDS data dir {root}") if check else data


def _download_tfds(name, read):
    """read(builder) once TFDS has downloaded and prepared `name` into `tfds_dir()`."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=tfds_dir())
    builder.download_and_prepare()
    return read(builder)

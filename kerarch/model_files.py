"""Loading model files that users give kerarch, with every refusal explained."""

import os
import zipfile

import keras

from kerarch.errors import KerarchError


def load_model_file(path, **kwargs):
    """`keras.saving.load_model(path, **kwargs)`, with a KerarchError naming `path` when it fails.

    Args:
        path: a `.keras` file (or a legacy `.h5` file).
        **kwargs: passed on to `keras.saving.load_model`: `custom_objects`,
            `compile`, `safe_mode`.

    Returns:
        The loaded model.

    Raises:
        KerarchError: the file is missing, is not a valid model file, or holds
            Python code (a Lambda layer) that Keras's safe mode refuses.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise KerarchError(f"Model file {path} does not exist or is not a file.")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise KerarchError(
            f"{path} is not a valid .keras file: it is not a zip archive (truncated or not a Keras model). "
            "Save or copy it again."
        )
    try:
        return keras.saving.load_model(path, **kwargs)
    except Exception as error:  # Keras raises many types for a file it cannot rebuild.
        raise KerarchError(_refusal(path, error)) from error


def _refusal(path, error):
    """Why `path` does not load, and how to proceed."""
    if "safe_mode=False" in str(error):
        return (
            f"Keras refused to load {path}: it holds Python code (a Lambda layer or a Python function), which "
            "safe mode does not deserialize because running it could execute arbitrary code. Only if the file "
            "is trusted (you saved it yourself or know its source), load it with safe_mode=False, e.g. "
            "kerarch.model_files.load_model_file(path, safe_mode=False); otherwise rebuild the model with "
            "registered custom layers instead of Lambda layers."
        )
    # Keras nests the innermost cause after "Exception encountered:", then dumps the whole config.
    cause = str(error).rpartition("Exception encountered: ")[2].split(" Full object config")[0].strip()
    return (
        f"Cannot load {path} as a Keras model ({type(error).__name__}: {(cause.splitlines() or [''])[0]}). "
        "Check that it is a complete .keras file saved by Keras 3 and that its custom layers are registered."
    )

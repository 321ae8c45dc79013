"""kerarch: the canonical deep-learning architectures as Keras 3 builders.

    import kerarch
    model = kerarch.build("lenet5", input_shape=(28, 28, 1), num_classes=10)
    kerarch.list_builders("resnet*")

`import kerarch` loads neither Keras nor TensorFlow: names come from the
source (kerarch.index), and a builder's family is imported when it is first
built. Subpackages (`kerarch.vision`, `kerarch.training`, ...) load on first
attribute access.
"""

import importlib

from kerarch.index import BUILDER_FAMILIES
from kerarch.registry import BUILDERS
from kerarch.version import __version__  # noqa: F401

_SUBPACKAGES = (*BUILDER_FAMILIES, "data", "export", "frame", "training")


def build(name, **kwargs):
    """Builds the registered architecture `name` with keyword arguments (imports its family on first use)."""
    return BUILDERS.get(name)(**kwargs)


def list_builders(pattern="*"):
    """Names of the registered builders matching a shell-style `pattern` (read from the source, nothing built)."""
    return BUILDERS.names(pattern)


def custom_objects():
    """{registered name: class} of the kerarch-only objects a few saved models need (the rest load with plain Keras).

    `keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`; see `kerarch.saving`.
    """
    from kerarch.saving import custom_objects as registered

    return registered()


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"kerarch.{name}")
    raise AttributeError(f"module 'kerarch' has no attribute {name!r}")

"""kerarch: the canonical deep-learning architectures as Keras 3 builders.

    import kerarch
    model = kerarch.build("lenet5", input_shape=(28, 28, 1), num_classes=10)
    kerarch.list_builders("resnet*")
"""

from kerarch.registry import BUILDERS
from kerarch.version import __version__  # noqa: F401


def build(name, **kwargs):
    """Builds the registered architecture `name` with keyword arguments."""
    return BUILDERS.get(name)(**kwargs)


def list_builders(pattern="*"):
    """Names of the registered builders matching a shell-style `pattern`."""
    return BUILDERS.names(pattern)

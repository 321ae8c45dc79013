"""kerarch: the canonical deep-learning architectures as Keras 3 builders.

    import kerarch
    model = kerarch.build("lenet5", input_shape=(28, 28, 1), num_classes=10)
    kerarch.list_builders("resnet*")
"""

from kerarch.registry import BUILDERS

# Importing a family registers its builders.
from kerarch import mlp  # noqa: F401,E402
from kerarch import vision  # noqa: F401,E402
from kerarch import generative  # noqa: F401,E402
from kerarch import sequence  # noqa: F401,E402
from kerarch import selfsup  # noqa: F401,E402
from kerarch import graph  # noqa: F401,E402
from kerarch import nas  # noqa: F401,E402

__version__ = "0.1.0"


def build(name, **kwargs):
    """Builds the registered architecture `name` with keyword arguments."""
    return BUILDERS.get(name)(**kwargs)


def list_builders(pattern="*"):
    """Names of the registered builders matching a shell-style `pattern`."""
    return BUILDERS.names(pattern)

"""`kerarch.custom_objects()`: the kerarch-only objects a saved `.keras` model may need to load.

Most builders save models that load with plain Keras (stock layers,
`keras.ops` calls in the functional graph, keras-hub's layers and its
`gelu_approximate`). The rest need a class of kerarch's own:
`keras.Model` subclasses with their own training step (VAE, SimCLR, BYOL)
and layers with no stock equivalent (the graph convolutions). Pass them
when loading, without importing any builder family yourself:

    import keras
    import kerarch

    model = keras.saving.load_model("vae.keras", custom_objects=kerarch.custom_objects())
"""

import importlib

import keras

# The modules that define kerarch's registered (serialisable) classes and functions.
DEFINING_MODULES = (
    "kerarch.generative.autoencoder",
    "kerarch.selfsup.simclr",
    "kerarch.selfsup.byol",
    "kerarch.graph.layers",
)


def custom_objects():
    """{registered name: object} of every object kerarch registers with Keras (package "kerarch").

    Keys are Keras's registered names ("kerarch>VAE"), the names a saved
    config refers to, so the dict goes straight to
    `keras.saving.load_model(path, custom_objects=...)`.
    """
    for module in DEFINING_MODULES:
        importlib.import_module(module)
    return {name: obj for name, obj in keras.saving.get_custom_objects().items() if name.startswith("kerarch>")}

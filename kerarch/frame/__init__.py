"""The recipe frame: the `Recipe` base, the recipe kinds built on it, and running a recipe by name.

A recipe subclasses the kind that fits it and says only what is its own
(its config defaults, `build_model`, anything truly special):

    from kerarch.frame import ImageClassification, register_recipe
"""

import importlib

# Public name -> module under kerarch.frame; imported on first use, so `kerarch.frame` stays light.
_RECIPE = {name: "recipe" for name in ("Recipe", "get_recipe", "register_recipe", "reexport", "run_recipe")}
_KINDS = {
    "ImageClassification": "image_classification",
    "TextClassification": "text_classification",
    "LanguageModel": "language_model",
    "CausalLanguageModel": "language_model",
    "MaskedLanguageModel": "language_model",
    "SequenceToSequence": "sequence_to_sequence",
    "Translation": "sequence_to_sequence",
    "Forecast": "sequence_to_sequence",
    "ImageGan": "image_gan",
    "ImageAutoencoder": "image_autoencoder",
    "WassersteinGan": "image_gan",
    "SelfSupervised": "self_supervised",
    "NodeClassification": "node_classification",
    "Comparison": "comparison",
}


def __getattr__(name):
    module = _KINDS.get(name) or _RECIPE.get(name)
    if module is not None:
        return getattr(importlib.import_module(f"kerarch.frame.{module}"), name)
    raise AttributeError(f"module 'kerarch.frame' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_RECIPE) + list(_KINDS))

"""Pieces shared by the sequence builders: config tables, presets, small layers."""

import difflib

import keras
import keras_hub  # noqa: F401  (registers "keras_hub>gelu_approximate")
from keras import ops

from kerarch.errors import KerarchError


# GELU with the tanh approximation, as BERT and GPT's original code used it:
# keras-hub's own registered function ("keras_hub>gelu_approximate"), so a
# saved model needs only keras and keras_hub to load.
gelu_approximate = keras.saving.get_registered_object("keras_hub>gelu_approximate")


def bias_add(x, *, name):
    """`x` plus a learned bias vector over its last axis, with stock layers only.

    keras.layers has no layer that only adds a learned bias, and keras-hub's
    MaskedLMHead (which holds one) does not fit a plain functional model: its
    config embeds a copy of the tied token embedding, so
    `Model.from_config(model.get_config())` unties the weights (+V*H params).
    The bias is the one row of an `Embedding(1, D)` (zeros at init; weight
    shape (1, D)), looked up at index 0 for every position of `x` and added
    with `keras.ops`, so a saved model needs no kerarch object.
    """
    zeros = ops.zeros_like(x[..., 0], dtype="int32")  # index 0 at every position of x
    bias = keras.layers.Embedding(1, x.shape[-1], embeddings_initializer="zeros", name=name)(zeros)  # (..., D)
    return ops.add(x, ops.cast(bias, x.dtype))


def resolve_config(family, configs, config, **overrides):
    """`configs[config]` with every override that is not None applied.

    Raises:
        KerarchError: `config` is not a known name (the message suggests one).
    """
    if config not in configs:
        close = difflib.get_close_matches(str(config), configs, n=2, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KerarchError(f"Unknown {family} config {config!r}.{hint} Known configs: {', '.join(configs)}.")
    resolved = dict(configs[config])
    resolved.update({key: value for key, value in overrides.items() if value is not None})
    return resolved


def load_preset(backbone_class, preset):
    """`backbone_class.from_preset(preset)`, or a KerarchError explaining why not."""
    try:
        return backbone_class.from_preset(preset)
    except Exception as error:  # network, unknown name, corrupt download: one message
        raise KerarchError(
            f"Could not load the keras-hub preset {preset!r} for {backbone_class.__name__} "
            f"({type(error).__name__}: {str(error)[:300]}). Pretrained weights need the preset to be "
            "reachable: online (Kaggle) or as a local preset directory. Build with pretrained=None "
            "for a randomly initialised model."
        ) from error


def preset_architecture(backbone, keys, explicit):
    """The architecture arguments of a keras-hub backbone, checked against explicit ones.

    Args:
        backbone: a keras-hub backbone loaded from a preset.
        keys: the constructor arguments to read from its config.
        explicit: arguments the caller set explicitly (None means unset).

    Raises:
        KerarchError: an explicit argument disagrees with the preset.
    """
    config = backbone.get_config()
    return checked_architecture({key: config[key] for key in keys}, explicit, source="preset")


def checked_architecture(architecture, explicit, *, source):
    """`architecture` (fixed by pretrained weights), once no explicit argument disagrees with it.

    Raises:
        KerarchError: an explicit (not None) argument differs; the message names each one and `source`.
    """
    clashes = {k: v for k, v in explicit.items() if v is not None and k in architecture and architecture[k] != v}
    if clashes:
        raise KerarchError(
            f"The {source} fixes the architecture; these arguments disagree with it: "
            + ", ".join(f"{k}={v!r} ({source}: {architecture[k]!r})" for k, v in clashes.items())
            + "."
        )
    return architecture


def copy_weights(source, target, layer_names):
    """Copies the weights of the named layers from one model to another (same layouts)."""
    for layer_name in layer_names:
        source_layer, target_layer = source.get_layer(layer_name), target.get_layer(layer_name)
        weights = source_layer.get_weights()
        expected = [w.shape for w in target_layer.get_weights()]
        if [w.shape for w in weights] != expected:
            raise KerarchError(f"Layer {layer_name!r}: pretrained weights {[w.shape for w in weights]} != {expected}.")
        target_layer.set_weights(weights)

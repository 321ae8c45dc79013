"""Pieces shared by the sequence builders: config tables, presets, small layers."""

import difflib

import keras

from kerarch.errors import KerarchError


@keras.saving.register_keras_serializable(package="kerarch")
def gelu_approximate(x):
    """GELU with the tanh approximation, as BERT and GPT's original code used it."""
    return keras.activations.gelu(x, approximate=True)


# keras.layers has no layer that only adds a learned bias, and keras-hub's
# MaskedLMHead (which holds one) does not fit a plain functional model: its
# config embeds a copy of the tied token embedding, so
# `Model.from_config(model.get_config())` unties the weights (+V*H params).
@keras.saving.register_keras_serializable(package="kerarch")
class BiasAdd(keras.layers.Layer):
    """Adds a learned bias vector over the last axis."""

    def __init__(self, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer=self.bias_initializer)

    def call(self, inputs):
        return inputs + keras.ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["bias_initializer"] = keras.initializers.serialize(self.bias_initializer)
        return config


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
    architecture = {key: config[key] for key in keys}
    clashes = {k: v for k, v in explicit.items() if v is not None and k in architecture and architecture[k] != v}
    if clashes:
        raise KerarchError(
            "The preset fixes the architecture; these arguments disagree with it: "
            + ", ".join(f"{k}={v!r} (preset: {architecture[k]!r})" for k, v in clashes.items())
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
            raise KerarchError(f"Layer {layer_name!r}: preset weights {[w.shape for w in weights]} != {expected}.")
        target_layer.set_weights(weights)

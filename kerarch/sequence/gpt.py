"""GPT: decoder-only causal Transformer language models (GPT-1, GPT-2).

Layer names and layouts are keras-hub's `GPT2Backbone` ones (count-exact,
preset weights copy layer by layer). The graph is written once, in `forward`,
over a dict of layers: the builder calls it on symbolic inputs and
`kerarch.sequence.generation` calls it with a key/value cache on a built or
reloaded model's layers, so cached decoding cannot drift from the model.
"""

import keras
import keras_hub
from keras import layers

from kerarch.registry import register_builder
from kerarch.sequence.common import (
    copy_weights,
    gelu_approximate,
    load_preset,
    preset_architecture,
    resolve_config,
)

GPT_CONFIGS = {
    # Radford et al. 2018: post-LN blocks, no final layer norm, 40,478 BPE tokens, 512 positions.
    "gpt1": dict(
        vocabulary_size=40478, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
        max_sequence_length=512, normalize_first=False,
    ),
    # Radford et al. 2019: pre-LN blocks and a final layer norm, 50,257 tokens, 1,024 positions.
    "gpt2_small": dict(
        vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
        max_sequence_length=1024, normalize_first=True,
    ),
    "gpt2_medium": dict(
        vocabulary_size=50257, num_layers=24, num_heads=16, hidden_dim=1024, intermediate_dim=4096,
        max_sequence_length=1024, normalize_first=True,
    ),
}
_ARCHITECTURE = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "max_sequence_length")


@register_builder("gpt")
def gpt(
    *,
    config="gpt2_small",
    vocabulary_size=None,
    num_layers=None,
    num_heads=None,
    hidden_dim=None,
    intermediate_dim=None,
    max_sequence_length=None,
    normalize_first=None,
    dropout=0.1,
    pretrained=None,
    name="gpt",
):
    """GPT language model: learned positions, causal Transformer decoder layers, tied output.

    Inputs `token_ids` and `padding_mask` (1 at real tokens), both (B, T)
    int; output next-token logits (B, T, V) through the transposed token
    embedding (tied weights, no extra parameters). Each block is causal
    self-attention and a GELU feed-forward layer with residuals; GPT-2
    normalises before each sublayer and once more at the end, GPT-1 after
    each sublayer. Parameters: gpt1 116,534,784; gpt2_small 124,439,808 and
    gpt2_medium 354,823,168 (as keras-hub's `GPT2Backbone`). Generate with
    `kerarch.sequence.generate` (sampling, key/value cache) or `beam_search`.

    Args:
        config: "gpt1", "gpt2_small" or "gpt2_medium".
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
            max_sequence_length, normalize_first: override the config's value
            when set (tiny models for tests, say).
        dropout: dropout rate of embeddings, attention and residuals (0 lets
            attention use the fused `dot_product_attention` kernel).
        pretrained: a keras-hub GPT-2 preset name ("gpt2_base_en",
            "gpt2_medium_en") or local preset directory; its weights are copied
            in and it fixes the architecture. Needs the preset reachable
            (KerarchError if not).
        name: model name.

    Returns:
        A functional `keras.Model` with dict inputs.

    Reference:
        Radford, Narasimhan, Salimans & Sutskever, "Improving Language
        Understanding by Generative Pre-Training", 2018 (GPT-1).
        Radford, Wu, Child, Luan, Amodei & Sutskever, "Language Models are
        Unsupervised Multitask Learners", 2019 (GPT-2).
    """
    overrides = dict(
        vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length,
    )
    backbone = None
    if pretrained is None:
        architecture = resolve_config("gpt", GPT_CONFIGS, config, normalize_first=normalize_first, **overrides)
    else:
        backbone = load_preset(keras_hub.models.GPT2Backbone, pretrained)
        architecture = preset_architecture(backbone, _ARCHITECTURE, overrides)
        architecture["normalize_first"] = True
    lay = _gpt_layers(dropout=dropout, **architecture)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    logits, _, _ = forward(lay, token_ids, padding_mask=padding_mask)
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, logits, name=name)
    if backbone is not None:
        names = ["token_embedding", "position_embedding", "layer_norm"]
        copy_weights(backbone, model, names + [f"transformer_layer_{i}" for i in range(architecture["num_layers"])])
    return model


def _gpt_layers(*, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, max_sequence_length,
                normalize_first, dropout):
    init = keras.initializers.RandomNormal
    # Token and position embeddings stay two layers (not TokenAndPositionEmbedding),
    # as in GPT2Backbone: same weight names for presets, and the token embedding is
    # also called in reverse for the tied output projection.
    lay = {
        "token_embedding": layers.ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=init(stddev=0.01), name="token_embedding"
        ),
        "position_embedding": keras_hub.layers.PositionEmbedding(
            max_sequence_length, initializer=init(stddev=0.02), name="position_embedding"
        ),
        "embeddings_add": layers.Add(name="embeddings_add"),
        "embeddings_dropout": layers.Dropout(dropout, name="embeddings_dropout"),
    }
    for i in range(num_layers):
        # keras-hub's decoder layer is causal by default and takes a key/value cache.
        lay[f"transformer_layer_{i}"] = keras_hub.layers.TransformerDecoder(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            activation=gelu_approximate,
            layer_norm_epsilon=1e-5,
            kernel_initializer=init(stddev=0.02),
            normalize_first=normalize_first,
            name=f"transformer_layer_{i}",
        )
    if normalize_first:
        lay["layer_norm"] = layers.LayerNormalization(epsilon=1e-5, name="layer_norm")
    return lay


def forward(lay, token_ids, *, padding_mask=None, cache=None, cache_update_index=None):
    """The GPT graph: (B, T) ids -> ((B, T, V) logits, (B, T, H) hidden states, cache).

    With `cache` (B, L, 2, T_max, N, H/N) the ids are the tokens from
    `cache_update_index` on: only they run through the layers, attending to
    the keys and values cached for earlier positions, and their own keys and
    values are written into the returned cache (`padding_mask` is unused then).
    """
    start = 0 if cache_update_index is None else cache_update_index
    x = lay["token_embedding"](token_ids)  # (B, T, H)
    positions = lay["position_embedding"](x, start_index=start)
    x = lay["embeddings_add"]((x, positions))
    x = lay["embeddings_dropout"](x)
    caches = []
    i = 0
    while f"transformer_layer_{i}" in lay:
        layer = lay[f"transformer_layer_{i}"]
        if cache is None:
            x = layer(x, decoder_padding_mask=padding_mask)
        else:
            x, layer_cache = layer(
                x, self_attention_cache=cache[:, i, ...], self_attention_cache_update_index=cache_update_index
            )
            caches.append(layer_cache)
        i += 1
    if "layer_norm" in lay:
        x = lay["layer_norm"](x)
    logits = lay["token_embedding"](x, reverse=True)  # (B, T, V), tied
    return logits, x, (None if cache is None else keras.ops.stack(caches, axis=1))

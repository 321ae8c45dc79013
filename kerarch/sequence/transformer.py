"""The encoder-decoder Transformer of Vaswani et al. (2017).

The graph is written once, in `encode` and `decode`, over a dict of layers:
the builder calls them on symbolic inputs, and
`kerarch.sequence.generation` calls them on a built (or reloaded) model's
layers with a key/value cache, so cached decoding cannot drift from the model.
"""

import math

import keras
import keras_hub
from keras import layers

from kerarch.registry import register_builder


@register_builder("transformer")
def transformer(
    *,
    vocabulary_size=37000,
    target_vocabulary_size=None,
    num_layers=6,
    num_heads=8,
    hidden_dim=512,
    intermediate_dim=2048,
    dropout=0.1,
    position_encoding="sinusoidal",
    max_sequence_length=512,
    normalize_first=False,
    layer_norm_epsilon=1e-6,
    name="transformer",
):
    """Transformer: self-attention encoder, causal decoder with cross-attention.

    Token embeddings are scaled by sqrt(hidden_dim) and summed with positional
    encodings (sinusoidal as in the paper, or learned); then `num_layers`
    encoder layers (self-attention, feed-forward) and `num_layers` decoder
    layers (causal self-attention, cross-attention over the encoder output,
    feed-forward), each sublayer with dropout, a residual connection and layer
    normalisation -- after the sublayer (post-LN, the paper) or before it
    (`normalize_first=True`, pre-LN, with a final layer norm on each stack).
    As in the paper the source and target share one vocabulary and one
    embedding matrix, which is also the pre-softmax projection; a separate
    `target_vocabulary_size` gives the decoder its own (still tied) embedding.
    Base config (the defaults): 63,082,496 parameters with a 37,000-token
    shared vocabulary (the paper's "65M" counts a slightly larger vocabulary).

    Inputs: `encoder_token_ids` (B, S), `encoder_padding_mask` (B, S),
    `decoder_token_ids` (B, T), `decoder_padding_mask` (B, T); masks are 1 at
    real tokens and 0 at padding. Output: next-token logits (B, T, V).
    Decode with `kerarch.sequence.greedy_decode`, `beam_search` or `generate`.

    Args:
        vocabulary_size: shared source/target vocabulary (source only when
            `target_vocabulary_size` is set).
        target_vocabulary_size: a separate target vocabulary, or None (shared).
        num_layers: encoder layers, and as many decoder layers.
        num_heads: attention heads; `hidden_dim` must be divisible by it.
        hidden_dim: d_model.
        intermediate_dim: d_ff, the feed-forward width.
        dropout: residual, embedding and attention dropout (0 lets attention
            use the fused `dot_product_attention` kernel).
        position_encoding: "sinusoidal" or "learned".
        max_sequence_length: longest sequence the learned encoding covers.
        normalize_first: pre-LN instead of the paper's post-LN.
        layer_norm_epsilon: epsilon of every layer norm.
        name: model name.

    Returns:
        A functional `keras.Model`.

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """
    if position_encoding not in ("sinusoidal", "learned"):
        raise ValueError(f"position_encoding must be 'sinusoidal' or 'learned', got {position_encoding!r}.")
    if hidden_dim % num_heads:
        raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads}).")
    shared = target_vocabulary_size is None
    # Not TokenAndPositionEmbedding: the paper scales token embeddings by sqrt(d_model)
    # before adding positions, and one embedding serves encoder, decoder and output.
    # fairseq/tensor2tensor convention: N(0, d^-1/2), so scaled embeddings have unit variance.
    embedding_init = keras.initializers.RandomNormal(stddev=hidden_dim**-0.5)
    lay = {}
    if shared:
        lay["token_embedding"] = layers.ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=embedding_init, name="token_embedding"
        )
    else:
        for side, size in (("encoder", vocabulary_size), ("decoder", target_vocabulary_size)):
            lay[f"{side}_token_embedding"] = layers.ReversibleEmbedding(
                size, hidden_dim, embeddings_initializer=embedding_init, name=f"{side}_token_embedding"
            )
    for side in ("encoder", "decoder"):
        lay[f"{side}_embedding_scale"] = layers.Rescaling(math.sqrt(hidden_dim), name=f"{side}_embedding_scale")
        if position_encoding == "sinusoidal":
            position = keras_hub.layers.SinePositionEncoding(name=f"{side}_position_encoding")
        else:
            position = keras_hub.layers.PositionEmbedding(max_sequence_length, name=f"{side}_position_encoding")
        lay[f"{side}_position_encoding"] = position
        lay[f"{side}_embeddings_add"] = layers.Add(name=f"{side}_embeddings_add")
        lay[f"{side}_embeddings_dropout"] = layers.Dropout(dropout, name=f"{side}_embeddings_dropout")
        block = keras_hub.layers.TransformerEncoder if side == "encoder" else keras_hub.layers.TransformerDecoder
        for i in range(num_layers):
            lay[f"{side}_layer_{i}"] = block(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                activation="relu",
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=normalize_first,
                name=f"{side}_layer_{i}",
            )
        if normalize_first:
            lay[f"{side}_layer_norm"] = layers.LayerNormalization(epsilon=layer_norm_epsilon, name=f"{side}_layer_norm")

    encoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
    encoder_padding_mask = keras.Input(shape=(None,), dtype="int32", name="encoder_padding_mask")
    decoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
    decoder_padding_mask = keras.Input(shape=(None,), dtype="int32", name="decoder_padding_mask")
    memory = encode(lay, encoder_token_ids, encoder_padding_mask)
    logits, _ = decode(lay, decoder_token_ids, memory, encoder_padding_mask, decoder_padding_mask=decoder_padding_mask)
    inputs = {
        "encoder_token_ids": encoder_token_ids,
        "encoder_padding_mask": encoder_padding_mask,
        "decoder_token_ids": decoder_token_ids,
        "decoder_padding_mask": decoder_padding_mask,
    }
    return keras.Model(inputs, logits, name=name)


def num_layers_of(lay, prefix):
    """How many `{prefix}_{i}` layers `lay` holds."""
    count = 0
    while f"{prefix}_{count}" in lay:
        count += 1
    return count


def _embed(lay, side, token_ids, start_index=0):
    embedding = lay["token_embedding"] if "token_embedding" in lay else lay[f"{side}_token_embedding"]
    x = lay[f"{side}_embedding_scale"](embedding(token_ids))  # (B, T, H) * sqrt(H)
    positions = lay[f"{side}_position_encoding"](x, start_index=start_index)
    x = lay[f"{side}_embeddings_add"]((x, positions))
    return lay[f"{side}_embeddings_dropout"](x), embedding


def encode(lay, token_ids, padding_mask):
    """Encoder stack: (B, S) ids and mask -> (B, S, H) memory."""
    x, _ = _embed(lay, "encoder", token_ids)
    for i in range(num_layers_of(lay, "encoder_layer")):
        x = lay[f"encoder_layer_{i}"](x, padding_mask=padding_mask)
    if "encoder_layer_norm" in lay:
        x = lay["encoder_layer_norm"](x)
    return x


def decode(
    lay,
    token_ids,
    memory,
    memory_padding_mask,
    *,
    decoder_padding_mask=None,
    self_cache=None,
    cross_cache=None,
    cache_update_index=None,
    cross_cache_update_index=None,
):
    """Decoder stack and tied output projection: (B, T) ids -> ((B, T, V) logits, caches).

    Without caches the decoder attends causally over all of `token_ids`.
    With caches (self: (B, L, 2, T_max, N, H/N), cross: (B, L, 2, S, N, H/N))
    `token_ids` are the tokens at `cache_update_index` onwards; their keys and
    values are written into the self cache there, and the cross cache is
    computed from `memory` when `cross_cache_update_index` is 0 and reused
    when it is None. Returns `(logits, (self_cache, cross_cache))`.
    """
    start = 0 if cache_update_index is None else cache_update_index
    x, embedding = _embed(lay, "decoder", token_ids, start_index=start)
    self_caches, cross_caches = [], []
    for i in range(num_layers_of(lay, "decoder_layer")):
        layer = lay[f"decoder_layer_{i}"]
        if self_cache is None:
            x = layer(
                x, memory, decoder_padding_mask=decoder_padding_mask, encoder_padding_mask=memory_padding_mask
            )
            continue
        x, layer_self, layer_cross = layer(
            x,
            memory,
            encoder_padding_mask=memory_padding_mask,
            self_attention_cache=self_cache[:, i, ...],
            self_attention_cache_update_index=cache_update_index,
            cross_attention_cache=cross_cache[:, i, ...],
            cross_attention_cache_update_index=cross_cache_update_index,
        )
        self_caches.append(layer_self)
        cross_caches.append(layer_cross)
    if "decoder_layer_norm" in lay:
        x = lay["decoder_layer_norm"](x)
    logits = embedding(x, reverse=True)  # (B, T, V): the tied pre-softmax projection
    if self_cache is None:
        return logits, None
    return logits, (keras.ops.stack(self_caches, axis=1), keras.ops.stack(cross_caches, axis=1))

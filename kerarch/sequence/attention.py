"""Scaled dot-product attention and the masks it takes.

The builders do not call these: their attention lives in keras-hub's
`TransformerEncoder` / `TransformerDecoder`, whose multi-head attention is
`keras.layers.MultiHeadAttention` (with a key/value cache for decoding). That
layer already routes through `keras.ops.dot_product_attention` -- the fused
kernel, flash attention where the backend offers it (`flash_attention=None`
lets the backend decide) -- whenever its attention dropout is 0, i.e. at
`dropout=0.0`; with dropout it computes explicit scores. Positional encodings
are keras-hub's too: `SinePositionEncoding` (sinusoidal) and
`PositionEmbedding` (learned).

The functions here are the same computation spelled out for users who
assemble their own attention, with masks in one convention: boolean, True
where attention is allowed.
"""

from keras import ops


def padding_mask(token_ids, pad_token_id=0):
    """(B, T) bool: True at real tokens, False at `pad_token_id`."""
    return ops.not_equal(token_ids, pad_token_id)


def causal_mask(query_length, key_length=None, start_index=0):
    """(T, S) bool: query t (at absolute position start_index + t) sees keys s <= its position.

    `key_length > query_length` with `start_index` is the shape of a cached
    decoding step: one new query against every key written so far.
    """
    key_length = query_length if key_length is None else key_length
    rows = ops.arange(query_length)[:, None] + start_index  # (T, 1)
    cols = ops.arange(key_length)[None, :]  # (1, S)
    return ops.greater_equal(rows, cols)


def attention_mask(*, key_padding_mask=None, query_length=None, causal=False, start_index=0):
    """Combines a (B, S) key padding mask and a causal mask into (B, 1, T, S) or None.

    Args:
        key_padding_mask: (B, S) bool/int, True (1) at keys that may be attended.
        query_length: T; needed with `causal=True`.
        causal: also forbid attending to later positions.
        start_index: absolute position of the first query (cached decoding).
    """
    mask = None
    if key_padding_mask is not None:
        mask = ops.cast(key_padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, S)
    if causal:
        key_length = ops.shape(key_padding_mask)[1] if key_padding_mask is not None else query_length
        causal = causal_mask(query_length, key_length, start_index)[None, None]  # (1, 1, T, S)
        mask = causal if mask is None else ops.logical_and(mask, causal)
    return mask


def scaled_dot_product_attention(
    query, key, value, *, key_padding_mask=None, causal=False, scale=None, flash_attention=None
):
    """softmax(Q K^T / sqrt(d) + mask) V with keras.ops.dot_product_attention.

    Shapes follow `keras.ops.dot_product_attention`: query (B, T, N, H), key
    and value (B, S, N, H) (fewer key/value heads give grouped-query
    attention); the output is (B, T, N, H). A query whose keys are all
    masked gets whatever the backend kernel returns for it; ignore padded
    queries' outputs downstream.

    Args:
        key_padding_mask: (B, S), True/1 at keys that may be attended.
        causal: forbid attention to later positions (T == S).
        scale: defaults to 1 / sqrt(H).
        flash_attention: None lets the backend use flash attention where it
            can (GPU/TPU, float16/bfloat16); True requires it; False forbids it.
    """
    if key_padding_mask is None:
        # The fused causal path needs no materialised mask.
        return ops.dot_product_attention(
            query, key, value, scale=scale, is_causal=causal, flash_attention=flash_attention
        )
    mask = attention_mask(key_padding_mask=key_padding_mask, query_length=ops.shape(query)[1], causal=causal)
    return ops.dot_product_attention(query, key, value, mask=mask, scale=scale, flash_attention=flash_attention)

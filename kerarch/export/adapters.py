"""Export adapters: views of a trained model that the exporter's one-float-input TFLite path can take.

A recipe's `model_to_export` returns one of these when its model reads int
token ids, several inputs, or loops TFLite cannot convert; each keeps the
model's layers and weights.
"""

import keras

_RECURRENT_LAYERS = ("SimpleRNN", "LSTM", "GRU")


def unrolled_with_float_ids(model):
    """A recurrent classifier as kerarch.export takes it: float32 token ids in, loops unrolled.

    The exporter feeds float32 inputs, so the ids are cast back to int32
    inside; and the TFLite converter cannot lower a recurrent layer's
    symbolic loop with a dynamic batch size, so the copy (same weights, same
    outputs) unrolls every recurrent layer, also inside Bidirectional.
    """
    token_ids = keras.Input(shape=model.input_shape[1:], dtype="float32", name="token_ids")
    return keras.Model(token_ids, unrolled(model)(keras.ops.cast(token_ids, "int32")), name=model.name)


def _unroll(node):
    """Sets unroll=True in every recurrent layer of a (nested) model config."""
    if isinstance(node, dict):
        if node.get("class_name") in _RECURRENT_LAYERS:
            node["config"]["unroll"] = True
        for value in node.values():
            _unroll(value)
    elif isinstance(node, list):
        for value in node:
            _unroll(value)


def bert_with_float_ids(model):
    """A BERT classifier as kerarch.export takes it: one float32 input of token ids (B, T).

    Single sentences, as in SST-2: segment ids are 0 and the padding mask is
    1 where the id is not 0 ([PAD]) -- what bert-finetune-sst2 feeds in
    training. Token ids below 2**24 are exact in float32.
    """
    token_ids = keras.Input(shape=(None,), dtype="float32", name="token_ids")
    ids = keras.ops.cast(token_ids, "int32")
    inputs = {
        "token_ids": ids,
        "segment_ids": keras.ops.zeros_like(ids),
        "padding_mask": keras.ops.cast(keras.ops.not_equal(ids, 0), "int32"),
    }
    return keras.Model(token_ids, model(inputs), name=model.name)


def packed_generator(generator, latent_dim):
    """A one-input view of a conditional generator for export: (B, latent_dim + 1) -> images.

    kerarch's exporter takes one float input, so the noise and the class id
    travel side by side in one float32 tensor (the class id last). Same
    layers and weights as `generator`.
    """
    packed = keras.Input(shape=(latent_dim + 1,), dtype="float32", name="z_and_label")
    label = keras.ops.cast(packed[:, latent_dim:], "int32")
    return keras.Model(packed, generator([packed[:, :latent_dim], label]), name=generator.name)


def gpt_with_float_ids(model, length):
    """A GPT as kerarch.export takes it: (B, length) float32 token ids -> (B, length, V) logits.

    The ids are cast back to int32 inside (exact below 2**24) and the
    padding mask is all ones. The length is fixed because LiteRT's XNNPack
    delegate cannot resize this graph at run time.
    """
    ids_in = keras.Input(shape=(length,), dtype="float32", name="token_ids")
    ids = keras.ops.cast(ids_in, "int32")
    logits = model({"token_ids": ids, "padding_mask": keras.ops.ones_like(ids)})
    return keras.Model(ids_in, logits, name=f"{model.name}_token_ids")


def packed_encoder_decoder(model, source_length, decoder_length):
    """An encoder-decoder Transformer as kerarch.export takes it: (B, S + T) float ids -> (B, T, V) logits.

    The source ids (padded to S = `source_length`, 0 = padding) and the T =
    `decoder_length` decoder ids ([START] and the output so far, anything
    after it: the decoder is causal) travel side by side in one float32
    tensor; ids below 2**24 are exact in float32. The lengths are fixed
    because LiteRT's XNNPack delegate cannot resize this graph at run time.
    """
    ids_in = keras.Input(shape=(source_length + decoder_length,), dtype="float32", name="source_and_decoder_ids")
    ids = keras.ops.cast(ids_in, "int32")
    source, decoder = ids[:, :source_length], ids[:, source_length:]  # (B, S), (B, T)
    logits = model({
        "encoder_token_ids": source,
        "encoder_padding_mask": keras.ops.cast(keras.ops.not_equal(source, 0), "int32"),
        "decoder_token_ids": decoder,
        "decoder_padding_mask": keras.ops.ones_like(decoder),
    })
    return keras.Model(ids_in, logits, name=f"{model.name}_packed")


def unrolled(model):
    """The same model (same weights, float inputs as before) with every recurrent layer unrolled.

    The TFLite converter cannot lower the symbolic loop of a recurrent layer
    with a dynamic batch size (a TensorList of unknown element shape);
    unrolled over its fixed length, the layer is plain ops that convert to builtins.
    """
    config = model.get_config()
    _unroll(config)
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy

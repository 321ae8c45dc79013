"""Decoding for the `gpt` and `transformer` builders: sampling, greedy, beam search.

The token choice is keras-hub's samplers (GreedySampler, RandomSampler,
TopKSampler, TopPSampler, BeamSampler), which run an `ops.while_loop` on any
backend; this module supplies their `next` function. With `use_cache=True`
(the default) that function runs only the newest token through the layers,
reading every earlier position's keys and values from a cache of shape
(B, layers, 2, T, heads, head_dim) -- O(1) layer calls per token instead of
re-running the prefix. `use_cache=False` re-runs the whole model each step
(the reference the cache is tested against).

The whole decode -- seeding the cache, the sampler's loop, stop handling --
runs as one compiled function (`kerarch.compiled`: a `tf.function` on
TensorFlow, `jax.jit` on JAX), built once per model and decoding setting,
traced once per input shape and reused by later calls; `compiled=False`
runs the same function eagerly, op by op (the reference the compiled
decoder is tested against).

Token ids come back as NumPy arrays. For `gpt` the prompt rows may have
different lengths (a list of lists): each row is continued after its own
prompt up to `max(len) + max_new_tokens` tokens. For `transformer` the ids
are source sentences and the result is the decoder sequence, starting with
`start_token_id`.
"""

import numpy as np
from keras import ops
from keras_hub.layers import PositionEmbedding, TransformerDecoder
from keras_hub.samplers import BeamSampler, GreedySampler, RandomSampler, TopKSampler, TopPSampler

from kerarch.compiled import compile_stateful
from kerarch.errors import KerarchError
from kerarch.sequence import gpt as gpt_graph
from kerarch.sequence import transformer as transformer_graph


def generate(
    model,
    prompt_ids,
    max_new_tokens,
    *,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    use_cache=True,
    stop_token_ids=None,
    start_token_id=None,
    pad_token_id=0,
    compiled=True,
):
    """Samples `max_new_tokens` tokens after each prompt.

    Args:
        model: a `gpt` model, or a `transformer` (then `prompt_ids` are the
            source ids and `start_token_id` is required).
        prompt_ids: (B, P) ints, or a list of B lists of different lengths.
        max_new_tokens: tokens to add.
        temperature: logits are divided by it; 0 means greedy (argmax).
        top_k: sample among the k most likely tokens only.
        top_p: nucleus sampling: among the most likely tokens whose
            probabilities sum to p (with `top_k`, within those k).
        seed: integer seed for reproducible sampling.
        use_cache: decode with the key/value cache.
        stop_token_ids: ids that end a sequence; the tokens after one are
            `pad_token_id`, and decoding stops once every row has ended.
        start_token_id: first decoder token (transformer only).
        pad_token_id: id used for padding (and masked in transformer sources).
        compiled: run the decode as one compiled function (False: eagerly).

    Returns:
        (B, max(P) + max_new_tokens) int32 ids for gpt; (B, 1 + max_new_tokens)
        decoder ids for transformer.
    """
    sampling = _sampling(temperature, top_k, top_p)
    return _decode(model, prompt_ids, max_new_tokens, sampling, seed, use_cache, stop_token_ids, start_token_id,
                   pad_token_id, compiled)


def greedy_decode(
    model, token_ids, max_new_tokens, *, use_cache=True, stop_token_ids=None, start_token_id=None, pad_token_id=0,
    compiled=True,
):
    """Greedy decoding: the most likely token at every step (see `generate` for the arguments)."""
    return _decode(model, token_ids, max_new_tokens, ("greedy",), None, use_cache, stop_token_ids, start_token_id,
                   pad_token_id, compiled)


def beam_search(
    model,
    token_ids,
    max_new_tokens,
    *,
    num_beams=4,
    use_cache=True,
    stop_token_ids=None,
    start_token_id=None,
    pad_token_id=0,
    return_scores=False,
    compiled=True,
):
    """Beam search: keeps the `num_beams` most likely continuations at every step.

    Prompts (gpt) must all have the same length. See `generate` for the
    other arguments.

    Returns:
        The most likely sequence per row, shaped as in `generate`; with
        `return_scores=True` also its log-probability (B,) (the sum over the
        generated tokens).
    """
    if num_beams < 1:
        raise KerarchError(f"num_beams must be at least 1, got {num_beams}.")
    ids, scores = _decode(model, token_ids, max_new_tokens, ("beam", num_beams), None, use_cache, stop_token_ids,
                          start_token_id, pad_token_id, compiled, equal_lengths=True)
    return (ids, scores) if return_scores else ids


def sequence_log_probs(model, token_ids, *, start_index, source_ids=None, pad_token_id=0):
    """Sum of log p(token_t | earlier tokens [, source]) over t >= start_index, per row.

    Args:
        model: a `gpt` or `transformer` model.
        token_ids: (B, T) ids (for a transformer: decoder ids).
        start_index: first position scored (the prompt length; 1 after a
            transformer's start token).
        source_ids: (B, S) source ids, for a transformer.
        pad_token_id: masked in the source.

    Returns:
        (B,) float64 log-probabilities.
    """
    token_ids = np.asarray(token_ids, dtype="int32")
    inputs = _inputs(model, token_ids, source_ids, pad_token_id)
    logits = np.asarray(ops.convert_to_numpy(model(inputs, training=False)), dtype="float64")
    logits = logits[:, :-1] - logits[:, :-1].max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))  # predicts tokens 1..T-1
    picked = np.take_along_axis(log_probs, token_ids[:, 1:, None], axis=-1)[..., 0]
    return picked[:, start_index - 1 :].sum(-1)


def layers_by_name(model):
    """{name: layer} of a model, the form `gpt.forward` and `transformer.decode` take."""
    return {layer.name: layer for layer in model.layers}


def _kind(model):
    names = set(model.input) if isinstance(model.input, dict) else set()
    if {"encoder_token_ids", "decoder_token_ids"} <= names:
        return "transformer"
    if {"token_ids", "padding_mask"} == names and isinstance(
        layers_by_name(model).get("transformer_layer_0"), TransformerDecoder
    ):
        return "gpt"
    raise KerarchError(f"Decoding needs a model built by the 'gpt' or 'transformer' builders, got {model.name!r}.")


def _inputs(model, token_ids, source_ids, pad_token_id):
    ones = np.ones_like(token_ids)
    if _kind(model) == "gpt":
        return {"token_ids": token_ids, "padding_mask": ones}
    if source_ids is None:
        raise KerarchError("A transformer needs source_ids.")
    source_ids = np.asarray(source_ids, dtype="int32")
    return {
        "encoder_token_ids": source_ids,
        "encoder_padding_mask": (source_ids != pad_token_id).astype("int32"),
        "decoder_token_ids": token_ids,
        "decoder_padding_mask": ones,
    }


def _sampling(temperature, top_k, top_p):
    """The sampler's settings as a hashable key: ("greedy",) or ("sample", temperature, top_k, top_p)."""
    if temperature < 0:
        raise KerarchError(f"temperature must be >= 0, got {temperature}.")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise KerarchError(f"top_k must be a positive integer, got {top_k}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise KerarchError(f"top_p must be in (0, 1], got {top_p}.")
    return ("greedy",) if temperature == 0 else ("sample", float(temperature), top_k, top_p)


def _sampler(sampling, seed=None):
    """The keras-hub sampler for a `_sampling` key (or ("beam", num_beams))."""
    kind, *settings = sampling
    if kind == "greedy":
        return GreedySampler()
    if kind == "beam":
        return BeamSampler(num_beams=settings[0], return_all_beams=True)
    temperature, top_k, top_p = settings
    if top_p is not None:
        return TopPSampler(p=top_p, k=top_k, seed=seed, temperature=temperature)
    if top_k is not None:
        return TopKSampler(k=top_k, seed=seed, temperature=temperature)
    return RandomSampler(seed=seed, temperature=temperature)


def _rows(token_ids, pad_token_id, extra, equal_lengths):
    """Right-pads ragged rows: (B, max_len + extra) ids, (B, ...) bool mask of the given tokens."""
    if len(token_ids) == 0 or np.ndim(token_ids[0]) != 1:
        raise KerarchError("Token ids must be a (batch, length) array or a list of lists, one per sequence.")
    rows = [np.asarray(row, dtype="int64") for row in token_ids]
    lengths = np.array([len(row) for row in rows])
    if lengths.min() == 0:
        raise KerarchError("Every prompt needs at least one token.")
    if equal_lengths and lengths.min() != lengths.max():
        raise KerarchError(f"beam_search needs prompts of equal length, got lengths {sorted(set(lengths))}.")
    ids = np.full((len(rows), lengths.max() + extra), pad_token_id, dtype="int32")
    mask = np.zeros(ids.shape, dtype=bool)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, True
    return ids, mask


def _check_length(lay, position_layer, length):
    position = lay[position_layer]
    if isinstance(position, PositionEmbedding) and length > position.sequence_length:
        raise KerarchError(
            f"The sequence would be {length} tokens long; the model's learned positions stop at "
            f"{position.sequence_length}. Ask for fewer new tokens or a shorter prompt."
        )


def _zeros_cache(lay, layer_name, hidden_dim, batch, length):
    """An empty (B, layers, 2, length, heads, head_dim) key/value cache for the `{layer_name}_i` layers."""
    num_layers = transformer_graph.num_layers_of(lay, layer_name)
    layer = lay[f"{layer_name}_0"]
    shape = (batch, num_layers, 2, length, layer.num_heads, hidden_dim // layer.num_heads)
    return ops.zeros(shape, dtype=layer.compute_dtype)


def _decode(model, token_ids, max_new_tokens, sampling, seed, use_cache, stop_token_ids, start_token_id,
            pad_token_id, compiled, equal_lengths=False):
    if max_new_tokens < 1:
        raise KerarchError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    lay = layers_by_name(model)
    if _kind(model) == "gpt":
        ids, given = _rows(token_ids, pad_token_id, max_new_tokens, equal_lengths)
        _check_length(lay, "position_embedding", ids.shape[1])
        sources = ()
    else:
        if start_token_id is None:
            raise KerarchError("Decoding a transformer needs start_token_id (the first decoder token).")
        source, _ = _rows(token_ids, pad_token_id, 0, False)
        ids = np.full((len(source), 1 + max_new_tokens), pad_token_id, dtype="int32")
        ids[:, 0] = start_token_id
        given = np.zeros(ids.shape, dtype=bool)
        given[:, 0] = True
        _check_length(lay, "encoder_position_encoding", source.shape[1])
        _check_length(lay, "decoder_position_encoding", ids.shape[1])
        sources = (source,)
    stop_token_ids = None if stop_token_ids is None else tuple(int(i) for i in stop_token_ids)
    decoder = _decoder(model, lay, sampling, use_cache, stop_token_ids, pad_token_id, compiled)
    decoder.reseed(seed)
    outputs = decoder.run(ids, given, np.array(given.sum(1).min(), dtype="int32"), *sources)
    if sampling[0] == "beam":
        beams, scores = outputs  # (B, beams, T), (B, beams), best first
        ids = ops.convert_to_numpy(beams)[:, 0]
        return _after_stop(ids, given, stop_token_ids, pad_token_id), ops.convert_to_numpy(scores)[:, 0]
    return _after_stop(ops.convert_to_numpy(outputs), given, stop_token_ids, pad_token_id)


class _Decoder:
    """A sampler and the function that decodes with it: prompt ids, given-token mask, start index[, source] -> ids."""

    def __init__(self, model, lay, sampling, use_cache, stop_token_ids, pad_token_id, compiled):
        self.sampling = sampling
        self.sampler = _sampler(sampling)
        step = _gpt_step if _kind(model) == "gpt" else _transformer_step

        def decode(ids, given, index, *sources):
            ids, given, index, *sources = (ops.convert_to_tensor(x) for x in (ids, given, index, *sources))
            next_fn, cache = step(model, lay, ids, *sources, use_cache=use_cache, pad_token_id=pad_token_id)
            return self.sampler(next=next_fn, prompt=ids, cache=cache, index=index, mask=given,
                                stop_token_ids=stop_token_ids, model=model)

        weights = model.trainable_variables + model.non_trainable_variables
        # XLA on TensorFlow too: the whole while loop fused is ~8x faster per token than a plain tf.function on CPU.
        self.run = (compile_stateful(decode, reads=weights, updates=self.sampler.variables, jit_compile=True)
                    if compiled else decode)

    def reseed(self, seed):
        """Sets the sampler's random state to that of a fresh sampler seeded with `seed` (None: keep going)."""
        if seed is not None and self.sampler.variables:
            for state, fresh in zip(self.sampler.variables, _sampler(self.sampling, seed).variables):
                state.assign(fresh.value)


def _decoder(model, lay, sampling, use_cache, stop_token_ids, pad_token_id, compiled):
    key = (sampling, use_cache, stop_token_ids, pad_token_id, compiled)
    decoders = model.__dict__.get("_kerarch_decoders")
    if decoders is None:
        # Kept on the model (outside Keras' attribute tracking): the decoders and their traces live as long as it.
        decoders = {}
        object.__setattr__(model, "_kerarch_decoders", decoders)
    if key not in decoders:
        decoders[key] = _Decoder(model, lay, sampling, use_cache, stop_token_ids, pad_token_id, compiled)
    return decoders[key]


def _after_stop(ids, given, stop_token_ids, pad_token_id):
    """Pads every generated position after the first generated stop token."""
    ids = np.array(ids, dtype="int32")
    if stop_token_ids:
        stops = np.isin(ids, list(stop_token_ids)) & ~given
        after = (np.cumsum(stops, axis=1) - stops) > 0
        ids[after & ~given] = pad_token_id
    return ids


def _gpt_step(model, lay, ids, *, use_cache, pad_token_id):
    """The sampler's `next(prompt, cache, index)` -> (logits at index - 1, hidden, cache) for gpt."""
    if not use_cache:

        def next_fn(prompt, cache, index):
            logits = model({"token_ids": prompt, "padding_mask": ops.ones_like(prompt)}, training=False)
            step = ops.take(logits, index - 1, axis=1)  # (B, V)
            return step, step, cache

        return next_fn, None

    hidden_dim = lay["token_embedding"].output_dim
    cache = _zeros_cache(lay, "transformer_layer", hidden_dim, ids.shape[0], ids.shape[1])
    # Seed the cache with one pass over the buffer; positions past a prompt
    # hold pad keys until their token is generated and overwrites them.
    _, _, cache = gpt_graph.forward(lay, ids, cache=cache, cache_update_index=0)

    def next_fn(prompt, cache, index):
        position = index - 1  # the newest known token
        token = ops.slice(prompt, [0, position], [ops.shape(prompt)[0], 1])  # (B, 1)
        logits, hidden, cache = gpt_graph.forward(lay, token, cache=cache, cache_update_index=position)
        return logits[:, 0, :], hidden[:, 0, :], cache

    return next_fn, cache


def _transformer_step(model, lay, ids, source, *, use_cache, pad_token_id):
    """The sampler's `next` for transformer; the source travels in the cache so beams can copy it."""
    source_mask = ops.cast(ops.not_equal(source, pad_token_id), "int32")
    if not use_cache:

        def next_fn(prompt, cache, index):
            source, source_mask = cache
            inputs = {
                "encoder_token_ids": source,
                "encoder_padding_mask": source_mask,
                "decoder_token_ids": prompt,
                "decoder_padding_mask": ops.ones_like(prompt),
            }
            step = ops.take(model(inputs, training=False), index - 1, axis=1)  # (B, V)
            return step, step, cache

        return next_fn, (source, source_mask)

    memory = transformer_graph.encode(lay, source, source_mask)  # (B, S, H), computed once
    hidden_dim = memory.shape[-1]
    self_cache = _zeros_cache(lay, "decoder_layer", hidden_dim, ids.shape[0], ids.shape[1])
    cross_cache = _zeros_cache(lay, "decoder_layer", hidden_dim, ids.shape[0], source.shape[1])
    _, (self_cache, cross_cache) = transformer_graph.decode(
        lay, ids, memory, source_mask,
        self_cache=self_cache, cross_cache=cross_cache, cache_update_index=0, cross_cache_update_index=0,
    )

    def next_fn(prompt, cache, index):
        self_cache, cross_cache, memory, source_mask = cache
        position = index - 1
        token = ops.slice(prompt, [0, position], [ops.shape(prompt)[0], 1])
        logits, (self_cache, cross_cache) = transformer_graph.decode(
            lay, token, memory, source_mask, self_cache=self_cache, cross_cache=cross_cache,
            cache_update_index=position, cross_cache_update_index=None,
        )
        return logits[:, 0, :], logits[:, 0, :], (self_cache, cross_cache, memory, source_mask)

    return next_fn, (self_cache, cross_cache, memory, source_mask)

"""Sequence builders: counts, shapes, masks, round trips, exports, decoding, JAX."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest

import kerarch.sequence  # noqa: F401  (registers the sequence builders)
from builder_checks import check_builder
from kerarch.errors import KerarchError
from kerarch.registry import BUILDERS
from kerarch.sequence import attention, generation
from kerarch.sequence import gpt as gpt_graph

V = 50  # tiny vocabulary
TINY_RNN = dict(vocabulary_size=V, embedding_dim=8, units=8, num_classes=3)
TINY_TRANSFORMER = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16)
TINY_BERT = dict(config="tiny", vocabulary_size=V, hidden_dim=16, intermediate_dim=32, max_sequence_length=16)

# (registry key, tiny kwargs, expected output shapes without the batch axis).
TINY = [
    ("simple_rnn", TINY_RNN, (3,)),
    ("lstm", dict(TINY_RNN, num_layers=2, bidirectional=True, dropout=0.1), (3,)),
    ("gru", dict(TINY_RNN, num_layers=2), (3,)),
    ("transformer", dict(TINY_TRANSFORMER, vocabulary_size=V), (8, V)),
    ("transformer", dict(TINY_TRANSFORMER, vocabulary_size=V, target_vocabulary_size=30, normalize_first=True,
                         position_encoding="learned"), (8, 30)),
    ("bert", TINY_BERT, {"sequence_output": (8, 16), "pooled_output": (16,)}),
    ("bert_pretraining", TINY_BERT, {"mlm_logits": (2, V), "nsp_logits": (2,)}),
    ("bert_classifier", dict(TINY_BERT, num_classes=3), (3,)),
    ("distilbert", dict(TINY_TRANSFORMER, vocabulary_size=V), (8, 16)),
    ("gpt", dict(TINY_TRANSFORMER, vocabulary_size=V), (8, V)),
    ("gpt", dict(TINY_TRANSFORMER, vocabulary_size=V, config="gpt1"), (8, V)),
]


def token_inputs(model, *, batch=2, length=8, seed=0):
    """Random inputs for a token model; row 1 has its last two positions padded."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 30, size=(batch, length)).astype("int32")  # < every tiny vocabulary
    mask = np.ones((batch, length), dtype="int32")
    mask[1, -2:] = 0
    if not isinstance(model.input, dict):  # the recurrent classifiers: id 0 is padding
        return ids * mask
    inputs = {}
    for key in model.input:
        if key.endswith("token_ids"):
            inputs[key] = ids
        elif key.endswith("padding_mask"):
            inputs[key] = mask
        elif key == "segment_ids":
            inputs[key] = (np.arange(length) >= length // 2).astype("int32")[None].repeat(batch, 0)
        elif key == "mask_positions":
            inputs[key] = np.array([[1, 3], [2, 5]], dtype="int32")[:batch]
    return inputs


def as_numpy(outputs):
    if isinstance(outputs, dict):
        return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    return keras.ops.convert_to_numpy(outputs)


def assert_outputs_close(a, b, atol=1e-5):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], atol=atol, rtol=1e-5, err_msg=key)
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


def check_token_builder(model, inputs, output_shape, *, name, tmp_path):
    """check_builder for integer-token inputs: name, shapes, config and `.keras` round trips."""
    assert model.name == name
    outputs = as_numpy(model(inputs, training=False))
    shapes = {k: v.shape[1:] for k, v in outputs.items()} if isinstance(outputs, dict) else outputs.shape[1:]
    assert shapes == output_shape
    for value in outputs.values() if isinstance(outputs, dict) else [outputs]:
        assert np.all(np.isfinite(value))
    clone = model.__class__.from_config(model.get_config())
    assert clone.count_params() == model.count_params()
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.count_params() == model.count_params()
    assert_outputs_close(as_numpy(restored(inputs, training=False)), outputs)


# --- builders: shapes, names, round trips --------------------------------------------------


def test_every_sequence_builder_is_covered():
    sequence_builders = {n for n in BUILDERS.names() if BUILDERS.get(n).__module__.startswith("kerarch.sequence")}
    assert sequence_builders == {name for name, _, _ in TINY}


TINY_IDS = ["simple_rnn", "lstm-bidirectional", "gru", "transformer", "transformer-prenorm-learned", "bert",
            "bert_pretraining", "bert_classifier", "distilbert", "gpt2", "gpt1"]


@pytest.mark.parametrize("name, kwargs, output_shape", TINY, ids=TINY_IDS)
def test_tiny_builders_round_trip(name, kwargs, output_shape, tmp_path):
    model = BUILDERS.get(name)(**kwargs)
    check_token_builder(model, token_inputs(model), output_shape, name=name, tmp_path=tmp_path)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_forecasters(cell, bidirectional, tmp_path):
    model = BUILDERS.get(cell)(task="forecast", input_shape=(12, 3), units=8, num_layers=2, horizon=4,
                               bidirectional=bidirectional)
    check_builder(model, input_shape=(12, 3), output_shape=(4, 3), params=recurrent_params(cell, 3, 8, 2, bidirectional)
                  + (8 * (2 if bidirectional else 1) + 1) * 12, name=cell, tmp_path=tmp_path)


def recurrent_params(cell, inputs, units, num_layers, bidirectional):
    """Weights of a recurrent stack (Keras GRU has reset_after=True: two bias vectors)."""
    gates, biases = {"simple_rnn": (1, 1), "lstm": (4, 1), "gru": (3, 2)}[cell]
    directions = 2 if bidirectional else 1
    total = 0
    for _ in range(num_layers):
        total += directions * gates * (units * (inputs + units) + biases * units)
        inputs = directions * units
    return total


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_classifier_counts_and_padding(cell, bidirectional):
    model = BUILDERS.get(cell)(**dict(TINY_RNN, num_layers=2, bidirectional=bidirectional))
    top = (8 * (2 if bidirectional else 1) + 1) * 3
    assert model.count_params() == V * 8 + recurrent_params(cell, 8, 8, 2, bidirectional) + top
    names = [layer.name for layer in model.layers]
    assert f"{cell}2_bidirectional" in names if bidirectional else f"{cell}2" in names
    # Padding (id 0) is masked: a padded sequence scores as the unpadded one.
    ids = np.array([[5, 9, 3, 7, 2]], dtype="int32")
    padded = np.concatenate([ids, np.zeros((1, 3), "int32")], axis=1)
    np.testing.assert_allclose(as_numpy(model(padded)), as_numpy(model(ids)), atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mean_pooled_classifier_averages_the_real_tokens_only(bidirectional):
    model = BUILDERS.get("lstm")(**dict(TINY_RNN, bidirectional=bidirectional, pooling="mean"))
    assert model.count_params() == BUILDERS.get("lstm")(**dict(TINY_RNN, bidirectional=bidirectional)).count_params()
    ids = np.array([[5, 9, 3, 7, 2]], dtype="int32")
    padded = np.concatenate([ids, np.zeros((1, 3), "int32")], axis=1)
    np.testing.assert_allclose(as_numpy(model(padded)), as_numpy(model(ids)), atol=1e-6)
    # The head reads the mean of the last layer's outputs over the 5 tokens.
    recurrent = model.get_layer("lstm1_bidirectional" if bidirectional else "lstm1")
    outputs = as_numpy(recurrent(model.get_layer("embedding")(ids)))
    features = as_numpy(model.get_layer("mean_pool")(recurrent(model.get_layer("embedding")(padded),
                                                            mask=padded != 0), mask=padded != 0))
    np.testing.assert_allclose(features, outputs.mean(axis=1), atol=1e-6)


def test_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="pooling"):
        BUILDERS.get("lstm")(pooling="max")
    with pytest.raises(ValueError, match="task"):
        BUILDERS.get("lstm")(task="translate")
    with pytest.raises(KerarchError, match="Did you mean: base"):
        BUILDERS.get("bert")(config="bse")
    with pytest.raises(KerarchError, match="gpt2_small"):
        BUILDERS.get("gpt")(config="gpt2-small")
    with pytest.raises(ValueError, match="divisible"):
        BUILDERS.get("transformer")(hidden_dim=10, num_heads=4, num_layers=1)


# --- exact parameter counts ---------------------------------------------------------------

# keras-hub's BertBackbone / DistilBertBackbone / GPT2Backbone counts for the same configs
# (the preset metadata numbers; GPT-1 as HF's openai-gpt; the Transformer base config with a
# 37,000-token shared vocabulary). Each model is built once, for count_params only.
BIG = [
    ("bert", dict(config="tiny"), 4_385_920),
    ("bert", dict(config="mini"), 11_170_560),
    ("bert", dict(config="small"), 28_763_648),
    ("bert", dict(config="medium"), 41_373_184),
    ("bert", dict(config="base"), 109_482_240),
    ("bert", dict(config="large"), 335_141_888),
    ("distilbert", dict(), 66_362_880),
    ("gpt", dict(config="gpt1"), 116_534_784),
    ("gpt", dict(config="gpt2_small"), 124_439_808),
    ("gpt", dict(config="gpt2_medium"), 354_823_168),
    ("transformer", dict(), 63_082_496),
]


def constant_initializers(monkeypatch):
    """Random initializers made constant: counts do not depend on values, and drawing
    300M random numbers dominates building the big configs (bert large: 28 s -> 6 s)."""

    def zeros(self, shape, dtype=None):
        return keras.ops.zeros(shape, dtype=dtype or "float32")

    for cls in (keras.initializers.RandomNormal, keras.initializers.TruncatedNormal,
                keras.initializers.RandomUniform, keras.initializers.VarianceScaling):
        monkeypatch.setattr(cls, "__call__", zeros)


@pytest.mark.parametrize("name, kwargs, params", BIG, ids=[f"{n}-{k.get('config', 'default')}" for n, k, _ in BIG])
def test_reference_parameter_counts(name, kwargs, params, monkeypatch):
    constant_initializers(monkeypatch)
    assert BUILDERS.get(name)(**kwargs).count_params() == params


def tiny_hub(kind):
    """A randomly initialised keras-hub backbone with the tiny test sizes."""
    dims = dict(TINY_TRANSFORMER, vocabulary_size=V)
    return {
        "bert": keras_hub.models.BertBackbone,
        "distilbert": keras_hub.models.DistilBertBackbone,
        "gpt": keras_hub.models.GPT2Backbone,
    }[kind](**dims)


@pytest.mark.parametrize("kind", ["bert", "distilbert", "gpt"])
def test_layout_equals_keras_hub_backbone(kind, monkeypatch):
    """Preset loading path, offline: keras-hub's weights copied in give keras-hub's outputs."""
    hub = tiny_hub(kind)
    backbone_class = type(hub)
    monkeypatch.setattr(backbone_class, "from_preset", classmethod(lambda cls, preset: hub))
    model = BUILDERS.get(kind)(pretrained="any_preset", dropout=0.0)
    assert model.count_params() == hub.count_params()
    inputs = token_inputs(model)
    hub_inputs = {k: inputs[k] for k in hub.input}
    ours, theirs = as_numpy(model(inputs)), as_numpy(hub(hub_inputs))
    if kind == "gpt":  # ours ends in the tied projection
        embedding = keras.ops.convert_to_numpy(hub.token_embedding.embeddings)
        theirs = theirs @ embedding.T
    assert_outputs_close(ours, theirs, atol=1e-4)


def test_bert_heads_match_keras_hub():
    hub = tiny_hub("bert")
    hub_mlm = keras_hub.models.BertMaskedLM(backbone=hub, preprocessor=None)
    model = BUILDERS.get("bert_pretraining")(**dict(TINY_BERT, dropout=0.0))
    assert model.count_params() == hub_mlm.count_params() + 2 * 16 + 2  # + the NSP head
    for layer in hub.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    head = hub_mlm.get_layer("mlm_head")
    model.get_layer("mlm_dense").set_weights(head._intermediate_dense.get_weights())
    model.get_layer("mlm_layer_norm").set_weights(head._intermediate_layer_norm.get_weights())
    model.get_layer("mlm_bias").set_weights([keras.ops.convert_to_numpy(head._bias)[None]])  # one-row Embedding
    inputs = token_inputs(model)
    assert_outputs_close(as_numpy(model(inputs))["mlm_logits"], as_numpy(hub_mlm(inputs)), atol=1e-4)
    classifier = BUILDERS.get("bert_classifier")(**dict(TINY_BERT, num_classes=3))
    assert classifier.count_params() == hub.count_params() + 17 * 3


def test_pretrained_unreachable_raises_kerarch_error(monkeypatch):
    def offline(cls, preset):
        raise OSError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.GPT2Backbone, "from_preset", classmethod(offline))
    with pytest.raises(KerarchError, match="gpt2_base_en.*reachable"):
        BUILDERS.get("gpt")(pretrained="gpt2_base_en")


def test_pretrained_bert_tiny_preset():
    """The real preset: offline a KerarchError, online keras-hub's weights."""
    try:
        model = BUILDERS.get("bert")(pretrained="bert_tiny_en_uncased")
    except KerarchError as error:
        assert "bert_tiny_en_uncased" in str(error) and "pretrained=None" in str(error)
    else:
        assert model.count_params() == 4_385_920


def test_pretrained_architecture_clash(monkeypatch):
    hub = tiny_hub("bert")
    monkeypatch.setattr(keras_hub.models.BertBackbone, "from_preset", classmethod(lambda cls, preset: hub))
    with pytest.raises(KerarchError, match="hidden_dim=32"):
        BUILDERS.get("bert")(pretrained="p", hidden_dim=32)


# --- masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bert", "distilbert"])
def test_padding_does_not_change_real_positions(name):
    kwargs = TINY_BERT if name == "bert" else dict(TINY_TRANSFORMER, vocabulary_size=V)
    model = BUILDERS.get(name)(**kwargs)
    inputs = token_inputs(model)
    changed = dict(inputs, token_ids=inputs["token_ids"].copy())
    changed["token_ids"][1, -2:] = [7, 11]  # different tokens at row 1's padded positions
    before, after = as_numpy(model(inputs)), as_numpy(model(changed))
    if name == "bert":
        np.testing.assert_allclose(before["pooled_output"], after["pooled_output"], atol=1e-5)
        before, after = before["sequence_output"], after["sequence_output"]
    np.testing.assert_allclose(before[:, :-2], after[:, :-2], atol=1e-5)
    np.testing.assert_allclose(before[0], after[0], atol=1e-5)  # row 0 untouched


def test_gpt_is_causal():
    model = BUILDERS.get("gpt")(**dict(TINY_TRANSFORMER, vocabulary_size=V))
    inputs = token_inputs(model)
    inputs["padding_mask"][:] = 1
    changed = dict(inputs, token_ids=inputs["token_ids"].copy())
    changed["token_ids"][:, 5:] = 1  # the future after t = 4
    before, after = as_numpy(model(inputs)), as_numpy(model(changed))
    np.testing.assert_allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert np.abs(before[:, 5:] - after[:, 5:]).max() > 1e-4


def test_transformer_masks():
    model = BUILDERS.get("transformer")(**dict(TINY_TRANSFORMER, vocabulary_size=V))
    inputs = token_inputs(model)
    before = as_numpy(model(inputs))
    # Padded source tokens are invisible to the whole decoder ...
    changed = dict(inputs, encoder_token_ids=inputs["encoder_token_ids"].copy())
    changed["encoder_token_ids"][1, -2:] = [3, 4]
    np.testing.assert_allclose(as_numpy(model(changed))[1], before[1], atol=1e-5)
    # ... and the decoder is causal.
    changed = dict(inputs, decoder_token_ids=inputs["decoder_token_ids"].copy())
    changed["decoder_token_ids"][:, 4:] = 1
    np.testing.assert_allclose(as_numpy(model(changed))[:, :4], before[:, :4], atol=1e-5)


def test_scaled_dot_product_attention_matches_naive():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 5, 2, 4)).astype("float32") for _ in range(3))
    keep = np.ones((2, 5), bool)
    keep[1, 3:] = False

    def naive(mask):
        scores = np.einsum("btnh,bsnh->bnts", q, k) / 2.0  # sqrt(4)
        scores = np.where(mask, scores, -1e9)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        return np.einsum("bnts,bsnh->btnh", weights, v)

    causal = np.tril(np.ones((5, 5), bool))[None, None]
    padding = keep[:, None, None, :]
    cases = [(dict(), np.ones((1, 1, 5, 5), bool)), (dict(causal=True), causal),
             (dict(key_padding_mask=keep), padding), (dict(key_padding_mask=keep, causal=True), padding & causal)]
    for kwargs, mask in cases:
        out = keras.ops.convert_to_numpy(attention.scaled_dot_product_attention(q, k, v, **kwargs))
        np.testing.assert_allclose(out, naive(mask), atol=1e-5, err_msg=str(kwargs))
    step = keras.ops.convert_to_numpy(attention.causal_mask(1, 5, start_index=2))
    np.testing.assert_array_equal(step, [[True, True, True, False, False]])


# --- decoding -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_gpt():
    keras.utils.set_random_seed(1)
    # Larger embeddings than GPT-2's init so greedy choices are not near-ties.
    model = BUILDERS.get("gpt")(**dict(TINY_TRANSFORMER, vocabulary_size=V, max_sequence_length=24, dropout=0.0))
    embedding = model.get_layer("token_embedding")
    embedding.embeddings.assign(embedding.embeddings * 100)
    return model


@pytest.fixture(scope="module")
def tiny_transformer():
    keras.utils.set_random_seed(2)
    return BUILDERS.get("transformer")(**dict(TINY_TRANSFORMER, vocabulary_size=V, dropout=0.0))


PROMPTS = np.array([[5, 17, 3, 9], [22, 8, 41, 2]], dtype="int32")
SOURCES = np.array([[5, 17, 3, 9, 12, 30], [22, 8, 41, 0, 0, 0]], dtype="int32")


def test_kv_cache_logits_equal_full_forward(tiny_gpt):
    lay = generation.layers_by_name(tiny_gpt)
    ids = np.random.default_rng(3).integers(1, V, size=(2, 10)).astype("int32")
    full = as_numpy(tiny_gpt({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
    cache = keras.ops.zeros((2, 2, 2, 10, 2, 8))
    for t in range(10):  # one token per step, each reading the cache
        logits, _, cache = gpt_graph.forward(lay, ids[:, t : t + 1], cache=cache, cache_update_index=t)
        np.testing.assert_allclose(as_numpy(logits)[:, 0], full[:, t], atol=1e-4)


def test_kv_cache_greedy_tokens_equal_uncached(tiny_gpt, monkeypatch):
    steps = []
    forward = gpt_graph.forward

    def spy(lay, token_ids, **kwargs):
        steps.append(token_ids.shape[1])
        return forward(lay, token_ids, **kwargs)

    monkeypatch.setattr(generation.gpt_graph, "forward", spy)
    cached = generation.greedy_decode(tiny_gpt, PROMPTS, 8, compiled=False)
    assert steps == [12] + [1] * 8  # one pass to seed the cache, then one token per step
    uncached = generation.greedy_decode(tiny_gpt, PROMPTS, 8, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :4], PROMPTS)
    assert cached.shape == (2, 12)


def test_sampling_options(tiny_gpt):
    greedy = generation.greedy_decode(tiny_gpt, PROMPTS, 4)
    np.testing.assert_array_equal(generation.generate(tiny_gpt, PROMPTS, 4, temperature=0), greedy)
    np.testing.assert_array_equal(generation.generate(tiny_gpt, PROMPTS, 4, top_k=1, seed=0), greedy)
    np.testing.assert_array_equal(generation.generate(tiny_gpt, PROMPTS, 4, top_p=1e-6, seed=0), greedy)
    first = generation.generate(tiny_gpt, PROMPTS, 4, temperature=1.5, top_k=10, seed=7)
    np.testing.assert_array_equal(generation.generate(tiny_gpt, PROMPTS, 4, temperature=1.5, top_k=10, seed=7), first)
    nucleus = generation.generate(tiny_gpt, PROMPTS, 4, top_p=0.9, seed=7, use_cache=False)
    assert nucleus.shape == (2, 8) and nucleus.min() >= 0 and nucleus.max() < V
    with pytest.raises(KerarchError, match="top_p"):
        generation.generate(tiny_gpt, PROMPTS, 2, top_p=1.5)


def test_ragged_prompts_stop_tokens_and_length_limit(tiny_gpt):
    out = generation.generate(tiny_gpt, [[5, 17, 3], [22]], 4, temperature=0)
    assert out.shape == (2, 7)
    np.testing.assert_array_equal(out[0, :3], [5, 17, 3])
    assert out[1, 0] == 22
    greedy = generation.greedy_decode(tiny_gpt, PROMPTS, 6)
    stop = int(greedy[0, 5])  # row 0's second generated token
    first = 4 + int(np.argmax(greedy[0, 4:] == stop))  # its first generated occurrence
    stopped = generation.greedy_decode(tiny_gpt, PROMPTS, 6, stop_token_ids=[stop])
    np.testing.assert_array_equal(stopped[0, : first + 1], greedy[0, : first + 1])
    assert (stopped[0, first + 1 :] == 0).all()
    with pytest.raises(KerarchError, match="learned positions stop at 24"):
        generation.generate(tiny_gpt, PROMPTS, 30)


def test_gpt_beam_search_beats_greedy(tiny_gpt):
    greedy = generation.greedy_decode(tiny_gpt, PROMPTS, 6)
    beams, scores = generation.beam_search(tiny_gpt, PROMPTS, 6, num_beams=4, return_scores=True)
    greedy_score = generation.sequence_log_probs(tiny_gpt, greedy, start_index=4)
    beam_score = generation.sequence_log_probs(tiny_gpt, beams, start_index=4)
    np.testing.assert_allclose(beam_score, scores, atol=1e-3)
    assert np.all(beam_score >= greedy_score - 1e-4)
    np.testing.assert_array_equal(generation.beam_search(tiny_gpt, PROMPTS, 6, num_beams=1), greedy)


def test_compiled_decoding_returns_the_eager_tokens(tiny_gpt, tiny_transformer):
    both = lambda decode, *args, **kwargs: [decode(*args, **kwargs, compiled=c) for c in (True, False)]
    for compiled, eager in (
        both(generation.greedy_decode, tiny_gpt, PROMPTS, 8),
        both(generation.greedy_decode, tiny_gpt, PROMPTS, 8, use_cache=False),
        both(generation.generate, tiny_gpt, [[5, 17, 3], [22]], 6, temperature=0),
        both(generation.greedy_decode, tiny_gpt, PROMPTS, 6, stop_token_ids=[9, 2]),
        both(generation.beam_search, tiny_gpt, PROMPTS, 6, num_beams=3),
        both(generation.greedy_decode, tiny_transformer, SOURCES, 7, start_token_id=1),
        both(generation.beam_search, tiny_transformer, SOURCES, 7, start_token_id=1, num_beams=3),
    ):
        np.testing.assert_array_equal(compiled, eager)
    (_, compiled), (_, eager) = both(generation.beam_search, tiny_gpt, PROMPTS, 6, num_beams=3, return_scores=True)
    np.testing.assert_allclose(compiled, eager, atol=1e-4)


def test_compiled_decoder_is_traced_once_per_shape_and_reused(monkeypatch):
    keras.utils.set_random_seed(4)  # small random weights: sampling is really random
    model = BUILDERS.get("gpt")(**dict(TINY_TRANSFORMER, vocabulary_size=V, max_sequence_length=24, dropout=0.0))
    forward, traced = gpt_graph.forward, []

    def counting(lay, token_ids, **kwargs):
        traced.append(token_ids.shape[1])
        return forward(lay, token_ids, **kwargs)

    monkeypatch.setattr(generation.gpt_graph, "forward", counting)
    first = generation.generate(model, PROMPTS, 8, seed=1)
    traces = len(traced)
    assert traces >= 2  # the cache-seeding pass and the loop body, traced
    np.testing.assert_array_equal(generation.generate(model, PROMPTS, 8, seed=1), first)  # reseeded, reused
    other_seed = generation.generate(model, PROMPTS, 8, seed=2)
    assert len(traced) == traces and not np.array_equal(other_seed, first)
    generation.generate(model, PROMPTS, 5, seed=1)  # a new shape: one more trace
    assert len(traced) > traces


def test_transformer_decoding(tiny_transformer):
    cached = generation.greedy_decode(tiny_transformer, SOURCES, 7, start_token_id=1)
    uncached = generation.greedy_decode(tiny_transformer, SOURCES, 7, start_token_id=1, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)
    assert cached.shape == (2, 8) and (cached[:, 0] == 1).all()
    beams = generation.beam_search(tiny_transformer, SOURCES, 7, start_token_id=1, num_beams=3)
    score = lambda ids: generation.sequence_log_probs(tiny_transformer, ids, start_index=1, source_ids=SOURCES)
    assert np.all(score(beams) >= score(cached) - 1e-4)
    with pytest.raises(KerarchError, match="start_token_id"):
        generation.greedy_decode(tiny_transformer, SOURCES, 3)


# --- export ---------------------------------------------------------------------------------


def test_lstm_saved_model_and_tflite(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from ai_edge_litert.interpreter import Interpreter

    model = BUILDERS.get("lstm")(**dict(TINY_RNN, num_layers=2, sequence_length=8))
    ids = token_inputs(model)
    expected = as_numpy(model(ids))
    model.export(tmp_path / "dynamic", format="tf_saved_model", verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "dynamic"))
    np.testing.assert_allclose(restored.serve(ids).numpy(), expected, atol=1e-5)
    # Converter limitation: a stacked, masked LSTM keeps a TensorList whose element shape
    # depends on the batch size, so the dynamic-batch SavedModel does not lower to TFLite
    # builtins (the converter suggests SELECT_TF_OPS, which the plain interpreter lacks).
    with pytest.raises(Exception, match="TensorListReserve"):
        tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "dynamic")).convert()
    # With a static batch size it converts to builtin ops.
    signature = [tf.TensorSpec((1, 8), tf.int32, name="token_ids")]
    model.export(tmp_path / "static", format="tf_saved_model", verbose=False, input_signature=signature)
    runner = Interpreter(
        model_content=tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "static")).convert()
    ).get_signature_runner()
    for row in range(2):
        (output,) = runner(token_ids=ids[row : row + 1]).values()
        np.testing.assert_allclose(output, expected[row : row + 1], atol=1e-5)


def test_bert_saved_model_and_tflite(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from ai_edge_litert.interpreter import Interpreter

    model = BUILDERS.get("bert")(**TINY_BERT)
    inputs = token_inputs(model)
    expected = as_numpy(model(inputs))
    model.export(tmp_path / "bert", format="tf_saved_model", verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "bert"))
    assert_outputs_close({k: v.numpy() for k, v in restored.serve(inputs).items()}, expected)
    # Dynamic batch and length convert as they are.
    runner = Interpreter(
        model_content=tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "bert")).convert()
    ).get_signature_runner()
    assert_outputs_close(runner(**inputs), expected, atol=1e-4)


# --- JAX ------------------------------------------------------------------------------------

JAX_SCRIPT = r"""
import sys
import numpy as np
import keras
assert keras.config.backend() == "jax"
# XLA compiles one random-number kernel per weight shape (most of a minute for these
# models); NumPy draws the initial weights instead, the forward passes run in JAX.
rng = np.random.default_rng(0)
def numpy_init(self, shape, dtype=None):
    return keras.ops.convert_to_tensor(rng.normal(0.0, 0.05, size=shape).astype(dtype or "float32"))
for cls in (keras.initializers.RandomNormal, keras.initializers.TruncatedNormal, keras.initializers.RandomUniform,
            keras.initializers.VarianceScaling, keras.initializers.Orthogonal):
    cls.__call__ = numpy_init
sys.path.insert(0, sys.argv[1])
from test_sequence_builders import TINY, PROMPTS, token_inputs
from kerarch.registry import BUILDERS
from kerarch.sequence import generation
for name, kwargs, expected in TINY:
    model = BUILDERS.get(name)(**kwargs)
    outputs = model(token_inputs(model), training=False)
    shapes = ({k: tuple(v.shape[1:]) for k, v in outputs.items()} if isinstance(outputs, dict)
              else tuple(outputs.shape[1:]))
    assert shapes == expected, (name, shapes, expected)
    print("ok", name)
forecaster = BUILDERS.get("lstm")(task="forecast", input_shape=(12, 3), units=8, horizon=4)
assert forecaster(np.zeros((2, 12, 3), "float32")).shape == (2, 4, 3)
gpt = BUILDERS.get("gpt")(**dict(TINY[-2][1], dropout=0.0))
cached = generation.greedy_decode(gpt, PROMPTS, 3)
np.testing.assert_array_equal(cached, generation.greedy_decode(gpt, PROMPTS, 3, use_cache=False))
# jax.jit and op by op draw the same random numbers
np.testing.assert_array_equal(*[generation.generate(gpt, PROMPTS, 6, temperature=1.5, top_k=20, seed=3, compiled=c)
                                for c in (True, False)])
np.testing.assert_array_equal(generation.beam_search(gpt, PROMPTS, 4, num_beams=2),
                              generation.beam_search(gpt, PROMPTS, 4, num_beams=2, compiled=False))
print("ok generation")
"""


@pytest.fixture(scope="module", autouse=True)
def jax_run(request):
    """Starts the JAX subprocess with the module, so it overlaps the TensorFlow tests."""
    if not any(item.name == "test_forward_pass_of_every_builder_under_jax" for item in request.session.items):
        yield None
        return
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", JAX_SCRIPT, str(Path(__file__).parent)], env=env, stdout=log, stderr=log, text=True
        )
        yield process, log
        if process.poll() is None:
            process.kill()
            process.wait()


def test_forward_pass_of_every_builder_under_jax(jax_run):
    """Every builder (tiny) runs forwards under KERAS_BACKEND=jax; cached decoding too."""
    process, log = jax_run
    returncode = process.wait(timeout=300)
    log.seek(0)
    output = log.read()
    assert returncode == 0, output[-4000:]
    assert output.count("ok ") == len(TINY) + 1, output[-4000:]

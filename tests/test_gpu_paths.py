"""The accelerator benchmark's harness and the GPU attention route recommended for GPT, checked on the CPU.

Both run under JAX in one fresh process (tiny shapes, a few seconds):

- `benchmarks/accelerator_builders.py` builds every model in the precision it
  was asked for. `keras.backend.clear_session()` resets the global dtype
  policy to float32, and the harness called it after setting the policy, so
  the H100 figures of 2026-11-23 labelled mixed_bfloat16 were float32.
- The GPT forward pass with causal attention through
  `keras.ops.dot_product_attention(is_causal=True)` (no mask: what cuDNN's
  causal flash kernel takes) and one fused QKV product, using the builder's
  own weights, gives the builder's logits (benchmarks/reference/gpu_causes.md):
  exactly the same weights, the same outputs up to float rounding, and with
  right padding the same outputs at every real token.
"""

from pathlib import Path

from builder_checks import run_script

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = r"""
import json, sys
import numpy as np
import keras
from keras import ops
assert keras.backend.backend() == "jax", keras.backend.backend()
sys.path.insert(0, "benchmarks")
import accelerator_builders
import kerarch

results = {}

# 1. The harness: the policy survives clear_session(), and a step really ran.
accelerator_builders.CASES["tiny"] = ("lenet5", {}, 8, None)
for precision in ("mixed_bfloat16", "float32"):
    row = accelerator_builders.measure("tiny", precision=precision, steps=1, epochs=3, inputs_on="host",
                                       rng=np.random.default_rng(0))
    results[precision] = {"dtypes": row["compute_dtypes"], "losses": row["epoch_loss"]}

# 2. GPT: fused-QKV causal attention on the builder's weights vs the builder.
keras.backend.clear_session()
keras.mixed_precision.set_dtype_policy("float32")
model = kerarch.build("gpt", vocabulary_size=97, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
                      max_sequence_length=12, dropout=0.0)
weights_before = [w.copy() for w in model.get_weights()]
layer = {l.name: l for l in model.layers}


def causal_forward(token_ids):
    x = layer["token_embedding"](token_ids)
    x = x + layer["position_embedding"](x)
    i = 0
    while f"transformer_layer_{i}" in layer:
        block = layer[f"transformer_layer_{i}"]
        attention = block._self_attention_layer
        h = block._self_attention_layer_norm(x)
        dense = (attention._query_dense, attention._key_dense, attention._value_dense)
        kernel = ops.concatenate([d.kernel for d in dense], axis=1)  # (D, 3N, D/N)
        bias = ops.concatenate([d.bias for d in dense], axis=0)  # (3N, D/N)
        q, k, v = ops.split(ops.einsum("btd,dnh->btnh", h, kernel) + bias, 3, axis=2)
        scale = 1.0 / float(q.shape[-1]) ** 0.5
        y = ops.dot_product_attention(q, k, v, is_causal=True, scale=scale)
        x = x + attention._output_dense(y)
        h = block._feedforward_layer_norm(x)
        x = x + block._feedforward_output_dense(block._feedforward_intermediate_dense(h))
        i += 1
    x = layer["layer_norm"](x)
    return layer["token_embedding"](x, reverse=True)


rng = np.random.default_rng(0)
ids = rng.integers(1, 97, (3, 12)).astype("int32")
ones = np.ones_like(ids)
builder = np.asarray(model({"token_ids": ids, "padding_mask": ones}))
causal = np.asarray(causal_forward(ids))
results["all_real_max_abs_diff"] = float(np.max(np.abs(builder - causal)))
results["logit_scale"] = float(np.max(np.abs(builder)))
right_padded = ones.copy()
right_padded[:, 7:] = 0  # tokens 7.. are padding
padded = np.asarray(model({"token_ids": ids, "padding_mask": right_padded}))
results["right_padded_real_tokens_max_abs_diff"] = float(np.max(np.abs(padded[:, :7] - causal[:, :7])))
results["weights_unchanged"] = all(np.array_equal(a, b) for a, b in zip(weights_before, model.get_weights()))
print("RESULTS " + json.dumps(results))
"""


def test_harness_precision_and_gpt_causal_route():
    results = run_script(_SCRIPT, [], timeout=300, cwd=str(ROOT), KERAS_BACKEND="jax")
    assert results["mixed_bfloat16"]["dtypes"] == ["bfloat16"], results
    assert results["float32"]["dtypes"] == ["float32"], results
    for precision in ("mixed_bfloat16", "float32"):
        losses = results[precision]["losses"]
        assert len(losses) == 3 and all(loss == loss for loss in losses), results  # three epochs, no NaN
    assert results["logit_scale"] > 1e-3, results  # the comparison is not between zeros
    assert results["all_real_max_abs_diff"] < 1e-5, results
    assert results["right_padded_real_tokens_max_abs_diff"] < 1e-5, results
    assert results["weights_unchanged"], results

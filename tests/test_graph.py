"""Graph layers against hand computations and the graph builders (the datasets: tests/test_data_graphs.py)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerarch
from kerarch.graph import GATConv, GCNConv, GraphMeanPooling, SAGEConv
from kerarch.graph.layers import segment_softmax

# A path 0 - 1 - 2 - 3, both directions of each edge.
PATH_EDGES = np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]], np.int32)


def _features(nodes, width, seed=0):
    return np.random.default_rng(seed).normal(size=(nodes, width)).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_gcn_matches_the_normalised_adjacency_formula():
    x = _features(4, 3)
    layer = GCNConv(2, bias_initializer="ones")
    out = _numpy(layer([x, PATH_EDGES]))
    adjacency = np.eye(4)
    adjacency[PATH_EDGES[1], PATH_EDGES[0]] = 1.0  # A + I
    inv_sqrt = np.diag(1.0 / np.sqrt(adjacency.sum(axis=1)))  # degrees 2, 3, 3, 2
    expected = inv_sqrt @ adjacency @ inv_sqrt @ x @ _numpy(layer.kernel) + 1.0
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # Node 0: itself with weight 1/2, node 1 with 1/sqrt(2 * 3).
    hand = (x[0] / 2 + x[1] / np.sqrt(6)) @ _numpy(layer.kernel) + 1.0
    np.testing.assert_allclose(out[0], hand, rtol=1e-5)


def test_sage_adds_the_mean_of_in_neighbours_and_leaves_sources_alone():
    x = _features(4, 3)
    edges = np.array([[1, 2, 3, 0], [0, 0, 0, 1]], np.int32)  # 1, 2, 3 -> 0 and 0 -> 1; nothing into 2 and 3
    layer = SAGEConv(2, activation="relu", use_bias=False)
    out = _numpy(layer([x, edges]))
    w_self, w_neigh = _numpy(layer.self_kernel), _numpy(layer.neighbor_kernel)
    expected = np.stack([
        x[0] @ w_self + x[1:].mean(axis=0) @ w_neigh,
        x[1] @ w_self + x[0] @ w_neigh,
        x[2] @ w_self,  # no in-neighbours: zero mean
        x[3] @ w_self,
    ])
    np.testing.assert_allclose(out, np.maximum(expected, 0.0), rtol=1e-5, atol=1e-6)
    normalized = _numpy(SAGEConv(3, normalize=True)([x, edges]))
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, rtol=1e-5)


def _leaky_relu(x, slope=0.2):
    x = np.asarray(x)
    return np.where(x > 0, x, slope * x)


def test_gat_attention_is_a_softmax_over_in_edges_and_self():
    x = _features(3, 4)
    edges = np.array([[1, 2, 0], [0, 0, 1]], np.int32)  # 1 -> 0, 2 -> 0, 0 -> 1
    layer = GATConv(2, heads=2)
    out, attention = layer([x, edges], return_attention_scores=True)
    out, attention = _numpy(out), _numpy(attention)
    assert attention.shape == (3 + 3, 2)  # 3 edges, then the self loops of nodes 0, 1, 2
    source = np.array([1, 2, 0, 0, 1, 2])
    target = np.array([0, 0, 1, 0, 1, 2])
    for node in range(3):
        np.testing.assert_allclose(attention[target == node].sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(attention[5], 1.0)  # node 2 hears only itself

    h = (x @ _numpy(layer.kernel)).reshape(3, 2, 2)  # (N, heads, units)
    a_source, a_target = _numpy(layer.attention_source), _numpy(layer.attention_target)
    expected_out = np.zeros((3, 2, 2))
    for head in range(2):
        # Node 0 hears 1, 2 and itself: softmax of LeakyReLU(a_t . h_0 + a_s . h_j).
        logits = _leaky_relu([a_target[head] @ h[0, head] + a_source[head] @ h[j, head] for j in (1, 2, 0)])
        alpha = np.exp(logits) / np.exp(logits).sum()
        np.testing.assert_allclose(attention[[0, 1, 3], head], alpha, rtol=1e-5)
        for e in range(6):
            expected_out[target[e], head] += attention[e, head] * h[source[e], head]
    np.testing.assert_allclose(out, expected_out.reshape(3, 4), rtol=1e-5, atol=1e-6)

    averaged = GATConv(2, heads=3, concat=False)
    assert _numpy(averaged([x, edges])).shape == (3, 2)


def test_segment_softmax_survives_large_logits():
    logits = np.array([[1000.0], [1001.0], [-5.0]], np.float32)
    out = _numpy(segment_softmax(logits, np.array([0, 0, 1], np.int32), 2))
    np.testing.assert_allclose(out[:, 0], [1 / (1 + np.e), np.e / (1 + np.e), 1.0], rtol=1e-6)


def test_graph_mean_pooling_averages_per_graph():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]], np.float32)
    out = _numpy(GraphMeanPooling()([x, np.array([0, 0, 1], np.int32)]))
    np.testing.assert_allclose(out, [[2.0, 3.0], [10.0, 0.0]])


# name -> (kwargs, exact parameter count)
BUILDER_CASES = {
    "gcn": (dict(num_features=5, num_classes=3, hidden_units=(4,)), (5 * 4 + 4) + (4 * 3 + 3)),
    "graphsage": (dict(num_features=5, num_classes=3, hidden_units=(4,)), (2 * 5 * 4 + 4) + (2 * 4 * 3 + 3)),
    # hidden: kernel 5 x (2 heads * 4) + 2 attention vectors (2, 4) + bias 8; output: 8 x 3 + 2 x (1, 3) + bias 3
    "gat": (dict(num_features=5, num_classes=3, hidden_units=(4,), heads=2), (5 * 8 + 2 * 8 + 8) + (8 * 3 + 2 * 3 + 3)),
    "gcn_graph_classifier": (dict(num_features=5, num_classes=3, hidden_units=(4, 4)),
                             (5 * 4 + 4) + (4 * 4 + 4) + (4 * 3 + 3)),
}


@pytest.mark.parametrize("name", sorted(BUILDER_CASES))
def test_builder_shapes_params_and_keras_round_trip(name, tmp_path):
    kwargs, params = BUILDER_CASES[name]
    model = kerarch.build(name, **kwargs)
    assert model.name == name and model.count_params() == params
    inputs = [_features(4, 5), PATH_EDGES]
    rows = 4
    if name == "gcn_graph_classifier":
        inputs.append(np.array([0, 0, 1, 1], np.int32))
        rows = 2
    out = _numpy(model(inputs, training=False))
    assert out.shape == (rows, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(_numpy(restored(inputs, training=False)), out, rtol=1e-5, atol=1e-6)
    assert model.__class__.from_config(model.get_config()).count_params() == params


def test_graph_sizes_may_change_between_calls():
    model = kerarch.build("gcn", num_features=5, num_classes=3, hidden_units=(4,))
    assert _numpy(model([_features(4, 5), PATH_EDGES])).shape == (4, 3)
    ring = np.array([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]], np.int32)
    assert _numpy(model([_features(6, 5), ring])).shape == (6, 3)


def test_l2_applies_to_the_first_layer_only():
    model = kerarch.build("gcn", num_features=5, num_classes=3, hidden_units=(4, 4), l2=5e-4)
    model([_features(4, 5), PATH_EDGES])
    assert len(model.losses) == 1
    kernel = _numpy(model.get_layer("gcn1").kernel)
    np.testing.assert_allclose(_numpy(model.losses[0]), 5e-4 * np.sum(kernel**2), rtol=1e-5)


# --- the JAX backend -----------------------------------------------------------------

_JAX_SCRIPT = r"""
import json
import numpy as np
import jax
import keras
assert keras.backend.backend() == "jax"
import kerarch

edges = np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]], np.int32)
x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
results = {}
for name in ("gcn", "graphsage", "gat"):
    model = kerarch.build(name, num_features=5, num_classes=3, hidden_units=(4,))
    forward = jax.jit(lambda t, n, inputs: model.stateless_call(t, n, inputs, training=False)[0])
    variables = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
    jitted = np.asarray(forward(*variables, [x, edges]))
    eager = np.asarray(model([x, edges]))
    results[name] = [list(jitted.shape), float(np.abs(jitted - eager).max()), float(jitted.sum())]
print("RESULTS " + json.dumps(results))
"""


@pytest.mark.slow
def test_node_classifiers_run_jitted_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
               XLA_FLAGS="--xla_backend_optimization_level=0")
    proc = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS "))[8:])
    for name, (shape, difference, total) in results.items():
        assert shape == [4, 3] and difference < 1e-5 and abs(total - 4.0) < 1e-4, name

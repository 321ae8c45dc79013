"""Graph neural network builders: node classification (GCN, GraphSAGE, GAT) and graph classification.

Batching convention. A node-classification model takes one whole graph as
its input, and the node axis is Keras's batch axis:

    features    keras.Input(shape=(F,))                          -> (N, F)
    edge_index  keras.Input(batch_shape=(2, None), dtype=int32)  -> (2, E)
    output      (N, num_classes), one row per node

so N and E may change from call to call, but the two inputs are not cut
into batches together: call the model on the whole graph
(`model([features, edge_index])`), or `fit` it on a tf.data dataset whose
one element is the whole graph, with the labelled nodes picked out by
sample weights (see `kerarch.data.graphs.node_dataset`). Plain
`model.fit(x=[features, edge_index], ...)` with arrays does not work: Keras
would try to slice the (2, E) edge index along with the nodes.

The graph classifier takes many small graphs joined into one disjoint graph,
plus `graph_ids` (N,) numbering each node's graph, and outputs one row per
graph.
"""

import keras
from keras import layers

from kerarch.graph.layers import GATConv, GCNConv, GraphMeanPooling, SAGEConv
from kerarch.registry import register_builder


def graph_inputs(num_features):
    """The two inputs of a graph model: node features (N, F) and the edge index (2, E)."""
    features = keras.Input(shape=(num_features,), name="features")
    edge_index = keras.Input(batch_shape=(2, None), dtype="int32", name="edge_index")
    return features, edge_index


def _stack(features, edge_index, make_layer, widths, *, dropout, l2, prefix):
    """Dropout then a graph convolution, per width; an `l2` regulariser on the first layer's kernel only."""
    x = features
    for i, width in enumerate(widths, start=1):
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
        regularizer = keras.regularizers.L2(l2) if i == 1 and l2 else None
        last = i == len(widths)
        x = make_layer(width, last=last, kernel_regularizer=regularizer, name=f"{prefix}{i}")([x, edge_index])
    return x


def _node_classifier(make_layer, *, num_features, num_classes, hidden_units, dropout, l2,
                     output_activation, prefix, name):
    features, edge_index = graph_inputs(num_features)
    x = _stack(features, edge_index, make_layer, (*hidden_units, num_classes), dropout=dropout,
               l2=l2, prefix=prefix)
    outputs = layers.Activation(output_activation, name="predictions")(x)
    return keras.Model([features, edge_index], outputs, name=name)


@register_builder("gcn")
def gcn(*, num_features=1433, num_classes=7, hidden_units=(16,), dropout=0.5, l2=0.0,
        output_activation="softmax", name="gcn"):
    """Graph convolutional network for node classification (defaults: Cora's sizes, the paper's widths).

    Each layer is dropout then `GCNConv` (ReLU between layers, none on the
    last, then `output_activation`).

    Args:
        num_features: F, features per node.
        num_classes: classes per node.
        hidden_units: widths of the hidden GCN layers (the paper: (16,)).
        dropout: dropout rate on the input of every layer (the paper: 0.5).
        l2: L2 regularisation factor of the first layer's kernel (the paper's
            "weight decay", 5e-4).
        output_activation: "softmax" (probabilities) or None (logits).
        name: model name.

    Returns:
        A functional `keras.Model` [(N, F), (2, E) int32] -> (N, num_classes).

    Saved models: the `.keras` file needs kerarch's `GCNConv` to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`).
    A custom layer is unavoidable here: the node count N is the batch axis,
    unknown when the graph is built, and `keras.ops.segment_sum` in a
    functional graph takes its segment count as a constant.

    Reference:
        Kipf & Welling, "Semi-Supervised Classification with Graph
        Convolutional Networks", ICLR 2017.
    """

    def make_layer(units, *, last, **kwargs):
        return GCNConv(units, activation=None if last else "relu", **kwargs)

    return _node_classifier(make_layer, num_features=num_features, num_classes=num_classes, hidden_units=hidden_units,
                            dropout=dropout, l2=l2, output_activation=output_activation,
                            prefix="gcn", name=name)


@register_builder("graphsage")
def graphsage(*, num_features=1433, num_classes=7, hidden_units=(64,), dropout=0.5, l2=0.0, normalize=False,
              output_activation="softmax", name="graphsage"):
    """GraphSAGE (mean aggregator) for node classification, full-graph (no neighbour sampling).

    Args:
        num_features: F, features per node.
        num_classes: classes per node.
        hidden_units: widths of the hidden `SAGEConv` layers (ReLU).
        dropout: dropout rate on the input of every layer.
        l2: L2 regularisation factor of the first layer's kernels.
        normalize: L2-normalise the hidden layers' outputs (the paper's Algorithm 1).
        output_activation: "softmax" (probabilities) or None (logits).
        name: model name.

    Returns:
        A functional `keras.Model` [(N, F), (2, E) int32] -> (N, num_classes).

    Saved models: the `.keras` file needs kerarch's `SAGEConv` to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`).
    A custom layer is unavoidable here: the node count N is the batch axis,
    unknown when the graph is built, and `keras.ops.segment_sum` in a
    functional graph takes its segment count as a constant.

    Reference:
        Hamilton, Ying & Leskovec, "Inductive Representation Learning on
        Large Graphs", NeurIPS 2017.
    """

    def make_layer(units, *, last, **kwargs):
        return SAGEConv(units, activation=None if last else "relu", normalize=normalize and not last, **kwargs)

    return _node_classifier(make_layer, num_features=num_features, num_classes=num_classes, hidden_units=hidden_units,
                            dropout=dropout, l2=l2, output_activation=output_activation,
                            prefix="sage", name=name)


@register_builder("gat")
def gat(*, num_features=1433, num_classes=7, hidden_units=(8,), heads=8, output_heads=1, dropout=0.6,
        l2=0.0, output_activation="softmax", seed=None, name="gat"):
    """Graph attention network for node classification (defaults: the paper's Cora model).

    Hidden layers concatenate `heads` heads of `hidden_units[i]` features
    (ELU); the output layer averages `output_heads` heads. `dropout` applies
    to every layer's input and to the attention coefficients.

    Args:
        num_features: F, features per node.
        num_classes: classes per node.
        hidden_units: features per head of each hidden layer (the paper: (8,)).
        heads: attention heads of the hidden layers (the paper: 8).
        output_heads: heads of the output layer, averaged (the paper: 1).
        dropout: dropout rate (the paper: 0.6).
        l2: L2 regularisation factor of the first layer's kernel and attention
            vectors (the paper: 5e-4, on every layer).
        output_activation: "softmax" (probabilities) or None (logits).
        seed: seed of the attention dropout.
        name: model name.

    Returns:
        A functional `keras.Model` [(N, F), (2, E) int32] -> (N, num_classes).

    Saved models: the `.keras` file needs kerarch's `GATConv` to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`).
    A custom layer is unavoidable here: the node count N is the batch axis,
    unknown when the graph is built, and `keras.ops.segment_sum` in a
    functional graph takes its segment count as a constant.

    Reference:
        Velickovic, Cucurull, Casanova, Romero, Lio & Bengio, "Graph
        Attention Networks", ICLR 2018.
    """

    def make_layer(units, *, last, **kwargs):
        if last:
            return GATConv(units, heads=output_heads, concat=False, dropout=dropout, seed=seed, **kwargs)
        return GATConv(units, heads=heads, activation="elu", dropout=dropout, seed=seed, **kwargs)

    return _node_classifier(make_layer, num_features=num_features, num_classes=num_classes, hidden_units=hidden_units,
                            dropout=dropout, l2=l2, output_activation=output_activation,
                            prefix="gat", name=name)


@register_builder("gcn_graph_classifier")
def gcn_graph_classifier(*, num_features=16, num_classes=2, hidden_units=(64, 64), dropout=0.0,
                         output_activation="softmax", name="gcn_graph_classifier"):
    """GCN layers, a per-graph mean readout and a dense classifier: one prediction per graph.

    Inputs are a batch of graphs joined into one disjoint graph: node
    features (N, F), edge index (2, E) and `graph_ids` (N,) int32 numbering
    each node's graph 0..G-1. The number of graphs G comes from the data, so
    under JAX the model runs eagerly only (`jit_compile=False`).

    Args:
        num_features: F, features per node.
        num_classes: classes per graph.
        hidden_units: widths of the GCN layers (ReLU).
        dropout: dropout rate on the input of every GCN layer.
        output_activation: "softmax" (probabilities) or None (logits).
        name: model name.

    Returns:
        A functional `keras.Model` [(N, F), (2, E), (N,)] -> (G, num_classes).

    Saved models: the `.keras` file needs kerarch's `GCNConv` and `GraphMeanPooling` to load
    (`keras.saving.load_model(path, custom_objects=kerarch.custom_objects())`).
    A custom layer is unavoidable here: the node count N is the batch axis,
    unknown when the graph is built, and `keras.ops.segment_sum` in a
    functional graph takes its segment count as a constant.

    Reference:
        Kipf & Welling, "Semi-Supervised Classification with Graph
        Convolutional Networks", ICLR 2017; readout: Gilmer et al., "Neural
        Message Passing for Quantum Chemistry", ICML 2017.
    """
    features, edge_index = graph_inputs(num_features)
    graph_ids = keras.Input(shape=(), dtype="int32", name="graph_ids")

    def make_layer(units, *, last, **kwargs):
        return GCNConv(units, activation="relu", **kwargs)

    x = _stack(features, edge_index, make_layer, hidden_units, dropout=dropout, l2=0.0, prefix="gcn")
    x = GraphMeanPooling(name="readout")([x, graph_ids])
    outputs = layers.Dense(num_classes, activation=output_activation, name="predictions")(x)
    return keras.Model([features, edge_index, graph_ids], outputs, name=name)

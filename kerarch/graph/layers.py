"""Message-passing layers (GCN, GraphSAGE, GAT) and a per-graph readout, on keras.ops.

Our own because TF-GNN and Spektral do not support Keras 3. A graph -- or a
batch of graphs joined into one disjoint graph -- is two tensors:

    features    (N, F) float   one row per node; the node axis is Keras's batch axis
    edge_index  (2, E) int32   edge e runs from node edge_index[0, e] (its source)
                               to node edge_index[1, e] (its target)

Messages flow from source to target, so an undirected graph lists both
directions of every edge. Every convolution is called as
`layer([features, edge_index])` and returns (N, units); neighbours are
gathered with `ops.take` and summed with `ops.segment_sum`, so a layer costs
O(E) and never builds an N x N matrix.
"""

import keras
from keras import layers, ops


def with_self_loops(edge_index, num_nodes):
    """(source, target) of the edges plus one loop i -> i per node, appended after them."""
    edge_index = ops.cast(edge_index, "int32")
    nodes = ops.arange(num_nodes, dtype="int32")
    return ops.concatenate([edge_index[0], nodes]), ops.concatenate([edge_index[1], nodes])


def segment_softmax(logits, segment_ids, num_segments):
    """Softmax of `logits` (E, ...) over the entries that share a segment id (e.g. a target node)."""
    # The shift by the segment's maximum only keeps exp() finite; it cancels, so it needs no gradient.
    maximum = ops.stop_gradient(ops.segment_max(logits, segment_ids, num_segments=num_segments))
    exp = ops.exp(logits - ops.take(maximum, segment_ids, axis=0))
    total = ops.segment_sum(exp, segment_ids, num_segments=num_segments)
    return exp / ops.take(total, segment_ids, axis=0)


class _GraphConv(layers.Layer):
    """What the convolutions share: units, activation, bias, initialisers and regulariser."""

    def __init__(self, units, *, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def add_kernel(self, name, shape):
        return self.add_weight(name=name, shape=shape, initializer=self.kernel_initializer,
                               regularizer=self.kernel_regularizer)

    def add_bias(self, size):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(size,), initializer=self.bias_initializer)

    def finish(self, outputs):
        """Adds the bias and applies the activation."""
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="kerarch")
class GCNConv(_GraphConv):
    """Graph convolution: H' = act(D^-1/2 (A + I) D^-1/2 H W + b).

    A self loop is added to every node, and each message from j to i is
    weighted by 1 / sqrt(deg(i) deg(j)), degrees counted with the loops
    (in-degree; equal to the degree on undirected graphs). `edge_index`
    should not hold self loops of its own (they would count twice).

    Reference:
        Kipf & Welling, "Semi-Supervised Classification with Graph
        Convolutional Networks", ICLR 2017.
    """

    def build(self, input_shape):
        features_shape, _ = input_shape
        self.kernel = self.add_kernel("kernel", (features_shape[-1], self.units))
        self.add_bias(self.units)

    def call(self, inputs):
        features, edge_index = inputs
        num_nodes = ops.shape(features)[0]
        source, target = with_self_loops(edge_index, num_nodes)
        degree = ops.segment_sum(ops.ones_like(target, dtype=self.compute_dtype), target, num_segments=num_nodes)
        inv_sqrt_degree = ops.rsqrt(degree)  # degree >= 1: every node has its loop
        norm = ops.take(inv_sqrt_degree, source) * ops.take(inv_sqrt_degree, target)  # (E + N,)
        transformed = ops.matmul(features, self.kernel)  # (N, units); before the gather, as units < F usually
        messages = ops.take(transformed, source, axis=0) * norm[:, None]  # (E + N, units)
        return self.finish(ops.segment_sum(messages, target, num_segments=num_nodes))


@keras.saving.register_keras_serializable(package="kerarch")
class SAGEConv(_GraphConv):
    """GraphSAGE with the mean aggregator: h_i' = act(W_self h_i + W_neigh mean_{j -> i} h_j + b).

    The two kernels are the paper's one weight matrix applied to
    CONCAT(h_i, mean of neighbours), split in two. A node without in-edges
    gets a zero neighbour mean. `normalize=True` scales each output row to
    unit L2 norm, as in the paper's Algorithm 1.

    Reference:
        Hamilton, Ying & Leskovec, "Inductive Representation Learning on
        Large Graphs", NeurIPS 2017.
    """

    def __init__(self, units, *, normalize=False, **kwargs):
        super().__init__(units, **kwargs)
        self.normalize = normalize

    def build(self, input_shape):
        features_shape, _ = input_shape
        self.self_kernel = self.add_kernel("self_kernel", (features_shape[-1], self.units))
        self.neighbor_kernel = self.add_kernel("neighbor_kernel", (features_shape[-1], self.units))
        self.add_bias(self.units)

    def call(self, inputs):
        features, edge_index = inputs
        num_nodes = ops.shape(features)[0]
        edge_index = ops.cast(edge_index, "int32")
        source, target = edge_index[0], edge_index[1]
        messages = ops.take(ops.matmul(features, self.neighbor_kernel), source, axis=0)  # (E, units)
        total = ops.segment_sum(messages, target, num_segments=num_nodes)
        count = ops.segment_sum(ops.ones_like(target, dtype=self.compute_dtype), target, num_segments=num_nodes)
        neighbor_mean = total / ops.maximum(count, 1.0)[:, None]
        outputs = self.finish(ops.matmul(features, self.self_kernel) + neighbor_mean)
        if self.normalize:
            outputs = outputs / ops.maximum(ops.norm(outputs, axis=-1, keepdims=True), 1e-12)
        return outputs

    def get_config(self):
        return {**super().get_config(), "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="kerarch")
class GATConv(_GraphConv):
    """Graph attention: each node attends over its in-neighbours and itself, per head.

    Per head, with h = x W: e_ij = LeakyReLU(a_t . h_i + a_s . h_j) for the
    edge j -> i (the paper's a^T [W h_i || W h_j], a = [a_t; a_s]),
    alpha_ij = softmax of e_ij over j (a segment softmax over the edges
    into i), h_i' = sum_j alpha_ij h_j. Heads are concatenated
    ((N, heads * units)) or, with `concat=False`, averaged ((N, units), the
    paper's output layer). `dropout` drops attention coefficients while
    training, as in the paper.

    `call(..., return_attention_scores=True)` also returns alpha, (E + N,
    heads): the given edges in order, then the self loops of nodes 0..N-1.

    Reference:
        Velickovic, Cucurull, Casanova, Romero, Lio & Bengio, "Graph
        Attention Networks", ICLR 2018.
    """

    def __init__(self, units, *, heads=1, concat=True, negative_slope=0.2, dropout=0.0, seed=None, **kwargs):
        super().__init__(units, **kwargs)
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.seed = seed
        self.attention_dropout = layers.Dropout(dropout, seed=seed, name="attention_dropout")

    def build(self, input_shape):
        features_shape, _ = input_shape
        self.kernel = self.add_kernel("kernel", (features_shape[-1], self.heads * self.units))
        self.attention_source = self.add_kernel("attention_source", (self.heads, self.units))
        self.attention_target = self.add_kernel("attention_target", (self.heads, self.units))
        self.add_bias(self.heads * self.units if self.concat else self.units)

    def call(self, inputs, training=None, return_attention_scores=False):
        features, edge_index = inputs
        num_nodes = ops.shape(features)[0]
        source, target = with_self_loops(edge_index, num_nodes)
        transformed = ops.reshape(ops.matmul(features, self.kernel), (-1, self.heads, self.units))  # (N, H, U)
        score_source = ops.sum(transformed * self.attention_source, axis=-1)  # (N, H)
        score_target = ops.sum(transformed * self.attention_target, axis=-1)  # (N, H)
        logits = ops.leaky_relu(
            ops.take(score_source, source, axis=0) + ops.take(score_target, target, axis=0), self.negative_slope
        )  # (E + N, H)
        attention = segment_softmax(logits, target, num_nodes)
        weights = self.attention_dropout(attention, training=training)
        messages = ops.take(transformed, source, axis=0) * weights[:, :, None]  # (E + N, H, U)
        outputs = ops.segment_sum(messages, target, num_segments=num_nodes)  # (N, H, U)
        if self.concat:
            outputs = ops.reshape(outputs, (-1, self.heads * self.units))
        else:
            outputs = ops.mean(outputs, axis=1)
        outputs = self.finish(outputs)
        return (outputs, attention) if return_attention_scores else outputs

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "concat": self.concat,
                "negative_slope": self.negative_slope, "dropout": self.dropout, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerarch")
class GraphMeanPooling(layers.Layer):
    """Readout: the mean of node features per graph, [(N, F), graph_ids (N,)] -> (G, F).

    `graph_ids` number each node's graph 0..G-1 in a batch of graphs joined
    into one disjoint graph; G is max(graph_ids) + 1, known only from the
    data, so under JAX this layer runs eagerly only (jit needs a static G).

    Reference:
        Gilmer, Schoenholz, Riley, Vinyals & Dahl, "Neural Message Passing
        for Quantum Chemistry", ICML 2017 (the readout phase).
    """

    def call(self, inputs):
        features, graph_ids = inputs
        graph_ids = ops.cast(graph_ids, "int32")
        num_graphs = ops.max(graph_ids) + 1
        total = ops.segment_sum(features, graph_ids, num_segments=num_graphs)
        count = ops.segment_sum(ops.ones_like(graph_ids, dtype=self.compute_dtype), graph_ids, num_segments=num_graphs)
        return total / ops.maximum(count, 1.0)[:, None]

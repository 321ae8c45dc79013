"""NodeClassification: the recipe kind of the full-graph node classifiers (gcn-karate, gcn-cora).

Semi-supervised node classification as Kipf & Welling (2017) train it: one
example is the whole graph and one epoch is one optimizer step (see
`kerarch.graph.models`), and only the labelled training nodes carry weight
in the loss and the metrics. `model=` picks GCN, GraphSAGE or GAT. The kind
builds and compiles the network, scores it on each split's nodes next to two
baselines that need no network (`kerarch.data.graph_baselines`: label
propagation, which uses only the graph, and logistic regression on the
features alone), and exports it checked on the whole graph: model.keras, a
SavedModel and TFLite files, each with two inputs, `features` (N, F) float32
and `edge_index` (2, E) int32.

A recipe says its config (`dataset` and its own keys), `load_graph` (its
`GraphData`) and `draw` (its pictures).
"""

import dataclasses

import keras

from kerarch.config import RecipeConfig, option
from kerarch.data.graph_baselines import features_only, label_propagation, node_accuracy
from kerarch.data.graphs import node_dataset
from kerarch.errors import KerarchError
from kerarch.frame.recipe import Recipe
from kerarch.graph import gat, gcn, graphsage
from kerarch.training.callbacks import default_callbacks

# model= -> (builder, prefix of its graph layers' names)
MODELS = {"gcn": (gcn, "gcn"), "graphsage": (graphsage, "sage"), "gat": (gat, "gat")}


@dataclasses.dataclass
class NodeClassificationConfig(RecipeConfig):
    """Keys of every node classifier: the network and Kipf & Welling's training."""

    epochs: int = option(200, "Full-graph training steps (one per epoch; Kipf & Welling: 200).", minimum=1)
    batch_size: int = option(1, "Unused: every step sees the whole graph.", minimum=1)
    model: str = option("gcn", "Graph network: gcn (Kipf & Welling 2017), graphsage (Hamilton et al. 2017, mean "
                        "aggregator) or gat (Velickovic et al. 2018).", choices=tuple(MODELS))
    hidden_units: tuple[int, ...] = option((16,), "Widths of the hidden graph layers (gat: features per head).")
    heads: int = option(8, "gat: attention heads of the hidden layers.", minimum=1)
    dropout: float = option(0.5, "Dropout on every layer's input (gat: also on attention; paper 0.6).", minimum=0.0)
    l2: float = option(5e-4, "L2 regularisation of the first graph layer's kernel (Kipf & Welling's weight decay: "
                       "5e-4).", minimum=0.0)
    learning_rate: float = option(0.01, "Learning rate (Kipf & Welling: Adam, 0.01).", minimum=0.0)


class NodeClassification(Recipe):
    """Full-graph node classification with a graph network, scored against two baselines."""

    Config = NodeClassificationConfig

    def load_graph(self):
        """The recipe's `kerarch.data.graphs.GraphData`."""
        raise NotImplementedError

    def draw(self, model, data, predicted):
        """Pictures of the result (each recipe its own)."""

    def load_data(self):
        if self.strategy.num_replicas_in_sync > 1:
            raise KerarchError(
                f"{self.name} trains on the whole graph as one example, which cannot be split across "
                f"{self.strategy.num_replicas_in_sync} replicas; use strategy=default (or one_device)."
            )
        return self.load_graph()

    def build_model(self, data):
        cfg = self.config
        build, _ = MODELS[cfg.model]
        kwargs = dict(num_features=data.num_features, num_classes=data.num_classes, hidden_units=cfg.hidden_units,
                      dropout=cfg.dropout, l2=cfg.l2)
        if cfg.model == "gat":
            kwargs.update(heads=cfg.heads, seed=cfg.seed)
        # Only the labelled nodes carry weight: the loss is their mean, the metrics count only them.
        return self.compile(build(**kwargs), data, weighted_metrics=["accuracy"],
                            loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"))

    def num_train_examples(self, data):
        return 1  # the whole graph: one step per epoch

    def datasets(self, data):
        val = node_dataset(data, data.val_index) if len(data.val_index) else None
        return node_dataset(data, data.train_index), val

    def callbacks(self, model, data):
        # A run takes seconds to a minute of one-step epochs: no per-epoch backup, and the final model is the result.
        return default_callbacks(self.run.path, backup=False, best=False)

    def predict(self, model, data):
        """Class probabilities (N, classes) of every node."""
        return keras.ops.convert_to_numpy(model([data.features, data.edge_index], training=False))

    def embeddings(self, model, data):
        """The last hidden graph layer's output (N, units) on the whole graph."""
        _, prefix = MODELS[self.config.model]
        layer = model.get_layer(f"{prefix}{max(len(self.config.hidden_units), 1)}")
        return keras.ops.convert_to_numpy(keras.Model(model.inputs, layer.output)([data.features, data.edge_index]))

    def evaluate(self, model, data):
        """Accuracy of the model on each split's nodes, and of the two baselines on the test nodes."""
        predicted = self.predict(model, data).argmax(axis=1)
        metrics = {"dataset": data.name, "model": self.config.model}
        for split in ("train", "val", "test"):
            index = getattr(data, f"{split}_index")
            if len(index):
                metrics[f"{split}_accuracy"] = node_accuracy(predicted, data.labels, index)
        metrics["label_propagation_test_accuracy"] = node_accuracy(label_propagation(data), data.labels,
                                                                   data.test_index)
        metrics["features_only_test_accuracy"] = node_accuracy(features_only(data), data.labels, data.test_index)
        self.draw(model, data, predicted)
        return metrics

    def export_inputs(self, data):
        """The whole graph, one call of the model: it calibrates int8 and checks every export."""
        graph = [data.features, data.edge_index]
        return graph, graph, None

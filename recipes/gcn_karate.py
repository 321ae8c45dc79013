"""gcn-karate: semi-supervised node classification (Kipf & Welling 2017) on Zachary's karate club.

Zachary's club (34 members, 78 friendships) split into two factions, the
instructor's ("Mr. Hi", node 0) and the administrator's ("Officer", node
33). Only those two nodes are labelled; the network predicts the faction of
the other 32. Features are the identity (a one-hot node id), as in Kipf &
Welling's karate example, so everything the model knows about an
unlabelled node comes through the graph. `model=` picks GCN, GraphSAGE or
GAT. Two baselines score the same 32 nodes: label propagation (Zhu,
Ghahramani & Lafferty 2003, networkx's harmonic function), which uses the
graph, and logistic regression on the features alone, which cannot
generalise from one-hot ids.

Full-graph training: one example is the whole graph and one epoch is one
optimizer step (see `kerarch.graph.models`). The export holds model.keras
and a SavedModel (inputs `features` (N, F) and `edge_index` (2, E) int32),
each checked against the Keras model; no TFLite, because kerarch's TFLite
exporter takes one-input models and a graph model takes two.
"""

import dataclasses

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data.graphs import load_karate_club, node_dataset
from kerarch.errors import KerarchError
from kerarch.graph import gat, gcn, graphsage
from kerarch.frame import Recipe, register_recipe
from kerarch.training.callbacks import default_callbacks
from kerarch.plots import pyplot, save_figure

# model= -> (builder, prefix of its graph layers' names)
_MODELS = {"gcn": (gcn, "gcn"), "graphsage": (graphsage, "sage"), "gat": (gat, "gat")}
_EXPORT_FORMATS = ("keras", "saved_model")
_FLOAT_TOLERANCE = 1e-4


@dataclasses.dataclass
class NodeClassifierConfig(RecipeConfig):
    epochs: int = option(200, "Full-graph training steps (one per epoch; Kipf & Welling: 200).", minimum=1)
    batch_size: int = option(1, "Unused: every step sees the whole graph.", minimum=1)
    dataset: str = option("karate_club", "Zachary's karate club, from networkx.", choices=("karate_club",))
    model: str = option("gcn", "Graph network: gcn (Kipf & Welling 2017), graphsage (Hamilton et al. 2017, mean "
                        "aggregator) or gat (Velickovic et al. 2018).", choices=tuple(_MODELS))
    hidden_units: tuple[int, ...] = option((16,), "Widths of the hidden graph layers (gat: features per head).")
    heads: int = option(8, "gat: attention heads of the hidden layers.", minimum=1)
    dropout: float = option(0.5, "Dropout on every layer's input (gat: also on attention; paper 0.6).", minimum=0.0)
    l2: float = option(5e-4, "L2 regularisation of the first graph layer's kernel (Kipf & Welling's weight decay: "
                       "5e-4).", minimum=0.0)
    learning_rate: float = option(0.01, "Learning rate (Kipf & Welling: Adam, 0.01).", minimum=0.0)
    export: bool = option(True, "Export model.keras and a SavedModel (no TFLite: graph models take two inputs).")


class NodeClassifier(Recipe):
    """Full-graph node classification with a graph network; the shared part of gcn-karate and gcn-cora."""

    Config = NodeClassifierConfig

    def load_graph(self):
        raise NotImplementedError

    def load_data(self):
        if self.strategy.num_replicas_in_sync > 1:
            raise KerarchError(
                f"{self.name} trains on the whole graph as one example, which cannot be split across "
                f"{self.strategy.num_replicas_in_sync} replicas; use strategy=default (or one_device)."
            )
        if self.config.quantize:
            raise KerarchError(f"{self.name} exports no TFLite files, so quantize= does not apply; leave it unset.")
        return self.load_graph()

    def build_model(self, data):
        cfg = self.config
        build, _ = _MODELS[cfg.model]
        kwargs = dict(num_features=data.num_features, num_classes=data.num_classes, hidden_units=cfg.hidden_units,
                      dropout=cfg.dropout, l2=cfg.l2)
        if cfg.model == "gat":
            kwargs.update(heads=cfg.heads, seed=cfg.seed)
        model = build(**kwargs)
        model.compile(
            optimizer=self.make_optimizer(data),
            # Only the labelled nodes carry weight: the loss is their mean, the metrics count only them.
            loss=keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight"),
            weighted_metrics=["accuracy"],
            jit_compile=self.jit_compile,
        )
        return model

    def num_train_examples(self, data):
        return 1  # the whole graph: one step per epoch

    def datasets(self, data):
        val = node_dataset(data, data.val_index) if len(data.val_index) else None
        return node_dataset(data, data.train_index), val

    def callbacks(self, model, data):
        # A run takes seconds to a minute of one-step epochs: no per-epoch backup, and the final model is the result.
        return default_callbacks(self.run.path, backup=False, best=False)

    def predict(self, model, data):
        return keras.ops.convert_to_numpy(model([data.features, data.edge_index], training=False))

    def embeddings(self, model, data):
        """The last hidden graph layer's output (N, units) on the whole graph."""
        _, prefix = _MODELS[self.config.model]
        layer = model.get_layer(f"{prefix}{max(len(self.config.hidden_units), 1)}")
        return keras.ops.convert_to_numpy(keras.Model(model.inputs, layer.output)([data.features, data.edge_index]))

    def evaluate(self, model, data):
        """Accuracy of the model and of the two baselines on each split's nodes."""
        predicted = self.predict(model, data).argmax(axis=1)
        metrics = {"dataset": data.name, "model": self.config.model}
        for split in ("train", "val", "test"):
            index = getattr(data, f"{split}_index")
            if len(index):
                metrics[f"{split}_accuracy"] = _accuracy(predicted, data.labels, index)
        metrics["label_propagation_test_accuracy"] = _accuracy(label_propagation(data), data.labels, data.test_index)
        metrics["features_only_test_accuracy"] = _accuracy(features_only(data), data.labels, data.test_index)
        self.draw(model, data, predicted)
        return metrics

    def draw(self, model, data, predicted):
        """Pictures of the result (each recipe its own)."""

    # --- export: Keras and SavedModel only ----------------------------------------
    def export_inputs(self, data):
        return None, [data.features, data.edge_index], None

    def export_trained(self, model, data, formats=None):
        """model.keras and saved_model/ in the export folder, each checked against the Keras model on the whole graph.

        Not kerarch.export.export_model: it takes one-input models (it
        batches the inputs and converts to TFLite), and a graph model takes
        two, the node features and the edge index.
        """
        import tensorflow as tf

        from kerarch.export.exporter import ExportVerificationError, publishing, write_report

        formats = tuple(formats or _EXPORT_FORMATS)
        if self.config.quantize or not set(formats) <= set(_EXPORT_FORMATS):
            raise KerarchError(
                f"{self.name} exports only {' and '.join(_EXPORT_FORMATS)}: graph models take two inputs (features, "
                "edge index), and the TFLite exporter takes one; no tflite format, no quantize=."
            )
        _, inputs, _ = self.export_inputs(data)
        reference = self.predict(model, data)
        with publishing(self.run.export_dir, owner=self.run.identity) as tmp:
            artifacts = {}
            if "keras" in formats:
                model.save(tmp / "model.keras")
                restored = keras.saving.load_model(tmp / "model.keras")
                artifacts["keras"] = _checked("model.keras", restored(inputs, training=False), reference, tmp)
            if "saved_model" in formats:
                model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
                loaded = tf.saved_model.load(str(tmp / "saved_model"))
                artifacts["saved_model"] = _checked("saved_model", loaded.serve([tf.constant(x) for x in inputs]),
                                                    reference, tmp)
            failed = [entry["path"] for entry in artifacts.values() if entry["max_abs_diff"] > _FLOAT_TOLERANCE]
            if failed:
                raise ExportVerificationError(f"{', '.join(failed)} disagree with the Keras model by more than "
                                              f"{_FLOAT_TOLERANCE} on the whole graph.")
            report = {"model": model.name, "formats": list(formats), "inputs": ["features (N, F) float32",
                      "edge_index (2, E) int32"], "num_eval_nodes": len(reference), "artifacts": artifacts,
                      "no_tflite": "the TFLite exporter takes one-input models; graph models take two",
                      "run": self.run.identity}
            write_report(tmp, report)
        return {**report, "dir": str(self.run.export_dir)}


def _checked(path, outputs, reference, folder):
    """The export report entry of one artifact: its size and largest difference from the Keras outputs."""
    target = folder / path
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) if target.is_dir() else target.stat().st_size
    return {"path": path, "bytes": size,
            "max_abs_diff": float(np.max(np.abs(keras.ops.convert_to_numpy(outputs) - reference)))}


def _accuracy(predicted, labels, index):
    return float(np.mean(predicted[index] == labels[index]))


def label_propagation(data):
    """Class per node from the labelled training nodes by label propagation (networkx's harmonic function)."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(data.num_nodes))
    graph.add_edges_from(data.edge_index.T.tolist())
    for node in data.train_index:
        graph.nodes[int(node)]["label"] = int(data.labels[node])
    return np.asarray(nx.node_classification.harmonic_function(graph, label_name="label"))


def features_only(data):
    """Class per node by logistic regression on the node features of the training nodes (no graph)."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=1000).fit(data.features[data.train_index], data.labels[data.train_index])
    return classifier.predict(data.features)


def project_2d(points):
    """The points themselves if 2-D, else their projection on the two leading principal components."""
    if points.shape[1] <= 2:
        return np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


@register_recipe("gcn-karate")
class GcnKarate(NodeClassifier):
    """Karate club factions from one labelled node each (GCN, GraphSAGE or GAT); graph picture, baselines."""

    def load_graph(self):
        return load_karate_club()

    def draw(self, model, data, predicted):
        import networkx as nx

        plt = pyplot()
        graph = nx.Graph(data.edge_index.T.tolist())
        positions = nx.spring_layout(graph, seed=self.config.seed)
        wrong = np.flatnonzero(predicted != data.labels)
        colours = np.array(["tab:blue", "tab:orange"])
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.8))
        nx.draw_networkx_edges(graph, positions, ax=left, alpha=0.3)
        nx.draw_networkx_nodes(graph, positions, ax=left, nodelist=range(data.num_nodes), node_size=260,
                               node_color=colours[predicted].tolist())
        nx.draw_networkx_nodes(graph, positions, ax=left, nodelist=data.train_index.tolist(), node_shape="s",
                               node_size=420, node_color=colours[data.labels[data.train_index]].tolist(),
                               edgecolors="black", linewidths=2.5)
        nx.draw_networkx_nodes(graph, positions, ax=left, nodelist=wrong.tolist(), node_size=520,
                               node_color="none", edgecolors="red", linewidths=2.5)
        nx.draw_networkx_labels(graph, positions, ax=left, font_size=7)
        for label, name in enumerate(data.class_names):
            left.scatter([], [], c=colours[label], s=60, label=f"predicted: {name}")
        left.legend(fontsize=8, loc="lower left")
        left.set_title(f"{self.config.model}: predicted faction (squares: the 2 labelled nodes; "
                       f"red rings: {len(wrong)} wrong)", fontsize=9)
        left.axis("off")
        hidden = self.embeddings(model, data)
        points = project_2d(hidden)
        for label, name in enumerate(data.class_names):
            mine = data.labels == label
            right.scatter(*points[mine].T, c=colours[label], s=60, label=f"true: {name}")
        right.scatter(*points[wrong].T, s=260, facecolors="none", edgecolors="red", linewidths=2, label="misclassified")
        for node, (x, y) in enumerate(points):
            right.annotate(str(node), (x, y), fontsize=6, ha="center", va="center")
        right.set_title("Last hidden layer of the trained network"
                        + ("" if hidden.shape[1] <= 2 else " (2 principal components)"),
                        fontsize=9)
        right.legend(fontsize=8)
        fig.tight_layout()
        path = self.run.path / "karate.png"
        save_figure(fig, path)
        self.run.add_picture(path, "Predicted factions and the hidden embedding")

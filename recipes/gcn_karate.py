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

Full-graph training, baselines and the export (two inputs, `features` and
`edge_index`) are the `NodeClassification` kind's (kerarch.frame).
"""

import dataclasses

from kerarch.config import option
from kerarch.data.graphs import load_karate_club
from kerarch.frame import NodeClassification, register_recipe
from kerarch.frame.node_classification import NodeClassificationConfig
from kerarch.plots import plot_graph_predictions


@dataclasses.dataclass
class GcnKarateConfig(NodeClassificationConfig):
    dataset: str = option("karate_club", "Zachary's karate club, from networkx.", choices=("karate_club",))


@register_recipe("gcn-karate")
class GcnKarate(NodeClassification):
    """Karate club factions from one labelled node each (GCN, GraphSAGE or GAT); graph picture, baselines."""

    Config = GcnKarateConfig

    def load_graph(self):
        return load_karate_club()

    def draw(self, model, data, predicted):
        path = plot_graph_predictions(self.run.path / "karate.png", data, predicted, self.embeddings(model, data),
                                      title=f"{self.config.model}: predicted faction", seed=self.config.seed)
        self.run.add_picture(path, "Predicted factions and the hidden embedding")

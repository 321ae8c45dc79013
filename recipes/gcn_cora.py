"""gcn-cora: Kipf & Welling's (2017) semi-supervised GCN on the Cora citation graph, from local files.

Cora: 2,708 machine-learning papers, 5,429 citations (treated as undirected
edges), 1,433 binary word features per paper, 7 subject classes. The setup
is the paper's: a 2-layer GCN with 16 hidden units, dropout 0.5, L2 5e-4 on
the first layer, Adam with learning rate 0.01, 200 full-graph steps,
row-normalised features, 140 labelled nodes (20 per class), 500 validation
and 1,000 test nodes. The paper reports 81.5% test accuracy on Planetoid's
fixed split; kerarch reads the LINQS files and draws a Planetoid-style
split from a seeded permutation (see `kerarch.data.graphs`), so expect
about that, not exactly it. The paper stops early on the validation loss;
here all `epochs` run and the final model is scored and exported.

TensorFlow Datasets has no Cora and kerarch does not download it: get
https://linqs-data.soe.ucsc.edu/public/lbc/cora.tgz, extract it and pass
`data_dir=<the cora folder>`. `model=graphsage` or `model=gat` swaps the
network (for the GAT paper's setup add `hidden_units=8 dropout=0.6
learning_rate=0.005`). Baselines on the same test nodes: label propagation
(graph only) and logistic regression on the word features (no graph).
"""

import dataclasses

from kerarch.config import option
from kerarch.data.graphs import load_cora, row_normalize
from kerarch.frame import NodeClassification, register_recipe
from kerarch.frame.node_classification import NodeClassificationConfig
from kerarch.plots import plot_tsne_by_class


@dataclasses.dataclass
class GcnCoraConfig(NodeClassificationConfig):
    dataset: str = option("cora", "The LINQS Cora files in data_dir (required).", choices=("cora",))
    train_per_class: int = option(20, "Labelled training nodes per class (Planetoid: 20).", minimum=1)
    val_size: int = option(500, "Validation nodes (Planetoid: 500).", minimum=0)
    test_size: int = option(1000, "Test nodes (Planetoid: 1000).", minimum=1)
    split_seed: int = option(0, "Seed of the node permutation the split is drawn from.")
    normalize_features: bool = option(True, "Divide each node's features by their sum (Kipf & Welling).")


@register_recipe("gcn-cora")
class GcnCora(NodeClassification):
    """Kipf & Welling's GCN on Cora (local LINQS files): 20 labels per class, test accuracy vs baselines, t-SNE."""

    Config = GcnCoraConfig

    def load_graph(self):
        cfg = self.config
        data = load_cora(cfg.data_dir, train_per_class=cfg.train_per_class, val_size=cfg.val_size,
                         test_size=cfg.test_size, split_seed=cfg.split_seed)
        if cfg.normalize_features:
            data = dataclasses.replace(data, features=row_normalize(data.features))
        return data

    def draw(self, model, data, predicted):  # Kipf & Welling's figure
        test = data.test_index
        path = plot_tsne_by_class(self.run.path / "tsne.png", self.embeddings(model, data)[test], data.labels[test],
                                  predicted[test], class_names=data.class_names,
                                  title=f"{self.config.model} hidden layer", seed=self.config.seed)
        self.run.add_picture(path, "Test nodes' hidden representations (t-SNE), coloured by class")

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

import numpy as np

from kerarch.config import option
from kerarch.data.graphs import load_cora, row_normalize
from kerarch.frame import register_recipe
from kerarch.plots import pyplot, save_figure
from recipes.gcn_karate import NodeClassifier, NodeClassifierConfig


@dataclasses.dataclass
class GcnCoraConfig(NodeClassifierConfig):
    dataset: str = option("cora", "The LINQS Cora files in data_dir (required).", choices=("cora",))
    train_per_class: int = option(20, "Labelled training nodes per class (Planetoid: 20).", minimum=1)
    val_size: int = option(500, "Validation nodes (Planetoid: 500).", minimum=0)
    test_size: int = option(1000, "Test nodes (Planetoid: 1000).", minimum=1)
    split_seed: int = option(0, "Seed of the node permutation the split is drawn from.")
    normalize_features: bool = option(True, "Divide each node's features by their sum (Kipf & Welling).")


@register_recipe("gcn-cora")
class GcnCora(NodeClassifier):
    """Kipf & Welling's GCN on Cora (local LINQS files): 20 labels per class, test accuracy vs baselines, t-SNE."""

    Config = GcnCoraConfig

    def load_graph(self):
        cfg = self.config
        data = load_cora(cfg.data_dir, train_per_class=cfg.train_per_class, val_size=cfg.val_size,
                         test_size=cfg.test_size, split_seed=cfg.split_seed)
        if cfg.normalize_features:
            data = dataclasses.replace(data, features=row_normalize(data.features))
        return data

    def draw(self, model, data, predicted):
        """t-SNE of the test nodes' hidden representations, coloured by true class (Kipf & Welling's figure)."""
        from sklearn.manifold import TSNE

        hidden = self.embeddings(model, data)[data.test_index]
        points = TSNE(n_components=2, perplexity=min(30.0, len(hidden) - 1.0), init="pca",
                      random_state=self.config.seed).fit_transform(hidden)
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7.5, 6))
        labels = data.labels[data.test_index]
        for label, name in enumerate(data.class_names):
            ax.scatter(*points[labels == label].T, s=8, color=plt.cm.tab10(label), label=name)
        wrong = predicted[data.test_index] != labels
        ax.scatter(*points[wrong].T, s=22, facecolors="none", edgecolors="black", linewidths=0.5,
                   label=f"misclassified ({int(wrong.sum())})")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{self.config.model} hidden layer, t-SNE of the {len(hidden)} test nodes "
                     f"(accuracy {np.mean(~wrong):.3f})", fontsize=9)
        fig.tight_layout()
        path = self.run.path / "tsne.png"
        save_figure(fig, path)
        self.run.add_picture(path, "Test nodes' hidden representations (t-SNE), coloured by class")

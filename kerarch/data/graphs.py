"""Node-classification graphs: Zachary's karate club (networkx) and Cora (local LINQS files).

    data = load_karate_club()           # 34 nodes, 2 factions, ships with networkx
    data = load_cora("~/data/cora")     # folder with cora.content and cora.cites
    data.features.shape, data.edge_index.shape, data.train_index

A `GraphData` holds one graph in the layout of `kerarch.graph`: node
features (N, F), an edge index (2, E) listing both directions of every
undirected edge (no self loops, no duplicates) and node labels, plus the
node indices of the training, validation and test split.

Cora comes from local files only: TensorFlow Datasets has no Cora, and
kerarch does not download it. It reads the LINQS release
(https://linqs-data.soe.ucsc.edu/public/lbc/cora.tgz, the one the Keras
example "Node Classification with Graph Neural Networks" downloads):
`cora.content`, one line per paper `<paper_id> <1433 0/1 word features>
<class>`, and `cora.cites`, one line per citation `<cited_id> <citing_id>`.
Besides `data_dir`, the folders where that Keras example leaves it in the
Keras cache are searched. The LINQS files carry no split, so it is drawn
like Planetoid's (Yang et al. 2016) from a seeded permutation of the nodes:
the first `train_per_class` nodes of each class train, then the next
`val_size` nodes validate and the `test_size` after those test. Planetoid's
own fixed split (and node order) differ, so accuracies are comparable to the
papers' but not identical.
"""

import dataclasses
import os

import numpy as np

from kerarch.data.sources import keras_datasets_dir
from kerarch.errors import KerarchError

CORA_URL = "https://linqs-data.soe.ucsc.edu/public/lbc/cora.tgz"
CORA_FILES = ("cora.content", "cora.cites")
KARATE_FACTIONS = ("Mr. Hi", "Officer")


@dataclasses.dataclass
class GraphData:
    """One graph for node classification, held in memory.

    Attributes:
        name: "karate_club" or "cora".
        features: float32 (N, F) node features.
        edge_index: int32 (2, E), both directions of every edge.
        labels: int64 (N,) class ids.
        class_names: names of the class ids.
        train_index, val_index, test_index: int64 node indices of the split.
        source: where the data came from.
        split: how the split was made, in words.
        node_ids: each node's id in the source (e.g. Cora paper ids).
    """

    name: str
    features: np.ndarray
    edge_index: np.ndarray
    labels: np.ndarray
    class_names: tuple
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    source: str
    split: str
    node_ids: tuple

    @property
    def num_nodes(self):
        return len(self.features)

    @property
    def num_features(self):
        return self.features.shape[1]

    @property
    def num_classes(self):
        return len(self.class_names)


def undirected_edge_index(pairs, num_nodes):
    """int32 (2, E) from node pairs (P, 2): both directions, self loops and duplicates dropped, sorted."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = both[both[:, 0] != both[:, 1]]
    codes = np.unique(both[:, 1] * num_nodes + both[:, 0])  # sorted by target, then source
    return np.stack([codes % num_nodes, codes // num_nodes]).astype(np.int32)


def row_normalize(features):
    """Each row divided by its sum (rows of zeros stay zero), as Kipf & Welling preprocess Cora."""
    sums = features.sum(axis=1, keepdims=True)
    return (features / np.where(sums == 0, 1, sums)).astype(np.float32)


def node_dataset(data, index, *, features=None):
    """A tf.data dataset of one element, the whole graph: ((features, edge_index), labels, weights).

    `weights` is 1 at the nodes in `index` and 0 elsewhere, so a loss with
    `reduction="mean_with_sample_weight"` and weighted metrics see exactly
    those nodes. Iterate it once per epoch (one optimizer step).
    """
    import tensorflow as tf

    weights = np.zeros(data.num_nodes, np.float32)
    weights[np.asarray(index)] = 1.0
    x = data.features if features is None else features
    return tf.data.Dataset.from_tensors(((x, data.edge_index), data.labels, weights))


def load_karate_club():
    """Zachary's karate club (1977): 34 members, 78 friendships, split into two factions.

    Labels are networkx's 'club' attribute: 0 "Mr. Hi" (the instructor,
    node 0), 1 "Officer" (the administrator, node 33). Features are the
    identity (a one-hot node id), as in Kipf & Welling's karate example.
    The split is semi-supervised: nodes 0 and 33 train, the other 32 test,
    none validate.
    """
    import networkx as nx

    graph = nx.karate_club_graph()
    num_nodes = graph.number_of_nodes()
    labels = np.array([KARATE_FACTIONS.index(graph.nodes[i]["club"]) for i in range(num_nodes)], np.int64)
    train = np.array([0, num_nodes - 1], np.int64)
    return GraphData(
        name="karate_club",
        features=np.eye(num_nodes, dtype=np.float32),
        edge_index=undirected_edge_index(list(graph.edges()), num_nodes),
        labels=labels,
        class_names=KARATE_FACTIONS,
        train_index=train,
        val_index=np.zeros(0, np.int64),
        test_index=np.setdiff1d(np.arange(num_nodes), train),
        source=f"networkx {nx.__version__} karate_club_graph()",
        split="one labelled node per faction (0: Mr. Hi, 33: Officer); the other 32 nodes test",
        node_ids=tuple(range(num_nodes)),
    )


def load_cora(data_dir=None, *, train_per_class=20, val_size=500, test_size=1000, split_seed=0):
    """Loads Cora from LINQS files (`cora.content`, `cora.cites`) with a Planetoid-style split.

    Args:
        data_dir: the folder holding `cora.content` and `cora.cites` (or its
            parent holding `cora/`); None searches the Keras cache.
        train_per_class: labelled training nodes per class (Planetoid: 20).
        val_size: validation nodes (Planetoid: 500).
        test_size: test nodes (Planetoid: 1000).
        split_seed: seed of the node permutation the split is drawn from.

    Raises:
        KerarchError: no folder holds the files, or they are malformed, or
            the graph is too small for the split.
    """
    folder = _cora_folder(data_dir)
    node_ids, features, class_ids, class_names, pairs = _read_linqs(folder)
    train, val, test = planetoid_style_split(class_ids, train_per_class=train_per_class, val_size=val_size,
                                             test_size=test_size, seed=split_seed)
    return GraphData(
        name="cora",
        features=features,
        edge_index=undirected_edge_index(pairs, len(node_ids)),
        labels=class_ids,
        class_names=class_names,
        train_index=train,
        val_index=val,
        test_index=test,
        source=f"{'data_dir' if data_dir is not None else 'Keras cache'} {folder} (LINQS cora.content, cora.cites)",
        split=f"seeded Planetoid-style split (seed {split_seed}): {train_per_class} per class train, "
              f"{val_size} validation, {test_size} test",
        node_ids=node_ids,
    )


def planetoid_style_split(labels, *, train_per_class, val_size, test_size, seed):
    """(train, val, test) node indices drawn from a seeded permutation of the nodes.

    The first `train_per_class` nodes of each class train; of the others,
    the first `val_size` validate and the `test_size` after them test.
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    train = np.concatenate([order[labels[order] == c][:train_per_class] for c in np.unique(labels)])
    rest = order[~np.isin(order, train)]
    short = [c for c in np.unique(labels) if np.sum(labels == c) < train_per_class]
    if short or len(rest) < val_size + test_size:
        raise KerarchError(
            f"The graph is too small for the split: {len(labels)} nodes cannot give {train_per_class} training nodes "
            f"per class, {val_size} validation and {test_size} test nodes; lower train_per_class, val_size or "
            "test_size."
        )
    return np.sort(train), np.sort(rest[:val_size]), np.sort(rest[val_size : val_size + test_size])


def _cora_folder(data_dir):
    """The folder holding both LINQS files: `data_dir` (or its `cora/`), else a Keras cache folder."""
    if data_dir is not None:
        path = os.path.expanduser(os.fspath(data_dir))
        for folder in (path, os.path.join(path, "cora")):
            if _has_cora_files(folder):
                return folder
        raise KerarchError(
            f"data_dir {path} holds no {' and '.join(CORA_FILES)} (nor does a cora/ folder in it). "
            + _how_to_get_cora()
        )
    cache = keras_datasets_dir()
    candidates = [os.path.join(cache, "cora"), os.path.join(cache, "cora.tgz_extracted", "cora"),
                  os.path.join(cache, "cora_extracted", "cora")]
    for folder in candidates:
        if _has_cora_files(folder):
            return folder
    raise KerarchError(
        "No copy of Cora found (looked in the Keras cache: " + ", ".join(candidates) + "). " + _how_to_get_cora()
    )


def _how_to_get_cora():
    return (
        "TensorFlow Datasets has no Cora and kerarch does not download it: fetch the LINQS release "
        f"{CORA_URL}, extract it (`tar xzf cora.tgz` gives cora/cora.content and cora/cora.cites) and pass "
        "data_dir=<that cora folder>, e.g. `kerarch run gcn-cora data_dir=~/data/cora`."
    )


def _has_cora_files(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in CORA_FILES)


def _read_linqs(folder):
    """(node ids, float32 features (N, F), int64 class ids, class names, int64 node pairs (P, 2))."""
    content_path, cites_path = (os.path.join(folder, name) for name in CORA_FILES)
    rows = [line.split() for line in _lines(content_path)]
    if not rows:
        raise KerarchError(f"{content_path} is empty; expected one line per paper: <id> <word features> <class>.")
    widths = {len(row) for row in rows}
    if len(widths) != 1 or min(widths) < 3:
        raise KerarchError(
            f"{content_path}: every line needs the same number of fields, <id> <word features> <class>; "
            f"found lines of {sorted(widths)} fields."
        )
    node_ids = tuple(row[0] for row in rows)
    if len(set(node_ids)) != len(node_ids):
        raise KerarchError(f"{content_path} lists a paper id twice; each paper needs exactly one line.")
    try:
        features = np.array([row[1:-1] for row in rows], np.float32)
    except ValueError:
        raise KerarchError(f"{content_path}: the fields between the paper id and the class must be numbers.") from None
    class_names = tuple(sorted({row[-1] for row in rows}))
    class_ids = np.array([class_names.index(row[-1]) for row in rows], np.int64)
    position = {node: i for i, node in enumerate(node_ids)}
    pairs = []
    for number, line in enumerate(_lines(cites_path), start=1):
        ends = line.split()
        if len(ends) != 2:
            raise KerarchError(f"{cites_path} line {number}: expected `<cited_id> <citing_id>`, got {line!r}.")
        unknown = [end for end in ends if end not in position]
        if unknown:
            raise KerarchError(f"{cites_path} line {number}: paper {unknown[0]} is not in {content_path}.")
        pairs.append([position[end] for end in ends])
    return node_ids, features, class_ids, class_names, np.array(pairs, np.int64).reshape(-1, 2)


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]

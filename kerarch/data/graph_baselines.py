"""Node-classification baselines that need no network: one that uses only the graph, one only the features.

    classes = label_propagation(data)   # (N,) from the labelled training nodes, through the edges
    classes = features_only(data)       # (N,) logistic regression on the features, no edges

Both take a `kerarch.data.graphs.GraphData` and predict every node, so a
recipe scores them on the same nodes as its network.
"""

import numpy as np


def label_propagation(data):
    """Class per node from the labelled training nodes by label propagation (networkx's harmonic function).

    Reference:
        Zhu, Ghahramani & Lafferty, "Semi-Supervised Learning Using Gaussian
        Fields and Harmonic Functions", ICML 2003.
    """
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


def node_accuracy(predicted, labels, index):
    """The share of the nodes in `index` whose predicted class is their label."""
    return float(np.mean(predicted[index] == labels[index]))

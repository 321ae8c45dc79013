"""Graph neural networks: message passing with keras.ops (GCN, GraphSAGE, GAT)."""

from kerarch.graph.layers import GATConv, GCNConv, GraphMeanPooling, SAGEConv  # noqa: F401
from kerarch.graph.models import gat, gcn, gcn_graph_classifier, graphsage  # noqa: F401

"""Graph neural networks: message passing with keras.ops (GCN, GraphSAGE, GAT)."""

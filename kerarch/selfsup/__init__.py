"""Self-supervised learning: SimCLR and BYOL."""

"""Neural architecture search on keras-tuner: search spaces over builders, evolution and REINFORCE."""

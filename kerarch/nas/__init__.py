"""Neural architecture search on keras-tuner: search spaces over builders, evolution and REINFORCE."""

from kerarch.nas.oracles import RegularizedEvolutionOracle, ReinforceOracle  # noqa: F401
from kerarch.nas.space import CnnSearchSpace, describe_architecture, nas_cnn  # noqa: F401
from kerarch.nas.tuner import NasTuner, search_history  # noqa: F401

"""Neural architecture search on keras-tuner: search spaces over builders, evolution and REINFORCE."""

from kerarch.nas.oracles import STRATEGIES, RegularizedEvolutionOracle, ReinforceOracle, make_oracle  # noqa: F401
from kerarch.nas.space import CnnSearchSpace, describe_architecture, nas_cnn, short_run_batch_norm  # noqa: F401
from kerarch.nas.tuner import NasTuner, search_history  # noqa: F401

"""Training: distribution strategies, callbacks, runs."""

from kerarch.training.callbacks import BestCheckpoint, ResumableBackup, SampleGrid, default_callbacks  # noqa: F401
from kerarch.training.distribute import make_strategy, set_precision, split_cpu  # noqa: F401
from kerarch.training.run import Run  # noqa: F401

"""Training: distribution strategies, callbacks, runs.

The names below load their module on first use, so importing one
submodule (`kerarch.training.losses`) does not load them all.
"""

import importlib

# Public name -> module under kerarch.training.
_EXPORTS = {
    "BestCheckpoint": "callbacks",
    "ResumableBackup": "callbacks",
    "SampleGrid": "callbacks",
    "default_callbacks": "callbacks",
    "make_strategy": "distribute",
    "set_precision": "distribute",
    "split_cpu": "distribute",
    "Run": "run",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"kerarch.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'kerarch.training' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))

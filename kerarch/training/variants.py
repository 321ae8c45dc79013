"""Resuming runs that train several models one after another (the comparison recipes).

Keras's BackupAndRestore covers one `fit`; a comparison trains one model per
variant. `FinishedVariants` keeps each finished variant's weights and record
(history, measurements) in the run folder, so an interrupted run retrains
only the variants that had not finished.
"""

import os
import re

from kerarch.io import atomic_path, read_json, write_json


class FinishedVariants:
    """The finished variants of `run`, kept under `<run>/variants/` (the run's state.json marks it unfinished)."""

    def __init__(self, run):
        self.folder = run.path / "variants"

    def restore(self, name, model):
        """Loads the weights of a finished variant into `model` and returns its record; None if unfinished."""
        record = self._path(name, ".json")
        if not record.exists():
            return None
        model.load_weights(self._path(name, ".weights.h5"))
        return read_json(record)

    def save(self, name, model, record):
        """Keeps `model`'s weights and `record` (JSON-serialisable); the record is written last, as the commit."""
        with atomic_path(self._path(name, ".weights.h5")) as tmp:
            os.remove(tmp)  # Keras refuses to overwrite an existing file.
            model.save_weights(tmp)
        write_json(self._path(name, ".json"), record)


    def _path(self, name, suffix):
        return self.folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) + suffix)

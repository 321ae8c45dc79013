"""Callbacks a run gets by default, and the ones Keras needs help with."""

import csv
import json
import math
import os
import sys
from pathlib import Path

import keras
import numpy as np

from kerarch.io import atomic_path, write_csv, write_json


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that survives a kill at any moment and restores every optimizer.

    Keras's callback writes the weights file and then the epoch file in place,
    so a kill in between pairs new weights with an old epoch, and a kill while
    writing leaves a corrupt file; it also builds only `model.optimizer` before
    loading (keras-team/keras#19389), so models with several optimizers (GANs)
    silently restart their optimizer state. Here each backup is a new weights
    file, and the small JSON that names it is replaced atomically: that rename
    is the commit point.

    The backup stays when `fit` returns (Keras deletes it): the run removes it
    once the trained model is recorded, so a kill after training costs no
    training. The epoch's logs go into the state, for `BestCheckpoint`'s resume.
    """

    def __init__(self, backup_dir, **kwargs):
        super().__init__(backup_dir, delete_checkpoint=False, **kwargs)
        self._state_path = Path(backup_dir) / "state.json"
        self._logs = {}

    def on_epoch_end(self, epoch, logs=None):
        self._logs = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        super().on_epoch_end(epoch, logs)

    def _load_model(self):
        if not self._state_path.exists():
            return
        state = json.loads(self._state_path.read_text())
        build_optimizers(self.model)
        self.model.load_weights(Path(self.backup_dir) / state["weights"])
        self.model._initial_epoch = state["epoch"]
        self.restored_epoch = state["epoch"]

    def _save_model(self):
        backup_dir = Path(self.backup_dir)
        backup_dir.mkdir(parents=True, exist_ok=True)
        weights = f"epoch{self._current_epoch:04d}-batch{self._last_batch_seen}.weights.h5"
        with atomic_path(backup_dir / weights) as tmp:
            os.remove(tmp)  # Keras refuses to overwrite an existing file.
            self.model.save_weights(tmp)
        write_json(self._state_path, {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": weights,
                                      "logs": self._logs})
        for old in backup_dir.glob("*.weights.h5"):
            if old.name != weights:
                old.unlink()


def build_optimizers(model):
    """Creates optimizer variables so that saved optimizer state can load into them."""
    if hasattr(model, "build_optimizers"):
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model as `.keras` whenever `monitor` improves, atomically, and its epoch and value beside it.

    Our own because keras.callbacks.ModelCheckpoint writes in place: a kill
    mid-write leaves a corrupt file named like the good one; and it forgets
    the best value on resume, so the first resumed epoch replaces a better
    checkpoint. Here `best.json` (epoch, monitor, value) follows each save,
    and a resumed run starts from it. Placed after `ResumableBackup`, which
    commits an epoch first: a kill between the two leaves the committed
    epoch's best unsaved, and the resume saves it from the restored weights.
    """

    def __init__(self, path, monitor="val_loss", mode="auto", backup_state=None):
        super().__init__()
        self.path = Path(path)
        self.record = self.path.with_suffix(".json")
        self.backup_state = Path(backup_state) if backup_state else None
        self.monitor = monitor
        self.sign = -1.0 if mode == "min" or (mode == "auto" and "loss" in monitor) else 1.0
        self.best = -math.inf

    def on_train_begin(self, logs=None):
        if self.record.exists() and self.path.exists():
            self.best = self.sign * json.loads(self.record.read_text())["value"]
        restored = self._restored_epoch()
        if restored is not None:  # the backup's epoch may have ended after the last save: catch up
            self.on_epoch_end(restored["epoch"] - 1, restored["logs"])

    def _restored_epoch(self):
        if self.backup_state is None or not self.backup_state.exists():
            return None
        state = json.loads(self.backup_state.read_text())
        return state if state.get("epoch") and "logs" in state else None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value) or self.sign * value <= self.best:
            return
        self.best = self.sign * value
        with atomic_path(self.path) as tmp:
            os.remove(tmp)
            self.model.save(tmp)
        write_json(self.record, {"epoch": epoch, "monitor": self.monitor, "value": float(value)})


class SampleGrid(keras.callbacks.Callback):
    """Saves a grid of generated images after every epoch (fixed noise, so epochs compare).

    Args:
        sample_fn: maps a batch of inputs to images in [0, 1].
        inputs: the fixed inputs (noise, or noise and labels).
        out_dir: folder for `epoch_001.png`, ...
    """

    def __init__(self, sample_fn, inputs, out_dir, *, rows=None, row_labels=None):
        super().__init__()
        self.sample_fn = sample_fn
        self.inputs = inputs
        self.out_dir = Path(out_dir)
        self.rows = rows
        self.row_labels = row_labels

    def on_epoch_end(self, epoch, logs=None):
        from kerarch.plots import image_grid

        images = np.asarray(self.sample_fn(self.inputs))
        image_grid(
            images, self.out_dir / f"epoch_{epoch + 1:03d}.png",
            rows=self.rows, row_labels=self.row_labels, title=f"epoch {epoch + 1}",
        )


class SyncReplicaState(keras.callbacks.Callback):
    """Averages BatchNorm moving statistics across replicas after every epoch.

    See `kerarch.training.distribute.sync_replica_variables`; it runs before
    the other epoch-end callbacks so that checkpoints, sample grids and
    evaluation all see one consistent model.
    """

    def on_epoch_end(self, epoch, logs=None):
        from kerarch.training.distribute import sync_replica_variables

        sync_replica_variables(self.model)


class AlignedCSVLogger(keras.callbacks.CSVLogger):
    """CSVLogger whose columns stay aligned when a resumed run logs other keys than the interrupted one.

    Keras appends the new rows under the old header, so a key that appears on
    resume (another callback, a newer kerarch) shifts every later column. Here
    the file is rewritten once with the union of both headers ("NA" where a
    row has no value), and the new rows use that header.
    """

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            keys = sorted(logs or {})
            if keys and not any(key.startswith("val_") for key in keys):
                keys += [f"val_{key}" for key in keys]  # as Keras: val_ columns stay for a later validation
            self.keys = self._union_with_saved_header(keys)
        super().on_epoch_end(epoch, logs)

    def _union_with_saved_header(self, keys):
        if self.append_header or not os.path.exists(self.filename):
            return keys
        with open(self.filename, newline="") as f:
            reader = csv.DictReader(f, delimiter=self.sep)
            rows, saved = list(reader), [key for key in (reader.fieldnames or []) if key != "epoch"]
        if saved == keys:
            return keys
        union = sorted(set(saved) | set(keys))
        self.csv_file.close()
        write_csv(self.filename, ["epoch"] + union, rows, delimiter=self.sep, restval="NA", extrasaction="ignore")
        self.csv_file = open(self.filename, "a", newline="")
        return union


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's learning rate at the end of each epoch to the logs, so metrics.csv and curves.png show it."""

    def on_epoch_end(self, epoch, logs=None):
        optimizer = getattr(self.model, "optimizer", None)  # None for models with their own optimizers (GANs)
        if logs is not None and optimizer is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def progress_verbosity(mode="auto"):
    """Keras `verbose=` for a progress mode: a live bar on terminals, a line per epoch in logs."""
    if mode == "auto":
        mode = "bar" if sys.stdout.isatty() else "epoch"
    return {"bar": 1, "epoch": 2, "none": 0}[mode]


def default_callbacks(run_dir, *, monitor="val_loss", backup=True, best=True):
    """Replica sync, learning-rate logging, BackupAndRestore, best checkpoint, TensorBoard, CSV metrics, TerminateOnNaN."""
    run_dir = Path(run_dir)
    # Metrics are logged before the backup commits an epoch: a kill in between
    # repeats that epoch, and the resumed run drops its row first (Run.open).
    callbacks = [
        SyncReplicaState(),
        LearningRateLogger(),
        keras.callbacks.TerminateOnNaN(),
        AlignedCSVLogger(str(run_dir / "metrics.csv"), append=True),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False),
    ]
    # The backup commits an epoch before the best checkpoint may save it (see BestCheckpoint).
    if backup:
        callbacks.append(ResumableBackup(run_dir / "backup"))
    if best:
        callbacks.append(BestCheckpoint(run_dir / "checkpoints" / "best.keras", monitor=monitor,
                                        backup_state=run_dir / "backup" / "state.json" if backup else None))
    return callbacks

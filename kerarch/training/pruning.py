"""Magnitude pruning for Keras 3 models: a callback, a strip step and a report.

TensorFlow Model Optimization's pruning wraps Keras 2 layers and does not run
on Keras 3. Here the model stays as it is: a callback keeps one 0/1 mask per
prunable kernel (Dense, EinsumDense, Conv*, Conv*Transpose, DepthwiseConv*,
SeparableConv*), recomputes the masks from the weight magnitudes on a
polynomial sparsity schedule (Zhu & Gupta 2017, as TFMOT's PolynomialDecay),
and multiplies the kernels by their masks after every training batch with
`keras.ops`, so it works on every backend and under tf.distribute.

    pruning = MagnitudePruning(PolynomialSparsity(0.5, begin_step=0, end_step=2000))
    model.fit(train, epochs=10, callbacks=[pruning])
    plain = strip_pruning(model, pruning)      # a fresh model, no optimizer, no masks
    report = sparsity_report(plain, baseline=pruning.dense_weights)

In a recipe: give its config `PruningOptions` and its class `Prunable`, and
`prune=0.5` on the command line prunes it (see `Prunable`).

Reference:
    Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of
    pruning for model compression", ICLR 2018 workshop.
"""

import dataclasses
import gzip
import logging
import math
import os
from pathlib import Path

import keras
import numpy as np
from keras import ops

from kerarch.config import option
from kerarch.errors import KerarchError
from kerarch.io import write_json

log = logging.getLogger("kerarch")

# layer type -> the attributes holding its prunable kernels (biases, norms and embeddings are never pruned).
_KERNELS = {
    keras.layers.Dense: ("kernel",),
    keras.layers.EinsumDense: ("kernel",),
    keras.layers.Conv1D: ("kernel",),
    keras.layers.Conv2D: ("kernel",),
    keras.layers.Conv3D: ("kernel",),
    keras.layers.Conv1DTranspose: ("kernel",),
    keras.layers.Conv2DTranspose: ("kernel",),
    keras.layers.Conv3DTranspose: ("kernel",),
    keras.layers.DepthwiseConv1D: ("kernel",),
    keras.layers.DepthwiseConv2D: ("kernel",),
    keras.layers.SeparableConv1D: ("depthwise_kernel", "pointwise_kernel"),
    keras.layers.SeparableConv2D: ("depthwise_kernel", "pointwise_kernel"),
}


class PolynomialSparsity:
    """Sparsity rising from `initial` to `target` between two steps, polynomially.

    s(t) = target + (initial - target) * (1 - p)^power, p = (t - begin) / (end - begin)
    clipped to [0, 1]: 0 before `begin_step` (nothing is pruned yet), `target`
    from `end_step` on. Fast at first, while many weights are redundant, and
    slow near the target. Masks are recomputed every `frequency` steps
    between the two and once more at `end_step`.

    Args:
        target: final sparsity, in [0, 1).
        begin_step: optimizer step at which pruning starts.
        end_step: step at which `target` is reached (> begin_step).
        initial: sparsity at `begin_step`.
        power: exponent of the decay (3 in Zhu & Gupta and TFMOT).
        frequency: steps between mask updates.
    """

    def __init__(self, target, *, begin_step, end_step, initial=0.0, power=3, frequency=100):
        if not 0.0 <= initial <= target < 1.0:
            raise KerarchError(f"Sparsity must satisfy 0 <= initial <= target < 1, got initial={initial}, target={target}.")
        if not 0 <= begin_step < end_step:
            raise KerarchError(f"Pruning needs 0 <= begin_step < end_step, got {begin_step} and {end_step}.")
        if frequency < 1:
            raise KerarchError(f"Pruning frequency must be at least 1 step, got {frequency}.")
        self.target, self.initial, self.power = float(target), float(initial), power
        self.begin_step, self.end_step, self.frequency = int(begin_step), int(end_step), int(frequency)

    def __call__(self, step):
        """The sparsity at optimizer step `step`."""
        if step < self.begin_step:
            return 0.0
        progress = min(1.0, (step - self.begin_step) / (self.end_step - self.begin_step))
        return self.target + (self.initial - self.target) * (1.0 - progress) ** self.power

    def get_config(self):
        return {"target": self.target, "begin_step": self.begin_step, "end_step": self.end_step,
                "initial": self.initial, "power": self.power, "frequency": self.frequency}


def prunable_weights(model):
    """[(layer, attribute, variable)] for every prunable kernel of `model`, nested layers included."""
    found, seen = [], set()
    for layer in _all_layers(model):
        for layer_type, attributes in _KERNELS.items():
            if isinstance(layer, layer_type):
                for attribute in attributes:
                    variable = getattr(layer, attribute, None)
                    if variable is not None and id(variable) not in seen:
                        seen.add(id(variable))
                        found.append((layer, attribute, variable))
                break
    return found


def _all_layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    return list(model.layers)  # pragma: no cover - every Keras 3 layer has _flatten_layers


def magnitude_mask(weights, sparsity):
    """A 0/1 mask (same dtype and shape) zeroing the `sparsity` fraction of smallest-magnitude weights.

    Ties at the threshold are pruned together, so at least floor(sparsity * size)
    weights are zero in `weights * mask` (exactly that many for distinct magnitudes).
    """
    size = int(np.prod(ops.shape(weights)))
    count = int(math.floor(sparsity * size))
    if count <= 0:
        return ops.ones_like(weights)
    magnitudes = ops.abs(weights)
    threshold = ops.sort(ops.reshape(magnitudes, (-1,)))[count - 1]
    return ops.cast(ops.greater(magnitudes, threshold), weights.dtype)


class MagnitudePruning(keras.callbacks.Callback):
    """Prunes the smallest-magnitude kernel weights of the model being trained.

    After every training batch: when the schedule says so, each kernel's mask
    is recomputed from the current magnitudes at the schedule's sparsity; then
    every kernel is multiplied by its mask. The step is the optimizer's
    `iterations`, so a resumed run continues the schedule where it stopped.

    Args:
        schedule: a `PolynomialSparsity`.
        skip: layer names (or name prefixes) to leave dense, e.g. the
            classifier ("predictions").

    Attributes:
        sparsity: the sparsity of the current masks.
        dense_weights: `model.get_weights()` just before the first mask, the
            "before" of `sparsity_report`'s compressed sizes (None if the
            run resumed past that point).
    """

    def __init__(self, schedule, *, skip=()):
        super().__init__()
        self.schedule = schedule
        self.skip = tuple(skip)
        self.sparsity = 0.0
        self.dense_weights = None
        self._masks = {}
        self._targets = []
        self._last_update = None

    def on_train_begin(self, logs=None):
        self._targets = [
            (layer, attribute, variable)
            for layer, attribute, variable in prunable_weights(self.model)
            if not any(layer.name.startswith(prefix) for prefix in self.skip)
        ]
        if not self._targets:
            raise KerarchError(f"Model {self.model.name!r} has no prunable Dense or convolution kernels.")
        step = self.step
        if step > self.schedule.begin_step:  # resumed: rebuild the masks the run had
            self.update_masks(step)
            self.apply_masks()

    def on_train_batch_end(self, batch, logs=None):
        step = self.step
        if self._due(step):
            self.update_masks(step)
        self.apply_masks()

    @property
    def step(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            raise KerarchError("MagnitudePruning needs a compiled model (it follows optimizer.iterations).")
        return int(ops.convert_to_numpy(optimizer.iterations))

    def _due(self, step):
        schedule = self.schedule
        if step < schedule.begin_step or (self._last_update is not None and self._last_update >= schedule.end_step):
            return False
        return (
            self._last_update is None
            or step - self._last_update >= schedule.frequency
            or (step >= schedule.end_step > self._last_update)
        )

    def update_masks(self, step):
        """Recomputes every mask at the schedule's sparsity for `step`."""
        if self.dense_weights is None and not self._masks and step <= self.schedule.begin_step + self.schedule.frequency:
            self.dense_weights = [np.array(w) for w in self.model.get_weights()]
        self.sparsity = self.schedule(step)
        for _, _, variable in self._targets:
            self._masks[_key(variable)] = magnitude_mask(ops.convert_to_tensor(variable), self.sparsity)
        self._last_update = step
        log.debug("Pruning: sparsity %.4f at step %d.", self.sparsity, step)

    def apply_masks(self):
        """Multiplies every kernel by its mask (pruned weights become exactly 0)."""
        for _, _, variable in self._targets:
            mask = self._masks.get(_key(variable))
            if mask is not None:
                variable.assign(ops.multiply(variable, mask))

    def get_config(self):
        return {"schedule": self.schedule.get_config(), "skip": list(self.skip)}


def _key(variable):
    return getattr(variable, "path", None) or id(variable)


def strip_pruning(model, pruning=None):
    """A plain copy of a pruned model: same layers and outputs, no optimizer, no masks.

    With `pruning` (the callback), its masks are applied once more first, so
    the copy's pruned weights are exactly zero. The copy is built outside any
    distribution strategy, ready for `export_model`.

    Args:
        model: the trained model.
        pruning: the `MagnitudePruning` callback that trained it, or None.

    Returns:
        A new, uncompiled `keras.Model` with the same name and weights.
    """
    if pruning is not None and pruning.model is not None:
        pruning.apply_masks()
    plain = type(model).from_config(model.get_config())  # clone_model would compile the copy again
    plain.set_weights(model.get_weights())
    return plain


def gzipped_size(data, *, level=9):
    """Bytes after gzip of `data`: bytes, a file path, or a list of arrays (concatenated raw)."""
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    elif isinstance(data, (str, os.PathLike)):
        raw = Path(data).read_bytes()
    else:
        raw = b"".join(np.ascontiguousarray(np.asarray(a)).tobytes() for a in data)
    return len(gzip.compress(raw, compresslevel=level, mtime=0))


def sparsity_report(model, *, baseline=None):
    """Per-kernel sparsity and the gzip-compressed size of the weights.

    Zeros compress: a pruned model's weights shrink under gzip while a dense
    float model's hardly do. That is what pruning buys for a download; the
    dense file on disk keeps its size.

    Args:
        model: the (pruned) model.
        baseline: the weights before pruning, as a model or a list of arrays
            (`MagnitudePruning.dense_weights`), for the "before" size.

    Returns:
        {"layers": [{"layer", "weight", "shape", "params", "zeros", "sparsity"}],
         "prunable_params", "prunable_zeros", "sparsity" (over the prunable
         kernels), "params", "zeros", "raw_bytes", "gzip_bytes", and with a
         baseline "baseline_gzip_bytes" and "gzip_ratio" (after / before)}.
    """
    rows = []
    for layer, attribute, variable in prunable_weights(model):
        w = np.asarray(ops.convert_to_numpy(variable))
        zeros = int(np.count_nonzero(w == 0))
        rows.append({"layer": layer.name, "weight": attribute, "shape": list(w.shape), "params": int(w.size),
                     "zeros": zeros, "sparsity": round(zeros / max(1, w.size), 4)})
    weights = model.get_weights()
    prunable = sum(r["params"] for r in rows)
    pruned = sum(r["zeros"] for r in rows)
    report = {
        "layers": rows,
        "prunable_params": prunable,
        "prunable_zeros": pruned,
        "sparsity": round(pruned / max(1, prunable), 4),
        "params": int(sum(w.size for w in weights)),
        "zeros": int(sum(np.count_nonzero(w == 0) for w in weights)),
        "raw_bytes": int(sum(np.asarray(w).nbytes for w in weights)),
        "gzip_bytes": gzipped_size(weights),
    }
    if baseline is not None:
        before = baseline.get_weights() if hasattr(baseline, "get_weights") else baseline
        report["baseline_gzip_bytes"] = gzipped_size(before)
        report["gzip_ratio"] = round(report["gzip_bytes"] / report["baseline_gzip_bytes"], 4)
    return report


# --- in recipes ------------------------------------------------------------------


@dataclasses.dataclass
class PruningOptions:
    """Config keys of a prunable recipe; put it before RecipeConfig: `class C(PruningOptions, RecipeConfig)`."""

    prune: float = option(
        0.0, "Target sparsity of magnitude pruning, e.g. 0.5 zeroes half of every Dense/Conv kernel (0: off).",
        minimum=0.0,
    )
    prune_begin: float = option(0.0, "Fraction of the training steps after which pruning starts.", minimum=0.0)
    prune_end: float = option(
        0.75, "Fraction of the training steps at which the target sparsity is reached (polynomial, power 3); "
        "the rest trains at that sparsity.", minimum=0.0,
    )
    prune_frequency: int = option(100, "Recompute the masks every this many steps (they apply after every step).",
                                  minimum=1)

    def __post_init__(self):
        if self.prune >= 1.0:
            raise KerarchError(f"Value {self.prune} for 'prune' must be below 1 (the fraction of weights set to zero).")
        if not self.prune_begin < self.prune_end <= 1.0:
            raise KerarchError(
                f"prune_begin={self.prune_begin} and prune_end={self.prune_end} must satisfy 0 <= prune_begin < prune_end <= 1."
            )
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


class Prunable:
    """Recipe mixin for `PruningOptions`: `class MyRecipe(Prunable, Recipe)`.

    With `prune` > 0 the training callbacks get a `MagnitudePruning` over the
    run's optimizer steps, the exported model is `strip_pruning`'s plain copy,
    and `pruning_metrics(model)` (call it from `evaluate`) writes
    `sparsity.json` (per-layer report) to the run folder and returns the
    headline numbers. The schedule spans `Recipe.train_steps(data)`.
    """

    pruning = None
    prune_skip = ()

    def callbacks(self, model, data):
        callbacks = super().callbacks(model, data)
        cfg = self.config
        if cfg.prune > 0:
            total = self.train_steps(data)
            begin = int(cfg.prune_begin * total)
            end = max(begin + 1, int(round(cfg.prune_end * total)))
            schedule = PolynomialSparsity(cfg.prune, begin_step=begin, end_step=end, frequency=cfg.prune_frequency)
            self.pruning = MagnitudePruning(schedule, skip=self.prune_skip)
            log.info("Pruning to sparsity %.2f between steps %d and %d of %d.", cfg.prune, begin, end, total)
            callbacks.append(self.pruning)
        return callbacks

    def model_to_export(self, model):
        model = super().model_to_export(model)
        return strip_pruning(model, self.pruning) if self.config.prune > 0 else model

    def pruning_metrics(self, model):
        """{} when not pruning; else sparsity and compressed sizes, with sparsity.json in the run folder."""
        if self.config.prune <= 0:
            return {}
        baseline = self.pruning.dense_weights if self.pruning is not None else None
        report = sparsity_report(model, baseline=baseline)
        if self.run.chief:
            write_json(self.run.path / "sparsity.json", report)
        metrics = {"sparsity": report["sparsity"], "weights_gzip_bytes": report["gzip_bytes"]}
        if "baseline_gzip_bytes" in report:
            metrics["weights_gzip_bytes_before_pruning"] = report["baseline_gzip_bytes"]
        return metrics

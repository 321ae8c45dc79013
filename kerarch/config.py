"""Recipe configuration: dataclasses with documented fields and strict overrides.

Like TF Model Garden's experiment configs: defaults live in a dataclass, the
command line overrides them with `key=value` pairs, and unknown keys, values
of the wrong type and values outside a field's choices are errors.
"""

import dataclasses
import math
import types
import typing

from kerarch.choices import OPTIMIZERS, SCHEDULES, STRATEGIES
from kerarch.errors import KerarchError
from kerarch.export.tflite import INT8_GRANULARITIES, QUANTIZE_MODES


def option(default, help, *, choices=None, minimum=None):
    """A dataclass field that documents itself for `kerarch info`; `minimum` is inclusive."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None, "minimum": minimum}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def image_dataset_option(default):
    """The `dataset` key of the recipes that train on 28x28 grey images (one wording, one choice list)."""
    return option(default, "mnist (real MNIST after `make data`, else Fashion-MNIST with a notice) or fashion_mnist.",
                  choices=IMAGE_DATASETS)


def _listed(notes):
    """{name: note} as "a (note), b, c" for a key's help."""
    return ", ".join(f"{name} ({note})" if note else name for name, note in notes.items())


# Hidden-layer activations the recipes offer (Keras names).
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid")
# The 28x28 grey-image datasets the image recipes train on.
IMAGE_DATASETS = ("mnist", "fashion_mnist")


@dataclasses.dataclass
class RecipeConfig:
    """Keys every recipe accepts."""

    epochs: int = option(10, "Passes over the training data.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    steps_per_epoch: typing.Optional[int] = option(None, "Cap on training steps per epoch (none: the whole dataset).", minimum=1)
    dataset: str = option("mnist", "Named dataset to train on.")
    data_dir: typing.Optional[str] = option(None, "Folder holding a local copy of the dataset (skips caches and downloads).")
    strategy: str = option(
        "auto",
        f"Distribution: {_listed(STRATEGIES)}.",
        choices=STRATEGIES,
    )
    devices: typing.Optional[int] = option(
        None, "Split the CPU into this many logical devices (for MirroredStrategy without GPUs).", minimum=1
    )
    precision: str = option(
        "float32", "Keras dtype policy.", choices=("float32", "mixed_float16", "mixed_bfloat16")
    )
    jit_compile: str = option("auto", "XLA compilation of the train step.", choices=("auto", "true", "false"))
    steps_per_execution: int = option(
        1, "Train steps per call of the compiled train function (Keras' steps_per_execution): fewer Python round "
        "trips for small models; the progress bar and step callbacks update every this many steps.", minimum=1
    )
    seed: int = option(42, "Seed for keras.utils.set_random_seed (Python, NumPy and backend).")
    run_dir: typing.Optional[str] = option(
        None, "Run folder (default runs/<recipe>/<timestamp>); an existing unfinished one is resumed."
    )
    resume: bool = option(True, "Resume the newest interrupted run of this recipe with the same config.")
    export: bool = option(True, "Export SavedModel and TFLite to saved_models/ after training.")
    quantize: typing.Optional[str] = option(
        None, "Also export a quantized TFLite file.", choices=(None, *QUANTIZE_MODES)
    )
    int8_granularity: str = option(
        "per_channel", "Weight scales of quantize=int8: per_channel (TFLite's default, safest) or per_tensor (one "
        "scale per tensor: a smaller file; check the reported accuracy drop).", choices=INT8_GRANULARITIES
    )
    optimizer: str = option("adam", "Optimizer (kerarch.training.optim).", choices=OPTIMIZERS)
    learning_rate: float = option(1e-3, "Peak learning rate (after the warmup).", minimum=0.0)
    momentum: float = option(0.9, "Momentum of the momentum and nesterov optimizers.", minimum=0.0)
    weight_decay: float = option(0.0, "Decoupled weight decay (Keras applies it in every optimizer; 0: off).",
                                 minimum=0.0)
    clipnorm: float = option(0.0, "Clip gradients to this norm (0: off).", minimum=0.0)
    clipvalue: float = option(0.0, "Clip gradient elements to [-clipvalue, clipvalue] (0: off).", minimum=0.0)
    schedule: str = option("constant", f"Learning-rate schedule: {_listed(SCHEDULES)}.", choices=SCHEDULES)
    warmup_epochs: float = option(0.0, "Linear warmup from 0, in epochs (warmup_cosine and linear).", minimum=0.0)
    verbose: str = option("auto", "Progress output: auto (bar on a terminal, a line per epoch otherwise), bar, epoch, none.",
                          choices=("auto", "bar", "epoch", "none"))


def describe(config_cls):
    """Rows (key, type, default, help) documenting a config class."""
    hints = typing.get_type_hints(config_cls)
    rows = []
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f.metadata.get("help", "")
        choices = f.metadata.get("choices")
        if choices:
            help_text += f" One of: {', '.join(_format(c) for c in choices)}."
        if f.metadata.get("minimum") is not None:
            help_text += f" At least {f.metadata['minimum']}."
        rows.append((f.name, _type_name(hints[f.name]), _format(default), help_text))
    return rows


def parse_overrides(config_cls, pairs, *, base=None):
    """Builds `config_cls` from its defaults (or `base`) and `key=value` strings."""
    values = {}
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise KerarchError(f"Expected key=value, got {pair!r}.")
        if key not in fields:
            raise KerarchError(
                f"Unknown key {key!r} for this recipe. Valid keys: {', '.join(sorted(fields))}."
            )
        values[key] = _convert(key, raw.strip(), hints[key], fields[key].metadata)
    config = dataclasses.replace(base, **values) if base is not None else config_cls(**values)
    return config


def to_dict(config):
    return dataclasses.asdict(config)


def from_dict(config_cls, data):
    """Rebuilds a config from `to_dict` output, ignoring keys it no longer has."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for key, value in data.items():
        if key in names:
            kwargs[key] = tuple(value) if _is_tuple(hints[key]) and isinstance(value, list) else value
    return config_cls(**kwargs)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null", ""}


def _convert(key, raw, hint, metadata):
    choices, minimum = metadata.get("choices"), metadata.get("minimum")
    optional, inner = _unwrap_optional(hint)
    if optional and raw.lower() in _NONE:
        value = None
    else:
        try:
            value = _parse(raw, inner)
        except ValueError:
            raise KerarchError(
                f"Value {raw!r} for {key!r} is not a valid {_type_name(hint)}."
            ) from None
    if not _finite(value):
        raise KerarchError(f"Value {raw!r} for {key!r} must be a finite number, not nan or inf.")
    if choices and isinstance(value, tuple):  # a list key: every item must be a choice, and one at least
        unknown = [item for item in value if item not in choices]
        if unknown or not value:
            raise KerarchError(
                f"Value {raw!r} for {key!r} must list one or more of: {', '.join(_format(c) for c in choices)}"
                + (f" (unknown: {', '.join(map(str, unknown))})." if unknown else ".")
            )
    elif choices and value not in choices:
        raise KerarchError(
            f"Value {raw!r} for {key!r} is not one of: {', '.join(_format(c) for c in choices)}."
        )
    if minimum is not None and value is not None and value < minimum:
        raise KerarchError(f"Value {raw!r} for {key!r} must be at least {minimum}.")
    return value


def _finite(value):
    """False if `value`, or an item of it, is a nan or infinite float."""
    items = value if isinstance(value, tuple) else (value,)
    return all(math.isfinite(item) for item in items if isinstance(item, float))


def _parse(raw, hint):
    if hint is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(raw)
    if hint is int:
        return int(raw.replace("_", ""))
    if hint is float:
        return float(raw)
    if hint is str:
        return raw
    if _is_tuple(hint):
        (item,) = set(typing.get_args(hint)) - {Ellipsis}
        parts = [p for p in raw.strip("()[] ").split(",") if p.strip()]
        return tuple(_parse(p.strip(), item) for p in parts)
    raise ValueError(f"unsupported type {hint}")


def _unwrap_optional(hint):
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return True, inner
    return False, hint


def _is_tuple(hint):
    return typing.get_origin(hint) is tuple


def _type_name(hint):
    optional, inner = _unwrap_optional(hint)
    if _is_tuple(inner):
        name = f"tuple of {_type_name(typing.get_args(inner)[0])}"
    else:
        name = getattr(inner, "__name__", str(inner))
    return f"{name} or none" if optional else name


def _format(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)

"""Optimizers, learning-rate schedules and losses by name: the training choices every recipe exposes.

    optimizer = make_optimizer("momentum", learning_rate=make_schedule("warmup_cosine", 0.1,
                                                                       total_steps=3000, warmup_steps=100),
                               weight_decay=5e-4, clipnorm=1.0)
    loss = make_loss("huber", delta=1.0)

Each name maps to a `keras.optimizers` / `keras.optimizers.schedules` /
`keras.losses` object in a registry, so a recipe's `optimizer=`, `schedule=`
and `loss=` keys are lookups, and `describe_optimizer` gives the resolved
choice for config.json and the report. The two registries hold exactly the
names of `kerarch.choices.OPTIMIZERS` and `SCHEDULES`, which configs offer
without importing Keras.
"""

import keras

from kerarch.registry import Registry
from kerarch.training.schedules import step_decay, warmup_cosine

OPTIMIZERS = Registry("optimizer")
SCHEDULES = Registry("schedule")


@OPTIMIZERS.register("sgd")
def _sgd(learning_rate, *, momentum, **common):
    return keras.optimizers.SGD(learning_rate, **common)


@OPTIMIZERS.register("momentum")
def _momentum(learning_rate, *, momentum, **common):
    return keras.optimizers.SGD(learning_rate, momentum=momentum, **common)


@OPTIMIZERS.register("nesterov")
def _nesterov(learning_rate, *, momentum, **common):
    return keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=True, **common)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(learning_rate, *, momentum, **common):
    return keras.optimizers.RMSprop(learning_rate, **common)


@OPTIMIZERS.register("adam")
def _adam(learning_rate, *, momentum, **common):
    return keras.optimizers.Adam(learning_rate, **common)


@OPTIMIZERS.register("adamw")
def _adamw(learning_rate, *, momentum, weight_decay=None, **common):
    # AdamW rejects weight_decay=None, which make_optimizer passes for 0 (off).
    return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay or 0.0, **common)


def make_optimizer(name, *, learning_rate, momentum=0.9, weight_decay=0.0, clipnorm=0.0, clipvalue=0.0,
                   global_clipnorm=False, beta_1=None, beta_2=None):
    """A Keras optimizer by registry name.

    Args:
        name: sgd, momentum, nesterov, rmsprop, adam or adamw.
        learning_rate: a float or a `keras.optimizers.schedules` schedule.
        momentum: momentum of the momentum and nesterov optimizers.
        weight_decay: decoupled weight decay (Loshchilov & Hutter 2019), as
            Keras 3 applies it in every optimizer; 0 turns it off (AdamW then
            is Adam).
        clipnorm: clip gradients by norm (0: off); per variable, or the
            global norm over all variables when `global_clipnorm`.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue] (0: off).
        beta_1: Adam/AdamW's first-moment decay where a paper sets it (e.g. 0.5 for GANs).
        beta_2: Adam/AdamW's second-moment decay where a paper sets it (e.g. 0.9 for WGAN-GP).

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    common = {"weight_decay": weight_decay or None}
    if clipnorm:
        common["global_clipnorm" if global_clipnorm else "clipnorm"] = clipnorm
    if clipvalue:
        common["clipvalue"] = clipvalue
    for key, value in (("beta_1", beta_1), ("beta_2", beta_2)):
        if value is not None and name in ("adam", "adamw"):
            common[key] = value
    return OPTIMIZERS.get(name)(learning_rate, momentum=momentum, **common)


@SCHEDULES.register("constant")
def _constant(peak, *, total_steps, warmup_steps):
    return peak


@SCHEDULES.register("step")
def _step(peak, *, total_steps, warmup_steps):
    return step_decay(peak, total_steps=total_steps)


@SCHEDULES.register("cosine")
def _cosine(peak, *, total_steps, warmup_steps):
    return warmup_cosine(peak, total_steps=total_steps)


@SCHEDULES.register("warmup_cosine")
def _warmup_cosine(peak, *, total_steps, warmup_steps):
    return warmup_cosine(peak, total_steps=total_steps, warmup_steps=warmup_steps)


@SCHEDULES.register("linear")
def _linear(peak, *, total_steps, warmup_steps):
    # BERT's schedule: linear decay to 0 (Keras's PolynomialDecay with power 1), after an optional warmup.
    if not warmup_steps:
        return keras.optimizers.schedules.PolynomialDecay(peak, total_steps, 0.0)
    return LinearWarmup(peak, warmup_steps, keras.optimizers.schedules.PolynomialDecay(peak, max(1, total_steps - warmup_steps), 0.0))


def make_schedule(name, peak, *, total_steps, warmup_steps=0):
    """A learning rate by registry name: constant, step (/10 at 50 % and 75 %), cosine, warmup_cosine, linear.

    Args:
        name: the schedule's registry name.
        peak: the learning rate after the warmup (the constant rate for "constant").
        total_steps: optimizer steps of the whole run.
        warmup_steps: linear warmup from 0 (warmup_cosine and linear only).

    Returns:
        A float (constant) or a `keras.optimizers.schedules.LearningRateSchedule`.
    """
    return SCHEDULES.get(name)(peak, total_steps=int(total_steps), warmup_steps=int(warmup_steps))


@keras.saving.register_keras_serializable(package="kerarch")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    # Keras has warmup only inside CosineDecay; this puts a linear warmup before any schedule.
    def __init__(self, peak, warmup_steps, after):
        self.peak, self.warmup_steps, self.after = peak, warmup_steps, after

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * step / self.warmup_steps
        return keras.ops.where(step < self.warmup_steps, warm, self.after(step - self.warmup_steps))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "after": keras.saving.serialize_keras_object(self.after)}

    @classmethod
    def from_config(cls, config):
        return cls(config["peak"], config["warmup_steps"], keras.saving.deserialize_keras_object(config["after"]))


def describe_optimizer(optimizer):
    """A short JSON-friendly description of an optimizer and its learning rate, for config.json and the report."""
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    keep = ("momentum", "nesterov", "beta_1", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue")
    described = {"class": type(optimizer).__name__,
                 **{k: _short(config[k]) for k in keep if config.get(k) not in (None, 0, False)}}
    if isinstance(rate, dict):  # a schedule: its class and arguments
        described["learning_rate"] = {"schedule": rate["class_name"], **_plain(rate["config"])}
    else:
        described["learning_rate"] = _short(rate)
    return described


def describe_loss(loss):
    """A JSON-friendly description of a compiled loss: a name, a Loss object's class and arguments, or a dict of them."""
    if isinstance(loss, dict):
        return {key: describe_loss(value) for key, value in loss.items()}
    if isinstance(loss, keras.losses.Loss):
        config = {k: v for k, v in loss.get_config().items() if k not in ("name", "reduction", "dtype")}
        return {"class": type(loss).__name__, **_plain(config)}
    return loss if loss is None or isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)


def _plain(config):
    """Config values that are JSON scalars (nested schedules reduced to their class names)."""
    return {k: (v["class_name"] if isinstance(v, dict) and "class_name" in v else _short(v))
            for k, v in config.items() if k != "name" and (v is None or isinstance(v, (bool, int, float, str, dict)))}


def _short(value):
    """Floats stored as float32 (0.0010000000474974513) back to their short decimal (0.001)."""
    return float(f"{value:.7g}") if isinstance(value, float) else value


"""tf.distribute set-up: logical CPU devices, strategies, dtype policies.

MirroredStrategy replicates the model on the GPUs (or logical CPU devices)
of one machine; MultiWorkerMirroredStrategy extends it to several machines
described by the TF_CONFIG environment variable.
"""

import functools
import json
import logging
import os

import keras

from kerarch.choices import STRATEGIES
from kerarch.errors import KerarchError

log = logging.getLogger("kerarch")


def split_cpu(devices):
    """Splits the first CPU into `devices` logical devices (idempotent).

    Must run before TensorFlow initialises its runtime (before any op).
    """
    import tensorflow as tf

    if not devices or devices < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current and len(current) == devices:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
        )
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        raise KerarchError(
            f"devices={devices} must be set before TensorFlow starts, but it already runs with "
            f"{have} logical CPU device(s). Pass devices= on the command line of a fresh process."
        ) from None


def make_strategy(name="auto", *, devices=None):
    """Returns the tf.distribute strategy named by `name`.

    Args:
        name: one of `kerarch.choices.STRATEGIES`: "auto" (MirroredStrategy on
            2+ GPUs, or on the logical CPUs when `devices` >= 2; otherwise the
            default strategy), "mirrored", "multi_worker"
            (MultiWorkerMirroredStrategy from TF_CONFIG), "one_device" or
            "default".
        devices: number of logical CPU devices to split the CPU into first.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise KerarchError(f"Unknown strategy {name!r}. Choose one of: {', '.join(STRATEGIES)}.")
    if name == "multi_worker":
        return _multi_worker_strategy()
    split_cpu(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) >= 2 or (devices or 0) >= 2 else "default"
    if name == "mirrored":
        replicas = gpus or tf.config.list_logical_devices("CPU")
        return _mirrored(tuple(d.name for d in replicas))
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy((gpus or tf.config.list_logical_devices("CPU"))[0].name)
    return tf.distribute.get_strategy()


@functools.lru_cache(maxsize=None)
def _mirrored(devices):
    # One instance per device set: two MirroredStrategy objects in one process
    # hand out clashing collective-op keys, and their all-reduces mix up tensors.
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


def _multi_worker_strategy():
    import tensorflow as tf

    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        raise KerarchError(
            "strategy=multi_worker needs the TF_CONFIG environment variable, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}} '
            "on each machine with its own index. See the README section 'Many machines'."
        )
    try:
        json.loads(tf_config)
    except json.JSONDecodeError as error:
        raise KerarchError(f"TF_CONFIG is not valid JSON: {error}.") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy):
    """True for the worker that writes artifacts (always true on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


def describe_strategy(strategy):
    import tensorflow as tf

    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # The default strategy has no device list.
        devices = [tf.config.list_logical_devices()[0].name]
    public = ("MultiWorkerMirroredStrategy", "MirroredStrategy", "OneDeviceStrategy")
    name = next((n for n in public if isinstance(strategy, getattr(tf.distribute, n))), "default")
    return {"strategy": name, "replicas": strategy.num_replicas_in_sync, "devices": devices}


def exportable_copy(model, strategy):
    """The trained `model`, detached from MultiWorkerMirroredStrategy, for the chief to export alone.

    Under MultiWorkerMirroredStrategy a model keeps the strategy it was built
    in: its `predict` (the export's first step) distributes the inputs and
    gathers the outputs across all workers with collective ops
    (CollectiveReduceV2). Only the chief exports, so the other workers --
    finished and gone, or still busy elsewhere -- never answer: the chief fails
    with UnavailableError, or waits. Reading the variables (get_weights, save)
    and calling the model directly need no collective.

    For that strategy this returns a new model with the same architecture,
    weights, compile config and optimizer state whose variables belong to no
    strategy: the model goes through a `.keras` file in a temporary folder
    (Keras's own save and load, which the export does anyway to verify
    model.keras). That works for functional, Sequential and serializable
    subclassed models. For every other strategy `model` is returned unchanged.

    Call it outside `strategy.scope()`, after the last step that all workers
    run together (fit, evaluate), on the model that is exported -- the result
    of the recipe's `model_to_export` -- so that a container that is not
    serializable (a GAN, whose generator is exported) needs no copying.
    """
    import tempfile
    import warnings

    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    if tf.distribute.has_strategy():
        raise KerarchError("exportable_copy(model, strategy) must run outside strategy.scope().")
    with tempfile.TemporaryDirectory(prefix="kerarch-export-copy-") as folder:
        path = os.path.join(folder, "model.keras")
        try:
            model.save(path)
            with warnings.catch_warnings():
                # A subclassed model with its own compile() loads uncompiled, and Keras warns about it.
                warnings.filterwarnings("ignore", message=r".*`compile\(\)` was not called as part of model loading")
                copy = keras.saving.load_model(path)
        except Exception as error:
            why = " ".join(str(error).split())[:160]
            raise KerarchError(
                f"Cannot detach {type(model).__name__} from MultiWorkerMirroredStrategy for the export: it does not "
                f"go through a .keras file ({type(error).__name__}: {why}). "
                "Pass the model that is exported (the recipe's model_to_export(model)) to exportable_copy."
            ) from error
    log.info("Exporting a copy of the model that is independent of MultiWorkerMirroredStrategy.")
    return copy


def set_precision(policy):
    """Sets the global Keras dtype policy ("float32", "mixed_float16", "mixed_bfloat16")."""
    keras.mixed_precision.set_dtype_policy(policy)
    if policy != "float32":
        log.info("Mixed precision: compute in %s, variables in float32.", policy.split("_")[1])


def sync_replica_variables(model):
    """Averages the model's non-trainable float variables across replicas.

    Keras 3 creates BatchNormalization's moving statistics with
    aggregation="none": under MirroredStrategy each replica updates its own
    copy from its own shard, the copies drift apart, a distributed predict()
    answers differently per replica, and saving keeps only replica 0's.
    Moving averages are linear, so the mean of the replicas' copies is the
    moving average of the global batch statistics (the variance up to the
    spread of the shard means). Returns how many variables were averaged.
    """
    import tensorflow as tf

    averaged = 0
    for variable in model.non_trainable_variables:
        value = getattr(variable, "value", variable)
        if not isinstance(value, tf.distribute.DistributedValues) or not value.dtype.is_floating:
            continue
        replicas = value.values  # one component per local replica
        if len(replicas) > 1:
            variable.assign(tf.add_n([tf.convert_to_tensor(r) for r in replicas]) / len(replicas))
            averaged += 1
    return averaged


def fix_multi_worker_fit(model, strategy):
    """Lets `model.fit` run under MultiWorkerMirroredStrategy with Keras 3.15.

    Two upstream bugs (tensorflow/tensorflow#72388), both worked around only
    when the strategy is MultiWorkerMirroredStrategy:
    - `fit` builds the model from a first batch that it all-reduces across
      workers, and that eager reduction of a distributed batch fails. The
      build only needs shapes and dtypes: the first local replica's batch is used.
    - the train step reduces its scalar logs with `reduce(..., axis=0)`, which
      fails on 0-d tensors: they are reduced with `axis=None` (the same mean).
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def build_from_local_batch(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x,
                    next(it),
                )
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = build_from_local_batch
    if not getattr(tf_trainer.reduce_per_replica, "kerarch_patched", False):
        tf_trainer.reduce_per_replica = _reduce_scalars_across_workers(tf_trainer.reduce_per_replica)


def _reduce_scalars_across_workers(reduce_per_replica):
    import tensorflow as tf

    def patched(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    patched.kerarch_patched = True
    return patched

"""One call from a trained Keras model to a verified export directory.

    report = export_model(model, "saved_models/lenet5-mnist/run-1",
                          quantize="int8", representative_data=x_train,
                          eval_inputs=x_test[:500], eval_labels=y_test[:500])

The directory holds `model.keras`, `saved_model/`, `model.tflite` (float32),
`model_<mode>.tflite` per quantize mode and `export_report.json`. It appears
only complete and verified: everything is built in a hidden sibling
`.tmp-<name>-<random>` and renamed into place at the end.

A model with several inputs (e.g. a graph network's node features and edge
index) takes its example inputs as a list (in `model.inputs` order) or a
dict (by input name), each one call of the model:

    report = export_model(gcn_model, out_dir, eval_inputs=[features, edge_index],
                          representative_data=[features, edge_index], quantize="int8")

A text model can also take raw strings: with a `TextEndpoint` the SavedModel
gets a second signature, `serve_text`, that tokenizes inside the graph
(TFLite keeps the token ids: tokenizers are not TFLite builtins):

    report = export_model(model, out_dir, eval_inputs=ids[:500],
                          text_endpoint=TextEndpoint(to_inputs, tokenizer, texts[:500]))
"""

import contextlib
import dataclasses
import datetime
import json
import os
import re
import secrets
import shutil
import time
import typing
from pathlib import Path

import numpy as np

from kerarch.errors import KerarchError
from kerarch.export.tflite import QUANTIZE_MODES, TFLITE_FILES, convert_saved_model, tensor_summary, tflite_predict

REPORT_FILE = "export_report.json"
FORMATS = ("keras", "saved_model", "tflite")
TASKS = ("classification", "regression")


class ExportVerificationError(KerarchError):
    """An exported file disagrees with the Keras model beyond the allowed limit."""


@dataclasses.dataclass
class TextEndpoint:
    """The SavedModel's `serve_text` signature: a batch of raw strings (tf.string, (B,)) in, the model's outputs out.

    Attributes:
        to_inputs: TensorFlow ops from the strings to the model's one input
            (tokenize, cut, pad: what the training pipeline did), cast
            to the input's dtype here.
        tokenizer: the layer whose vocabulary `to_inputs` reads, stored in the SavedModel.
        texts: the strings of `eval_inputs`, row for row; `serve_text` on
            them must give the Keras outputs on `eval_inputs`.
    """

    to_inputs: typing.Callable
    tokenizer: object
    texts: typing.Sequence[str]


def export_model(
    model,
    out_dir,
    *,
    quantize=None,
    representative_data=None,
    eval_inputs=None,
    eval_labels=None,
    task="classification",
    float_tolerance=1e-4,
    max_int8_accuracy_drop=None,
    representative_samples=200,
    int8_granularity="per_channel",
    owner=None,
    overwrite=False,
    formats=None,
    text_endpoint=None,
):
    """Exports `model` to Keras, SavedModel and TFLite files, verified, atomically.

    Every export is checked against the Keras model's own outputs on
    `eval_inputs`: the reloaded `.keras` file, the SavedModel's `serve`
    signature and the float32 `.tflite` must agree within
    `float_tolerance * max(1, max|keras output|)` -- absolute for outputs
    within [-1, 1] (probabilities, tanh images), relative to the largest
    output magnitude beyond that (logits, unnormalised regression), since
    float32 rounding grows with magnitude. Quantized files cannot meet that;
    they are measured and reported (max/mean abs difference; for
    classification argmax agreement with Keras and, with `eval_labels`,
    accuracy), and only the int8 accuracy drop can fail the export.

    Args:
        model: a built Keras model with one output and one or more inputs.
        out_dir: the directory to create, e.g. saved_models/<recipe>/<run-id>.
        quantize: None, one of QUANTIZE_MODES ("dynamic", "float16", "int8"),
            or a list of them. "int8" is full-integer post-training
            quantization: int8 output and float inputs (integer inputs, like
            an edge index, stay as they are), builtin int8 kernels only.
        representative_data: training inputs (numpy, batch first) that
            calibrate int8; `representative_samples` of them are used. With
            several inputs: one call's inputs (a list or dict of arrays), all
            of which calibrate.
        eval_inputs: held-out inputs (numpy, batch first) for verification.
            With several inputs: one call's inputs, a list of arrays in
            `model.inputs` order or a dict by input name; every export runs
            on them in one call (they are not cut into batches, so inputs
            without a batch axis, like a graph's edge index, work).
        eval_labels: labels of the outputs' rows (class ids or one-hot),
            classification only.
        task: "classification" (argmax is the prediction) or "regression".
        float_tolerance: allowed max abs difference of float exports (scaled
            as above).
        max_int8_accuracy_drop: fail when int8 accuracy is lower than the
            Keras accuracy by more than this (a fraction, e.g. 0.01).
        representative_samples: calibration samples for int8.
        int8_granularity: int8 weight scales, one of INT8_GRANULARITIES:
            "per_channel" (default) or "per_tensor" (smaller file; check the
            accuracy drop).
        owner: the run the export belongs to ({"id", "dir"}), recorded in the
            report as "run"; an existing `out_dir` is replaced (after the new
            export is complete) only if it belongs to the same run.
        overwrite: without an owner, replace an existing `out_dir`; without
            either, an existing `out_dir` is an error.
        formats: the artifacts to keep, a subset of FORMATS ("keras",
            "saved_model", "tflite"; None keeps all). All are still built and
            verified (the SavedModel is the TFLite converter's source); the
            others are left out of `out_dir`.
        text_endpoint: a `TextEndpoint` (one-input models): the SavedModel
            also serves raw strings as `serve_text`, verified on its texts
            like `serve` (its `serving_default`, which TFLite converts, stays
            `serve`).

    Returns:
        The report dict also written to `export_report.json`.

    Raises:
        KerarchError: bad arguments, an unsupported model, or a failed
            conversion.
        ExportVerificationError: an export disagrees with the Keras model.
    """
    modes = _quantize_modes(quantize)
    formats = _formats(formats, modes)
    if task not in TASKS:
        raise KerarchError(f"Unknown task {task!r}; valid: {', '.join(TASKS)}.")
    model_inputs = _model_inputs(model)
    if eval_inputs is None:
        raise KerarchError("export_model needs eval_inputs (held-out samples) to verify the exported files.")
    if len(model_inputs) == 1:
        eval_inputs = _eval_inputs(eval_inputs, _shape(model_inputs[0])[1:])
    else:
        eval_inputs = _named_inputs(eval_inputs, model_inputs, "eval_inputs")
        representative_data = _named_inputs(representative_data, model_inputs, "representative_data")
    if text_endpoint is not None:
        _check_text_endpoint(text_endpoint, model_inputs, eval_inputs)
    if eval_labels is not None:
        if task != "classification":
            raise KerarchError("eval_labels only apply to task='classification'.")
        if len(model_inputs) == 1:  # several inputs: checked against the outputs' rows
            eval_labels = _class_ids(eval_labels, len(eval_inputs))
    if "int8" in modes and representative_data is None:
        raise KerarchError("quantize='int8' needs representative_data (a few hundred training inputs).")
    if max_int8_accuracy_drop is not None and ("int8" not in modes or eval_labels is None):
        raise KerarchError("max_int8_accuracy_drop needs quantize='int8', task='classification' and eval_labels.")

    with publishing(out_dir, owner=owner, overwrite=overwrite) as tmp:
        report = _build(
            model,
            tmp,
            modes=modes,
            representative_data=representative_data,
            representative_samples=representative_samples,
            int8_granularity=int8_granularity,
            eval_inputs=eval_inputs,
            eval_labels=eval_labels,
            task=task,
            float_tolerance=float_tolerance,
            max_int8_accuracy_drop=max_int8_accuracy_drop,
            text_endpoint=text_endpoint,
        )
        _keep_only(tmp, report, formats)
        if owner is not None:
            report["run"] = dict(owner)
        write_report(tmp, report)
    return report


@contextlib.contextmanager
def publishing(out_dir, *, owner=None, overwrite=False):
    """Yields a new hidden folder beside `out_dir`; when the block succeeds it becomes `out_dir`, fsynced.

    `out_dir` may be replaced only by its owner (the run recorded in its
    export_report.json) or, for exports without an owner, with `overwrite`.
    Leftovers of earlier, killed exports to `out_dir` are removed first; on
    failure the temporary folder goes and `out_dir` stays as it was.
    """
    out_dir = Path(out_dir)
    _check_replaceable(out_dir, owner, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out_dir)
    tmp = _make_sibling(out_dir, ".tmp")
    try:
        yield tmp
        _fsync_tree(tmp)
        _move_into_place(tmp, out_dir, owner, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_report(folder, report):
    (Path(folder) / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")


def export_owner(out_dir):
    """The run ({"id", "dir"}) that `out_dir`'s export belongs to, from its report; None if it names none."""
    try:
        return json.loads((Path(out_dir) / REPORT_FILE).read_text()).get("run")
    except (OSError, ValueError, AttributeError):
        return None


def _check_replaceable(out_dir, owner, overwrite):
    if not os.path.lexists(out_dir):
        return
    if owner is None:
        if not overwrite:
            raise KerarchError(f"{out_dir} already exists; choose another run id or pass overwrite=True.")
        return
    found = export_owner(out_dir)
    if found != owner:
        holder = f"the run in {found.get('dir')}" if isinstance(found, dict) else "no kerarch run"
        raise KerarchError(
            f"{out_dir} holds an export of {holder}, not of this run ({owner['dir']}); it is left untouched. "
            "Move or remove it yourself if it is no longer needed."
        )


def _remove_leftovers(out_dir):
    """Removes the temporary folders killed exports to `out_dir` left beside it (.tmp-<name>-<hex>, .old-<name>-<hex>)."""
    pattern = re.compile(rf"^\.(tmp|old)-{re.escape(out_dir.name)}-[0-9a-f]{{8}}$")
    for path in out_dir.parent.iterdir():
        if pattern.match(path.name):
            shutil.rmtree(path, ignore_errors=True)


def _build(model, tmp, *, modes, representative_data, representative_samples, int8_granularity, eval_inputs,
           eval_labels, task, float_tolerance, max_int8_accuracy_drop, text_endpoint):
    import keras
    import tensorflow as tf

    timings = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    reference = _keras_outputs(model, eval_inputs)
    if eval_labels is not None:
        eval_labels = _class_ids(eval_labels, len(reference))
    tolerance = float_tolerance * max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    files = {"keras": "model.keras", "saved_model": "saved_model", "tflite": TFLITE_FILES[None]}
    for mode in modes:
        files[f"tflite_{mode}"] = TFLITE_FILES[mode]
    files["report"] = REPORT_FILE
    artifacts = {}
    lap("keras_predict")

    model.save(tmp / files["keras"])
    try:
        restored = keras.saving.load_model(tmp / files["keras"])
    except Exception as exc:
        raise ExportVerificationError(
            f"model.keras does not load back ({type(exc).__name__}: {exc}); are all custom layers registered "
            "with @keras.saving.register_keras_serializable?"
        ) from exc
    outputs = _keras_outputs(restored, eval_inputs)
    artifacts["keras"] = _check_float("keras", outputs, reference, tolerance)
    del restored
    lap("keras")

    _write_saved_model(model, tmp / files["saved_model"], text_endpoint)
    loaded = tf.saved_model.load(str(tmp / files["saved_model"]))  # keep it: .serve alone loses the variables
    outputs = _saved_model_outputs(loaded, model, eval_inputs)
    artifacts["saved_model"] = _check_float("saved_model", outputs, reference, tolerance)
    if text_endpoint is not None:
        outputs = _in_batches(loaded.serve_text, [str(text) for text in text_endpoint.texts])
        check = _check_float("saved_model serve_text", outputs, reference, tolerance)
        check.pop("_outputs")
        artifacts["saved_model"]["serve_text"] = check
    del loaded
    lap("saved_model")

    for mode in (None, *modes):
        key = "tflite" if mode is None else f"tflite_{mode}"
        path = tmp / files[key]
        path.write_bytes(
            convert_saved_model(
                tmp / files["saved_model"],
                mode,
                representative_data=representative_data if mode == "int8" else None,
                representative_samples=representative_samples,
                int8_granularity=int8_granularity,
            )
        )
        lap(f"convert_{mode or 'float32'}")
        outputs = tflite_predict(path, eval_inputs)
        if mode is None:
            artifacts[key] = _check_float(key, outputs, reference, tolerance)
        else:
            artifacts[key] = _measure_quantized(outputs, reference, task)
        artifacts[key].update(tensor_summary(path))
        lap(f"verify_{mode or 'float32'}")

    accuracy = None
    if eval_labels is not None:
        accuracy = {"keras": _accuracy(reference, eval_labels)}
        for key in ["tflite"] + [f"tflite_{mode}" for mode in modes]:
            artifacts[key]["accuracy"] = accuracy[key] = _accuracy(artifacts[key].pop("_outputs"), eval_labels)
    for entry in artifacts.values():
        entry.pop("_outputs", None)

    float_bytes = _size(tmp / files["tflite"])
    for key, entry in artifacts.items():
        entry["path"] = files[key]
        entry["bytes"] = _size(tmp / files[key])
        if key.startswith("tflite_"):
            entry["size_vs_float"] = round(entry["bytes"] / float_bytes, 4)

    report = {
        "model": model.name,
        "task": task,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **_input_shapes(model),
        "output_shape": [None, *reference.shape[1:]],
        "num_eval_samples": int(len(reference)),
        "float_tolerance": float_tolerance,
        "float_tolerance_effective": tolerance,
        "quantization": {
            "modes": list(modes),
            "int8": {
                "full_integer": True,
                "inference_input_type": "int8",
                "inference_output_type": "int8",
                "supported_ops": ["TFLITE_BUILTINS_INT8"],
                "representative_samples": _calibration_samples(representative_data, representative_samples),
                "weights": int8_granularity,
                "max_accuracy_drop": max_int8_accuracy_drop,
            }
            if "int8" in modes
            else None,
        },
        "files": files,
        "artifacts": artifacts,
        "accuracy": accuracy,
        "timings_s": timings,
        "versions": _versions(),
    }
    if max_int8_accuracy_drop is not None:
        drop = accuracy["keras"] - accuracy["tflite_int8"]
        report["quantization"]["int8"]["accuracy_drop"] = drop
        if drop > max_int8_accuracy_drop:
            raise ExportVerificationError(
                f"int8 TFLite accuracy {accuracy['tflite_int8']:.4f} is {drop:.4f} below Keras "
                f"({accuracy['keras']:.4f}), more than max_int8_accuracy_drop={max_int8_accuracy_drop}."
            )
    return report


def _write_saved_model(model, path, text_endpoint):
    """model.export's SavedModel; with a TextEndpoint, the same `serve` plus `serve_text` (raw strings)."""
    import keras
    import tensorflow as tf

    if text_endpoint is None:
        model.export(str(path), format="tf_saved_model", verbose=False)
        return
    (model_input,) = model.inputs
    archive = keras.export.ExportArchive()
    serve = archive.track_and_add_endpoint(  # first endpoint: also serving_default, as model.export makes it
        "serve", model, [tf.TensorSpec(model_input.shape, model_input.dtype, name=model_input.name)])
    tokenizer = text_endpoint.tokenizer
    if not tokenizer.built:  # ExportArchive tracks built layers only; a tokenizer builds on its first call
        tokenizer(tf.constant([""]))
    archive.track(tokenizer)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve_text(texts):
        return serve(tf.cast(text_endpoint.to_inputs(texts), model_input.dtype))

    archive.add_endpoint("serve_text", serve_text)
    archive.write_out(str(path), verbose=False)


def _check_text_endpoint(text_endpoint, model_inputs, eval_inputs):
    if not isinstance(text_endpoint, TextEndpoint):
        raise KerarchError(f"text_endpoint must be a kerarch.export.TextEndpoint, not {type(text_endpoint).__name__}.")
    if len(model_inputs) != 1:
        raise KerarchError(f"text_endpoint needs a model with one input; this one has {len(model_inputs)}.")
    if len(text_endpoint.texts) != len(eval_inputs):
        raise KerarchError(f"text_endpoint.texts has {len(text_endpoint.texts)} texts for {len(eval_inputs)} "
                           "eval_inputs; give the texts of eval_inputs, row for row.")


def _formats(formats, modes):
    formats = FORMATS if formats is None else tuple([formats] if isinstance(formats, str) else formats)
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise KerarchError(f"Unknown export format(s) {sorted(unknown)}; choose from: {', '.join(FORMATS)}.")
    if modes and "tflite" not in formats:
        raise KerarchError("quantize= produces TFLite files: add tflite to the formats.")
    return formats


def _keep_only(tmp, report, formats):
    """Removes the verified artifacts that were not asked for; rewrites the report."""
    if set(formats) == set(FORMATS):
        return
    for key, entry in report["artifacts"].items():
        entry["kept"] = ("tflite" if key.startswith("tflite") else key) in formats
        if not entry["kept"]:
            path = tmp / entry["path"]
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            report["files"].pop(key, None)
    report["formats"] = list(formats)


def _check_float(name, outputs, reference, tolerance):
    outputs = np.asarray(outputs, np.float32)
    if outputs.shape != reference.shape:
        raise ExportVerificationError(f"{name}: output shape {outputs.shape} differs from Keras {reference.shape}.")
    diff = np.abs(outputs - reference)
    max_diff = float(diff.max()) if diff.size else 0.0
    if not np.isfinite(max_diff) or max_diff > tolerance:
        raise ExportVerificationError(
            f"{name} export disagrees with the Keras model: max abs difference {max_diff:.3g} "
            f"> tolerance {tolerance:.3g} over {len(outputs)} eval samples."
        )
    return {"max_abs_diff": max_diff, "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
            "tolerance": tolerance, "_outputs": outputs}


def _measure_quantized(outputs, reference, task):
    if outputs.shape != reference.shape:
        raise ExportVerificationError(f"quantized output shape {outputs.shape} differs from Keras {reference.shape}.")
    diff = np.abs(outputs - reference)
    entry = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "_outputs": outputs}
    if task == "classification":
        entry["argmax_agreement"] = float(np.mean(_predictions(outputs) == _predictions(reference)))
    return entry


def _predictions(outputs):
    outputs = outputs.reshape(len(outputs), -1)
    # One output unit is read as a sigmoid probability: class 1 above 0.5.
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(int)
    return outputs.argmax(axis=1)


def _accuracy(outputs, labels):
    return float(np.mean(_predictions(outputs) == labels))


def _quantize_modes(quantize):
    if quantize is None:
        return ()
    modes = (quantize,) if isinstance(quantize, str) else tuple(quantize)
    for mode in modes:
        if mode not in QUANTIZE_MODES:
            raise KerarchError(f"Unknown quantize mode {mode!r}; valid: {', '.join(QUANTIZE_MODES)} (or None).")
    return tuple(dict.fromkeys(modes))


def _shape(tensor):
    return [None if d is None else int(d) for d in tensor.shape]


def _input_shapes(model):
    """The report's input shapes: "input_shape" of a one-input model, else "input_shapes" by input name."""
    if len(model.inputs) == 1:
        return {"input_shape": [None, *_shape(model.inputs[0])[1:]]}
    return {"input_shapes": {tensor.name: _shape(tensor) for tensor in model.inputs}}


def _model_inputs(model):
    try:
        inputs, outputs = model.inputs, model.outputs
    except AttributeError:
        inputs = outputs = None
    if not inputs or not outputs:
        raise KerarchError(f"Model {model.name!r} has no symbolic inputs/outputs; export a built functional or Sequential model.")
    if len(outputs) != 1:
        raise KerarchError(
            f"Model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; export_model handles one output."
        )
    return inputs


def _eval_inputs(eval_inputs, input_shape):
    x = np.asarray(eval_inputs, np.float32)
    if x.ndim != len(input_shape) + 1 or any(d is not None and d != s for d, s in zip(input_shape, x.shape[1:])):
        raise KerarchError(f"eval_inputs of shape {x.shape} do not fit the model input {[None, *input_shape]}.")
    if len(x) == 0:
        raise KerarchError("eval_inputs is empty.")
    return x


def _named_inputs(values, model_inputs, what):
    """One call's inputs of a several-input model as {input name: array of the input's dtype}, checked."""
    if values is None:
        return None
    names = [tensor.name for tensor in model_inputs]
    if isinstance(values, dict):
        if set(values) != set(names):
            raise KerarchError(f"{what} has the inputs {sorted(values)}; the model takes {names}.")
        values = [values[name] for name in names]
    elif len(values) != len(names):
        raise KerarchError(f"{what} has {len(values)} arrays; the model takes {len(names)} inputs ({', '.join(names)}).")
    named = {}
    for tensor, value in zip(model_inputs, values):
        x = np.asarray(value, dtype=tensor.dtype)
        shape = _shape(tensor)
        if x.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, x.shape)) or not x.size:
            raise KerarchError(f"{what}[{tensor.name!r}] of shape {x.shape} does not fit the model input {shape}.")
        named[tensor.name] = x
    return named


def _as_called(model, named):
    """{name: array} in the structure the model is called with: a dict, or a list in `model.inputs` order."""
    return dict(named) if isinstance(model.input, dict) else list(named.values())


def _keras_outputs(model, inputs):
    """The model's float32 outputs: batches of 64 for one input array, one call for several inputs."""
    import keras

    if isinstance(inputs, dict):
        return np.asarray(keras.ops.convert_to_numpy(model(_as_called(model, inputs), training=False)), np.float32)
    return np.asarray(model.predict(inputs, batch_size=64, verbose=0), np.float32)


def _saved_model_outputs(loaded, model, inputs):
    """The SavedModel's `serve` outputs: batches of 64 for one input array, one call for several inputs."""
    import tensorflow as tf

    if isinstance(inputs, dict):
        return np.asarray(loaded.serve(tf.nest.map_structure(tf.constant, _as_called(model, inputs))))
    return _in_batches(loaded.serve, inputs)


def _in_batches(signature, inputs, size=64):
    """A SavedModel signature's outputs on `inputs` (an array or a list of strings), `size` rows per call."""
    import tensorflow as tf

    calls = [signature(tf.constant(inputs[i : i + size])) for i in range(0, len(inputs), size)]
    return np.concatenate([np.asarray(outputs) for outputs in calls])


def _calibration_samples(representative_data, representative_samples):
    """How many calls calibrate int8: samples of one input array, or the one call of several inputs."""
    if isinstance(representative_data, dict):
        return 1
    return int(min(representative_samples, len(representative_data)))


def _class_ids(labels, count):
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if len(labels) != count:
        raise KerarchError(f"eval_labels has {len(labels)} entries for {count} outputs.")
    return labels.astype(int)


def _size(path):
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _versions():
    import keras
    import tensorflow as tf

    from kerarch.version import __version__

    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                "kerarch": __version__}
    try:
        import ai_edge_litert

        versions["ai_edge_litert"] = getattr(ai_edge_litert, "__version__", "unknown")
    except ImportError:  # pragma: no cover - a hard dependency in practice
        pass
    return versions


def _make_sibling(out_dir, prefix):
    """A new hidden directory beside out_dir; unlike mkdtemp, its mode follows the umask."""
    while True:
        path = out_dir.parent / f"{prefix}-{out_dir.name}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _fsync_tree(root):
    """Flushes every file and directory under root, so the rename publishes data on disk."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _move_into_place(tmp, out_dir, owner, overwrite):
    """Renames the finished tmp dir to out_dir; an old out_dir goes only after that."""
    old = None
    if os.path.lexists(out_dir):
        _check_replaceable(out_dir, owner, overwrite)  # again: it may have appeared during the export
        old = _make_sibling(out_dir, ".old")
        os.replace(out_dir, old / "previous")
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old / "previous", out_dir)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    fd = os.open(out_dir.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""TFLite conversion from a SavedModel, and running .tflite files with LiteRT.

Conversion goes through `tf.lite.TFLiteConverter.from_saved_model` on the
SavedModel the exporter has already written. Keras 3.15's
`model.export(format="litert")` gives byte-for-byte the same float graph
(same parity), but it traces and writes a second SavedModel of its own
(about twice the time) and silently allows SELECT_TF_OPS, which would make
a model that needs TensorFlow ops load only with the Flex delegate. Here
every variant is builtin-ops only, so an unsupported op fails the export.
"""

import time

import numpy as np

from kerarch.errors import KerarchError

# quantize mode -> file name inside the export directory.
TFLITE_FILES = {
    None: "model.tflite",
    "dynamic": "model_dynamic.tflite",
    "float16": "model_float16.tflite",
    "int8": "model_int8.tflite",
}
QUANTIZE_MODES = ("dynamic", "float16", "int8")
# Weight scales of an int8 file: one per output channel (TFLite's default) or one per tensor.
INT8_GRANULARITIES = ("per_channel", "per_tensor")


def convert_saved_model(saved_model_dir, quantize=None, *, representative_data=None, representative_samples=200, seed=0,
                        int8_granularity="per_channel"):
    """Converts a SavedModel's `serving_default` signature to TFLite bytes.

    Args:
        saved_model_dir: directory written by `model.export(format="tf_saved_model")`.
        quantize: None (float32), "dynamic" (int8 weights, float activations),
            "float16" (float16 weights) or "int8" (full-integer: int8 weights,
            activations, input and output, builtin int8 kernels only).
        representative_data: numpy array of model inputs (batch first) to
            calibrate activation ranges; required for "int8". A model with
            several inputs takes one call's inputs, {input name: array},
            which calibrate as one call.
        representative_samples: how many samples (drawn without replacement,
            seeded) calibrate the int8 ranges; each is fed as a batch of one.
        seed: seed of that draw.
        int8_granularity: "int8" weight scales, one of INT8_GRANULARITIES:
            "per_channel" (TFLite's default) or "per_tensor" (one scale per
            tensor, which drops the per-channel scales and zero points from
            the file: smaller, at some risk to accuracy).

    Returns:
        The serialized flatbuffer (`bytes`).
    """
    import tensorflow as tf

    if quantize not in TFLITE_FILES:
        raise KerarchError(f"Unknown quantize mode {quantize!r}; valid: {', '.join(QUANTIZE_MODES)} (or None).")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_data is None:
            raise KerarchError("quantize='int8' needs representative_data (a few hundred training inputs).")
        if isinstance(representative_data, dict):
            samples = [representative_data]
        else:
            samples = [[sample[None]] for sample in _representative_samples(representative_data,
                                                                            representative_samples, seed)]

        def representative_dataset():
            yield from samples

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        # The converter's only switch for per-tensor weights is this experimental attribute.
        converter._experimental_disable_per_channel = int8_granularity == "per_tensor"
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError, ValueError, RuntimeError...
        what = "float32" if quantize is None else quantize
        raise KerarchError(f"TFLite conversion ({what}) failed: {_first_lines(exc)}") from exc


def _representative_samples(data, count, seed):
    data = np.asarray(data, dtype=np.float32)
    if data.ndim < 2 or len(data) == 0:
        raise KerarchError(f"representative_data must be a non-empty batch of inputs, got shape {data.shape}.")
    if len(data) > count:
        data = data[np.sort(np.random.default_rng(seed).choice(len(data), count, replace=False))]
    return data


def _first_lines(exc, lines=6):
    text = str(exc).strip().splitlines()
    return "\n".join(text[:lines]) + ("\n..." if len(text) > lines else "")


def load_interpreter(path, *, num_threads=None):
    """A LiteRT interpreter for a .tflite file with one output tensor."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
    n_out = len(interpreter.get_output_details())
    if n_out != 1:
        raise KerarchError(f"{path}: expected one output tensor, found {n_out}.")
    return interpreter


def tensor_summary(path):
    """Dtype, shape and quantization (scale, zero point) of the input (of each input, by name) and the output."""
    interpreter = load_interpreter(path)

    def summary(detail):
        scale, zero_point = detail["quantization"]
        return {
            "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(d) for d in detail["shape_signature"]],
            "scale": float(scale),
            "zero_point": int(zero_point),
        }

    output = summary(interpreter.get_output_details()[0])
    if len(interpreter.get_input_details()) == 1:
        return {"input": summary(interpreter.get_input_details()[0]), "output": output}
    inputs = interpreter.get_signature_runner().get_input_details()
    return {"inputs": {name: summary(detail) for name, detail in sorted(inputs.items())}, "output": output}


def quantize_input(x, detail):
    """Float inputs -> the input tensor's dtype, quantized when it is integer."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        q = np.round(np.asarray(x, np.float32) / scale) + zero_point
        return np.clip(q, info.min, info.max).astype(dtype)
    return np.asarray(x).astype(dtype, copy=False)


def dequantize_output(y, detail):
    """An output tensor -> float32, dequantized when it is quantized integer."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(np.asarray(y).dtype, np.integer) and scale:
        return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return np.asarray(y, np.float32)


def tflite_predict(path, inputs, *, batch_size=64, num_threads=None):
    """Runs a .tflite file on a numpy batch with LiteRT.

    Integer-quantized inputs and outputs are handled here: float `inputs` are
    quantized with the input tensor's scale and zero point, and the outputs
    come back dequantized to float32. The input tensor is resized to chunks of
    `batch_size` when its batch dimension is dynamic (Keras exports are);
    otherwise samples go through one at a time.

    A model with several inputs takes one call's inputs, {input name:
    array}, and runs them in one invocation through its signature.

    Args:
        path: the .tflite file.
        inputs: array of shape (batch, *input_shape), or {name: array}.
        batch_size: samples per invocation when the batch dimension is dynamic.
        num_threads: LiteRT CPU threads (None: LiteRT's default).

    Returns:
        float32 array of shape (batch, *output_shape).
    """
    interpreter = load_interpreter(path, num_threads=num_threads)
    if isinstance(inputs, dict):
        return _signature_predict(interpreter, inputs)
    inputs = np.asarray(inputs)
    detail = _only_input(interpreter, path)
    expected = tuple(int(d) for d in detail["shape_signature"][1:])
    if inputs.ndim != len(expected) + 1 or any(e not in (-1, s) for e, s in zip(expected, inputs.shape[1:])):
        raise KerarchError(f"{path}: inputs of shape {inputs.shape} do not fit the model input {[-1, *expected]}.")
    if detail["shape_signature"][0] != -1:
        batch_size = 1
    outputs, allocated = [], None
    for start in range(0, len(inputs), batch_size):
        chunk = quantize_input(inputs[start : start + batch_size], detail)
        if chunk.shape != allocated:
            interpreter.resize_tensor_input(detail["index"], chunk.shape, strict=False)
            interpreter.allocate_tensors()
            allocated = chunk.shape
        interpreter.set_tensor(detail["index"], chunk)
        interpreter.invoke()
        out = interpreter.get_output_details()[0]
        outputs.append(dequantize_output(interpreter.get_tensor(out["index"]), out))
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)


def _only_input(interpreter, path):
    """The input tensor's details of a one-input file."""
    details = interpreter.get_input_details()
    if len(details) != 1:
        raise KerarchError(f"{path} has {len(details)} input tensors, not one (tflite_predict takes {{name: array}}).")
    return details[0]


def _signature_predict(interpreter, inputs):
    """One invocation of the serving signature on {input name: array}; the one output, dequantized."""
    runner = interpreter.get_signature_runner()
    details = runner.get_input_details()
    if set(inputs) != set(details):
        raise KerarchError(f"The TFLite signature takes the inputs {sorted(details)}, not {sorted(inputs)}.")
    outputs = runner(**{name: quantize_input(x, details[name]) for name, x in inputs.items()})
    [(name, output)] = outputs.items()
    return dequantize_output(output, runner.get_output_details()[name])


def tflite_latency(path, sample, *, runs=50, warmup=5, num_threads=1):
    """Single-sample invocation latency of a .tflite file, in milliseconds.

    Times `interpreter.invoke()` alone (input already set), after `warmup`
    untimed calls. One thread by default, as a phone's one big core would run it.

    Args:
        path: the .tflite file.
        sample: one input, with or without a leading batch dimension of 1.
        runs: timed invocations.
        warmup: untimed invocations first.
        num_threads: LiteRT CPU threads.

    Returns:
        {"median_ms", "p90_ms", "mean_ms", "min_ms", "runs", "num_threads"}.
    """
    interpreter = load_interpreter(path, num_threads=num_threads)
    detail = _only_input(interpreter, path)
    sample = np.asarray(sample)
    rank = len(detail["shape_signature"])
    if sample.ndim == rank - 1:
        sample = sample[None]
    if sample.ndim != rank or sample.shape[0] != 1:
        raise KerarchError(f"{path}: tflite_latency needs one sample, got shape {sample.shape}.")
    interpreter.resize_tensor_input(detail["index"], sample.shape, strict=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], quantize_input(sample, detail))
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    times = np.asarray(times)
    return {
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "mean_ms": float(times.mean()),
        "min_ms": float(times.min()),
        "runs": int(len(times)),
        "num_threads": num_threads,
    }

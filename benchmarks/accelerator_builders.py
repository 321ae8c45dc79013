"""Training throughput of the builders on an accelerator, JAX backend.

    KERAS_BACKEND=jax python benchmarks/accelerator_builders.py [--precision mixed_bfloat16] [--out results.json]

For each builder at its reference size: build, compile (Adam; sparse
cross-entropy for vocabulary logits, MSE to zero targets on other outputs, so
every parameter gets a gradient), run warm-up
steps (XLA compilation), then time `--steps` steps. Prints examples/s, step
time and peak accelerator memory. Needs no TensorFlow: inputs are random
arrays shaped from the model's own input specs.
"""

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerarch  # noqa: E402

# name: (builder kwargs, batch size, sequence length for token inputs)
CASES = {
    "lenet5": ({}, 512, None),
    "alexnet": ({}, 128, None),
    "vgg16": ({}, 64, None),
    "resnet18": ({}, 128, None),
    "resnet50": ({}, 128, None),
    "resnet20": ({"input_shape": (32, 32, 3), "num_classes": 10}, 512, None),
    "inception_v3": ({"input_shape": (299, 299, 3)}, 64, None),
    "inception_resnet_v2": ({"input_shape": (299, 299, 3)}, 64, None),
    "mobilenet_v2": ({}, 128, None),
    "mobilenet_v3_large": ({}, 128, None),
    "vit": ({"variant": "b16"}, 64, None),
    "lstm": ({"num_layers": 2, "bidirectional": True}, 128, 256),
    "transformer": ({}, 32, 128),
    "bert_classifier": ({"config": "base"}, 32, 128),
    "gpt": ({"config": "gpt2_small"}, 16, 512),
}


def random_inputs(model, batch, seq_len, rng):
    arrays = []
    for spec in model.inputs:
        shape = [batch] + [d if d is not None else seq_len for d in spec.shape[1:]]
        name = spec.name.lower()
        if "int" in str(spec.dtype):
            if "mask" in name:
                arrays.append(np.ones(shape, "int32"))
            elif "segment" in name:
                arrays.append(np.zeros(shape, "int32"))
            else:
                arrays.append(rng.integers(1, 1000, size=shape).astype("int32"))
        elif "bool" in str(spec.dtype):
            arrays.append(np.ones(shape, bool))
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    if isinstance(model.input, dict):
        return {spec.name: array for spec, array in zip(model.inputs, arrays)}
    return arrays if len(arrays) > 1 else arrays[0]


def targets_and_losses(model, inputs):
    """Zero targets: token ids with sparse cross-entropy for vocabulary logits, else MSE."""
    outputs = model(inputs, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    targets, losses = [], []
    for output in outputs:
        if len(output.shape) == 3 and output.shape[-1] >= 1000:  # (batch, time, vocabulary) logits
            targets.append(np.zeros(output.shape[:-1], "int32"))
            losses.append(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        else:
            targets.append(np.zeros(output.shape, "float32"))
            losses.append(keras.losses.MeanSquaredError())
    return (targets, losses) if len(targets) > 1 else (targets[0], losses[0])


def measure(name, kwargs, batch, seq_len, steps, rng):
    import jax

    keras.backend.clear_session()
    model = kerarch.build(name, **kwargs)
    inputs = random_inputs(model, batch, seq_len, rng)
    targets, loss = targets_and_losses(model, inputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=True)
    model.fit(inputs, targets, batch_size=batch, epochs=2, verbose=0)  # compile + warm up
    repeat = lambda a: np.concatenate([a] * steps)  # noqa: E731
    many_inputs = keras.tree.map_structure(repeat, inputs)
    many_targets = keras.tree.map_structure(repeat, targets)
    start = time.perf_counter()
    model.fit(many_inputs, many_targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    elapsed = time.perf_counter() - start
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "params": model.count_params(),
        "batch": batch,
        "seq_len": seq_len,
        "examples_per_s": round(batch * steps / elapsed, 1),
        "step_ms": round(1000 * elapsed / steps, 2),
        "peak_memory_gib": round(stats.get("peak_bytes_in_use", 0) / 2**30, 2),
    }


def main():
    import jax

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", default="mixed_bfloat16", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES))
    parser.add_argument("--out")
    args = parser.parse_args()
    keras.mixed_precision.set_dtype_policy(args.precision)
    rng = np.random.default_rng(0)
    device = str(jax.devices()[0].device_kind)
    results = {"device": device, "backend": keras.backend.backend(), "precision": args.precision, "keras": keras.__version__, "models": {}}
    print(f"{'builder':22s} {'params':>12s} {'batch':>6s} {'ex/s':>10s} {'step ms':>9s} {'peak GiB':>9s}   ({device}, {args.precision})")
    for name in args.only or CASES:
        kwargs, batch, seq_len = CASES[name]
        try:
            row = measure(name, kwargs, batch, seq_len, args.steps, rng)
        except Exception as error:  # report and go on: one failure should not hide the rest
            row = {"error": f"{type(error).__name__}: {error}"[:500]}
            print(f"{name:22s} FAILED {row['error']}", flush=True)
        else:
            print(f"{name:22s} {row['params']:>12,} {row['batch']:>6d} {row['examples_per_s']:>10,.1f} {row['step_ms']:>9.2f} {row['peak_memory_gib']:>9.2f}", flush=True)
        results["models"][name] = row
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

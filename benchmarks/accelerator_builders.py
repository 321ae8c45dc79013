"""Training throughput of the builders on an accelerator, JAX backend, side by side with their peers.

    KERAS_BACKEND=jax python benchmarks/accelerator_builders.py [--only gpt resnet50] [--peers ../shared/bench]

For each case: build at the reference size, set the precision (after
`clear_session()`, which resets the dtype policy to float32), compile (Adam;
sparse cross-entropy for vocabulary logits, MSE to zero targets on other
outputs, so every parameter gets a gradient) and time `fit` the way the Keras
peer scripts (../shared/bench/*_keras.py) do: `--epochs` epochs of `--steps`
steps on NumPy arrays, a callback timing each epoch (the epoch's end waits
for its last step), the first two epochs (XLA compilation, warm-up)
dropped, the median of the rest divided by the steps. Prints examples/s
(tokens/s for token models), step time, peak accelerator memory and the
compute dtypes the layers actually ran in.

`gpt` is GPT-2 small as the peers run it (T=1024, B=16, vocabulary padded to
50,304, no dropout); `gpt_defaults` is the builder's defaults (dropout 0.1,
50,257 tokens) at the same T and B. `--inputs device` puts the arrays on the
accelerator first, as the PyTorch peers do (no host-to-device copy per
step; Keras slices them on the device); `--inputs both` times the host
then the device arrays on one compiled model. `--layer-times CASE` times
each layer of a case alone (forward + backward), to find the layer that
costs the step.

With `--peers DIR` it first runs the peer scripts found there
(gpt_torch.py, gpt_keras.py, resnet_torch.py, resnet_keras.py; each
prints one JSON line), each in its own process before this one touches the
accelerator (JAX takes 75 % of its memory when it starts), then the
builders, and prints kerarch / peer ratios with both figures.

Needs no TensorFlow: inputs are random arrays shaped from the model's own
input specs. Writes JSON to
benchmarks/results/accelerator_builders-<timestamp>.json (or `--out`).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerarch  # noqa: E402
from kerarch.io import write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GPT2_PEER = {"config": "gpt2_small", "vocabulary_size": 50304, "dropout": 0.0}  # nanoGPT's bench.py settings

# case: (builder, builder kwargs, batch size, sequence length for token inputs)
CASES = {
    "lenet5": ("lenet5", {}, 512, None),
    "alexnet": ("alexnet", {}, 128, None),
    "vgg16": ("vgg16", {}, 64, None),
    "resnet18": ("resnet18", {}, 128, None),
    "resnet50": ("resnet50", {}, 128, None),
    "resnet20": ("resnet20", {"input_shape": (32, 32, 3), "num_classes": 10}, 512, None),
    "inception_v3": ("inception_v3", {"input_shape": (299, 299, 3)}, 64, None),
    "inception_resnet_v2": ("inception_resnet_v2", {"input_shape": (299, 299, 3)}, 64, None),
    "mobilenet_v2": ("mobilenet_v2", {}, 128, None),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, 128, None),
    "vit": ("vit", {"variant": "b16"}, 64, None),
    "lstm": ("lstm", {"num_layers": 2, "bidirectional": True}, 128, 256),
    "transformer": ("transformer", {}, 32, 128),
    "bert_classifier": ("bert_classifier", {"config": "base"}, 32, 128),
    "gpt": ("gpt", GPT2_PEER, 16, 1024),
    "gpt_defaults": ("gpt", {"config": "gpt2_small"}, 16, 1024),
}

# peer script: (environment, the kerarch case it is the peer of, the figure to compare)
PEERS = {
    "gpt_torch.py": ({"B": "16", "STEPS": "40"}, "gpt", "tok_per_s"),
    "gpt_keras.py": ({"B": "16", "EPOCHS": "6"}, "gpt", "tok_per_s"),
    "resnet_torch.py": ({"B": "128"}, "resnet50", "img_per_s"),
    "resnet_keras.py": ({"B": "128"}, "resnet50", "img_per_s"),
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


def targets_and_losses(model, batch, seq_len):
    """Zero targets: token ids with sparse cross-entropy for vocabulary logits, else MSE.

    Shapes come from the model's symbolic outputs (unknown lengths are
    `seq_len`): an eager forward pass would cost minutes of op-by-op dispatch.
    """
    targets, losses = [], []
    for output in model.outputs:
        shape = [batch] + [d if d is not None else seq_len for d in output.shape[1:]]
        if len(shape) == 3 and shape[-1] >= 1000:  # (batch, time, vocabulary) logits
            targets.append(np.zeros(shape[:-1], "int32"))
            losses.append(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        else:
            targets.append(np.zeros(shape, "float32"))
            losses.append(keras.losses.MeanSquaredError())
    return (targets, losses) if len(targets) > 1 else (targets[0], losses[0])


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, as the Keras peer scripts time them, and the loss each epoch ended with.

    Keras has put the epoch's last state back into the model's variables
    before `on_epoch_end`; waiting for one of them waits for the last step.
    """

    def __init__(self):
        super().__init__()
        self.seconds, self.losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import jax

        jax.block_until_ready(self.model.trainable_variables[-1].value)
        self.seconds.append(time.perf_counter() - self.start)
        self.losses.append(float((logs or {}).get("loss", float("nan"))))


def timed_fit(model, inputs, targets, *, batch, steps, epochs):
    """Seconds per step (median over epochs 3..) of `fit` on `inputs`, which hold `steps` batches."""
    timer = EpochTimer()
    model.fit(inputs, targets, batch_size=batch, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
    if len(timer.losses) != epochs or not np.all(np.isfinite(timer.losses)):
        raise RuntimeError(f"training did not run every epoch with a finite loss: losses {timer.losses}")
    return sorted(timer.seconds[2:])[len(timer.seconds[2:]) // 2] / steps, timer


def measure(case, *, precision, steps, epochs, inputs_on, rng):
    """One case: build, compile, time `fit` with inputs on the host, the device, or both (one compilation)."""
    import jax

    builder, kwargs, batch, seq_len = CASES[case]
    keras.backend.clear_session()  # resets the global dtype policy to float32 ...
    keras.mixed_precision.set_dtype_policy(precision)  # ... so set it for every model
    model = kerarch.build(builder, **kwargs)
    inputs = random_inputs(model, batch, seq_len, rng)
    targets, loss = targets_and_losses(model, batch, seq_len)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=True)
    repeat = lambda a: np.concatenate([a] * steps)  # noqa: E731
    many = (keras.tree.map_structure(repeat, inputs), keras.tree.map_structure(repeat, targets))
    places = ("host", "device") if inputs_on == "both" else (inputs_on,)
    row = {"params": model.count_params(), "batch": batch, "seq_len": seq_len}
    for place in places:
        data = jax.device_put(many) if place == "device" else many
        steady, timer = timed_fit(model, *data, batch=batch, steps=steps, epochs=epochs)
        suffix = "" if place == places[0] else f"_{place}_inputs"
        row[f"examples_per_s{suffix}"] = round(batch / steady, 1)
        row[f"step_ms{suffix}"] = round(1000 * steady, 2)
        if seq_len:
            row[f"tokens_per_s{suffix}"] = round(batch * seq_len / steady)
        row[f"epoch_s{suffix}"] = [round(t, 3) for t in timer.seconds]
        row[f"epoch_loss{suffix}"] = [round(value, 4) for value in timer.losses]
    stats = jax.devices()[0].memory_stats() or {}
    row["peak_memory_gib"] = round(stats.get("peak_bytes_in_use", 0) / 2**30, 2)
    row["compute_dtypes"] = sorted({layer.compute_dtype for layer in model.layers if layer.weights})
    return row


def layer_times(case, *, precision, repeats=20):
    """Forward + backward time of each layer of a case's model alone, at its batch, inputs on the device.

    Finds which layer costs the step: each layer with weights, and each
    pooling layer, runs `grad(sum(layer(x)))` with respect to its weights
    and its input (not the input of the first layer, as in training),
    jitted; the median of `repeats` runs, and the FLOPs XLA counts for it.
    """
    import jax

    builder, kwargs, batch, _ = CASES[case]
    keras.backend.clear_session()
    keras.mixed_precision.set_dtype_policy(precision)
    model = kerarch.build(builder, **kwargs)
    rng = np.random.default_rng(0)
    rows, first = [], True
    for layer in model.layers:
        if not (layer.weights or "pool" in type(layer).__name__.lower()) or isinstance(layer.input, (list, dict)):
            continue
        x = jax.device_put(rng.normal(size=(batch, *layer.input.shape[1:])).astype(layer.compute_dtype))
        weights = [v.value for v in layer.trainable_variables]

        def loss(weights, x, layer=layer):
            y, _ = layer.stateless_call(weights, [v.value for v in layer.non_trainable_variables], x)
            return keras.ops.sum(keras.ops.cast(y, "float32"))

        step = jax.jit(jax.grad(loss, argnums=0 if first and weights else (0, 1)))
        first = first and not weights
        compiled = step.lower(weights, x).compile()
        cost = compiled.cost_analysis()
        cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
        jax.block_until_ready(compiled(weights, x))
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(compiled(weights, x))
            seconds.append(time.perf_counter() - start)
        ms = 1000 * sorted(seconds)[len(seconds) // 2]
        gflop = cost.get("flops", 0) / 1e9
        rows.append({"layer": layer.name, "output": list(layer.output.shape[1:]), "ms": round(ms, 3),
                     "gflop": round(gflop, 2), "tflop_per_s": round(gflop / ms, 1) if ms else None})
        print(f"  {layer.name:22s} {str(rows[-1]['output']):>18s} {ms:>9.3f} ms {gflop:>9.2f} GFLOP "
              f"{rows[-1]['tflop_per_s'] or 0:>7.1f} TFLOP/s", flush=True)
    print(f"  {'sum':22s} {'':>18s} {sum(r['ms'] for r in rows):>9.3f} ms")
    return rows


def run_peers(directory, timeout):
    """Runs each peer script in `directory` in a fresh process; its JSON line, or the error."""
    results = {}
    for script, (env, _, _) in PEERS.items():
        path = Path(directory) / script
        if not path.exists():
            continue
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(path)], env={**os.environ, **env}, capture_output=True,
                                  text=True, timeout=timeout)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            results[script] = json.loads(lines[-1]) if lines else {"error": done.stderr[-500:]}
        except subprocess.TimeoutExpired:
            results[script] = {"error": f"timed out after {timeout} s"}
        results[script]["wall_s"] = round(time.perf_counter() - start, 1)
        print(f"peer {script:18s} {json.dumps(results[script])}", flush=True)
    return results


def ratio_rows(models, peers):
    """kerarch / peer for every peer that ran and whose kerarch case ran."""
    rows = []
    for script, (_, case, key) in PEERS.items():
        mine, theirs = models.get(case, {}), peers.get(script, {})
        name = "tokens_per_s" if key == "tok_per_s" else "examples_per_s"
        # The PyTorch peers keep their batch on the device; the Keras peers fit on NumPy arrays.
        figure = mine.get(f"{name}_device_inputs", mine.get(name)) if "torch" in script else mine.get(name)
        if figure and theirs.get(key):
            rows.append({"kerarch": case, "peer": script, "unit": key, "kerarch_value": figure,
                         "peer_value": theirs[key], "ratio": round(figure / theirs[key], 3)})
    return rows


def print_row(case, row):
    if "error" in row:
        print(f"{case:22s} FAILED {row['error']}", flush=True)
        return
    tokens = f"{row['tokens_per_s']:>10,d}" if "tokens_per_s" in row else f"{'':>10s}"
    print(f"{case:22s} {row['params']:>12,} {row['batch']:>6d} {row['examples_per_s']:>10,.1f} {tokens} "
          f"{row['step_ms']:>9.2f} {row['peak_memory_gib']:>9.2f}  {','.join(row['compute_dtypes'])}", flush=True)
    if "examples_per_s_device_inputs" in row:
        tokens = row.get("tokens_per_s_device_inputs")
        print(f"{'  inputs on the device':22s} {'':>12s} {'':>6s} {row['examples_per_s_device_inputs']:>10,.1f} "
              f"{f'{tokens:,d}' if tokens else '':>10s} {row['step_ms_device_inputs']:>9.2f}", flush=True)


def print_ratios(rows):
    print(f"\n{'kerarch':14s} {'peer':18s} {'kerarch':>12s} {'peer':>12s} {'ratio':>7s}")
    for row in rows:
        print(f"{row['kerarch']:14s} {row['peer']:18s} {row['kerarch_value']:>12,.0f} {row['peer_value']:>12,.0f} "
              f"{row['ratio']:>7.3f}  ({row['unit']})")


def main():
    import jax

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", default="mixed_bfloat16", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--steps", type=int, default=8, help="steps per epoch (default 8, as gpt_keras.py)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs; the first two are dropped (default 6)")
    parser.add_argument("--inputs", choices=("host", "device", "both"), default="host",
                        help="NumPy arrays copied each step (host, as the Keras peers), arrays put on the device "
                             "first (as the PyTorch peers), or both, one after the other on one compiled model")
    parser.add_argument("--layer-times", nargs="*", default=[], choices=sorted(CASES), metavar="CASE",
                        help="also time each layer's forward + backward alone for these cases (which layer costs?)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES))
    parser.add_argument("--peers", help="folder of the peer scripts to run first (../shared/bench)")
    parser.add_argument("--peer-timeout", type=int, default=240)
    parser.add_argument("--out", help="JSON path (default benchmarks/results/accelerator_builders-<timestamp>.json); "
                                      "written after every case")
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (two are dropped)")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"accelerator_builders-{stamp}.json"
    results = {"precision": args.precision, "keras": keras.__version__, "jax": jax.__version__,
               "date": datetime.date.today().isoformat(), "inputs": args.inputs,
               "how": f"median over epochs 3..{args.epochs} of epoch time / {args.steps} steps (fit, Adam, "
                      "jit_compile=True); *_device_inputs: the same on arrays put on the device first",
               "models": {}}
    save = lambda: write_text(out, json.dumps(results, indent=2))  # noqa: E731  (after every case: a cut run keeps them)
    if args.peers:  # before this process starts JAX on the accelerator
        results["peers"] = run_peers(args.peers, args.peer_timeout)
        save()
    results["device"] = str(jax.devices()[0].device_kind)
    results["backend"] = keras.backend.backend()
    print(f"{'case':22s} {'params':>12s} {'batch':>6s} {'ex/s':>10s} {'tok/s':>10s} {'step ms':>9s} {'peak GiB':>9s}"
          f"  dtypes   ({results['device']}, {args.precision}, inputs on {args.inputs})")
    rng = np.random.default_rng(0)
    for case in args.only or CASES:
        try:
            row = measure(case, precision=args.precision, steps=args.steps, epochs=args.epochs,
                          inputs_on=args.inputs, rng=rng)
        except Exception as error:  # report and go on: one failure should not hide the rest
            row = {"error": f"{type(error).__name__}: {error}"[:500]}
        print_row(case, row)
        results["models"][case] = row
        if args.peers:
            results["ratios"] = ratio_rows(results["models"], results["peers"])
        save()
    if args.peers:
        print_ratios(results["ratios"])
    for case in args.layer_times:
        print(f"\nper-layer forward + backward, {case}, batch {CASES[case][2]}, {args.precision}:")
        try:
            results.setdefault("layer_times", {})[case] = layer_times(case, precision=args.precision)
        except Exception as error:
            print(f"  FAILED {type(error).__name__}: {error}"[:500], flush=True)
        save()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

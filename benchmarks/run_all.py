"""kerarch benchmarks: `make bench` (or `python benchmarks/run_all.py --help`).

Measures on this machine, and writes benchmarks/results/<timestamp>.json:
- train_throughput: training images/s of LeNet-5 and of the default DCGAN
  (filters=32), float32, without and with XLA.
- tflite_latency: median single-image latency of LeNet-5 float and int8 TFLite.
- mobilenet_int8_sizes: float vs full-integer int8 TFLite (per-channel and
  per-tensor weight scales) size and latency (float vs per-channel int8) of
  MobileNetV2 at 32x32x1, 10 classes, for several width multipliers.
- import_time: `import kerarch` against `import keras_hub` (benchmarks/import_time.py),
  medians of fresh processes under JAX, goal <= 1.25x.
- gan_mnist_default_run: wall time of `kerarch run gan-mnist` with its
  defaults against the goal of 10 minutes on a 2-core CPU (set-up excluded).

Comparisons run in interleaved pairs in one process (A then B, then B then
A, ...): every pair is printed and stored, with the median of the per-pair
time ratios B / A (below 1: B is faster). This machine is shared; absolute
times move with its load, the ratios much less. Slower comparisons have
their own scripts: benchmarks/generation.py (compiled decoding),
benchmarks/recipe_defaults.py (XLA, bfloat16 and steps_per_execution per
recipe), benchmarks/input_pipeline.py (shuffling and augmentation).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERARCH_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
GAN_GOAL_S = 600


def train_throughput(steps=20, batch_size=128, pairs=5):
    """Training images/s without and with XLA, in interleaved pairs (the order alternates pair by pair)."""
    import keras
    import numpy as np
    import tensorflow as tf

    import kerarch
    from kerarch.generative.adversarial import GAN

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(batch_size * steps, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, size=len(images))

    def lenet(jit):
        model = kerarch.build("lenet5")
        model.compile("adam", "sparse_categorical_crossentropy", jit_compile=jit)
        return model, tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).cache()

    def dcgan(jit):
        gan = GAN(kerarch.build("dcgan_generator", latent_dim=64, filters=32),
                  kerarch.build("dcgan_discriminator", filters=32), latent_dim=64)
        gan.compile(g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                    d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), jit_compile=jit)
        return gan, tf.data.Dataset.from_tensor_slices(images).batch(batch_size).cache()

    results = {}
    for name, make in (("lenet5", lenet), ("dcgan_filters32", dcgan)):
        runs = {jit: make(jit) for jit in (False, True)}
        for model, data in runs.values():
            model.fit(data.take(2), epochs=1, verbose=0)  # trace and warm up
        seconds = interleaved(lambda jit: _fit_seconds(*runs[jit]), (False, True), pairs)
        results[name] = pair_report(seconds, ("no_xla", "xla"), per_second=len(images), unit="img_per_s")
    return results


def _fit_seconds(model, data):
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - start


def interleaved(measure, settings, pairs):
    """[[seconds of settings[0], seconds of settings[1]], ...]: `pairs` pairs, the order alternating."""
    rows = []
    for i in range(pairs):
        order = settings if i % 2 == 0 else settings[::-1]
        timed = {setting: measure(setting) for setting in order}
        rows.append([timed[setting] for setting in settings])
    return rows


def pair_report(seconds, names, *, per_second=None, unit="s"):
    """The pairs (as rates when `per_second` is given) and the median of the per-pair ratios b / a of the times."""
    a, b = names
    values = [[per_second / t for t in pair] if per_second else pair for pair in seconds]
    return {"pairs": [{a: round(x, 4), b: round(y, 4)} for x, y in values], "unit": unit,
            f"median_time_ratio_{b}_over_{a}": round(statistics.median(y / x for x, y in seconds), 3)}


def tflite_latency(pairs=5):
    """Single-image latency of LeNet-5 float and int8 TFLite: medians of 200 runs, in interleaved pairs."""
    import keras
    import numpy as np

    import kerarch
    from kerarch.export import export_model, tflite_latency as latency

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(512, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=512)
    model = kerarch.build("lenet5")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        report = export_model(model, Path(tmp) / "lenet5", quantize="int8", representative_data=x[:200],
                              eval_inputs=x[:100], eval_labels=y[:100])
        files = {key: Path(tmp) / "lenet5" / report["artifacts"][key]["path"] for key in ("tflite", "tflite_int8")}
        seconds = interleaved(lambda key: latency(files[key], x[:1], runs=200)["median_ms"] / 1e3,
                              ("tflite", "tflite_int8"), pairs)
        out = pair_report([[t * 1e3 for t in pair] for pair in seconds], ("float", "int8"), unit="median_ms")
        out["bytes"] = {key: report["artifacts"][key]["bytes"] for key in files}
    keras.backend.clear_session()
    return out


def mobilenet_int8_sizes(alphas=(0.35, 0.5, 0.75, 1.0, 1.4)):
    """File sizes depend on the weights' count and layout only, so a briefly trained model is enough."""
    import keras
    import numpy as np

    from kerarch.export import export_model, tflite_latency as latency
    from kerarch.vision import mobilenet_v2

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(256, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, size=256)
    out = {}
    for alpha in alphas:
        model = mobilenet_v2(input_shape=(32, 32, 1), num_classes=10, alpha=alpha, bn_momentum=0.99)
        model.compile("adam", "sparse_categorical_crossentropy", jit_compile=False)
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        with tempfile.TemporaryDirectory() as tmp:
            reports = {granularity: export_model(model, Path(tmp) / granularity, quantize="int8",
                                                 representative_data=x[:200], eval_inputs=x[:64], formats=("tflite",),
                                                 int8_granularity=granularity)
                       for granularity in ("per_channel", "per_tensor")}
            report = reports["per_channel"]
            files = {key: Path(tmp) / "per_channel" / report["artifacts"][key]["path"] for key in ("tflite", "tflite_int8")}
            per_tensor = reports["per_tensor"]["artifacts"]["tflite_int8"]
            out[f"alpha={alpha}"] = {
                "params": model.count_params(),
                "float_bytes": report["artifacts"]["tflite"]["bytes"],
                "int8_bytes": report["artifacts"]["tflite_int8"]["bytes"],
                "int8_vs_float": report["artifacts"]["tflite_int8"]["size_vs_float"],
                "int8_per_tensor_bytes": per_tensor["bytes"],
                "int8_per_tensor_vs_float": per_tensor["size_vs_float"],
                "latency": pair_report(interleaved(lambda key: latency(files[key], x[:1], runs=100)["median_ms"],
                                                   ("tflite", "tflite_int8"), 3), ("float", "int8"), unit="median_ms"),
                "int8_per_tensor_median_ms": latency(Path(tmp) / "per_tensor" / per_tensor["path"], x[:1],
                                                     runs=200)["median_ms"],
            }
        keras.backend.clear_session()
    return out


def gan_mnist_default_run():
    """Runs the default gan-mnist in a fresh process and checks the 10-minute goal.

    The run folder stays under benchmarks/results/ so its samples can be looked at.
    """
    workdir = ROOT / "benchmarks" / "results" / f"gan-mnist-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    workdir.mkdir(parents=True)
    start = time.perf_counter()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kerarch"), "run", "gan-mnist", "verbose=epoch"],
        cwd=workdir, capture_output=True, text=True,
    )
    wall = round(time.perf_counter() - start, 1)
    if result.returncode != 0:
        raise SystemExit(f"gan-mnist failed:\n{result.stderr[-3000:]}")
    summary_path = next(workdir.glob("runs/gan-mnist/*/summary.json"))
    summary = json.loads(summary_path.read_text())
    return {"wall_time_s": wall, "goal_s": GAN_GOAL_S, "within_goal": wall <= GAN_GOAL_S,
            "run_dir": str(summary_path.parent), "metrics": summary["metrics"]}


def import_time():
    """benchmarks/import_time.py: `import kerarch` against `import keras_hub` in fresh processes."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from import_time import import_time as measure

    return measure()


BENCHMARKS = {
    "train_throughput": train_throughput,
    "tflite_latency": tflite_latency,
    "mobilenet_int8_sizes": mobilenet_int8_sizes,
    "import_time": import_time,
    "gan_mnist_default_run": gan_mnist_default_run,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args()
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}}
    for name in args.only or BENCHMARKS:
        print(f"[bench] {name} ...", flush=True)
        results[name] = BENCHMARKS[name]()
        print(json.dumps(results[name], indent=2), flush=True)
    from kerarch.io import write_text
    out = ROOT / "benchmarks" / "results" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    write_text(out, json.dumps(results, indent=2) + "\n")
    print(f"[bench] results written to {out}")
    gan = results.get("gan_mnist_default_run")
    if gan and not gan["within_goal"]:
        print(f"[bench] gan-mnist took {gan['wall_time_s']} s, over the {GAN_GOAL_S} s goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

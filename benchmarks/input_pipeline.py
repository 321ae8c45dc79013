"""Input pipeline: kerarch.data.make_dataset as it was (per-example) against as it is (batched), on CPU.

    .venv/bin/python benchmarks/input_pipeline.py [--pairs 5]

Three comparisons, each run as interleaved pairs in this one process (the
order inside a pair alternates), on random uint8 data of real shapes:

- lenet: MNIST-shaped 60,000 x 28x28x1 with `scale_images`, shuffled, batch
  128, no augmentation (what `lenet-mnist` feeds).
- resnet: CIFAR-shaped 10,000 x 32x32x3 (by default) with `scale_images`
  and pad-crop-flip (pad 4), shuffled, batch 128 (what the ResNet recipes feed).
  "old" is the previous pipeline: map -> cache -> a shuffle buffer of all
  the examples -> per-example augmentation -> batch. "new" is today's:
  map_fn vectorised once, indices shuffled, batches gathered, augmented
  once per batch.
- augment: today's make_dataset on the resnet data with the previous
  per-image pad_crop_flip (not marked `on_batches`, so applied per example)
  against today's batched one: the augmentation's own cost.

Each trial makes the dataset and reads two epochs: `first_batch_s` is the
time from the make_dataset call to the first batch, `epoch1_s` the first
epoch with it, `steps_per_s` and `cpu_s_per_epoch` (process CPU time, all
threads) belong to the second, steady epoch. Read the ratios: new / old
for times (below 1: today's is faster), new / old for steps/s (above 1:
today's is faster). Each ratio is the median over pairs of the ratio
inside a pair; the pairs themselves are printed and stored, in
benchmarks/results/input_pipeline-<timestamp>.json.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("first_batch_s", "epoch1_s", "steps_per_s", "cpu_s_per_epoch")


def old_make_dataset(x, y, *, batch_size, shuffle, seed, map_fn, augment_fn):
    """make_dataset before the batched pipeline (commit 76803f7), without its argument checks."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).map(map_fn, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        ds = ds.shuffle(min(len(x), 100_000), seed=seed, reshuffle_each_iteration=True)
    if augment_fn is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(lambda element, s: augment_fn(*element, seed=s),
                                                  num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def old_pad_crop_flip(*, pad=4):
    """pad_crop_flip before the batched version (commit 76803f7): one image at a time."""
    import tensorflow as tf

    def augment(image, label, seed):
        height, width, channels = image.shape
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        image = tf.image.resize_with_crop_or_pad(image, height + 2 * pad, width + 2 * pad)
        image = tf.image.stateless_random_crop(image, (height, width, channels), seed=crop_seed)
        return tf.image.stateless_random_flip_left_right(image, seed=flip_seed), label

    return augment


def trial(make):
    """Makes the dataset with `make()` and reads two epochs; returns the METRICS."""
    start = time.perf_counter()
    ds = make()
    batches = iter(ds)
    next(batches)
    first_batch = time.perf_counter() - start
    for _ in batches:
        pass
    epoch1 = time.perf_counter() - start
    wall, cpu, steps = time.perf_counter(), time.process_time(), 0
    for _ in ds:
        steps += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"first_batch_s": first_batch, "epoch1_s": epoch1, "steps_per_s": steps / wall, "cpu_s_per_epoch": cpu}


def comparisons(cifar_examples):
    """{name: (make_old, make_new)}: dataset factories, old first."""
    import numpy as np

    from kerarch.data import make_dataset, scale_images
    from kerarch.data.augment import pad_crop_flip

    rng = np.random.default_rng(0)
    mnist = rng.integers(0, 256, (60_000, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, 60_000)
    cifar = rng.integers(0, 256, (cifar_examples, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, cifar_examples)
    common = {"batch_size": 128, "shuffle": True, "seed": 0, "map_fn": scale_images}
    per_image = old_pad_crop_flip(pad=4)
    return {
        "lenet": (lambda: old_make_dataset(*mnist, augment_fn=None, **common),
                  lambda: make_dataset(*mnist, **common)),
        "resnet": (lambda: old_make_dataset(*cifar, augment_fn=per_image, **common),
                   lambda: make_dataset(*cifar, augment_fn=pad_crop_flip(pad=4), **common)),
        "augment": (lambda: make_dataset(*cifar, augment_fn=per_image, **common),
                    lambda: make_dataset(*cifar, augment_fn=pad_crop_flip(pad=4), **common)),
    }


def measure(make_old, make_new, pairs):
    """Interleaved pairs (old, new), the order inside a pair alternating; returns the pairs and median ratios."""
    trial(make_old), trial(make_new)  # warm-up: tracing, thread pools
    rows = []
    for index in range(pairs):
        if index % 2:
            new, old = trial(make_new), trial(make_old)
        else:
            old, new = trial(make_old), trial(make_new)
        rows.append({"old": old, "new": new})
    ratios = {m: statistics.median(row["new"][m] / row["old"][m] for row in rows) for m in METRICS}
    return {"pairs": rows, "median_ratio_new_over_old": ratios}


def print_table(name, result):
    print(f"\n{name}: new / old, median of per-pair ratios, then the pairs (old -> new)")
    for metric in METRICS:
        pairs = "  ".join(f"{row['old'][metric]:.3g}->{row['new'][metric]:.3g}" for row in result["pairs"])
        print(f"  {metric:16s} {result['median_ratio_new_over_old'][metric]:6.3f}   {pairs}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="interleaved (old, new) pairs per comparison")
    parser.add_argument("--cifar-examples", type=int, default=10_000, help="examples of the CIFAR-shaped data")
    parser.add_argument("--only", nargs="*", choices=("lenet", "resnet", "augment"), help="comparisons to run")
    args = parser.parse_args()
    import tensorflow as tf

    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "tensorflow": tf.__version__, "date": datetime.datetime.now().isoformat()},
               "pairs": args.pairs, "cifar_examples": args.cifar_examples}
    for name, (make_old, make_new) in comparisons(args.cifar_examples).items():
        if args.only and name not in args.only:
            continue
        results[name] = measure(make_old, make_new, args.pairs)
        print_table(name, results[name])
    from kerarch.io import write_text
    out = ROOT / "benchmarks" / "results" / f"input_pipeline-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    write_text(out, json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()

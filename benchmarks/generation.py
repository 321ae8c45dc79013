"""Cached GPT decoding against a compiled full forward pass: `python benchmarks/generation.py`.

For a small GPT (4 layers, width 128, 96 tokens, 0.87 M parameters: the size
of the `gpt-char` recipe's model) and a 128-token prompt, one process per
backend (TensorFlow, JAX) measures in interleaved rounds:

- forward: one compiled full forward pass over the 128-token prefix
  (`tf.function(jit_compile=True)` / `jax.jit` of the model call);
- decode: the cost of one more generated token, compiled (the default):
  (time of 1 + N new tokens - time of 1 new token) / N, sampling with
  temperature 0.8 and top_k 20, as `gpt-char` does;
- a whole call for a few new tokens (--eager-tokens), compiled and with
  `compiled=False` (op by op, the decoder before compilation; on JAX each
  such call also compiles its while loop anew).

Each round gives the ratios decode / forward and eager call / compiled
call; the table prints every round's values and the medians (the goal:
decode / forward <= 1.0). Results go to
benchmarks/results/generation-<time>.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
MODEL = dict(config="gpt2_small", vocabulary_size=96, num_layers=4, num_heads=4, hidden_dim=128, intermediate_dim=512,
             max_sequence_length=512, dropout=0.0)
SAMPLING = dict(temperature=0.8, top_k=20, seed=0)


def measure(rounds, new_tokens, eager_tokens, batch, prefix):
    """Runs under the current KERAS_BACKEND; returns {"rounds": [...], "params": ...}."""
    import keras
    import numpy as np

    from kerarch.compiled import compile_stateful
    from kerarch.registry import BUILDERS
    from kerarch.sequence.generation import generate

    model = BUILDERS.get("gpt")(**MODEL)
    ids = np.random.default_rng(0).integers(1, MODEL["vocabulary_size"], size=(batch, prefix)).astype("int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    forward = compile_stateful(lambda x: model(x, training=False), reads=model.weights, jit_compile=True)

    def seconds(fn, repeats):
        keras.ops.convert_to_numpy(fn())  # warm (traced and compiled once)
        start = time.perf_counter()
        for _ in range(repeats):
            keras.ops.convert_to_numpy(fn())
        return (time.perf_counter() - start) / repeats

    def call(tokens, compiled, repeats):
        return seconds(lambda: generate(model, ids, tokens, compiled=compiled, **SAMPLING), repeats)

    results = []
    for _ in range(rounds):
        row = {"forward_ms": seconds(lambda: forward(inputs), 20) * 1e3,
               "decode_ms": (call(1 + new_tokens, True, 3) - call(1, True, 3)) / new_tokens * 1e3,
               "call_ms": call(eager_tokens, True, 3) * 1e3, "call_eager_ms": call(eager_tokens, False, 1) * 1e3}
        row["decode_over_forward"] = row["decode_ms"] / row["forward_ms"]
        row["eager_over_compiled"] = row["call_eager_ms"] / row["call_ms"]
        results.append({k: round(v, 3) for k, v in row.items()})
    return {"backend": keras.config.backend(), "params": model.count_params(), "batch": batch, "prefix": prefix,
            "rounds": results}


def run_backend(backend, args):
    """One fresh process per backend (a backend is fixed at import)."""
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    command = [sys.executable, __file__, "--child", "--rounds", str(args.rounds), "--new-tokens", str(args.new_tokens),
               "--eager-tokens", str(args.eager_tokens), "--batch", str(args.batch), "--prefix", str(args.prefix)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"The {backend} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(result):
    print(f"\n{result['backend']}: GPT {result['params']:,} parameters, batch {result['batch']}, "
          f"{result['prefix']}-token prefix")
    print(f"{'round':>5} {'forward ms':>11} {'decode ms/token':>16} {'decode/forward':>15} {'call ms':>9} "
          f"{'eager call ms':>14} {'eager/compiled':>15}")
    for i, row in enumerate(result["rounds"], 1):
        print(f"{i:>5} {row['forward_ms']:>11.2f} {row['decode_ms']:>16.3f} {row['decode_over_forward']:>15.3f} "
              f"{row['call_ms']:>9.1f} {row['call_eager_ms']:>14.1f} {row['eager_over_compiled']:>15.1f}")
    for key in ("decode_over_forward", "eager_over_compiled"):
        result[f"median_{key}"] = round(statistics.median(row[key] for row in result["rounds"]), 3)
    print(f"median decode/forward {result['median_decode_over_forward']}  "
          f"median eager call / compiled call {result['median_eager_over_compiled']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax", help="comma-separated Keras backends")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens timed per compiled decode")
    parser.add_argument("--eager-tokens", type=int, default=8, help="new tokens of the whole-call comparison")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--prefix", type=int, default=128)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        print(json.dumps(measure(args.rounds, args.new_tokens, args.eager_tokens, args.batch, args.prefix)))
        return
    results = [run_backend(backend, args) for backend in args.backends.split(",")]
    for result in results:
        print_table(result)
    from kerarch.io import write_text
    out = ROOT / "benchmarks" / "results" / f"generation-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_text(out, json.dumps({"model": MODEL, "sampling": SAMPLING, "results": results}, indent=1) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

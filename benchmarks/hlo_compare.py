"""What one compiled training step asks of the device: kerarch builders vs the plain Keras a user would write.

    KERAS_BACKEND=jax python benchmarks/hlo_compare.py [--only gpt alexnet] [--out FILE]

No timing: for each model it traces the Keras JAX trainer's own `train_step`
(forward, loss, gradients, Adam update; mixed_bfloat16) at small shapes on
the CPU and prints

- counts of the step's JAX primitives (the jaxpr, with every nested call
  expanded where it is called, so a primitive inside a layer called twice
  counts twice) and the megabytes they write, for the operations that decide
  GPU speed: matrix products (with their GFLOP), transposes, dtype
  converts, broadcasts, iota and comparisons (mask building), exp,
  gathers and scatter-adds (embeddings, adaptive pooling), random bits
  (dropout), convolutions, pooling and its gradient (select_and_scatter);
- tensors of attention-score shape (..., T, T): what a fused (flash)
  attention kernel never writes to memory;
- the calls Keras makes to `keras.ops.dot_product_attention` (the only door
  to cuDNN flash attention on a GPU) with or without a materialised mask;
- the dtype of the (B, T, V) logits product;
- FLOPs, bytes accessed and transcendentals from XLA's `cost_analysis` of
  the CPU executable, and the kerarch / reference ratio of each.

Three tables: GPT at a small size of GPT-2's structure (2 layers, width
128, T=256; compiled), GPT-2 small at the peers' size (B=16, T=1024,
V=50,304; traced only, so it shows what the H100 step asked for in
megabytes, without XLA rows), and AlexNet at 224x224 (compiled). Rows that
are zero in every column are left out.

How to read it: every table has one column per model, the reference (plain
Keras, written as `../shared/bench/gpt_keras.py` writes GPT-2 and as
torchvision writes AlexNet) first; the ratio column divides the kerarch
column named in its header by the reference. Counts are of the traced
program, before XLA fuses anything: they say what each model asks for,
not how long it takes. On a CPU, `dot_product_attention` never takes the
cuDNN path, so the "flash on a GPU" column is read off the arguments of
each call (cuDNN's causal kernel needs `is_causal=True` and no mask; a mask
becomes a (B, 1, T, S) bias and loses the causal tile skipping). Writes
JSON to benchmarks/results/hlo_compare-<timestamp>.json. About a minute on
two cores.
"""

import argparse
import collections
import datetime
import json
import os
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
from jax.extend import core as jax_core  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

import kerarch  # noqa: E402
from kerarch.io import write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# GPT: the structure of GPT-2 small at a size a CPU lowers in seconds.
GPT = dict(vocabulary_size=1024, num_layers=2, num_heads=4, hidden_dim=128, intermediate_dim=512, seq_len=256, batch=2)
# GPT-2 small as the peers run it (nanoGPT's vocabulary padding): traced only, no XLA compilation.
GPT2_SMALL = dict(vocabulary_size=50304, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
                  seq_len=1024, batch=16)
ALEXNET = dict(input_shape=(224, 224, 3), num_classes=1000, batch=2)

COMPARISONS = ("lt", "le", "gt", "ge", "eq", "ne")
BF16 = "mixed_bfloat16"
RANDOM = ("threefry2x32", "random_bits", "random_wrap", "random_seed", "rng_bit_generator")


# ---------------------------------------------------------------- reference models


class CausalSelfAttention(layers.Layer):
    """gpt_keras.py's attention: one fused QKV Dense and `dot_product_attention(is_causal=True)`."""

    def __init__(self, hidden_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim, self.num_heads = hidden_dim, num_heads
        self.qkv = layers.Dense(3 * hidden_dim)
        self.proj = layers.Dense(hidden_dim)

    def call(self, x):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv(x), (b, t, 3, self.num_heads, self.hidden_dim // self.num_heads))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        # gpt_keras.py passes flash_attention=True, which raises off a GPU; None lets the backend choose.
        y = ops.dot_product_attention(q, k, v, is_causal=True, flash_attention=None)
        return self.proj(ops.reshape(y, (b, t, self.hidden_dim)))


def plain_gpt(*, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, seq_len):
    """The model of ../shared/bench/gpt_keras.py (no dropout, untied float32 head), at any size."""
    tokens = keras.Input((seq_len,), dtype="int32")
    x = layers.Embedding(vocabulary_size, hidden_dim)(tokens)
    x = x + layers.Embedding(seq_len, hidden_dim)(ops.arange(seq_len)[None, :])
    for _ in range(num_layers):
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        x = x + CausalSelfAttention(hidden_dim, num_heads)(h)
        h = layers.LayerNormalization(epsilon=1e-5)(x)
        h = layers.Dense(intermediate_dim, activation="gelu")(h)
        x = x + layers.Dense(hidden_dim)(h)
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    logits = layers.Dense(vocabulary_size, use_bias=False, dtype="float32")(x)
    return keras.Model(tokens, logits)


def plain_alexnet(*, input_shape, num_classes):
    """torchvision's AlexNet in plain keras.layers: what a user writes (Flatten straight after pool5)."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters, kernel, stride, pad, pool in ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
                                               (256, 3, 1, 1, False), (256, 3, 1, 1, True)):
        x = layers.ZeroPadding2D(pad)(x)
        x = layers.Conv2D(filters, kernel, strides=stride, activation="relu")(x)
        if pool:
            x = layers.MaxPooling2D(3, strides=2)(x)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dropout(0.5)(x)
        x = layers.Dense(4096, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


# ---------------------------------------------------------------- the cases


def gpt_cases(size):
    """(label, build, x, y, loss, precision) for the GPT comparison; the reference first."""
    size = dict(size)
    b, t, v = size.pop("batch"), size["seq_len"], size["vocabulary_size"]
    rng = np.random.default_rng(0)
    ids = rng.integers(0, v, (b, t)).astype("int32")
    y = rng.integers(0, v, (b, t)).astype("int32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    arch = dict(size)
    arch["max_sequence_length"] = arch.pop("seq_len")
    kerarch_x = {"token_ids": ids, "padding_mask": np.ones((b, t), "int32")}
    return [
        ("plain gpt_keras.py", lambda: plain_gpt(**size), ids, y, loss, BF16),
        # The H100 run: builder defaults, and float32 because clear_session() reset the policy.
        ("kerarch as run (f32, drop .1)", lambda: kerarch.build("gpt", **arch), kerarch_x, y, loss, "float32"),
        ("kerarch bf16, dropout .1", lambda: kerarch.build("gpt", **arch), kerarch_x, y, loss, BF16),
        ("kerarch bf16, dropout 0", lambda: kerarch.build("gpt", dropout=0.0, **arch), kerarch_x, y, loss, BF16),
    ]


def alexnet_cases():
    shape, classes, b = ALEXNET["input_shape"], ALEXNET["num_classes"], ALEXNET["batch"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(b, *shape)).astype("float32")
    y = np.zeros((b, classes), "float32")  # accelerator_builders.py: MSE to zero targets
    loss = keras.losses.MeanSquaredError()
    kerarch_alexnet = lambda: kerarch.build("alexnet", input_shape=shape, num_classes=classes)  # noqa: E731
    return [
        ("plain keras.layers", lambda: plain_alexnet(input_shape=shape, num_classes=classes), x, y, loss, BF16),
        ("kerarch as run (float32)", kerarch_alexnet, x, y, loss, "float32"),
        ("kerarch alexnet bf16", kerarch_alexnet, x, y, loss, BF16),
    ]


# ---------------------------------------------------------------- tracing and counting


class AttentionCalls:
    """Records each `keras.ops.dot_product_attention` call made while tracing (the backend function)."""

    def __init__(self):
        self.calls = []

    def __enter__(self):
        import keras.src.backend.jax.nn as jax_nn

        self.module, self.original = jax_nn, jax_nn.dot_product_attention

        def recorded(query, key, value, bias=None, mask=None, scale=None, is_causal=False, **kwargs):
            self.calls.append({"is_causal": bool(is_causal), "mask": None if mask is None else list(mask.shape),
                               "bias": bias is not None, "dtype": str(query.dtype)})
            return self.original(query, key, value, bias=bias, mask=mask, scale=scale, is_causal=is_causal, **kwargs)

        jax_nn.dot_product_attention = recorded
        return self

    def __exit__(self, *exc):
        self.module.dot_product_attention = self.original

    def summary(self):
        if not self.calls:
            return "not called: explicit QK^T, masked softmax, dropout, PV"
        kinds = collections.Counter(
            "causal, no mask: cuDNN flash (causal)" if c["is_causal"] and c["mask"] is None
            else f"mask {c['mask']}: cuDNN with a (B,1,T,S) bias, no causal skipping" for c in self.calls
        )
        return "; ".join(f"{n} x {kind}" for kind, n in kinds.items())


def _sub_jaxprs(params):
    for value in params.values():
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if isinstance(item, jax_core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jax_core.Jaxpr):
                yield item


def _nbytes(aval):
    shape = getattr(aval, "shape", None)
    dtype = getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:  # key types
        itemsize = 8
    return int(np.prod(shape, dtype=np.int64)) * itemsize


def count_jaxpr(jaxpr, *, seq_len=None, vocabulary_size=None, stats=None):
    """Walks a jaxpr (nested calls expanded at every call site) and tallies what the step asks for."""
    if stats is None:
        stats = dict(count=collections.Counter(), mbytes=collections.Counter(), gflop=collections.Counter(),
                     logits_dots=collections.Counter(), score_tensors=collections.Counter(),
                     transposes=collections.Counter(), dot_dtypes=collections.Counter(), score_mbytes=0.0)
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        subs = list(_sub_jaxprs(eqn.params))
        if subs:  # pjit, custom_jvp/vjp, remat, while, cond, closed_call: count the body
            for sub in subs:
                count_jaxpr(sub, seq_len=seq_len, vocabulary_size=vocabulary_size, stats=stats)
            if name not in ("while", "cond", "scan"):
                continue
        stats["count"][name] += 1
        out = eqn.outvars[0].aval if eqn.outvars else None
        stats["mbytes"][name] += sum(_nbytes(v.aval) for v in eqn.outvars) / 2**20
        shape = tuple(getattr(out, "shape", ()))
        if name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs_shape = eqn.invars[0].aval.shape
            contract = int(np.prod([lhs_shape[d] for d in lhs_contract], dtype=np.int64))
            stats["gflop"][name] += 2 * int(np.prod(shape, dtype=np.int64)) * contract / 1e9
            stats["dot_dtypes"][str(eqn.invars[0].aval.dtype)] += 1
            if vocabulary_size and shape and shape[-1] == vocabulary_size and len(shape) >= 2:
                stats["logits_dots"][f"{'x'.join(map(str, shape))} {out.dtype}"] += 1
        if name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            window = int(np.prod(rhs, dtype=np.int64)) // rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
            stats["gflop"][name] += 2 * int(np.prod(shape, dtype=np.int64)) * window / 1e9
            stats["dot_dtypes"][str(eqn.invars[0].aval.dtype)] += 1
        if name == "transpose":
            stats["transposes"]["x".join(map(str, eqn.invars[0].aval.shape))] += 1
        if seq_len and len(shape) >= 2 and shape[-1] == seq_len and shape[-2] == seq_len:
            stats["score_tensors"][f"{name} {out.dtype}"] += 1
            stats["score_mbytes"] += _nbytes(out) / 2**20
    return stats


def trace_step(build, x, y, loss, precision, compile_step=True):
    """The Keras JAX trainer's train_step for `build()`: (jaxpr, XLA cost analysis or {}, attention calls)."""
    keras.backend.clear_session()  # also resets the dtype policy to float32: set it again after
    keras.mixed_precision.set_dtype_policy(precision)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, jit_compile=True)
    model._symbolic_build(data_batch=(x, y, None))
    state = model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                 optimizer_variables=True, metrics_variables=True)
    state = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), state)  # tracing needs no values
    with AttentionCalls() as calls:
        closed = jax.make_jaxpr(model.train_step)(state, (x, y, None))
    cost = {}
    if compile_step:
        cost = jax.jit(model.train_step).lower(state, (x, y, None)).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return model, closed.jaxpr, cost, calls.summary()


def measure(cases, seq_len=None, vocabulary_size=None, compile_step=True):
    columns = {}
    for label, build, x, y, loss, precision in cases:
        start = time.perf_counter()
        model, jaxpr, cost, attention = trace_step(build, x, y, loss, precision, compile_step)
        stats = count_jaxpr(jaxpr, seq_len=seq_len, vocabulary_size=vocabulary_size)
        columns[label] = {
            "params": model.count_params(),
            "precision": precision,
            "dot_dtypes": dict(stats["dot_dtypes"]),
            "count": dict(stats["count"]),
            "mbytes": {k: round(v, 3) for k, v in stats["mbytes"].items()},
            "gflop": {k: round(v, 4) for k, v in stats["gflop"].items()},
            "logits_dots": dict(stats["logits_dots"]),
            "score_tensors": dict(stats["score_tensors"]),
            "score_mbytes": round(stats["score_mbytes"], 1),
            "transposes": dict(stats["transposes"]),
            "attention": attention,
            "xla_gflop": round(cost.get("flops", 0) / 1e9, 4),
            "xla_mbytes_accessed": round(cost.get("bytes accessed", 0) / 2**20, 2),
            "xla_transcendentals_m": round(cost.get("transcendentals", 0) / 1e6, 4),
            "trace_s": round(time.perf_counter() - start, 1),
        }
    return columns


# ---------------------------------------------------------------- printing


def rows(columns, seq_len=None, vocabulary_size=None):
    """(label, value per column) rows of the table."""
    def get(key, name, col):
        return col[key].get(name, 0)

    def group(col, names, key="count"):
        return sum(get(key, n, col) for n in names)

    out = [
        ("parameters", lambda c: c["params"]),
        ("dot/conv with bf16 operands", lambda c: c["dot_dtypes"].get("bfloat16", 0)),
        ("dot/conv with f32 operands", lambda c: c["dot_dtypes"].get("float32", 0)),
        ("dot_general (count)", lambda c: get("count", "dot_general", c)),
        ("dot_general GFLOP", lambda c: round(get("gflop", "dot_general", c), 3)),
        ("conv_general_dilated (count)", lambda c: get("count", "conv_general_dilated", c)),
        ("conv GFLOP", lambda c: round(get("gflop", "conv_general_dilated", c), 3)),
        ("transpose (count)", lambda c: get("count", "transpose", c)),
        ("transpose MB written", lambda c: round(get("mbytes", "transpose", c), 2)),
        ("convert_element_type (count)", lambda c: get("count", "convert_element_type", c)),
        ("convert MB written", lambda c: round(get("mbytes", "convert_element_type", c), 2)),
        ("broadcast_in_dim (count)", lambda c: get("count", "broadcast_in_dim", c)),
        ("iota (count)", lambda c: get("count", "iota", c)),
        ("comparisons (count)", lambda c: group(c, COMPARISONS)),
        ("select_n (count)", lambda c: get("count", "select_n", c)),
        ("exp (count)", lambda c: get("count", "exp", c)),
        ("exp MB written", lambda c: round(get("mbytes", "exp", c), 2)),
        ("gather (count)", lambda c: get("count", "gather", c)),
        ("scatter-add (count)", lambda c: get("count", "scatter-add", c) + get("count", "scatter_add", c)),
        ("random: threefry/bits (count)", lambda c: group(c, RANDOM)),
        ("random MB generated", lambda c: round(group(c, RANDOM, "mbytes"), 2)),
        ("reduce_window max/sum (count)", lambda c: group(c, ("reduce_window_max", "reduce_window_sum", "reduce_window"))),
        ("select_and_scatter_add (count)", lambda c: group(c, ("select_and_scatter_add", "select_and_scatter"))),
        ("pad (count)", lambda c: get("count", "pad", c)),
        ("all primitives (count)", lambda c: sum(c["count"].values())),
        ("all primitives MB written", lambda c: round(sum(c["mbytes"].values()), 1)),
        ("XLA cost_analysis GFLOP", lambda c: c["xla_gflop"]),
        ("XLA bytes accessed MB", lambda c: c["xla_mbytes_accessed"]),
        ("XLA transcendentals (M)", lambda c: c["xla_transcendentals_m"]),
    ]
    if seq_len:
        out[1:1] = [
            (f"tensors of shape (..,{seq_len},{seq_len}) (count)", lambda c: sum(c["score_tensors"].values())),
            ("  MB they write", lambda c: c["score_mbytes"]),
        ]
    table = [(label, [fn(col) for col in columns.values()]) for label, fn in out]
    return [(label, values) for label, values in table if any(values)]  # rows of zeros say nothing


def print_table(title, columns, **kw):
    labels = list(columns)
    reference = labels[0]
    width = 2 + max(22, *(len(label) for label in labels))
    print(f"\n== {title} ==  (ratio = column / '{reference}')")
    head = f"{'':34s}" + "".join(f"{label:>{width}s}" for label in labels)
    head += "".join(f"{'ratio ' + str(i):>10s}" for i in range(1, len(labels)))
    print(head)
    for label, values in rows(columns, **kw):
        ratios = "".join(
            f"{(v / values[0]) if values[0] else float('nan'):>10.2f}" for v in values[1:]
        )
        print(f"{label:34s}" + "".join(f"{v:>{width},}" if isinstance(v, int) else f"{v:>{width}}" for v in values)
              + ratios)
    print("ratio i = column i+1 / column 1;  " + ", ".join(f"column {i + 1}: {label}" for i, label in enumerate(labels)))
    for label, col in columns.items():
        print(f"  {label} ({col['precision']}):")
        if kw.get("seq_len"):
            print(f"    keras.ops.dot_product_attention: {col['attention']}")
        if col["logits_dots"]:
            print(f"    (B,T,V) logits products: {col['logits_dots']}")
        if col["score_tensors"]:
            print(f"    (..,T,T) tensors by primitive: {dict(sorted(col['score_tensors'].items()))}")
        big = {k: v for k, v in col["transposes"].items() if np.prod([int(d) for d in k.split("x")]) >= 2**17}
        if big:
            print(f"    transposes of >= 128k-element operands: {big}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=("gpt", "gpt2_small", "alexnet"),
                        default=["gpt", "gpt2_small", "alexnet"])
    parser.add_argument("--out", help="JSON path (default benchmarks/results/hlo_compare-<timestamp>.json)")
    args = parser.parse_args()
    results = {"what": "one Keras JAX train_step traced on the CPU, mixed_bfloat16, Adam", "jax": jax.__version__,
               "keras": keras.__version__, "gpt_size": GPT, "gpt2_small_size": GPT2_SMALL, "alexnet_size": {k: list(v) if isinstance(v, tuple) else v
                                                                            for k, v in ALEXNET.items()}}
    if "gpt" in args.only:
        cols = measure(gpt_cases(GPT), GPT["seq_len"], GPT["vocabulary_size"])
        print_table(f"GPT train step, {GPT}", cols, seq_len=GPT["seq_len"], vocabulary_size=GPT["vocabulary_size"])
        results["gpt"] = cols
    if "gpt2_small" in args.only:
        size = GPT2_SMALL
        cols = measure(gpt_cases(size), size["seq_len"], size["vocabulary_size"], compile_step=False)
        print_table(f"GPT-2 small train step at the peers' size (traced, not compiled: no XLA rows), {size}", cols,
                    seq_len=size["seq_len"], vocabulary_size=size["vocabulary_size"])
        results["gpt2_small"] = cols
    if "alexnet" in args.only:
        cols = measure(alexnet_cases())
        print_table(f"AlexNet train step, {ALEXNET}", cols)
        results["alexnet"] = cols
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"hlo_compare-{stamp}.json"
    write_text(out, json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

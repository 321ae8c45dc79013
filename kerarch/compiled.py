"""One compiled function per backend for inference loops that read (and update) Keras variables.

`compile_stateful(fn, reads=..., updates=...)` returns a callable with
`fn`'s arguments and results that runs as one compiled program: a
`tf.function` on TensorFlow, `jax.jit` over a stateless call on JAX (the
values of `reads` and `updates` go in as arguments, the new values of
`updates` come out and are assigned back), and `fn` under `torch.no_grad()`
on PyTorch. keras-hub's `CausalLM.make_generate_function` does the same for
its own models; kerarch's builders return plain functional models, so the
decoders need it as a function (it has no public equivalent in Keras).

Each is traced once per input shape and reused while the returned callable
is kept: hold on to it (see `kerarch.sequence.generation`).
"""

import functools

import keras


def compile_stateful(fn, *, reads, updates=(), jit_compile=None):
    """Compiles `fn(*arrays)` for the current backend.

    Args:
        fn: a function of tensors (and nested tuples/lists of them) that uses
            `keras.ops` and calls layers.
        reads: the Keras variables `fn` reads without changing (the weights).
        updates: the Keras variables `fn` assigns (e.g. a sampler's seed state).
        jit_compile: TensorFlow only: XLA-compile the `tf.function` (None
            leaves TensorFlow's default, no XLA). JAX always compiles with XLA.

    Returns:
        A callable with `fn`'s signature.
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Through a partial TF counts traces per compiled function, not per source code: separate
        # functions made from one closure (one per decoding setting) do not warn of "retracing".
        return tf.function(functools.partial(fn), jit_compile=jit_compile)
    if backend == "jax":
        return _jax_stateless(fn, list(reads), list(updates))
    if backend == "torch":
        import torch

        def without_gradients(*args):
            with torch.no_grad():
                return fn(*args)

        return without_gradients
    return fn


def _jax_stateless(fn, reads, updates):
    import jax

    def stateless(read_values, update_values, *args):
        mapping = list(zip(reads, read_values)) + list(zip(updates, update_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            outputs = fn(*args)
        new_values = [_current(scope, variable, value) for variable, value in zip(updates, update_values)]
        return outputs, new_values

    jitted = jax.jit(stateless)

    def call(*args):
        outputs, new_values = jitted([v.value for v in reads], [v.value for v in updates], *args)
        for variable, value in zip(updates, new_values):
            variable.assign(value)
        return outputs

    return call


def _current(scope, variable, value):
    new = scope.get_current_value(variable)
    return value if new is None else new

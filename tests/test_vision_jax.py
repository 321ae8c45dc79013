"""Every vision builder builds and runs a forward pass under the JAX backend.

One subprocess (KERAS_BACKEND=jax) handles a whole list of builders. Models
are built with their variables left unallocated (`keras.StatelessScope(
initialize_variables=False)`) and run through a jitted `stateless_call` with
random NumPy weights: JAX compiles every initializer op for every new weight
shape, which made plain building take minutes on CPU, while one jitted
forward pass per model (XLA optimisation level 0) takes seconds. What is
checked is the part that differs per backend: building the graph and running
its layers and `keras.ops`.
"""

import pytest
from builder_checks import run_script

_SCRIPT = r"""
import json, sys
import numpy as np
import keras
import jax
assert keras.backend.backend() == "jax", keras.backend.backend()
import kerarch

results = []
for name, kwargs, input_shape in json.loads(sys.argv[1]):
    if "input_shape" in kwargs:
        kwargs["input_shape"] = tuple(kwargs["input_shape"])
    with keras.StatelessScope(initialize_variables=False):
        model = kerarch.build(name, **kwargs)
    keras.backend.clear_session(free_memory=False)
    rng = np.random.default_rng(0)
    trainable = [rng.normal(0, 0.05, v.shape).astype("float32") for v in model.trainable_variables]
    non_trainable = [np.ones(v.shape, "float32") for v in model.non_trainable_variables]
    forward = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
    x = rng.uniform(-1, 1, (2, *input_shape)).astype("float32")
    y = np.asarray(forward(trainable, non_trainable, x))
    results.append([name, list(y.shape), bool(np.isfinite(y).all())])
    print(json.dumps(results[-1]), flush=True)
print("RESULTS " + json.dumps(results))
"""

SMALL = dict(input_shape=(32, 32, 3), num_classes=10)
# (builder, kwargs, input shape); every builder outputs 10 classes.
DEFAULT_CASES = [
    ("simple_cnn", {}, (32, 32, 3)),
    ("alexnet", dict(input_shape=(63, 63, 3), num_classes=10), (63, 63, 3)),
    ("resnet18", SMALL, (32, 32, 3)),
    ("resnet20", {}, (32, 32, 3)),
    ("inception_v1", SMALL, (32, 32, 3)),
    ("mobilenet_v3_small", SMALL, (32, 32, 3)),
    ("vit", dict(SMALL, variant="ti16", patch_size=4), (32, 32, 3)),
]
SLOW_CASES = [
    ("vgg11", dict(SMALL, batch_norm=True), (32, 32, 3)),
    ("resnet50", SMALL, (32, 32, 3)),
    ("vgg13", SMALL, (32, 32, 3)),
    ("vgg16", SMALL, (32, 32, 3)),
    ("vgg19", SMALL, (32, 32, 3)),
    ("resnet34", SMALL, (32, 32, 3)),
    ("resnet101", SMALL, (32, 32, 3)),
    ("resnet152", SMALL, (32, 32, 3)),
    ("resnet32", dict(shortcut="b"), (32, 32, 3)),
    ("resnet44", {}, (32, 32, 3)),
    ("resnet56", {}, (32, 32, 3)),
    ("resnet110", {}, (32, 32, 3)),
    ("inception_v3", dict(input_shape=(75, 75, 3), num_classes=10), (75, 75, 3)),
    ("inception_v4", dict(input_shape=(75, 75, 3), num_classes=10), (75, 75, 3)),
    ("inception_resnet_v2", dict(input_shape=(75, 75, 3), num_classes=10), (75, 75, 3)),
    ("mobilenet_v1", SMALL, (32, 32, 3)),
    ("mobilenet_v2", SMALL, (32, 32, 3)),
    ("mobilenet_v3_large", SMALL, (32, 32, 3)),
]


def _run_under_jax(cases, timeout):
    results = run_script(
        _SCRIPT, cases, timeout=timeout, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
        XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    )
    assert [r[0] for r in results] == [c[0] for c in cases]
    for name, shape, finite in results:
        assert shape == [2, 10], (name, shape)
        assert finite, name


def test_vision_builders_forward_under_jax():
    _run_under_jax(DEFAULT_CASES, timeout=400)


@pytest.mark.slow
def test_all_vision_builders_forward_under_jax():
    _run_under_jax(SLOW_CASES, timeout=1200)


def test_jax_cases_cover_every_vision_builder():
    from test_vision_builders import VISION_BUILDERS

    assert {c[0] for c in DEFAULT_CASES + SLOW_CASES} == set(VISION_BUILDERS)

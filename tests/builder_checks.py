"""The one shared check every builder goes through (see STYLE.md)."""

import inspect

import numpy as np

import keras


def check_builder(model, *, input_shape, output_shape, params=None, name=None, tmp_path=None, seed=0):
    """Asserts shape, exact parameter count, name, config and `.keras` round trips.

    Args:
        model: a built functional model.
        input_shape: one example's shape (no batch dimension) to feed; for
            multi-input models pass a list of shapes.
        output_shape: expected output shape without the batch dimension.
        params: expected exact `count_params()`, when known.
        name: expected `model.name` (the registry key).
        tmp_path: a directory for the `.keras` round trip; skipped when None.
    """
    if name is not None:
        assert model.name == name
    if params is not None:
        assert model.count_params() == params, f"{model.name}: {model.count_params():,} != {params:,}"
    inputs = _random_inputs(input_shape, seed)
    outputs = np.asarray(model(inputs, training=False))
    assert outputs.shape == (2, *output_shape), outputs.shape
    assert np.all(np.isfinite(outputs))

    clone = model.__class__.from_config(model.get_config())
    assert clone.count_params() == model.count_params()

    if tmp_path is not None:
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        np.testing.assert_allclose(np.asarray(restored(inputs, training=False)), outputs, rtol=1e-5, atol=1e-5)


def _random_inputs(input_shape, seed):
    rng = np.random.default_rng(seed)
    if isinstance(input_shape, list):
        return [_random_inputs(s, seed + i) for i, s in enumerate(input_shape)]
    return rng.uniform(-1, 1, size=(2, *input_shape)).astype("float32")


def check_signature(builder):
    """Asserts the builder's signature shows its real arguments: keyword-only, no `**kwargs`, a `name`."""
    parameters = inspect.signature(builder).parameters
    loose = [f"{p.name} ({p.kind.description})" for p in parameters.values() if p.kind is not p.KEYWORD_ONLY]
    assert not loose, f"{builder.__name__}: not keyword-only: {', '.join(loose)}"
    assert "name" in parameters, f"{builder.__name__} has no name argument"
    assert (builder.__doc__ or "").strip(), f"{builder.__name__} has no docstring"


_LOAD_WITHOUT_KERARCH = r"""
import json, sys
import numpy as np
import keras
import keras_hub  # noqa: F401 - Keras itself imports it for "keras_hub>..." names; imported here to time it once

results = []
for path, data in json.loads(sys.argv[1]):
    arrays = np.load(data)
    inputs = [arrays[f"x{i}"] for i in range(int(arrays["n_inputs"]))]
    expected = [arrays[f"y{i}"] for i in range(int(arrays["n_outputs"]))]
    try:
        model = keras.saving.load_model(path, compile=False)
        outputs = keras.tree.flatten(model(inputs if len(inputs) > 1 else inputs[0], training=False))
        diff = max(float(np.max(np.abs(np.asarray(o) - e))) for o, e in zip(outputs, expected))
        results.append([path, None if len(outputs) == len(expected) else "output count", diff])
    except Exception as error:  # noqa: BLE001 - reported per model
        results.append([path, f"{type(error).__name__}: {str(error)[:300]}", None])
leaked = sorted(m for m in sys.modules if m == "kerarch" or m.startswith(("kerarch.", "recipes")))
print("RESULTS " + json.dumps({"results": results, "leaked": leaked}))
"""


def check_loads_without_kerarch(models, tmp_path, *, input_shapes, seed=0, timeout=900, atol=1e-5):
    """Saves each model as `.keras`; ONE subprocess importing only keras and keras_hub loads them all.

    Asserts that every file loads there (no kerarch-only layer or function
    in it), gives the same outputs on the same random inputs, and that
    kerarch was never imported.

    Args:
        models: {label: built model}.
        tmp_path: a directory for the files.
        input_shapes: {label: one example's input shape (a list of shapes for several inputs)}.
        timeout: seconds for the subprocess.
        atol: absolute tolerance on the outputs.

    Returns:
        {label: largest absolute output difference}.
    """

    cases, labels = [], {}
    for label, model in models.items():
        path = str(tmp_path / f"{label}.keras")
        model.save(path)
        inputs = _random_inputs(input_shapes[label], seed)
        inputs = inputs if isinstance(inputs, list) else [inputs]
        outputs = keras.tree.flatten(model(inputs if len(inputs) > 1 else inputs[0], training=False))
        data = str(tmp_path / f"{label}.npz")
        np.savez(
            data,
            n_inputs=len(inputs),
            n_outputs=len(outputs),
            **{f"x{i}": x for i, x in enumerate(inputs)},
            **{f"y{i}": np.asarray(y) for i, y in enumerate(outputs)},
        )
        cases.append([path, data])
        labels[path] = label
    report = run_script(_LOAD_WITHOUT_KERARCH, cases, cwd=tmp_path, timeout=timeout)
    assert not report["leaked"], f"kerarch was imported: {report['leaked']}"
    failures = {labels[p]: error for p, error, _ in report["results"] if error}
    assert not failures, f"do not load with keras and keras_hub alone: {failures}"
    diffs = {labels[p]: diff for p, _, diff in report["results"]}
    too_far = {label: diff for label, diff in diffs.items() if diff > atol}
    assert not too_far, f"outputs differ after loading: {too_far}"
    return diffs


def run_script(script, cases, *, timeout, cwd=None, **env):
    """Runs `script` in a fresh Python with `cases` (JSON) as its argument; returns its "RESULTS <json>" line, parsed.

    `env` adds environment variables (e.g. KERAS_BACKEND="jax").
    """
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(cases)],
        cwd=cwd,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULTS "))
    return json.loads(line[len("RESULTS "):])

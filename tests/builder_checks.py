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

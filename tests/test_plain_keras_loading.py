"""Every builder's saved `.keras` file loads with plain Keras (issue 15).

Each builder in the registry is built small, saved, and reloaded in ONE
subprocess that imports only keras and keras_hub (never kerarch): it must
give the same outputs on the same inputs. The builders that still need a
kerarch object to load are listed in `NEEDS_KERARCH` with the reason; the
test asserts that table is exactly the set that fails, so it cannot go
stale, and a second subprocess loads those with `kerarch.custom_objects()`.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import kerarch
from kerarch.registry import BUILDERS
from test_sequence_builders import TINY_BERT, TINY_RNN, TINY_TRANSFORMER, V, token_inputs

SMALL_IMAGE = dict(input_shape=(32, 32, 3), include_top=False, pooling="avg")
TINY_ENCODER = dict(input_shape=(8, 8, 1), encoder="simple_cnn", encoder_args={"filters": (4, 8), "convs_per_block": 1},
                    projection_units=8, projection_dim=4)
TINY_GRAPH = dict(num_features=5, num_classes=3, hidden_units=(4,))

# Builders whose saved models still need kerarch to load, and why. Keep this honest:
# test_registry_loads_with_plain_keras fails if an entry loads without kerarch, or a builder missing here does not.
NEEDS_KERARCH = {
    "vae": "a keras.Model subclass (kerarch>VAE) with its own loss; its Sampling layer draws the code",
    "simclr": "a keras.Model subclass (kerarch>SimCLR) with its own contrastive train_step",
    "byol": "a keras.Model subclass (kerarch>BYOL) with a target network updated in train_step",
    "gcn": "message passing with a dynamic node count: kerarch>GCNConv (keras.ops cannot take N from the graph)",
    "gcn_graph_classifier": "kerarch>GCNConv and kerarch>GraphMeanPooling (a per-graph readout, G from the data)",
    "graphsage": "kerarch>SAGEConv (segment mean over a dynamic node count)",
    "gat": "kerarch>GATConv (segment softmax over a dynamic node count)",
}

# Builders too large to build and save in the default suite (no width argument); tested in the slow test.
HEAVY = {"vgg13", "vgg16", "vgg19", "resnet34", "resnet50", "resnet101", "resnet152", "inception_v3", "inception_v4",
         "inception_resnet_v2"}

# Builders that cannot be built on a backend at all (not a loading question), by backend.
UNBUILDABLE = {"jax": {"gcn_graph_classifier"}}  # its graph count G comes from the data: no symbolic build under JAX

# Small arguments per builder; every registered builder must have an entry.
CASES = {
    "perceptron": dict(input_shape=(4,)),
    "mlp": dict(input_shape=(6,), hidden_units=(8,)),
    "lenet5": dict(input_shape=(28, 28, 1)),
    "simple_cnn": dict(input_shape=(8, 8, 1), filters=(4, 8), dense_units=8, num_classes=3),
    "alexnet": dict(input_shape=(63, 63, 3), include_top=False, pooling="avg"),
    "nas_cnn": dict(input_shape=(8, 8, 1), num_classes=2, stages=((4, 3, "plain"), (4, 3, "residual")), dense_units=4),
    **{name: dict(SMALL_IMAGE) for name in ("vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
                                             "resnet101", "resnet152", "inception_v1")},
    **{name: dict(input_shape=(16, 16, 3), num_classes=3) for name in ("resnet20", "resnet32", "resnet44", "resnet56",
                                                                        "resnet110")},
    **{name: dict(input_shape=(75, 75, 3), include_top=False, pooling="avg")
       for name in ("inception_v3", "inception_v4", "inception_resnet_v2")},
    **{name: dict(SMALL_IMAGE, alpha=0.25) for name in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
                                                         "mobilenet_v3_large")},
    "vit": dict(input_shape=(16, 16, 3), num_classes=3, patch_size=4, hidden_dim=8, num_layers=1, num_heads=2,
                mlp_dim=16),
    "autoencoder": dict(image_shape=(8, 8, 1), latent_dim=2, filters=4),
    "autoencoder_encoder": dict(image_shape=(8, 8, 1), latent_dim=2, filters=4),
    "autoencoder_decoder": dict(image_shape=(8, 8, 1), latent_dim=2, filters=4),
    "vae": dict(image_shape=(8, 8, 1), latent_dim=2, filters=4, seed=1),
    "dcgan_generator": dict(latent_dim=8, filters=4),
    "dcgan_discriminator": dict(filters=4),
    "cgan_generator": dict(latent_dim=8, filters=4, embedding_dim=5),
    "cgan_discriminator": dict(filters=4),
    "wgan_critic": dict(filters=4),
    "simple_rnn": TINY_RNN,
    "lstm": dict(TINY_RNN, num_layers=2, bidirectional=True),
    "gru": dict(TINY_RNN, num_layers=2),
    "transformer": dict(TINY_TRANSFORMER, vocabulary_size=V),
    "bert": TINY_BERT,
    "bert_pretraining": TINY_BERT,
    "bert_classifier": dict(TINY_BERT, num_classes=3),
    "distilbert": dict(TINY_TRANSFORMER, vocabulary_size=V),
    "gpt": dict(TINY_TRANSFORMER, vocabulary_size=V),
    "simclr": TINY_ENCODER,
    "byol": dict(TINY_ENCODER, prediction_units=8),
    "gcn": TINY_GRAPH,
    "graphsage": TINY_GRAPH,
    "gat": dict(TINY_GRAPH, heads=2),
    "gcn_graph_classifier": dict(num_features=5, num_classes=3, hidden_units=(4,)),
}

# Models whose call is random (the VAE samples its code): outputs compared on this deterministic part.
CALLED_PART = {"vae": "encoder"}

NODES = 5
EDGES = np.array([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]], dtype="int32")  # (2, E), both directions


def fixed_inputs(name, model, rng):
    """Inputs for one call: token models as the sequence tests feed them, graphs as 5 nodes, else uniform floats."""
    if BUILDERS.get(name).__module__.startswith("kerarch.sequence"):
        return token_inputs(model)
    names = [t.name for t in model.inputs] if getattr(model, "inputs", None) else []
    if "edge_index" in names:
        features = rng.uniform(-1, 1, size=(NODES, model.inputs[0].shape[-1])).astype("float32")
        graph = [features, EDGES]
        return graph + [np.array([0, 0, 1, 1, 1], dtype="int32")] if "graph_ids" in names else graph
    if not getattr(model, "inputs", None):  # a Model subclass: the VAE on images, SimCLR and BYOL on two views
        kwargs = CASES[name]
        images = [rng.uniform(0, 1, size=(2, *kwargs.get("input_shape", kwargs.get("image_shape")))).astype("float32")
                  for _ in range(2)]
        return images[0] if name == "vae" else images
    arrays = []
    for tensor in model.inputs:
        shape = (2, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            arrays.append(rng.integers(0, 3, size=shape).astype(tensor.dtype))
        else:
            arrays.append(rng.uniform(0, 1, size=shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


def to_numpy(outputs):
    """Outputs as a flat {key: array} (dicts by key, lists/tuples by index)."""
    if isinstance(outputs, dict):
        return {str(k): keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return {str(i): keras.ops.convert_to_numpy(v) for i, v in enumerate(outputs)}
    return {"0": keras.ops.convert_to_numpy(outputs)}


def build_small(name):
    keras.utils.set_random_seed(0)
    model = kerarch.build(name, **CASES[name])
    if not model.built:  # the Model subclasses (VAE, SimCLR, BYOL) build on their first call
        model(fixed_inputs(name, model, np.random.default_rng(0)))
    return model


def save_cases(names, directory):
    """Saves each model, its inputs and its outputs under `directory`; returns the case list for the child."""
    cases = []
    for name in names:
        model = build_small(name)
        inputs = fixed_inputs(name, model, np.random.default_rng(1))
        path = os.path.join(directory, f"{name}.keras")
        model.save(path)
        part = getattr(model, CALLED_PART[name]) if name in CALLED_PART else model
        outputs = to_numpy(part(inputs, training=False))
        inputs_path, outputs_path = (os.path.join(directory, f"{name}_{kind}.npz") for kind in ("inputs", "outputs"))
        if isinstance(inputs, dict):
            np.savez(inputs_path, **inputs)
        else:
            np.savez(inputs_path, *(inputs if isinstance(inputs, list) else [inputs]))
        np.savez(outputs_path, **outputs)
        cases.append(dict(name=name, path=path, inputs=inputs_path, outputs=outputs_path, part=CALLED_PART.get(name),
                          dict_inputs=isinstance(inputs, dict), list_inputs=isinstance(inputs, list)))
    return cases


# The child: loads each file, calls it on the saved inputs, compares with the saved outputs.
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_hub  # noqa: F401  (Keras auto-imports it for registered names; imported as a user would)
    PRELUDE
    cases = json.load(open(sys.argv[1]))
    report = {}
    for case in cases:
        try:
            model = keras.saving.load_model(case["path"], **LOAD_KWARGS)
        except Exception as error:
            report[case["name"]] = "load: " + type(error).__name__ + ": " + str(error)[:300]
            continue
        saved = np.load(case["inputs"])
        if case["dict_inputs"]:
            inputs = {k: saved[k] for k in saved.files}
        else:
            inputs = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            inputs = inputs if case["list_inputs"] else inputs[0]
        outputs = (getattr(model, case["part"]) if case["part"] else model)(inputs, training=False)
        if isinstance(outputs, dict):
            outputs = {str(k): v for k, v in outputs.items()}
        elif isinstance(outputs, (list, tuple)):
            outputs = {str(i): v for i, v in enumerate(outputs)}
        else:
            outputs = {"0": outputs}
        expected = np.load(case["outputs"])
        if set(outputs) != set(expected.files):
            report[case["name"]] = f"outputs {sorted(outputs)} != {expected.files}"
            continue
        worst = max(float(np.max(np.abs(keras.ops.convert_to_numpy(outputs[k]) - expected[k])))
                    for k in expected.files)
        report[case["name"]] = "ok" if worst <= 1e-5 else f"outputs differ by {worst}"
    CHECK
    json.dump(report, open(sys.argv[2], "w"))
    """
)


def run_child(cases, tmp_path, *, prelude="", load_kwargs="{}", check=""):
    cases_path, report_path = tmp_path / "cases.json", tmp_path / "report.json"
    cases_path.write_text(json.dumps(cases))
    script = CHILD.replace("PRELUDE", prelude).replace("LOAD_KWARGS", load_kwargs).replace("CHECK", check)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script, str(cases_path), str(report_path)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(report_path.read_text())


NO_KERARCH = 'assert not [m for m in sys.modules if m.startswith("kerarch")], "kerarch was imported"'


def check_plain_loading(names, tmp_path):
    cases = save_cases(names, str(tmp_path))
    report = run_child(cases, tmp_path, check=NO_KERARCH)
    failing = {name for name, result in report.items() if result != "ok"}
    expected = set(NEEDS_KERARCH) & set(names)
    unlisted = {n: report[n] for n in sorted(failing - expected)}
    assert failing == expected, (
        f"without kerarch, these fail but are not in NEEDS_KERARCH: {unlisted}; "
        f"these load but are listed: {sorted(expected - failing)}"
    )
    for name in failing:  # a listed builder fails at loading, never with wrong outputs
        assert report[name].startswith("load: "), (name, report[name])


def test_every_builder_has_a_small_case():
    assert set(CASES) == set(BUILDERS.names())
    assert set(NEEDS_KERARCH) <= set(BUILDERS.names()) and HEAVY <= set(BUILDERS.names())


def buildable(names):
    return sorted(set(names) - UNBUILDABLE.get(keras.backend.backend(), set()))


def test_registry_loads_with_plain_keras(tmp_path):
    check_plain_loading(buildable(set(BUILDERS.names()) - HEAVY), tmp_path)


@pytest.mark.slow
def test_heavy_builders_load_with_plain_keras(tmp_path):
    check_plain_loading(buildable(HEAVY), tmp_path)


def test_custom_objects_load_the_rest(tmp_path):
    """The NEEDS_KERARCH builders load with `kerarch.custom_objects()` (`import kerarch` imports no family)."""
    cases = save_cases(buildable(set(NEEDS_KERARCH) - HEAVY), str(tmp_path))
    prelude = "from kerarch import custom_objects"
    report = run_child(cases, tmp_path, prelude=prelude, load_kwargs="dict(custom_objects=custom_objects())")
    assert report == {case["name"]: "ok" for case in cases}


def test_custom_objects_lists_only_kerarch_objects():
    from kerarch import custom_objects

    objects = custom_objects()
    assert objects and all(name.startswith("kerarch>") for name in objects)
    assert all(keras.saving.get_registered_name(obj) == name for name, obj in objects.items())

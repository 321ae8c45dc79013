"""kerarch.export: parity, quantization, report, atomicity, failure paths.

Tiny models trained a few steps on synthetic separable data; the expensive
exports are module-scoped fixtures shared by the tests that read them.
"""

import json
import os

import numpy as np
import pytest

import keras
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import kerarch
from kerarch.errors import KerarchError
from kerarch.export import ExportVerificationError, export_model, tflite_latency, tflite_predict
from kerarch.export import exporter as exporter_module

NUM_CLASSES = 4


def _separable_images(n, seed):
    """28x28x1 images: one fixed random template per class plus noise."""
    templates = np.random.default_rng(123).normal(size=(NUM_CLASSES, 28, 28, 1)).astype("float32")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, NUM_CLASSES, size=n)
    x = templates[y] + 0.5 * rng.normal(size=(n, 28, 28, 1)).astype("float32")
    return x.astype("float32"), y


def _separable_features(n, seed):
    """8 features, 3 classes with well-separated means."""
    means = np.random.default_rng(7).normal(scale=3.0, size=(3, 8)).astype("float32")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    return (means[y] + rng.normal(size=(n, 8))).astype("float32"), y


def _train(model, x, y, *, loss="sparse_categorical_crossentropy", epochs=2):
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model


def _no_temp_dirs(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith((".tmp-", ".old-"))] if parent.exists() else []


@pytest.fixture(scope="module")
def lenet():
    keras.utils.set_random_seed(0)
    x, y = _separable_images(512, seed=1)
    x_eval, y_eval = _separable_images(200, seed=2)
    model = _train(kerarch.build("lenet5", num_classes=NUM_CLASSES), x, y)
    return model, x, x_eval, y_eval


@pytest.fixture(scope="module")
def lenet_export(lenet, tmp_path_factory):
    model, x, x_eval, y_eval = lenet
    out = tmp_path_factory.mktemp("saved_models") / "lenet5" / "run-1"
    report = export_model(
        model,
        out,
        quantize="int8",
        representative_data=x,
        eval_inputs=x_eval,
        eval_labels=y_eval,
        max_int8_accuracy_drop=0.05,
    )
    return report, out


@pytest.fixture(scope="module")
def dense():
    keras.utils.set_random_seed(0)
    x, y = _separable_features(600, seed=1)
    x_eval, y_eval = _separable_features(200, seed=2)
    inputs = keras.Input(shape=(8,), name="features")
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(h)
    model = _train(keras.Model(inputs, outputs, name="tiny_dense"), x, y, epochs=5)
    return model, x, x_eval, y_eval


@pytest.fixture(scope="module")
def dense_export(dense, tmp_path_factory):
    model, x, x_eval, y_eval = dense
    out = tmp_path_factory.mktemp("saved_models") / "dense" / "run-1"
    report = export_model(
        model,
        out,
        quantize=["dynamic", "float16", "int8"],
        representative_data=x,
        eval_inputs=x_eval,
        eval_labels=y_eval,
    )
    return report, out


@pytest.fixture(scope="module")
def generator_export(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = kerarch.build("dcgan_generator", latent_dim=16, filters=8)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(128, 16)).astype("float32")
    targets = np.tanh(rng.normal(size=(128, 28, 28, 1))).astype("float32")
    _train(model, z, targets, loss="mse", epochs=1)  # moves the batch-norm statistics off their init
    out = tmp_path_factory.mktemp("saved_models") / "dcgan" / "run-1"
    z_eval = rng.normal(size=(64, 16)).astype("float32")
    report = export_model(
        model, out, quantize=("float16", "int8"), representative_data=z, eval_inputs=z_eval, task="regression"
    )
    return report, out, model, z_eval


# --- LeNet-5: float parity, full-integer int8 ---------------------------------------------------


def test_lenet_files_and_float_parity(lenet, lenet_export):
    model, _, x_eval, _ = lenet
    report, out = lenet_export
    assert sorted(os.listdir(out)) == ["export_report.json", "model.keras", "model.tflite", "model_int8.tflite",
                                       "saved_model"]
    assert _no_temp_dirs(out.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask  # like a plain mkdir, not mkdtemp's 0700
    for key in ("keras", "saved_model", "tflite"):
        assert report["artifacts"][key]["max_abs_diff"] <= 1e-4, key

    # Independent re-check, outside export_model.
    expected = model.predict(x_eval, verbose=0)
    np.testing.assert_allclose(tflite_predict(out / "model.tflite", x_eval), expected, atol=1e-4)
    loaded = tf.saved_model.load(str(out / "saved_model"))
    served = loaded.serve(tf.constant(x_eval))
    np.testing.assert_allclose(np.asarray(served), expected, atol=1e-4)


def test_lenet_int8_is_full_integer_and_small(lenet, lenet_export):
    _, _, x_eval, _ = lenet
    report, out = lenet_export
    interpreter = Interpreter(model_path=str(out / "model_int8.tflite"))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert interpreter.get_input_details()[0]["quantization"][0] > 0
    int8 = report["artifacts"]["tflite_int8"]
    assert int8["input"]["dtype"] == "int8" and int8["output"]["dtype"] == "int8"
    assert int8["bytes"] < 0.4 * report["artifacts"]["tflite"]["bytes"]
    assert int8["argmax_agreement"] >= 0.9
    assert report["accuracy"]["keras"] >= 0.9  # the problem is learnable, so accuracy means something
    assert report["accuracy"]["tflite_int8"] >= report["accuracy"]["keras"] - 0.05
    # tflite_predict dequantizes: probabilities, close to Keras.
    probs = tflite_predict(out / "model_int8.tflite", x_eval[:16])
    assert probs.dtype == np.float32 and probs.shape == (16, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.05)


def test_per_tensor_int8_has_one_weight_scale_per_tensor_and_a_smaller_file(lenet, lenet_export):
    from kerarch.export.tflite import convert_saved_model

    _, x, _, _ = lenet
    report, out = lenet_export

    def scales_per_tensor(blob):
        interpreter = Interpreter(model_content=blob)
        return [len(t["quantization_parameters"]["scales"]) for t in interpreter.get_tensor_details()
                if t["dtype"] == np.int8]

    per_channel = convert_saved_model(out / "saved_model", "int8", representative_data=x)
    per_tensor = convert_saved_model(out / "saved_model", "int8", representative_data=x, int8_granularity="per_tensor")
    assert max(scales_per_tensor(per_channel)) > 1  # conv kernels: one scale per output channel
    assert set(scales_per_tensor(per_tensor)) == {1}
    assert len(per_tensor) < len(per_channel)
    assert report["quantization"]["int8"]["weights"] == "per_channel"


def test_report_json(lenet_export):
    report, out = lenet_export
    on_disk = json.loads((out / "export_report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert report["num_eval_samples"] == 200
    assert report["task"] == "classification" and report["model"] == "lenet5"
    assert report["files"] == {
        "keras": "model.keras",
        "saved_model": "saved_model",
        "tflite": "model.tflite",
        "tflite_int8": "model_int8.tflite",
        "report": "export_report.json",
    }
    for key, entry in report["artifacts"].items():
        assert (out / entry["path"]).exists(), key
        if key != "saved_model":
            assert entry["bytes"] == os.path.getsize(out / entry["path"]), key
        assert entry["bytes"] > 0
    q = report["quantization"]
    assert q["modes"] == ["int8"]
    assert q["int8"]["representative_samples"] == 200 and q["int8"]["inference_input_type"] == "int8"
    assert q["int8"]["accuracy_drop"] <= 0.05
    assert set(report["accuracy"]) == {"keras", "tflite", "tflite_int8"}
    assert report["versions"]["tensorflow"] == tf.__version__
    assert report["versions"]["keras"] == keras.__version__


def test_tflite_latency(lenet, lenet_export):
    _, _, x_eval, _ = lenet
    _, out = lenet_export
    for name in ("model.tflite", "model_int8.tflite"):
        stats = tflite_latency(out / name, x_eval[0], runs=10, warmup=2)
        assert 0 < stats["min_ms"] <= stats["median_ms"] <= stats["p90_ms"]
        assert stats["runs"] == 10


# --- Dense: every quantize mode -----------------------------------------------------------------


def test_dense_all_quantize_modes(dense_export):
    report, out = dense_export
    artifacts = report["artifacts"]
    assert report["files"]["tflite_dynamic"] == "model_dynamic.tflite"
    assert report["files"]["tflite_float16"] == "model_float16.tflite"
    for key in ("tflite_dynamic", "tflite_float16", "tflite_int8"):
        assert (out / artifacts[key]["path"]).is_file()
        assert artifacts[key]["argmax_agreement"] >= 0.9, key
        assert artifacts[key]["accuracy"] >= report["accuracy"]["keras"] - 0.05, key
    # float16 and dynamic keep float32 input and output tensors; int8 does not.
    assert artifacts["tflite_float16"]["input"]["dtype"] == "float32"
    assert artifacts["tflite_dynamic"]["input"]["dtype"] == "float32"
    assert artifacts["tflite_int8"]["input"]["dtype"] == "int8"
    assert artifacts["tflite_float16"]["max_abs_diff"] < 1e-2
    assert artifacts["tflite"]["max_abs_diff"] <= 1e-4


# --- DCGAN generator: regression ----------------------------------------------------------------


def test_generator_regression(generator_export):
    report, out, model, z_eval = generator_export
    artifacts = report["artifacts"]
    assert report["task"] == "regression" and report["accuracy"] is None
    assert artifacts["tflite"]["max_abs_diff"] <= 1e-4
    assert artifacts["saved_model"]["max_abs_diff"] <= 1e-4
    for key in ("tflite_float16", "tflite_int8"):
        assert "argmax_agreement" not in artifacts[key]
        assert 0 <= artifacts[key]["mean_abs_diff"] <= artifacts[key]["max_abs_diff"]
    # tanh images in [-1, 1]: an int8 step is 2/255, so the mean error stays small.
    assert artifacts["tflite_int8"]["mean_abs_diff"] < 0.05
    images = tflite_predict(out / "model_int8.tflite", z_eval[:4])
    assert images.shape == (4, 28, 28, 1)
    np.testing.assert_allclose(images, model.predict(z_eval[:4], verbose=0), atol=0.2)


# --- Atomicity ----------------------------------------------------------------------------------


def test_failure_midway_leaves_nothing(dense, tmp_path, monkeypatch):
    model, _, x_eval, _ = dense
    out = tmp_path / "runs" / "run-1"

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(exporter_module, "convert_saved_model", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_model(model, out, eval_inputs=x_eval)
    assert not out.exists()
    assert _no_temp_dirs(out.parent) == []


def test_existing_out_dir(dense, tmp_path):
    model, _, x_eval, _ = dense
    out = tmp_path / "run-1"
    out.mkdir()
    (out / "stale.txt").write_text("old run")
    with pytest.raises(KerarchError, match="already exists"):
        export_model(model, out, eval_inputs=x_eval)
    assert (out / "stale.txt").exists()

    report = export_model(model, out, eval_inputs=x_eval[:32], overwrite=True)
    assert not (out / "stale.txt").exists()
    assert (out / "export_report.json").exists() and report["num_eval_samples"] == 32
    assert _no_temp_dirs(tmp_path) == []


# --- Verification failures ----------------------------------------------------------------------


def test_float_verification_failure(dense, tmp_path, monkeypatch):
    model, _, x_eval, _ = dense
    out = tmp_path / "run-1"
    real = exporter_module.tflite_predict
    monkeypatch.setattr(exporter_module, "tflite_predict", lambda path, x: real(path, x) + 1e-2)
    with pytest.raises(ExportVerificationError, match=r"tflite export disagrees .* max abs difference 0\.01"):
        export_model(model, out, eval_inputs=x_eval)
    assert not out.exists() and _no_temp_dirs(tmp_path) == []


def test_int8_accuracy_drop_failure(dense, tmp_path, monkeypatch):
    model, x, x_eval, y_eval = dense
    real = exporter_module.tflite_predict

    def shuffled_int8(path, inputs):
        outputs = real(path, inputs)
        return np.roll(outputs, 1, axis=1) if str(path).endswith("_int8.tflite") else outputs

    monkeypatch.setattr(exporter_module, "tflite_predict", shuffled_int8)
    with pytest.raises(ExportVerificationError, match="int8 TFLite accuracy"):
        export_model(model, tmp_path / "run-1", quantize="int8", representative_data=x, eval_inputs=x_eval,
                     eval_labels=y_eval, max_int8_accuracy_drop=0.05, representative_samples=50)
    assert not (tmp_path / "run-1").exists() and _no_temp_dirs(tmp_path) == []


# --- Argument errors (no conversion runs) -------------------------------------------------------


def test_bad_quantize_value(dense, tmp_path):
    model, _, x_eval, _ = dense
    with pytest.raises(KerarchError, match="dynamic, float16, int8"):
        export_model(model, tmp_path / "run", quantize="int4", eval_inputs=x_eval)
    assert not (tmp_path / "run").exists()


def test_int8_needs_representative_data(dense, tmp_path):
    model, _, x_eval, _ = dense
    with pytest.raises(KerarchError, match="representative_data"):
        export_model(model, tmp_path / "run", quantize="int8", eval_inputs=x_eval)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs eval_inputs"),
        ({"eval_inputs": np.zeros((4, 7), "float32")}, "do not fit"),
        ({"eval_inputs": np.zeros((4, 8), "float32"), "eval_labels": [0, 1]}, "2 entries for 4"),
        ({"eval_inputs": np.zeros((4, 8), "float32"), "task": "segmentation"}, "Unknown task"),
        ({"eval_inputs": np.zeros((4, 8), "float32"), "max_int8_accuracy_drop": 0.01}, "needs quantize='int8'"),
    ],
)
def test_argument_errors(dense, tmp_path, kwargs, message):
    with pytest.raises(KerarchError, match=message):
        export_model(dense[0], tmp_path / "run", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_multi_output_model_rejected(tmp_path):
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(KerarchError, match="1 inputs and 2 outputs"):
        export_model(model, tmp_path / "run", eval_inputs=np.zeros((2, 4), "float32"))


# --- Several inputs: a graph network (no batch axis) and a two-input dict model -----------------


@pytest.fixture(scope="module")
def graph_export(tmp_path_factory):
    from kerarch.data.graphs import load_karate_club

    keras.utils.set_random_seed(0)
    data = load_karate_club()
    model = kerarch.build("gcn", num_features=data.num_features, num_classes=data.num_classes, hidden_units=(4,))
    graph = [data.features, data.edge_index]
    out = tmp_path_factory.mktemp("saved_models") / "gcn" / "run-1"
    owner = {"id": "run-1", "dir": "runs/gcn/run-1"}
    report = export_model(model, out, quantize="int8", representative_data=graph, eval_inputs=graph,
                          eval_labels=data.labels, owner=owner)
    return report, out, model, data, owner


def test_graph_model_exports_every_format_checked_on_the_whole_graph(graph_export):
    report, out, model, data, _ = graph_export
    assert sorted(os.listdir(out)) == ["export_report.json", "model.keras", "model.tflite", "model_int8.tflite",
                                       "saved_model"]
    assert report["input_shapes"] == {"features": [None, data.num_features], "edge_index": [2, None]}
    assert report["num_eval_samples"] == data.num_nodes and report["quantization"]["int8"]["representative_samples"] == 1
    for key in ("keras", "saved_model", "tflite"):
        assert report["artifacts"][key]["max_abs_diff"] <= 1e-4, key
    int8 = report["artifacts"]["tflite_int8"]
    assert int8["inputs"]["features"]["dtype"] == "int8" and int8["inputs"]["edge_index"]["dtype"] == "int32"
    assert int8["argmax_agreement"] >= 0.9 and set(report["accuracy"]) == {"keras", "tflite", "tflite_int8"}
    # Independent re-check, outside export_model: TFLite and the SavedModel on a graph of another size.
    features, edge_index = data.features[:20], data.edge_index[:, (data.edge_index < 20).all(axis=0)]
    expected = keras.ops.convert_to_numpy(model([features, edge_index], training=False))
    graph = {"features": features, "edge_index": edge_index}
    np.testing.assert_allclose(tflite_predict(out / "model.tflite", graph), expected, atol=1e-4)
    loaded = tf.saved_model.load(str(out / "saved_model"))
    served = loaded.serve([tf.constant(features), tf.constant(edge_index)])
    np.testing.assert_allclose(np.asarray(served), expected, atol=1e-4)


def test_graph_export_is_replaced_only_by_its_owner(graph_export):
    report, out, model, data, owner = graph_export
    graph = {"features": data.features, "edge_index": data.edge_index}  # a dict, by input name
    with pytest.raises(KerarchError, match="not of this run"):
        export_model(model, out, eval_inputs=graph, owner={"id": "run-2", "dir": "runs/gcn/run-2"})
    assert json.loads((out / "export_report.json").read_text())["run"] == owner
    again = export_model(model, out, eval_inputs=graph, owner=owner, formats=("keras", "saved_model"))
    assert sorted(os.listdir(out)) == ["export_report.json", "model.keras", "saved_model"]
    assert again["run"] == owner and _no_temp_dirs(out.parent) == []


def test_two_input_dict_model_exports_with_labels(tmp_path):
    keras.utils.set_random_seed(0)
    left, right = keras.Input(shape=(4,), name="left"), keras.Input(shape=(3,), name="right")
    joined = keras.layers.Concatenate()([left, right])
    outputs = keras.layers.Dense(2, activation="softmax")(joined)
    model = keras.Model({"left": left, "right": right}, outputs, name="two_inputs")
    rng = np.random.default_rng(0)
    inputs = {"left": rng.normal(size=(40, 4)).astype("float32"), "right": rng.normal(size=(40, 3)).astype("float32")}
    labels = rng.integers(0, 2, size=40)
    report = export_model(model, tmp_path / "run", eval_inputs=inputs, eval_labels=labels, quantize="dynamic")
    assert report["input_shapes"] == {"left": [None, 4], "right": [None, 3]}
    assert report["artifacts"]["tflite"]["max_abs_diff"] <= 1e-4 and report["num_eval_samples"] == 40
    assert set(report["artifacts"]["tflite_dynamic"]["inputs"]) == {"left", "right"}
    assert report["accuracy"]["tflite"] == report["accuracy"]["keras"]


@pytest.mark.parametrize(
    "eval_inputs, message",
    [
        ({"left": np.zeros((2, 4), "float32")}, r"has the inputs \['left'\]; the model takes \['left', 'right'\]"),
        ([np.zeros((2, 4), "float32")], "has 1 arrays; the model takes 2 inputs"),
        ([np.zeros((2, 4), "float32"), np.zeros((2, 5), "float32")], r"eval_inputs\['right'\] of shape \(2, 5\) does not fit"),
    ],
)
def test_several_input_argument_errors(tmp_path, eval_inputs, message):
    left, right = keras.Input(shape=(4,), name="left"), keras.Input(shape=(3,), name="right")
    model = keras.Model([left, right], keras.layers.Dense(2)(keras.layers.Concatenate()([left, right])))
    with pytest.raises(KerarchError, match=message):
        export_model(model, tmp_path / "run", eval_inputs=eval_inputs)
    assert list(tmp_path.iterdir()) == []


# --- Raw strings: a TextEndpoint adds serve_text to the SavedModel ------------------------------


TEXTS = ["the film was great", "a dull and boring plot", "great great acting, dull ending", "", "unknown wörds here",
         "the plot was great and the film was a great great film with a great ending"]


@pytest.fixture(scope="module")
def text_model():
    """A WordPiece tokenizer and a classifier of its float32 token ids whose output depends on every id."""
    from kerarch.data.textclass import SPECIAL_TOKENS, word_piece_from_vocabulary

    words = ["the", "film", "was", "great", "a", "dull", "and", "boring", "plot", "acting", "ending", ",", "with"]
    tokenizer = word_piece_from_vocabulary([*SPECIAL_TOKENS, *words])
    keras.utils.set_random_seed(0)
    ids = keras.Input(shape=(8,), dtype="float32", name="token_ids")
    embedded = keras.layers.Embedding(32, 4, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0))(
        keras.ops.cast(ids, "int32"))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(embedded))
    return tokenizer, keras.Model(ids, outputs, name="text_model")


def _ids(tokenizer, texts):
    from kerarch.data.textclass import encode

    return encode(tokenizer, texts, sequence_length=8).astype("float32")


def test_text_endpoint_serves_raw_strings_as_the_token_ids_would(text_model, tmp_path):
    from kerarch.data.textclass import token_ids_of
    from kerarch.export import TextEndpoint

    tokenizer, model = text_model
    endpoint = TextEndpoint(token_ids_of(tokenizer, sequence_length=8), tokenizer, TEXTS)
    report = export_model(model, tmp_path / "run", eval_inputs=_ids(tokenizer, TEXTS), text_endpoint=endpoint)
    assert report["artifacts"]["saved_model"]["serve_text"]["max_abs_diff"] <= 1e-4
    loaded = tf.saved_model.load(str(tmp_path / "run" / "saved_model"))
    assert set(loaded.signatures) == {"serve", "serve_text", "serving_default"}
    # Independent re-check on texts the export never saw; outputs really differ from text to text.
    others = ["boring boring film", "great acting", "the ending , with a plot"]
    expected = model.predict(_ids(tokenizer, others), verbose=0)
    assert np.abs(expected[0] - expected[1]).max() > 0.05
    np.testing.assert_allclose(np.asarray(loaded.serve_text(tf.constant(others))), expected, atol=1e-5)
    serving_default = loaded.signatures["serving_default"]  # still `serve`: the signature TFLite converts
    np.testing.assert_allclose(serving_default(token_ids=tf.constant(_ids(tokenizer, others)))["output_0"], expected,
                               atol=1e-5)
    assert report["artifacts"]["tflite"]["input"]["dtype"] == "float32"  # TFLite keeps the token ids


def test_text_endpoint_whose_texts_do_not_match_the_ids_fails_and_leaves_nothing(text_model, tmp_path):
    from kerarch.data.textclass import token_ids_of
    from kerarch.export import TextEndpoint

    tokenizer, model = text_model
    shifted = TextEndpoint(token_ids_of(tokenizer, sequence_length=8), tokenizer, TEXTS[1:] + TEXTS[:1])
    with pytest.raises(ExportVerificationError, match="saved_model serve_text export disagrees"):
        export_model(model, tmp_path / "run", eval_inputs=_ids(tokenizer, TEXTS), text_endpoint=shifted)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KerarchError, match="has 2 texts for 6 eval_inputs"):
        export_model(model, tmp_path / "run", eval_inputs=_ids(tokenizer, TEXTS),
                     text_endpoint=TextEndpoint(shifted.to_inputs, tokenizer, TEXTS[:2]))
    assert list(tmp_path.iterdir()) == []

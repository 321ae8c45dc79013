"""Bad input reaches users as one KerarchError message (CLI: `error: ...`, exit 2), never a traceback."""

import gzip
import zipfile

import keras
import numpy as np
import pytest

from kerarch import cli
from kerarch.config import parse_overrides
from kerarch.data import load_image_classification, read_idx, write_idx
from kerarch.data.splits import holdout
from kerarch.errors import KerarchError
from kerarch.generative.fid import FidLenet
from kerarch.model_files import load_model_file
from kerarch.frame import get_recipe

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _cli_error(argv, capsys):
    """The one-paragraph message `kerarch argv` prints, checked to exit 2 without a traceback."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return " ".join(err.split())


# --- 1. free-text keys that are really a fixed set --------------------------------------------------------


@pytest.mark.parametrize("recipe, pair, message", [
    ("lenet-mnist", "activation=bogus", "'bogus' for 'activation' is not one of: relu, gelu, tanh, sigmoid"),
    ("perceptron-xor", "activation=bogus", "'bogus' for 'activation' is not one of"),
    ("optimizer-compare", "optimizers=sgd,adagrad", "must list one or more of: sgd, momentum, nesterov, "
                                                   "rmsprop, adam, adamw (unknown: adagrad)"),
    ("nas-fashion", "block_types=plain,inception", "must list one or more of: plain, residual, separable"),
])
def test_fixed_sets_are_choices(recipe, pair, message):
    with pytest.raises(KerarchError) as info:
        parse_overrides(get_recipe(recipe).Config, [pair])
    assert message in str(info.value)


def test_cli_rejects_an_unknown_activation(workdir, capsys):
    assert "'bogus' for 'activation' is not one of" in _cli_error(["run", "lenet-mnist", "activation=bogus"], capsys)


# --- 2. floats must be finite -----------------------------------------------------------------------------


@pytest.mark.parametrize("pair", ["learning_rate=nan", "learning_rate=inf", "learning_rate=-inf",
                                  "momentum=NaN", "warmup_epochs=1e999"])
def test_float_keys_reject_nan_and_inf(pair):
    key, _, raw = pair.partition("=")
    with pytest.raises(KerarchError, match=f"Value '{raw}' for '{key}' must be a finite number"):
        parse_overrides(get_recipe("lenet-mnist").Config, [pair])


def test_float_lists_reject_nan():
    with pytest.raises(KerarchError, match="for 'learning_rates' must be a finite number"):
        parse_overrides(get_recipe("optimizer-compare").Config, ["learning_rates=0.1,nan,0.1,0.1,0.1"])


def test_cli_rejects_a_nan_learning_rate(workdir, capsys):
    assert "'nan' for 'learning_rate' must be a finite number" in _cli_error(
        ["run", "lenet-mnist", "learning_rate=nan"], capsys)


# --- 3. IDX headers that overflow or disagree with the file -------------------------------------------------


def _header(*shape):
    return bytes([0, 0, 0x08, len(shape)]) + np.asarray(shape, ">u4").tobytes()


@pytest.mark.parametrize("content, found", [
    (_header(2**31, 2**31, 4), "18,446,744,073,709,551,616 bytes of data, found 0"),  # wraps to 0 in int64
    (_header(2**32 - 1, 2**32 - 1) + b"x" * 10, "18,446,744,065,119,617,025 bytes of data, found 10"),
    (_header(60000, 28, 28) + b"x" * 10, "47,040,000 bytes of data, found 10"),
])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_header_sizes_must_match_the_file(tmp_path, content, found, gz):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(KerarchError) as info:
        read_idx(path)
    assert f"IDX file {path} is truncated" in str(info.value) and found in str(info.value)


def test_cli_names_the_idx_file_with_a_bad_header(workdir, idx_dataset, capsys):
    path = idx_dataset / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_header(2**31, 2**31, 4)))
    err = _cli_error(["run", "lenet-mnist", f"data_dir={idx_dataset}"], capsys)
    assert f"IDX file {path} is truncated" in err


# --- 4. a validation split that leaves nothing to train on --------------------------------------------------


@pytest.mark.parametrize("validation_examples", [10, 11])
def test_holdout_needs_training_examples(validation_examples):
    with pytest.raises(KerarchError, match=f"validation_examples={validation_examples} leaves no training "
                                           "examples out of the 10 in tiny data; lower it"):
        holdout(10, validation_examples, 0, 0, "tiny data")


def test_holdout_keeps_train_examples_of_the_rest():
    val, train = holdout(10, 3, 4, 0, "tiny data")
    assert len(val) == 3 and len(train) == 4 and not set(val) & set(train)
    assert len(holdout(10, 3, 0, 0, "tiny data")[1]) == 7


def test_cli_validation_examples_as_large_as_the_training_set(workdir, idx_dataset, capsys):
    err = _cli_error(["run", "lenet-mnist", f"data_dir={idx_dataset}", "validation_examples=320"], capsys)
    assert f"validation_examples=320 leaves no training examples out of the 320 in data_dir {idx_dataset}" in err


# --- 5. MNIST files named with a dot ------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_dotted_idx_names_are_found(tmp_path, gz, monkeypatch):
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12, dtype=np.uint8) % 10,
              rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5, dtype=np.uint8) % 10]
    for stem, array in zip(STEMS, arrays):
        write_idx(tmp_path / (stem.replace("-idx", ".idx") + (".gz" if gz else "")), array)
    data = load_image_classification("mnist", tmp_path)
    np.testing.assert_array_equal(data.x_train[..., 0], arrays[0])
    np.testing.assert_array_equal(data.y_test, arrays[3])
    assert data.name == "mnist" and "IDX files" in data.source


def test_missing_idx_files_message_mentions_dotted_names(tmp_path):
    with pytest.raises(KerarchError, match="train-images.idx3-ubyte work too"):
        load_image_classification("mnist", tmp_path)


# --- 6. .keras files Keras refuses or cannot read -----------------------------------------------------------


def _dense_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def test_load_model_file_loads_a_good_file(tmp_path):
    model = _dense_model()
    model.save(tmp_path / "ok.keras")
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(load_model_file(tmp_path / "ok.keras")(x), model(x), atol=1e-6)


def test_load_model_file_explains_safe_mode(tmp_path):
    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(tmp_path / "lambda.keras")
    with pytest.raises(KerarchError) as info:
        load_model_file(tmp_path / "lambda.keras")
    message = str(info.value)
    assert f"Keras refused to load {tmp_path / 'lambda.keras'}" in message
    assert "Only if the file is trusted" in message and "safe_mode=False" in message
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(load_model_file(tmp_path / "lambda.keras", safe_mode=False)(x), 2 * x)


def _zip_without_config(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")


def _bad_config(path):
    _dense_model().save(path.with_name("good.keras"))
    with zipfile.ZipFile(path.with_name("good.keras")) as good, zipfile.ZipFile(path, "w") as bad:
        for name in good.namelist():
            bad.writestr(name, b"{not json" if name == "config.json" else good.read(name))


@pytest.mark.parametrize("name, make, message", [
    ("missing.keras", None, "does not exist"),
    ("junk.keras", lambda p: p.write_bytes(b"not a zip"), "is not a valid .keras file: it is not a zip archive"),
    ("empty.keras", lambda p: p.write_bytes(b""), "is not a valid .keras file"),
    ("no_config.keras", _zip_without_config, "as a Keras model (KeyError"),
    ("bad_config.keras", _bad_config, "as a Keras model (JSONDecodeError"),
    ("junk.h5", lambda p: p.write_bytes(b"not hdf5"), "as a Keras model (OSError"),
])
def test_load_model_file_names_unusable_files(tmp_path, name, make, message):
    path = tmp_path / name
    if make:
        make(path)
    with pytest.raises(KerarchError, match=str(path).replace(".", r"\.")) as info:
        load_model_file(path)
    assert message in str(info.value)


def test_fid_classifier_file_that_does_not_load(tmp_path):
    path = tmp_path / "fid_lenet.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(KerarchError, match="fid_lenet.keras is not a valid .keras file"):
        FidLenet.for_data(path, data=None)

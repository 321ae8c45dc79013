"""keras.applications' conventions on the vision builders: `weights` (files and
"imagenet"), `input_tensor`, `classes`, `preprocess_input`, and saved models
that load with Keras and keras-hub alone.

Weight porting is tested offline: a keras.applications model with random
weights is saved and the file loaded into the kerarch builder.
"""

import numpy as np
import pytest

import keras

import kerarch
from builder_checks import check_loads_without_kerarch
from kerarch.errors import KerarchError
from kerarch.vision import applications

X32 = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")


def _reference(app, **kwargs):
    return getattr(keras.applications, app)(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None, **kwargs
    )


def _assert_same_outputs(ours, theirs, x=X32):
    np.testing.assert_allclose(np.asarray(ours(x, training=False)), np.asarray(theirs(x, training=False)), atol=1e-5)


# ------------------------------------------------------------ weights=path


@pytest.mark.parametrize(
    "key, app, kwargs",
    [("resnet50", "ResNet50", {}), ("vgg16", "VGG16", {}), ("mobilenet_v2", "MobileNetV2", dict(alpha=0.35))],
)
def test_keras_applications_weights_file_loads_into_the_builder(key, app, kwargs, tmp_path):
    theirs = _reference(app, **kwargs)
    path = tmp_path / f"{app}.weights.h5"
    theirs.save_weights(path)
    ours = kerarch.build(
        key, input_shape=(32, 32, 3), classes=10, classifier_activation=None, weights=str(path), **kwargs
    )
    _assert_same_outputs(ours, theirs)
    assert ours.name == key


def _slow(*case):
    return pytest.param(*case, marks=pytest.mark.slow)


@pytest.mark.parametrize(
    "key, app, size, kwargs",
    [
        ("mobilenet_v1", "MobileNet", 32, dict(alpha=0.25)),  # its 1x1-conv classifier fills our Dense layer
        _slow("vgg19", "VGG19", 32, {}),
        _slow("resnet101", "ResNet101", 32, {}),
        _slow("resnet152", "ResNet152", 32, {}),
        _slow("inception_v3", "InceptionV3", 75, {}),
        _slow("inception_resnet_v2", "InceptionResNetV2", 75, {}),
    ],
)
def test_every_imagenet_layout_matches_keras_applications(key, app, size, kwargs, tmp_path):
    """Every `IMAGENET` entry: a keras.applications `.keras` file (random weights) gives the same outputs."""
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    theirs = getattr(keras.applications, app)(
        weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None, **kwargs
    )
    theirs.save(tmp_path / "m.keras")
    ours = kerarch.build(
        key, input_shape=(size, size, 3), classes=10, classifier_activation=None, weights=tmp_path / "m.keras", **kwargs
    )
    _assert_same_outputs(ours, theirs, x)
    assert applications.IMAGENET[key] == app


def test_keras_and_legacy_h5_files_and_a_headless_model(tmp_path):
    theirs = _reference("MobileNetV2", alpha=0.35)
    small = dict(input_shape=(32, 32, 3), num_classes=10, classifier_activation=None, alpha=0.35)
    for path in (tmp_path / "m.keras", tmp_path / "m.h5"):  # a whole model, and keras.applications' legacy format
        theirs.save(path)
        _assert_same_outputs(kerarch.build("mobilenet_v2", weights=path, **small), theirs)
    # A whole model's file fills the headless model: its extra layer (the head) comes last.
    headless = kerarch.build("mobilenet_v2", weights=tmp_path / "m.keras", **dict(small, include_top=False))
    features = keras.Model(theirs.input, theirs.get_layer("out_relu").output)
    _assert_same_outputs(headless, features)


def test_a_kerarch_weights_file_round_trips(tmp_path):
    model = kerarch.build("resnet20", input_shape=(8, 8, 3))
    model.save_weights(tmp_path / "r.weights.h5")
    model.save(tmp_path / "r.keras")
    x = X32[:, :8, :8]
    for path in ("r.weights.h5", "r.keras"):
        _assert_same_outputs(kerarch.build("resnet20", input_shape=(8, 8, 3), weights=tmp_path / path), model, x)


def test_weights_that_do_not_fit_raise_a_clear_error(tmp_path):
    _reference("MobileNetV2", alpha=0.35).save(tmp_path / "m.keras")
    with pytest.raises(KerarchError, match="does not fit mobilenet_v2.*Build the model with the same arguments"):
        kerarch.build("mobilenet_v2", input_shape=(32, 32, 3), num_classes=10, weights=tmp_path / "m.keras")
    kerarch.build("resnet20").save_weights(tmp_path / "r.weights.h5")
    with pytest.raises(KerarchError, match="does not fit resnet32"):
        kerarch.build("resnet32", weights=tmp_path / "r.weights.h5")
    with pytest.raises(KerarchError, match="does not exist"):
        kerarch.build("resnet20", weights=tmp_path / "missing.weights.h5")


# ------------------------------------------------------------ weights="imagenet"


def test_imagenet_weights_offline_fail_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setenv("KERARCH_OFFLINE", "1")
    with pytest.raises(KerarchError) as raised:
        kerarch.build("resnet50", weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(raised.value)
    assert "tried keras.applications.ResNet50(weights='imagenet'" in message
    assert "downloads are off" in message and "https://" in message
    assert "weights=None" in message


def test_imagenet_weights_exist_only_for_matching_layouts():
    with pytest.raises(KerarchError, match="no published ImageNet weights match resnet20"):
        kerarch.build("resnet20", weights="imagenet")
    with pytest.raises(KerarchError, match="needs num_classes=1000"):
        kerarch.build("resnet50", weights="imagenet", classes=10)
    assert set(applications.IMAGENET) == {
        "vgg16",
        "vgg19",
        "resnet50",
        "resnet101",
        "resnet152",
        "inception_v3",
        "inception_resnet_v2",
        "mobilenet_v1",
        "mobilenet_v2",
    }


def test_imagenet_weights_are_copied_in_order(monkeypatch):
    """The "imagenet" path without a download: keras.applications' model (here random) is copied layer by layer."""
    theirs = _reference("MobileNetV2", alpha=0.35)
    monkeypatch.setattr(keras.applications, "MobileNetV2", lambda **kwargs: theirs)
    ours = kerarch.build("mobilenet_v2", weights="imagenet", input_shape=(32, 32, 3), alpha=0.35, include_top=False)
    assert len(ours.weights) == len(theirs.weights) - 2  # all but the head's kernel and bias
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------ input_tensor and classes


def test_input_tensor_builds_the_model_on_it(tmp_path):
    inputs = keras.Input((16, 16, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    model = kerarch.build("resnet20", input_tensor=scaled, classes=4)
    assert model.inputs[0] is inputs
    assert model.layers[1].name == "scale"
    assert model.layers[2].name == "resnet20"  # the network, nested after the preprocessing
    # On a keras.Input the network's layers are built on it directly, as keras.applications.
    flat = kerarch.build("resnet20", input_tensor=inputs)
    assert flat.inputs[0] is inputs and flat.get_layer("conv1_conv") is not None
    assert model.output_shape == (None, 4)
    reference = kerarch.build("resnet20", input_shape=(16, 16, 3), classes=4)
    reference.set_weights(model.get_weights())
    x = X32[:, :16, :16] * 255
    _assert_same_outputs(model, keras.Sequential([keras.layers.Rescaling(1 / 255), reference]), x)
    # Weights load into the network whichever the tensor.
    reference.save_weights(tmp_path / "r.weights.h5")
    loaded = kerarch.build("resnet20", input_tensor=scaled, classes=4, weights=tmp_path / "r.weights.h5")
    _assert_same_outputs(loaded, model, x)
    with pytest.raises(ValueError, match="differs from input_tensor"):
        kerarch.build("resnet20", input_tensor=inputs, input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="Keras tensor"):
        kerarch.build("resnet20", input_tensor=np.zeros((1, 8, 8, 3)))


def test_classes_is_an_alias_of_num_classes():
    assert kerarch.build("simple_cnn", classes=7).output_shape == (None, 7)
    assert kerarch.build("resnet20", classes=7, num_classes=7).output_shape == (None, 7)
    with pytest.raises(ValueError, match="classes=7 and num_classes=5 differ"):
        kerarch.build("resnet20", classes=7, num_classes=5)


def test_every_vision_builder_takes_the_keras_applications_arguments():
    import inspect

    from test_vision_builders import VISION_BUILDERS

    for name in VISION_BUILDERS + ["lenet5"]:
        builder = kerarch.BUILDERS.get(name)
        parameters = inspect.signature(builder).parameters
        assert {"weights", "input_tensor", "classes"} <= set(parameters), name
        assert all(p.kind is p.KEYWORD_ONLY for p in parameters.values()), name
        doc = builder.__doc__
        assert "weights:" in doc and "input_tensor:" in doc and "classes:" in doc, name
        assert "Example:" in doc and f'preprocess_input("' in doc, name
        assert name in applications.PREPROCESSING, name
    with pytest.raises(TypeError):
        kerarch.build("resnet20", weight=None)


# ------------------------------------------------------------ preprocess_input


def test_preprocess_input_modes():
    images = np.array([[[[0, 128, 255]]]], dtype="uint8")  # (1, 1, 1, 3)
    tf_mode = kerarch.vision.preprocess_input("mobilenet_v2")
    np.testing.assert_allclose(tf_mode(images), [[[[-1.0, 128 / 127.5 - 1, 1.0]]]], atol=1e-6)
    assert tf_mode.mode == "tf"
    np.testing.assert_allclose(kerarch.vision.preprocess_input("resnet20")(images), images / 255.0, rtol=1e-6)
    caffe = kerarch.vision.preprocess_input("resnet50")(images)  # BGR minus the means
    np.testing.assert_allclose(caffe, [[[[255 - 103.939, 128 - 116.779, 0 - 123.68]]]], rtol=1e-5)
    torch = kerarch.vision.preprocess_input("resnet18")(images)
    expected = (np.array([0, 128, 255]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(torch.reshape(-1), expected, rtol=1e-5)
    # Same as keras.applications' own functions, and the input is left alone.
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    before = x.copy()
    np.testing.assert_allclose(
        kerarch.vision.preprocess_input("inception_v3")(x), keras.applications.inception_v3.preprocess_input(x.copy())
    )
    np.testing.assert_allclose(
        kerarch.vision.preprocess_input("vgg16")(x), keras.applications.vgg16.preprocess_input(x.copy())
    )
    np.testing.assert_array_equal(x, before)
    # Tensors work too (inside a model or tf.data).
    tensor = kerarch.vision.preprocess_input("vit")(keras.ops.convert_to_tensor(x))
    assert float(keras.ops.min(tensor)) >= -1.0 and float(keras.ops.max(tensor)) <= 1.0
    with pytest.raises(KerarchError, match="No preprocessing known"):
        kerarch.vision.preprocess_input("bert")


# ------------------------------------------------------------ saved models load without kerarch

def test_an_inception_resnet_block_loads_with_keras_alone(tmp_path):
    """The block whose residual scaling was a kerarch layer (the whole registry: tests/test_plain_keras_loading.py)."""
    from kerarch.vision.inception_resnet import inception_resnet_block

    inputs = keras.Input((5, 5, 16))
    block = keras.Model(inputs, inception_resnet_block(inputs, block_type="block35", scale=0.17, name="b"))
    diffs = check_loads_without_kerarch({"block35": block}, tmp_path, input_shapes={"block35": (5, 5, 16)})
    assert set(diffs) == {"block35"}

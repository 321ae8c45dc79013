"""Vision builders: exact parameter counts against external references, shapes,
`.keras` / SavedModel / TFLite round trips.

Big models are built "shape only" (variables never allocated, see
`shape_only`) when only counts and shapes are checked, so the 60-140M
parameter references cost well under a second each. The JAX backend test is
in test_vision_jax.py.
"""

import numpy as np
import pytest

import keras

import kerarch
from builder_checks import check_builder
from kerarch.vision.blocks import scaled_residual

VISION_BUILDERS = [
    "alexnet",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "inception_v1",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v2",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "vit",
    "simple_cnn",
]


def shape_only(build, **kwargs):
    """Builds a model without allocating its weights: shapes and counts only.

    Variables created in a `StatelessScope(initialize_variables=False)` keep
    their shape but get no value; `clear_session` then forgets them so no
    later scope initialises them behind our back. `build` is a registry name
    or a callable.
    """
    build = kerarch.BUILDERS.get(build) if isinstance(build, str) else build
    with keras.StatelessScope(initialize_variables=False):
        model = build(**kwargs)
    keras.backend.clear_session(free_memory=False)
    return model


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def with_classes(count, features, classes=10, reference_classes=1000):
    """A reference count with its `features -> reference_classes` dense head resized to `classes`."""
    return count - (features + 1) * (reference_classes - classes)


def test_every_vision_builder_is_registered():
    assert set(VISION_BUILDERS) <= set(kerarch.list_builders())


# ------------------------------------------------------------ reference counts

# (builder, kwargs, expected count_params(), expected output shape, source of the number).
REFERENCE_COUNTS = [
    ("alexnet", {}, 61_100_840, (1000,), "torchvision alexnet"),
    ("vgg11", {}, 132_863_336, (1000,), "torchvision vgg11"),
    ("vgg13", {}, 133_047_848, (1000,), "torchvision vgg13"),
    ("vgg16", {}, 138_357_544, (1000,), "keras.applications VGG16"),
    ("vgg19", {}, 143_667_240, (1000,), "keras.applications VGG19"),
    ("resnet50", {}, 25_636_712, (1000,), "keras.applications ResNet50"),
    ("resnet101", {}, 44_707_176, (1000,), "keras.applications ResNet101"),
    ("resnet152", {}, 60_419_944, (1000,), "keras.applications ResNet152"),
    ("inception_v1", {}, 6_998_552, (1000,), "paper Table 1 with biases, no aux heads"),
    ("inception_v3", {}, 23_851_784, (1000,), "keras.applications InceptionV3"),
    ("inception_resnet_v2", {}, 55_873_736, (1000,), "keras.applications InceptionResNetV2"),
    ("mobilenet_v1", {}, 4_253_864, (1000,), "keras.applications MobileNet"),
    ("mobilenet_v2", {}, 3_538_984, (1000,), "keras.applications MobileNetV2"),
    ("mobilenet_v3_small", {}, 2_554_968, (1000,), "keras.applications MobileNetV3Small"),
    ("mobilenet_v3_large", {}, 5_507_432, (1000,), "keras.applications MobileNetV3Large"),
    ("vit", dict(include_top=False), 85_798_656, (197, 768), "keras-hub ViTBackbone B/16"),
    ("vit", {}, 86_567_656, (1000,), "ViT-B/16 + linear head on the class token"),
    # Keras counts BatchNorm moving statistics; the torchvision / PyTorch counts
    # are checked on trainable weights in the tests below.
    ("resnet18", {}, 11_699_112, (1000,), "torchvision resnet18 + BN statistics"),
    ("resnet34", {}, 21_814_696, (1000,), "torchvision resnet34 + BN statistics"),
    ("inception_v4", {}, 42_711_400, (1000,), "TF-slim layout, see test_inception_v4_count"),
    ("resnet20", {}, 271_098, (10,), "He et al. 2016: 0.27M"),
    ("resnet32", {}, 466_426, (10,), "He et al. 2016: 0.46M"),
    ("resnet44", {}, 661_754, (10,), "He et al. 2016: 0.66M"),
    ("resnet56", {}, 857_082, (10,), "He et al. 2016: 0.85M"),
    ("resnet110", {}, 1_736_058, (10,), "He et al. 2016: 1.7M"),
    ("simple_cnn", {}, 306_154, (10,), "own"),
]


@pytest.mark.parametrize(
    "name, kwargs, params, output_shape, source",
    REFERENCE_COUNTS,
    ids=["-".join([c[0], *c[1]]) for c in REFERENCE_COUNTS],
)
def test_reference_parameter_counts(name, kwargs, params, output_shape, source):
    model = shape_only(name, **kwargs)
    assert model.count_params() == params, f"{name} ({source}): {model.count_params():,} != {params:,}"
    assert model.output_shape == (None, *output_shape)


@pytest.mark.parametrize(
    "name, kwargs, trainable",
    [
        ("resnet18", {}, 11_689_512),  # torchvision resnet18
        ("resnet34", {}, 21_797_672),  # torchvision resnet34
        ("vgg16", dict(batch_norm=True), 138_365_992),  # torchvision vgg16_bn
        ("vgg19", dict(batch_norm=True), 143_678_248),  # torchvision vgg19_bn
    ],
)
def test_torchvision_trainable_counts(name, kwargs, trainable):
    # torchvision's counts leave out BatchNorm running statistics: compare trainable weights.
    assert trainable_count(shape_only(name, **kwargs)) == trainable


def test_inception_v4_count():
    """Inception-v4 at 299x299x3, 1000 classes.

    TF-slim's BN has no scale; the PyTorch ports (pretrainedmodels, timm,
    pytorchcv, whose test asserts 42,679,816) learn BN scale and beta and do
    not count the running statistics. With C the BN channels:
    ours = conv + 3C + fc, trainable = conv + C + fc, PyTorch = conv + 2C + fc.
    """
    model = shape_only("inception_v4")
    bn_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    bn_channels = sum(layer.moving_mean.shape[0] for layer in bn_layers)
    trainable = trainable_count(model)
    assert model.count_params() == trainable + 2 * bn_channels == 42_711_400
    assert trainable + bn_channels == 42_679_816


def test_cifar_resnet20_is_027m():
    model = shape_only("resnet20")
    assert 260_000 <= model.count_params() <= 280_000
    assert trainable_count(model) == 269_722
    # Option B adds 1x1 projections (+BN) at the two stage transitions.
    model_b = shape_only("resnet20", shortcut="b")
    assert model_b.count_params() == 271_098 + (16 * 32 + 4 * 32) + (32 * 64 + 4 * 64)


def _normalised_shapes(model):
    # keras.applications writes some heads as 1x1 convolutions; ours are Dense layers.
    shapes = []
    for w in model.weights:
        shape = tuple(w.shape)
        shapes.append(shape[2:] if len(shape) == 4 and shape[:2] == (1, 1) else shape)
    return sorted(shapes)


@pytest.mark.parametrize(
    "name, kwargs, app, app_kwargs",
    [
        ("vgg16", {}, "VGG16", {}),
        ("resnet50", {}, "ResNet50", {}),
        pytest.param("resnet152", {}, "ResNet152", {}, marks=pytest.mark.slow),
        ("inception_v3", dict(input_shape=(75, 75, 3)), "InceptionV3", dict(input_shape=(75, 75, 3))),
        pytest.param("inception_resnet_v2", {}, "InceptionResNetV2", {}, marks=pytest.mark.slow),
        ("mobilenet_v1", dict(alpha=0.5), "MobileNet", dict(alpha=0.5)),
        ("mobilenet_v1", dict(alpha=0.75, num_classes=10), "MobileNet", dict(alpha=0.75, classes=10)),
        ("mobilenet_v2", dict(alpha=0.35), "MobileNetV2", dict(alpha=0.35)),
        ("mobilenet_v2", dict(alpha=1.3), "MobileNetV2", dict(alpha=1.3)),
        ("mobilenet_v3_small", dict(alpha=0.75), "MobileNetV3Small", dict(alpha=0.75)),
        ("mobilenet_v3_small", dict(minimalistic=True), "MobileNetV3Small", dict(minimalistic=True)),
        ("mobilenet_v3_large", dict(alpha=1.25), "MobileNetV3Large", dict(alpha=1.25)),
        (
            "mobilenet_v3_large",
            dict(alpha=0.75, minimalistic=True),
            "MobileNetV3Large",
            dict(alpha=0.75, minimalistic=True),
        ),
    ],
)
def test_same_weights_as_keras_applications(name, kwargs, app, app_kwargs):
    """Same multiset of weight shapes (so the same count) as keras.applications, weights=None."""
    ours = shape_only(name, **kwargs)
    theirs = shape_only(getattr(keras.applications, app), weights=None, **app_kwargs)
    assert ours.count_params() == theirs.count_params()
    assert _normalised_shapes(ours) == _normalised_shapes(theirs)


@pytest.mark.parametrize(
    "size, patch, input_shape",
    [("b", 16, (224, 224, 3)), ("ti", 4, (32, 32, 3)), pytest.param("s", 8, (64, 64, 3), marks=pytest.mark.slow)],
)
def test_vit_headless_equals_keras_hub_backbone(size, patch, input_shape):
    keras_hub = pytest.importorskip("keras_hub")
    from kerarch.vision.vit import VIT_SIZES

    dim, depth, heads, mlp = VIT_SIZES[size]
    hub = shape_only(
        keras_hub.models.ViTBackbone,
        image_shape=input_shape,
        patch_size=patch,
        num_layers=depth,
        num_heads=heads,
        hidden_dim=dim,
        mlp_dim=mlp,
    )
    ours = shape_only("vit", variant=size, patch_size=patch, input_shape=input_shape, include_top=False)
    assert ours.count_params() == hub.count_params()
    assert ours.output_shape == hub.output_shape


# ------------------------------------------------------------ small-input checks


def _case(name, kwargs, input_shape, params, slow=False):
    marks = [pytest.mark.slow] if slow else []
    case_id = f"{name}-{'x'.join(map(str, input_shape))}"
    return pytest.param(name, kwargs, input_shape, params, marks=marks, id=case_id)


# Every builder at a small input with 10 classes; counts derived from the references above.
SMALL = dict(input_shape=(32, 32, 3), num_classes=10)
INCEPTION_SMALL = dict(input_shape=(75, 75, 3), num_classes=10)
# VGG's first FC layer sees 1x1x512 instead of 7x7x512 at 32x32: 48 * 512 fewer inputs.
VGG_FC1_AT_32 = 48 * 512 * 4096
SMALL_CASES = [
    _case("simple_cnn", {}, (32, 32, 3), 306_154),
    _case("simple_cnn", dict(input_shape=(8, 8, 1), batch_norm=False, filters=(8, 16, 32)), (8, 8, 1), None),
    _case("alexnet", dict(input_shape=(63, 63, 3), num_classes=10), (63, 63, 3), with_classes(61_100_840, 4096)),
    # VGG-16 with batch norm adds 4 BN values for each of its 4,224 conv channels.
    _case("vgg11", SMALL, (32, 32, 3), with_classes(132_863_336 - VGG_FC1_AT_32, 4096)),
    _case("vgg13", SMALL, (32, 32, 3), with_classes(133_047_848 - VGG_FC1_AT_32, 4096), slow=True),
    _case(
        "vgg16",
        dict(SMALL, batch_norm=True),
        (32, 32, 3),
        with_classes(138_357_544 - VGG_FC1_AT_32, 4096) + 4 * 4224,
        slow=True,
    ),
    _case("vgg19", SMALL, (32, 32, 3), with_classes(143_667_240 - VGG_FC1_AT_32, 4096), slow=True),
    _case("resnet18", SMALL, (32, 32, 3), with_classes(11_699_112, 512)),
    _case("resnet34", SMALL, (32, 32, 3), with_classes(21_814_696, 512), slow=True),
    _case("resnet50", SMALL, (32, 32, 3), with_classes(25_636_712, 2048), slow=True),
    _case("resnet101", SMALL, (32, 32, 3), with_classes(44_707_176, 2048), slow=True),
    _case("resnet152", SMALL, (32, 32, 3), with_classes(60_419_944, 2048), slow=True),
    _case("resnet20", {}, (32, 32, 3), 271_098),
    _case("resnet20", dict(input_shape=(8, 8, 3), shortcut="b"), (8, 8, 3), 271_098 + 640 + 2304),
    _case("resnet32", {}, (32, 32, 3), 466_426, slow=True),
    _case("resnet44", {}, (32, 32, 3), 661_754, slow=True),
    _case("resnet56", {}, (32, 32, 3), 857_082, slow=True),
    _case("resnet110", {}, (32, 32, 3), 1_736_058, slow=True),
    _case("inception_v1", SMALL, (32, 32, 3), with_classes(6_998_552, 1024)),
    _case("inception_v3", INCEPTION_SMALL, (75, 75, 3), with_classes(23_851_784, 2048), slow=True),
    _case("inception_v4", INCEPTION_SMALL, (75, 75, 3), with_classes(42_711_400, 1536), slow=True),
    _case("inception_resnet_v2", INCEPTION_SMALL, (75, 75, 3), with_classes(55_873_736, 1536), slow=True),
    _case("mobilenet_v1", SMALL, (32, 32, 3), with_classes(4_253_864, 1024), slow=True),
    _case("mobilenet_v2", SMALL, (32, 32, 3), with_classes(3_538_984, 1280), slow=True),
    _case("mobilenet_v3_small", SMALL, (32, 32, 3), with_classes(2_554_968, 1024)),
    _case("mobilenet_v3_large", SMALL, (32, 32, 3), with_classes(5_507_432, 1280), slow=True),
    _case("vit", dict(SMALL, variant="ti16", patch_size=4), (32, 32, 3), 5_362_762),
    _case("vit", dict(SMALL, variant="b16", patch_size=8), (32, 32, 3), None, slow=True),
]


@pytest.mark.parametrize("name, kwargs, input_shape, params", SMALL_CASES)
def test_builder_small_input(name, kwargs, input_shape, params, tmp_path):
    model = kerarch.build(name, **kwargs)
    check_builder(
        model,
        input_shape=input_shape,
        output_shape=(kwargs.get("num_classes", 10),),
        params=params,
        name=name,
        tmp_path=tmp_path,
    )


def test_inception_v1_aux_heads(tmp_path):
    model = kerarch.build("inception_v1", input_shape=(65, 65, 3), num_classes=5, aux_heads=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 5)] * 3
    outputs = model(np.zeros((2, 65, 65, 3), "float32"), training=False)
    assert [tuple(o.shape) for o in outputs] == [(2, 5)] * 3
    assert shape_only("inception_v1", aux_heads=True).count_params() == 13_378_280
    with pytest.raises(ValueError, match="at least 65x65"):
        shape_only("inception_v1", input_shape=(64, 64, 3), aux_heads=True)


def test_scaled_residual_block_round_trip(tmp_path):
    # Inception-ResNet's residual block (its scaling is keras.ops in the graph) on a tiny input.
    from kerarch.vision.inception_resnet import inception_resnet_block

    inputs = keras.Input((5, 5, 16))
    x = inception_resnet_block(inputs, block_type="block35", scale=0.17, name="block35_1")
    model = keras.Model(inputs, x, name="block35")
    check_builder(model, input_shape=(5, 5, 16), output_shape=(5, 5, 16), tmp_path=tmp_path)
    result = scaled_residual(np.ones((1, 2), "float32"), np.full((1, 2), 4.0, "float32"), 0.5)
    np.testing.assert_allclose(np.asarray(result), np.full((1, 2), 3.0))


# ------------------------------------------------------------ shapes


# (builder, small kwargs, small feature map, standard kwargs, standard feature map) without top.
def _maps(name, small, small_map, standard, standard_map, slow=False):
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(name, small, small_map, standard, standard_map, marks=marks, id=name)


FEATURE_MAPS = [
    _maps("alexnet", dict(input_shape=(63, 63, 3)), (1, 1, 256), {}, (6, 6, 256)),
    _maps("vgg16", dict(input_shape=(32, 32, 3)), (1, 1, 512), {}, (7, 7, 512)),
    _maps("vgg19", dict(input_shape=(48, 48, 3), batch_norm=True), (1, 1, 512), {}, (7, 7, 512), slow=True),
    _maps("resnet18", dict(input_shape=(32, 32, 3)), (1, 1, 512), {}, (7, 7, 512)),
    _maps("resnet50", dict(input_shape=(64, 64, 3)), (2, 2, 2048), {}, (7, 7, 2048)),
    _maps("resnet152", dict(input_shape=(32, 32, 3)), (1, 1, 2048), {}, (7, 7, 2048), slow=True),
    _maps("resnet56", dict(input_shape=(8, 8, 3)), (2, 2, 64), {}, (8, 8, 64)),
    _maps("inception_v1", dict(input_shape=(32, 32, 3)), (1, 1, 1024), {}, (7, 7, 1024)),
    _maps("inception_v3", dict(input_shape=(75, 75, 3)), (1, 1, 2048), {}, (8, 8, 2048), slow=True),
    _maps("inception_v4", dict(input_shape=(75, 75, 3)), (1, 1, 1536), {}, (8, 8, 1536), slow=True),
    _maps("inception_resnet_v2", dict(input_shape=(75, 75, 3)), (1, 1, 1536), {}, (8, 8, 1536), slow=True),
    _maps("mobilenet_v1", dict(input_shape=(32, 32, 3)), (1, 1, 1024), {}, (7, 7, 1024)),
    _maps("mobilenet_v2", dict(input_shape=(33, 33, 3)), (2, 2, 1280), {}, (7, 7, 1280)),
    _maps("mobilenet_v3_small", dict(input_shape=(32, 32, 3)), (1, 1, 576), {}, (7, 7, 576)),
    _maps("mobilenet_v3_large", dict(input_shape=(32, 32, 3)), (1, 1, 960), {}, (7, 7, 960)),
    _maps("vit", dict(input_shape=(32, 32, 3), variant="ti16", patch_size=4), (65, 192), {}, (197, 768)),
    _maps("simple_cnn", dict(input_shape=(8, 8, 3)), (1, 1, 128), {}, (4, 4, 128)),
]


@pytest.mark.parametrize("name, small, small_map, standard, standard_map", FEATURE_MAPS)
def test_headless_feature_maps_and_pooling(name, small, small_map, standard, standard_map):
    assert shape_only(name, include_top=False, **small).output_shape == (None, *small_map)
    assert shape_only(name, include_top=False, **standard).output_shape == (None, *standard_map)
    for pooling in ("avg", "max"):
        model = shape_only(name, include_top=False, pooling=pooling, **small)
        assert model.output_shape == (None, small_map[-1])


def test_vit_token_pooling_and_variants():
    model = shape_only(
        "vit", include_top=False, pooling="token", input_shape=(32, 32, 3), variant="s16", patch_size=8
    )
    assert model.output_shape == (None, 384)
    assert shape_only("vit", variant="ti16").count_params() == 5_717_416  # ViT-Ti/16 (DeiT-Ti)
    assert shape_only("vit", variant="s16").count_params() == 22_050_664  # ViT-S/16
    assert shape_only("vit", variant="l16").count_params() == 304_326_632  # ViT-L/16
    with pytest.raises(ValueError, match="divisible"):
        shape_only("vit", input_shape=(30, 30, 3), variant="ti16", patch_size=4)
    with pytest.raises(ValueError, match="Unknown ViT variant"):
        shape_only("vit", variant="xl16")


@pytest.mark.parametrize(
    "name, input_shape",
    [
        ("alexnet", (62, 62, 3)),
        ("vgg16", (31, 31, 3)),
        ("resnet50", (31, 32, 3)),
        ("inception_v3", (74, 299, 3)),
        ("mobilenet_v2", (31, 31, 3)),
    ],
)
def test_too_small_inputs_are_rejected(name, input_shape):
    with pytest.raises(ValueError, match="at least"):
        kerarch.build(name, input_shape=input_shape)


def test_bad_pooling_is_rejected():
    with pytest.raises(ValueError, match="pooling"):
        kerarch.build("resnet20", include_top=False, pooling="mean")


def test_layer_names_are_lowercase_and_hierarchical():
    model = shape_only("resnet50")
    names = [layer.name for layer in model.layers]
    assert all(n == n.lower() for n in names)
    assert "conv4_block3_2_bn" in names
    names = [layer.name for layer in shape_only("mobilenet_v2").layers]
    assert all(n == n.lower() for n in names)
    assert {"block2_expand_conv", "block2_dw_conv", "block2_pw_bn", "block3_add"} <= set(names)


# ------------------------------------------------------------ SavedModel and TFLite


@pytest.mark.parametrize(
    "name, kwargs, input_shape",
    [
        pytest.param("simple_cnn", dict(filters=(8, 16)), (32, 32, 3), marks=pytest.mark.slow),
        ("resnet20", {}, (32, 32, 3)),
        pytest.param(
            "vit",
            dict(input_shape=(16, 16, 3), variant="ti16", patch_size=4, num_classes=10),
            (16, 16, 3),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_saved_model_export(name, kwargs, input_shape, tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = kerarch.build(name, **kwargs)
    x = np.random.default_rng(0).uniform(-1, 1, (2, *input_shape)).astype("float32")
    expected = np.asarray(model(x, training=False))
    model.export(tmp_path / "sm", format="tf_saved_model", verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(restored.serve(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        pytest.param("mobilenet_v1", dict(alpha=0.25), marks=pytest.mark.slow),  # ~15 s each; v2 stays in the default run
        ("mobilenet_v2", dict(alpha=0.35)),
        pytest.param("mobilenet_v3_small", dict(alpha=0.75), marks=pytest.mark.slow),
    ],
)
def test_tflite_conversion(name, kwargs, tmp_path):
    """SavedModel export, reload, then TFLite conversion run with LiteRT's interpreter."""
    tf = pytest.importorskip("tensorflow")
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    model = kerarch.build(name, input_shape=(32, 32, 3), num_classes=10, **kwargs)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    model.export(tmp_path / "sm", format="tf_saved_model", verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(restored.serve(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    tflite_model = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm")).convert()
    interpreter = interpreter_module.Interpreter(model_content=tflite_model)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), expected, rtol=1e-4, atol=1e-5)


def test_vit_custom_sizes_count_by_hand():
    from kerarch.vision import vit

    model = vit(input_shape=(28, 28, 1), num_classes=10, variant="ti", patch_size=7, hidden_dim=16, num_layers=1,
                num_heads=2, mlp_dim=16)
    patches = 7 * 7 * 1 * 16 + 16
    embedding = 16 + (16 + 1) * 16  # class token, 16 patches + 1 positions
    block = 2 * 16 + 4 * (16 * 16 + 16) + 2 * 16 + (16 * 16 + 16) * 2  # LN, q k v out, LN, MLP
    assert model.count_params() == patches + embedding + block + 2 * 16 + 16 * 10 + 10
    with pytest.raises(ValueError, match="divisible by num_heads"):
        vit(input_shape=(28, 28, 1), variant="ti", patch_size=7, hidden_dim=10, num_heads=3)

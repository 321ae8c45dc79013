import inspect

import numpy as np
import pytest

import kerarch
from kerarch.errors import KerarchError
from kerarch.registry import Registry
from kerarch.variants import Variant, register_variants
from builder_checks import check_builder, check_signature


@pytest.mark.parametrize(
    "name, kwargs, input_shape, output_shape, params",
    [
        ("perceptron", dict(input_shape=(2,)), (2,), (1,), 3),
        ("perceptron", dict(input_shape=(4,), num_classes=3), (4,), (3,), 15),
        ("mlp", dict(input_shape=(28, 28, 1), hidden_units=(32,)), (28, 28, 1), (10,), 784 * 32 + 32 + 330),
        ("lenet5", dict(input_shape=(28, 28, 1), num_classes=10), (28, 28, 1), (10,), 61_706),
        ("lenet5", dict(input_shape=(32, 32, 3), num_classes=10), (32, 32, 3), (10,), 61_706 + 2 * 150),
        ("dcgan_generator", dict(latent_dim=16, filters=8), (16,), (28, 28, 1), None),
        ("dcgan_discriminator", dict(filters=8), (28, 28, 1), (1,), None),
    ],
)
def test_foundation_builders(name, kwargs, input_shape, output_shape, params, tmp_path):
    model = kerarch.build(name, **kwargs)
    check_builder(model, input_shape=input_shape, output_shape=output_shape, params=params, name=name, tmp_path=tmp_path)


def test_lenet5_headless_ends_at_f6():
    model = kerarch.build("lenet5", include_top=False)
    assert model.output_shape == (None, 84)
    assert [l.name for l in model.layers][-1] == "f6"


def test_mlp_batch_norm_and_dropout_layers():
    model = kerarch.build("mlp", input_shape=(8,), hidden_units=(4, 4), batch_norm=True, dropout=0.5)
    names = [l.name for l in model.layers]
    assert {"dense1_bn", "dense2_bn", "dense1_dropout", "dense2_dropout"} <= set(names)


def test_dcgan_generator_rejects_sizes_not_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        kerarch.build("dcgan_generator", image_shape=(30, 30, 1))


def test_dcgan_generator_outputs_tanh_range():
    model = kerarch.build("dcgan_generator", latent_dim=8, filters=8)
    images = np.asarray(model(np.random.default_rng(0).normal(size=(4, 8)) * 10))
    assert images.min() >= -1 and images.max() <= 1


def test_registry_lists_and_suggests():
    assert {"perceptron", "mlp", "lenet5", "dcgan_generator", "dcgan_discriminator"} <= set(kerarch.list_builders())
    assert kerarch.list_builders("dcgan_*") == ["dcgan_discriminator", "dcgan_generator"]
    with pytest.raises(KerarchError, match="Did you mean: lenet5"):
        kerarch.build("lenet")


def test_registry_rejects_duplicates():
    registry = Registry("thing")
    registry.register("a")(object)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(object)


def test_every_builder_signature_lists_real_keyword_arguments():
    for name in kerarch.list_builders():
        check_signature(kerarch.BUILDERS.get(name))


def test_a_variant_is_its_base_builder_with_the_fixed_arguments_left_out():
    from kerarch.vision import resnet50
    from kerarch.vision.resnet import build_resnet

    assert kerarch.BUILDERS.get("resnet50") is resnet50
    assert (resnet50.__name__, resnet50.__module__) == ("resnet50", "kerarch.vision.resnet")
    base = inspect.signature(build_resnet).parameters
    ours = inspect.signature(resnet50).parameters
    assert list(ours) == [key for key in base if key != "depth"]
    assert ours["name"].default == "resnet50"
    assert all(ours[key].default == base[key].default for key in ours if key != "name")
    assert resnet50.__doc__.startswith("ResNet-50 (bottleneck blocks).")
    assert "depth:" not in resnet50.__doc__ and "input_shape:" in resnet50.__doc__
    with pytest.raises(TypeError, match="depth"):
        resnet50(depth=18)
    with pytest.raises(ValueError, match="dept"):
        register_variants(build_resnet, {"resnet_typo": Variant("Typo.", fixed=dict(dept=50))})

"""cGAN and WGAN-GP: builders, the gradient penalty by hand, train steps on 2 replicas, FID-LeNet."""

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

import kerarch
from kerarch.errors import KerarchError
from kerarch.generative import FidLenet, classifier_score, fid_report, frechet_distance, intra_class_fid
from kerarch.generative.fid import feature_statistics, per_class_label_accuracy
from kerarch.frame.recipe import optimizer_iterations
from kerarch.generative.adversarial import WGANGP, ConditionalGAN, gradient_penalty
from kerarch.training import make_strategy
from kerarch.training.callbacks import SyncReplicaState
from tiny_data import write_tiny_mnist

# --- Fréchet distance and classifier score by hand -------------------------------------


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    # Diagonal covariances commute: d² = |Δμ|² + Σ (sqrt(a_i) - sqrt(b_i))² = (1 + 4) + (1 - 2)² + (2 - 3)² = 7.
    assert frechet_distance([0.0, 0.0], np.diag([1.0, 4.0]), [1.0, 2.0], np.diag([4.0, 9.0])) == pytest.approx(7.0)
    # One dimension: (μa - μb)² + (σa - σb)².
    assert frechet_distance([3.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(4.0 + 1.0)


def test_frechet_distance_agrees_with_sqrtm_on_non_commuting_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4, 4))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mean_a, mean_b = rng.normal(size=(2, 4))
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-8)


def test_identical_feature_sets_are_at_distance_zero():
    features = np.random.default_rng(1).normal(size=(200, 84)) * 3.0 + 1.0
    assert FidLenet.distance(features, features) == pytest.approx(0.0, abs=1e-8)
    assert FidLenet.distance(features, features + 1.0) == pytest.approx(84.0, rel=1e-6)  # a shifted copy: |Δμ|² only
    mean, cov = feature_statistics(features)
    assert mean.shape == (84,) and cov.shape == (84, 84)


def test_classifier_score_ranges_from_one_to_the_number_of_classes():
    assert classifier_score(np.full((6, 3), 1 / 3)) == pytest.approx(1.0)  # no confidence
    assert classifier_score(np.eye(3)[[0, 1, 2, 0, 1, 2]]) == pytest.approx(3.0)  # confident and balanced
    assert classifier_score(np.eye(3)[[1, 1, 1, 1]]) == pytest.approx(1.0)  # confident, one class only
    # Two images, p(y|x) = (1, 0) and (0.5, 0.5): p(y) = (0.75, 0.25);
    # KL_1 = log(1/0.75), KL_2 = 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25).
    kl = [np.log(1 / 0.75), 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(2.0)]
    assert classifier_score([[1.0, 0.0], [0.5, 0.5]]) == pytest.approx(np.exp(np.mean(kl)))


# --- gradient penalty --------------------------------------------------------------------


def _linear_critic(weights):
    critic = keras.Sequential([keras.Input((1, 1, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    critic.layers[-1].set_weights([np.asarray(weights, "float32").reshape(3, 1), np.array([0.5], "float32")])
    return critic


@pytest.mark.parametrize("weights, expected", [([3.0, 4.0, 0.0], (5.0 - 1.0) ** 2), ([0.6, 0.0, 0.8], 0.0)])
def test_gradient_penalty_of_a_linear_critic(weights, expected):
    # critic(x) = w·x + b has gradient w everywhere: the penalty is (|w| - 1)² wherever x̂ lands.
    rng = np.random.default_rng(0)
    real, fake = (rng.normal(size=(4, 1, 1, 3)).astype("float32") for _ in range(2))
    epsilon = rng.uniform(size=(4, 1, 1, 1)).astype("float32")
    penalty = gradient_penalty(_linear_critic(weights), real, fake, epsilon)
    assert float(penalty) == pytest.approx(expected, abs=1e-5)


# --- builders ----------------------------------------------------------------------------


def _labelled(n, *, latent_dim=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, latent_dim)).astype("float32"), (np.arange(n) % 10).reshape(-1, 1).astype("int32")


def test_cgan_generator_shapes_params_label_use_and_round_trip(tmp_path):
    model = kerarch.build("cgan_generator", latent_dim=8, filters=4, embedding_dim=5)
    assert model.name == "cgan_generator"
    # embedding 10*5; project 13 -> 7*7*16 (no bias) and its BN; up1 4*4*16*8 + BN; up2 4*4*8*4 + BN; images 4*4*4 + 1.
    assert model.count_params() == 50 + 13 * 784 + 4 * 784 + 2048 + 32 + 512 + 16 + 65
    z, labels = _labelled(4)
    images = np.asarray(model([z, labels]))
    assert images.shape == (4, 28, 28, 1) and np.abs(images).max() <= 1.0
    # Same noise, another class: another image.
    other = np.asarray(model([z, (labels + 1) % 10]))
    assert not np.allclose(images, other, atol=1e-4)
    model.save(tmp_path / "g.keras")
    restored = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(restored([z, labels])), images, atol=1e-6)


def test_cgan_discriminator_shapes_params_and_round_trip(tmp_path):
    model = kerarch.build("cgan_discriminator", filters=4)
    assert model.name == "cgan_discriminator"
    # label plane 10*784; down1 4*4*2*4 + 4; down2 4*4*4*8 (no bias) + BN 4*8; logit 7*7*8 + 1.
    assert model.count_params() == 7840 + 132 + 512 + 32 + 393
    images = np.random.default_rng(0).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    _, labels = _labelled(4)
    logits = np.asarray(model([images, labels]))
    assert logits.shape == (4, 1)
    model.save(tmp_path / "d.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "d.keras")([images, labels])), logits,
                               atol=1e-6)


def test_wgan_critic_scores_each_image_on_its_own(tmp_path):
    critic = kerarch.build("wgan_critic", filters=4)
    assert critic.name == "wgan_critic"
    assert critic.count_params() == 68 + 512 + 2 * 7 * 7 * 8 + 393  # down1, down2 (no bias), layer norm, logit
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in critic.layers)
    images = np.random.default_rng(0).uniform(-1, 1, size=(6, 28, 28, 1)).astype("float32")
    # In training mode too, an image's score does not depend on the rest of the batch.
    np.testing.assert_allclose(np.asarray(critic(images[:2], training=True)),
                               np.asarray(critic(images, training=True))[:2], atol=1e-5)
    critic.save(tmp_path / "c.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "c.keras")(images)),
                               np.asarray(critic(images)), atol=1e-6)
    with pytest.raises(ValueError, match="normalization"):
        kerarch.build("dcgan_discriminator", normalization="group")


# --- train steps on 2 replicas -------------------------------------------------------------


def test_conditional_gan_train_step_under_two_replicas():
    strategy = make_strategy("mirrored")
    with strategy.scope():
        gan = ConditionalGAN(
            kerarch.build("cgan_generator", latent_dim=8, filters=4, embedding_dim=4),
            kerarch.build("cgan_discriminator", filters=4),
            latent_dim=8,
            seed=1,
        )
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3))
    embedding = gan.generator.get_layer("label_embedding")
    before = np.asarray(embedding.embeddings).copy()
    images = np.random.default_rng(0).uniform(-1, 1, size=(64, 28, 28, 1)).astype("float32")
    labels = np.arange(64) % 10
    history = gan.fit(
        tf.data.Dataset.from_tensor_slices((images, labels)).batch(32, drop_remainder=True),
        epochs=1, verbose=0, callbacks=[SyncReplicaState()],
    ).history
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history)
    assert all(np.isfinite(v[0]) for v in history.values())
    assert optimizer_iterations(gan) == {"g_optimizer": 2, "d_optimizer": 2}
    assert not np.allclose(before, np.asarray(embedding.embeddings))  # the label reached the generator's loss
    with pytest.raises(KerarchError, match="pairs"):
        gan.split_batch(images)


def _wgan_gp(**compile_kwargs):
    gan = WGANGP(kerarch.build("dcgan_generator", latent_dim=8, filters=4), kerarch.build("wgan_critic", filters=4),
                 latent_dim=8, seed=1)
    gan.compile(**compile_kwargs)
    return gan


def test_wgan_gp_compiles_with_the_papers_settings():
    gan = _wgan_gp()
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        config = optimizer.get_config()
        assert (config["learning_rate"], config["beta_1"], config["beta_2"]) == pytest.approx((1e-4, 0.0, 0.9))
    assert (gan.gp_weight, gan.n_critic) == (10.0, 5)
    with pytest.raises(KerarchError, match="n_critic"):
        _wgan_gp(n_critic=0)


def test_wgan_gp_train_step_under_two_replicas():
    with make_strategy("mirrored").scope():
        gan = _wgan_gp(n_critic=2)
    critic_before = [w.copy() for w in gan.discriminator.get_weights()]
    images = np.random.default_rng(0).uniform(-1, 1, size=(64, 28, 28, 1)).astype("float32")
    history = gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(32, drop_remainder=True), epochs=1, verbose=0).history
    assert {"d_loss", "g_loss", "wasserstein_estimate", "gradient_penalty"} <= set(history)
    assert all(np.isfinite(v[0]) for v in history.values())
    # n_critic critic steps per generator step; 2 batches of 2 x 16 images.
    assert optimizer_iterations(gan) == {"g_optimizer": 2, "d_optimizer": 4}
    assert any(not np.allclose(a, b) for a, b in zip(critic_before, gan.discriminator.get_weights()))
    # Losses are divided by the replicas for the gradients and multiplied back for the logs:
    # the logged critic loss is λ·penalty - estimate, all three averaged over the same steps.
    expected = 10.0 * history["gradient_penalty"][0] - history["wasserstein_estimate"][0]
    assert history["d_loss"][0] == pytest.approx(expected, rel=1e-4, abs=1e-4)


@pytest.mark.slow
def test_wgan_gp_steps_under_mixed_float16():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        gan = _wgan_gp(n_critic=1)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    before = [w.copy() for w in gan.generator.get_weights()]
    images = np.random.default_rng(0).uniform(-1, 1, size=(16, 28, 28, 1)).astype("float32")
    history = gan.fit(images, batch_size=16, epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in history.values())
    # The loss-scaled gradients reached the weights.
    assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights()))


# --- FID-LeNet classifier ------------------------------------------------------------------


def test_fid_lenet_trains_once_per_path_and_scores_real_data(tmp_path, monkeypatch):
    from kerarch.data import load_image_classification

    data = load_image_classification("mnist", write_tiny_mnist(tmp_path / "tiny"))
    scorer = FidLenet.for_data(tmp_path / "fid_lenet.keras", data, epochs=3, examples=320)
    assert (tmp_path / "fid_lenet.keras").exists()
    monkeypatch.setattr(FidLenet, "train", lambda *a, **k: pytest.fail("trained again instead of loading"))
    again = FidLenet.for_data(tmp_path / "fid_lenet.keras", data)
    test_images = data.x_test / 255.0
    np.testing.assert_allclose(again.outputs(test_images)[0], scorer.outputs(test_images)[0], atol=1e-5)
    assert scorer.accuracy(test_images, data.y_test) >= 0.5  # the bars are learnable: above 10 % chance

    report = fid_report(scorer, data, test_images, seed=0)
    assert report["fid_examples"] == 80
    assert report["fid_lenet"] == pytest.approx(report["fid_lenet_real_floor"])  # generated = test images here
    assert 1.0 <= report["classifier_score"] <= 10.0
    noise = np.random.default_rng(0).uniform(size=(80, 28, 28, 1)).astype("float32")
    assert fid_report(scorer, data, noise)["fid_lenet"] > report["fid_lenet_real_floor"]
    intra, intra_floor = intra_class_fid(scorer, data, test_images, data.y_test)
    assert intra == pytest.approx(intra_floor) and np.isfinite(intra)
    per_class = per_class_label_accuracy(scorer, test_images, data.y_test, data)
    assert per_class["label_accuracy_per_class"] == per_class["classifier_accuracy_real_test_per_class"]
    assert per_class["label_accuracy_worst_class"] == min(per_class["label_accuracy_per_class"].values())

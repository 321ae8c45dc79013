"""Adversarial training of generator/discriminator pairs with `model.fit`.

Three train steps share one base class, `AdversarialModel`: the
non-saturating GAN (`GAN`), its class-conditional form (`ConditionalGAN`)
and the Wasserstein GAN with gradient penalty (`WGANGP`).

The train steps are TensorFlow's (GradientTape) so that they run under
tf.distribute: every loss is a per-replica mean divided by the number of
replicas (as `keras.losses` objects do), and the optimizers' all-reduce sums
the gradients, so two replicas on half batches take the same step as one
device on the whole.
"""

import keras
from keras import ops

from kerarch.errors import KerarchError


class AdversarialModel(keras.Model):
    """What every adversarial train step needs: two networks, two optimizers, per-replica noise.

    Subclasses define `train_step` and the metric names; conditional
    subclasses override `split_batch`, `generate` and `discriminate`.
    Calling the model on noise returns generated images.

    Args:
        generator: model mapping (batch, latent_dim) noise to images.
        discriminator: model mapping images to (batch, 1) logits or scores.
        latent_dim: size of the noise vector.
        seed: seed of the noise.
    """

    metric_names = ()

    def __init__(self, generator, discriminator, *, latent_dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        if keras.backend.backend() != "tensorflow":
            raise KerarchError(
                f"{type(self).__name__} training uses a TensorFlow train step (for tf.distribute); "
                f"KERAS_BACKEND is {keras.backend.backend()!r}. Run with KERAS_BACKEND=tensorflow."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = generator.built and discriminator.built

    def compile(self, *, g_optimizer, d_optimizer, **kwargs):
        super().compile(optimizer=None, **kwargs)
        if self.dtype_policy.name == "mixed_float16":
            g_optimizer = keras.optimizers.LossScaleOptimizer(g_optimizer)
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}
        # Create optimizer slots now, in the strategy scope: created lazily inside
        # the replicated train step (Adam's moments) they fail under MirroredStrategy.
        self.build_optimizers()

    @property
    def metrics(self):
        return list(getattr(self, "trackers", {}).values())

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def build_optimizers(self):
        for optimizer, model in ((self.g_optimizer, self.generator), (self.d_optimizer, self.discriminator)):
            if not optimizer.built:
                optimizer.build(model.trainable_variables)

    # --- hooks for conditional models --------------------------------------------
    def split_batch(self, data):
        """(real images, condition or None) of one batch from the dataset."""
        return (data[0] if isinstance(data, tuple) else data), None

    def generate(self, noise, condition, training=True):
        return self.generator(noise, training=training)

    def discriminate(self, images, condition, training=True):
        return self.discriminator(images, training=training)

    # --- shared pieces of a train step -------------------------------------------
    def replica_seed(self):
        """A stateless seed, new every call and different on every replica.

        Under tf.distribute every replica reads the same SeedGenerator state
        and `keras.random.*` would draw identical numbers on all of them; the
        replica id is folded into a stateless seed instead.
        """
        import tensorflow as tf

        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        return tf.cast(seed, "int64") + tf.constant([0, 1], "int64") * tf.cast(replica, "int64")

    def sample_noise(self, batch_size):
        """Standard normal noise (batch_size, latent_dim) for one step, different on every replica."""
        import tensorflow as tf

        return tf.random.stateless_normal((batch_size, self.latent_dim), seed=self.replica_seed(), dtype=self.compute_dtype)

    def apply_loss(self, tape, scaled_loss, optimizer, model):
        """One optimizer step of `model` on `optimizer.scale_loss(loss)`, computed inside `tape`.

        The loss is a per-replica value already divided by the replicas;
        `scale_loss` multiplies it by the loss scale under mixed_float16.
        """
        grads = tape.gradient(scaled_loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    def track(self, **values):
        """Updates the metrics; losses are given per replica, divided by the replicas, and are unscaled here."""
        from keras.src.losses.loss import unscale_loss_for_distribution

        for name, value in values.items():
            value = ops.cast(value, "float32")
            self.trackers[name].update_state(unscale_loss_for_distribution(value) if name.endswith("loss") else value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


class GAN(AdversarialModel):
    """Non-saturating GAN training (Goodfellow et al. 2014), as used by DCGAN.

    The discriminator learns to tell real from generated images; the
    generator learns to make the discriminator say "real".

    Args:
        generator: model mapping (batch, latent_dim) noise to images.
        discriminator: model mapping images to (batch, 1) logits.
        latent_dim: size of the noise vector.
        seed: seed of the noise.
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def compile(self, *, g_optimizer, d_optimizer, label_smoothing=0.0, **kwargs):
        super().compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer, **kwargs)
        self.label_smoothing = label_smoothing
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)  # divides by the replicas itself

    def train_step(self, data):
        import tensorflow as tf

        real_images, condition = self.split_batch(data)
        batch_size = ops.shape(real_images)[0]

        # Discriminator: real → 1 (optionally smoothed), generated → 0.
        fake_images = self.generate(self.sample_noise(batch_size), condition)
        with tf.GradientTape() as tape:
            real_logits = self.discriminate(real_images, condition)
            fake_logits = self.discriminate(fake_images, condition)
            real_targets = ops.full_like(real_logits, 1.0 - self.label_smoothing)
            d_loss = self.bce(real_targets, real_logits) + self.bce(ops.zeros_like(fake_logits), fake_logits)
            scaled = self.d_optimizer.scale_loss(d_loss)
        self.apply_loss(tape, scaled, self.d_optimizer, self.discriminator)

        # Generator: make the discriminator output 1 on generated images.
        with tf.GradientTape() as tape:
            fake_logits = self.discriminate(self.generate(self.sample_noise(batch_size), condition), condition)
            g_loss = self.bce(ops.ones_like(fake_logits), fake_logits)
            scaled = self.g_optimizer.scale_loss(g_loss)
        self.apply_loss(tape, scaled, self.g_optimizer, self.generator)

        return self.track(
            d_loss=d_loss,
            g_loss=g_loss,
            d_real=ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            d_fake=ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
        )


class ConditionalGAN(GAN):
    """Class-conditional GAN (Mirza & Osindero 2014): both networks also read the label.

    The dataset yields (images, labels); generated images are asked for the
    labels of the real batch, so the generated classes follow the data's.
    Calling the model on [noise, labels] returns generated images.

    Args:
        generator: model mapping [(batch, latent_dim) noise, (batch, 1) labels] to images.
        discriminator: model mapping [images, (batch, 1) labels] to (batch, 1) logits.
        latent_dim: size of the noise vector.
        seed: seed of the noise.
    """

    def split_batch(self, data):
        if not isinstance(data, tuple) or len(data) < 2:
            raise KerarchError("ConditionalGAN trains on a dataset of (images, labels) pairs; got images alone.")
        images, labels = data[0], data[1]
        return images, ops.reshape(ops.cast(labels, "int32"), (-1, 1))

    def generate(self, noise, condition, training=True):
        return self.generator([noise, condition], training=training)

    def discriminate(self, images, condition, training=True):
        return self.discriminator([images, condition], training=training)


def gradient_penalty(critic, real_images, fake_images, epsilon):
    """Mean over the batch of (‖∇ critic(x̂)‖₂ - 1)² at x̂ = ε·real + (1 - ε)·fake.

    The critic must score each image on its own (no batch norm): the sum of
    the scores' gradient is then each image's own gradient.

    Args:
        critic: model mapping images to (batch, 1) scores.
        real_images, fake_images: two batches of the same shape.
        epsilon: (batch, 1, ..., 1) interpolation weights in [0, 1].

    Reference:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, eq. (3).
    """
    import tensorflow as tf

    interpolated = ops.convert_to_tensor(epsilon * real_images + (1.0 - epsilon) * fake_images)
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = critic(interpolated, training=True)
    grads = ops.cast(tape.gradient(scores, interpolated), "float32")
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, len(grads.shape)))) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


class WGANGP(AdversarialModel):
    """Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, Algorithm 1), unconditional.

    The critic maximises E[critic(real)] - E[critic(fake)] (an estimate of
    the Wasserstein-1 distance, logged as `wasserstein_estimate`) under a soft
    1-Lipschitz constraint, the gradient penalty; the generator maximises
    E[critic(fake)]. Each train step takes `n_critic` critic steps and then
    one generator step; every critic step gets its own slice of the batch,
    so a batch holds n_critic x (critic batch) real images, and an epoch of
    N images takes N / (n_critic x critic batch) generator steps.

    Args:
        generator: model mapping (batch, latent_dim) noise to images.
        discriminator: the critic, mapping images to (batch, 1) unbounded
            scores; without batch norm (see `gradient_penalty`), e.g. the
            `wgan_critic` builder.
        latent_dim: size of the noise vector.
        seed: seed of the noise.
    """

    metric_names = ("d_loss", "g_loss", "wasserstein_estimate", "gradient_penalty")

    def compile(self, *, g_optimizer=None, d_optimizer=None, gp_weight=10.0, n_critic=5, **kwargs):
        """Defaults of the paper: Adam(1e-4, beta_1=0, beta_2=0.9) for both, λ = 10, n_critic = 5."""
        paper_adam = lambda: keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)  # noqa: E731
        super().compile(g_optimizer=g_optimizer or paper_adam(), d_optimizer=d_optimizer or paper_adam(), **kwargs)
        if n_critic < 1:
            raise KerarchError(f"n_critic must be at least 1, got {n_critic}.")
        self.gp_weight = gp_weight
        self.n_critic = n_critic

    def critic_step(self, real_images):
        """One critic update on one slice of real images; returns (loss, Wasserstein estimate, penalty)."""
        import tensorflow as tf
        from keras.src.losses.loss import scale_loss_for_distribution

        batch_size = ops.shape(real_images)[0]
        fake_images = ops.cast(self.generator(self.sample_noise(batch_size), training=True), real_images.dtype)
        epsilon = tf.random.stateless_uniform(
            (batch_size,) + (1,) * (len(real_images.shape) - 1), seed=self.replica_seed(), dtype=real_images.dtype
        )
        with tf.GradientTape() as tape:
            real_scores = ops.cast(self.discriminator(real_images, training=True), "float32")
            fake_scores = ops.cast(self.discriminator(fake_images, training=True), "float32")
            wasserstein = ops.mean(real_scores) - ops.mean(fake_scores)
            penalty = gradient_penalty(self.discriminator, real_images, fake_images, epsilon)
            d_loss = scale_loss_for_distribution(self.gp_weight * penalty - wasserstein)
            scaled = self.d_optimizer.scale_loss(d_loss)
        self.apply_loss(tape, scaled, self.d_optimizer, self.discriminator)
        return d_loss, wasserstein, penalty

    def train_step(self, data):
        import tensorflow as tf
        from keras.src.losses.loss import scale_loss_for_distribution

        real_images, _ = self.split_batch(data)
        size = ops.shape(real_images)[0] // self.n_critic
        for i in range(self.n_critic):
            d_loss, wasserstein, penalty = self.critic_step(real_images[i * size : (i + 1) * size])
            logs = self.track(d_loss=d_loss, wasserstein_estimate=wasserstein, gradient_penalty=penalty)

        with tf.GradientTape() as tape:
            fake_images = self.generator(self.sample_noise(size), training=True)
            fake_scores = ops.cast(self.discriminator(fake_images, training=True), "float32")
            g_loss = scale_loss_for_distribution(-ops.mean(fake_scores))
            scaled = self.g_optimizer.scale_loss(g_loss)
        self.apply_loss(tape, scaled, self.g_optimizer, self.generator)
        logs.update(self.track(g_loss=g_loss))
        return logs

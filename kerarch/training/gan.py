"""Adversarial training of any generator/discriminator pair with `model.fit`.

The train step is TensorFlow's (GradientTape) so that it runs under
tf.distribute: losses come from `keras.losses` objects, which divide by the
number of replicas, and the optimizers' all-reduce sums the gradients, so
two replicas on half batches take the same step as one device on the whole.
"""

import keras
from keras import ops

from kerarch.errors import KerarchError


class GAN(keras.Model):
    """Non-saturating GAN training (Goodfellow et al. 2014), as used by DCGAN.

    The discriminator learns to tell real from generated images; the
    generator learns to make the discriminator say "real". Calling the model
    on noise returns generated images.

    Args:
        generator: model mapping (batch, latent_dim) noise to images.
        discriminator: model mapping images to (batch, 1) logits.
        latent_dim: size of the noise vector.
        seed: seed of the noise.
    """

    def __init__(self, generator, discriminator, *, latent_dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        if keras.backend.backend() != "tensorflow":
            raise KerarchError(
                f"GAN training uses a TensorFlow train step (for tf.distribute); "
                f"KERAS_BACKEND is {keras.backend.backend()!r}. Run with KERAS_BACKEND=tensorflow."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = generator.built and discriminator.built

    def compile(self, *, g_optimizer, d_optimizer, label_smoothing=0.0, **kwargs):
        super().compile(optimizer=None, **kwargs)
        if self.dtype_policy.name == "mixed_float16":
            g_optimizer = keras.optimizers.LossScaleOptimizer(g_optimizer)
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.label_smoothing = label_smoothing
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        # Create optimizer slots now, in the strategy scope: created lazily inside
        # the replicated train step (Adam's moments) they fail under MirroredStrategy.
        self.build_optimizers()

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def build_optimizers(self):
        for optimizer, model in ((self.g_optimizer, self.generator), (self.d_optimizer, self.discriminator)):
            if not optimizer.built:
                optimizer.build(model.trainable_variables)

    def sample_noise(self, batch_size):
        """Noise for one step, different on every replica.

        Under tf.distribute every replica reads the same SeedGenerator state
        and `keras.random.normal` would draw identical noise on all of them;
        the replica id is folded into a stateless seed instead.
        """
        import tensorflow as tf

        seed = self.seed_generator.next()
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        seed = tf.cast(seed, "int64") + tf.constant([0, 1], "int64") * tf.cast(replica, "int64")
        return tf.random.stateless_normal((batch_size, self.latent_dim), seed=seed, dtype=self.compute_dtype)

    def train_step(self, real_images):
        import tensorflow as tf
        from keras.src.losses.loss import unscale_loss_for_distribution

        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = ops.shape(real_images)[0]

        # Discriminator: real → 1 (optionally smoothed), generated → 0.
        fake_images = self.generator(self.sample_noise(batch_size), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            real_targets = ops.full_like(real_logits, 1.0 - self.label_smoothing)
            d_loss = self.bce(real_targets, real_logits) + self.bce(ops.zeros_like(fake_logits), fake_logits)
            scaled = self.d_optimizer.scale_loss(d_loss)
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

        # Generator: make the discriminator output 1 on generated images.
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(self.sample_noise(batch_size), training=True), training=True)
            g_loss = self.bce(ops.ones_like(fake_logits), fake_logits)
            scaled = self.g_optimizer.scale_loss(g_loss)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        self.d_loss_tracker.update_state(unscale_loss_for_distribution(d_loss))
        self.g_loss_tracker.update_state(unscale_loss_for_distribution(g_loss))
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))))
        self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))))
        return {m.name: m.result() for m in self.metrics}

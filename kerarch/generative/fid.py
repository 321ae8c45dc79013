"""FID-LeNet and a classifier score: sample-quality measures for small image GANs.

The Fréchet Inception Distance (Heusel et al. 2017) compares the mean and
covariance of a network's features on real and on generated images. Here
the network is not Inception (which is trained on ImageNet and unavailable
offline) but a LeNet-5 trained for a few epochs on the GAN's own training
data, and the features are its F6 layer (84 units). The numbers are
therefore called FID-LeNet: they rank models trained on the same data with
the same classifier, and are NOT comparable to published Inception FIDs.
The lowest value sampling noise allows is measured by the same score
between real held-out images and the training images (the "real floor").

The classifier score is the Inception Score (Salimans et al. 2016),
exp(E_x KL(p(y|x) || p(y))), with the same LeNet: high when each image is
classified confidently and the classes are balanced; at most the number of
classes.

    scorer = FidLenet.for_data(run.path / "fid_lenet.keras", data)
    report = fid_report(scorer, data, generated_images_in_0_1)
"""

import logging
import os
import time

import keras
import numpy as np

from kerarch.io import atomic_path
from kerarch.model_files import load_model_file

log = logging.getLogger("kerarch")


def feature_statistics(features):
    """(mean, covariance) of (N, D) features, in float64."""
    features = np.asarray(features, dtype="float64")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean_a, cov_a, mean_b, cov_b):
    """Fréchet distance between the Gaussians N(mean_a, cov_a) and N(mean_b, cov_b).

    d² = |mean_a - mean_b|² + tr(cov_a) + tr(cov_b) - 2 tr((cov_a cov_b)^½).
    The trace of the matrix square root is computed from eigenvalues:
    cov_a cov_b is similar to the symmetric S cov_b S with S = cov_a^½, so
    their eigenvalues agree and tr((cov_a cov_b)^½) = Σ sqrt(eig(S cov_b S)),
    which stays real where `scipy.linalg.sqrtm` can return complex noise.

    Reference:
        Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter, "GANs Trained by
        a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
        NeurIPS 2017; Dowson & Landau, "The Fréchet distance between
        multivariate normal distributions", J. Multivariate Analysis, 1982.
    """
    mean_a, mean_b = np.asarray(mean_a, "float64"), np.asarray(mean_b, "float64")
    cov_a, cov_b = np.atleast_2d(cov_a).astype("float64"), np.atleast_2d(cov_b).astype("float64")
    sqrt_a = _psd_sqrt(cov_a)
    cross = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))


def _psd_sqrt(matrix):
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def classifier_score(probabilities):
    """exp(E_x KL(p(y|x) || p(y))) of (N, classes) predicted probabilities (the Inception Score formula).

    Reference:
        Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen, "Improved
        Techniques for Training GANs", NeurIPS 2016.
    """
    p = np.clip(np.asarray(probabilities, "float64"), 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


class FidLenet:
    """A LeNet-5 classifier of the GAN's data and the scores built on its outputs.

    Args:
        classifier: a trained `lenet5` model (softmax output, an "f6" layer).
    """

    def __init__(self, classifier):
        self.classifier = classifier
        self._outputs = keras.Model(classifier.inputs, [classifier.get_layer("f6").output, classifier.output])

    @classmethod
    def train(cls, images, labels, *, num_classes, epochs=2, batch_size=128):
        """Trains LeNet-5 (Adam 1e-3) on images in [0, 1] and int labels."""
        from kerarch.vision import lenet5

        classifier = lenet5(input_shape=images.shape[1:], num_classes=num_classes)
        classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        classifier.fit(images, labels, batch_size=batch_size, epochs=epochs, verbose=0)
        return cls(classifier)

    @classmethod
    def for_data(cls, path, data, *, epochs=5, examples=60_000, seed=0):
        """The classifier saved at `path` (a `.keras` file), or one trained on `data` and saved there.

        Training uses `examples` random training images of `data` (uint8
        x_train, y_train, as `load_image_classification` returns them) for
        `epochs` epochs: about 5 seconds per epoch of 60,000 images on 2 CPU
        cores; the defaults reach 98.2 % on MNIST's real test digits.
        """
        if os.path.exists(path):
            return cls(load_model_file(path))
        started = time.time()
        chosen = np.random.default_rng(seed).permutation(len(data.x_train))[:examples]
        scorer = cls.train(to_unit_range(data.x_train[chosen]), data.y_train[chosen], num_classes=data.num_classes,
                           epochs=epochs)
        log.info("FID-LeNet classifier: %d epochs on %d images in %.1f s.", epochs, len(chosen), time.time() - started)
        with atomic_path(path) as tmp:
            os.remove(tmp)  # Keras refuses to overwrite an existing file.
            scorer.classifier.save(tmp)
        return scorer

    def outputs(self, images):
        """(F6 features (N, 84), class probabilities (N, classes)) of images in [0, 1]."""
        features, probabilities = self._outputs.predict(np.asarray(images, "float32"), batch_size=500, verbose=0)
        return features, probabilities

    def accuracy(self, images, labels):
        """The classifier's accuracy on images in [0, 1] against int `labels`."""
        return float(np.mean(np.argmax(self.outputs(images)[1], axis=1) == np.asarray(labels).reshape(-1)))

    @staticmethod
    def distance(features_a, features_b):
        """FID-LeNet between two sets of F6 features."""
        return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def to_unit_range(images):
    """uint8 pixels 0..255 as float32 in [0, 1]."""
    return np.asarray(images, "float32") / 255.0


def fid_report(scorer, data, generated, *, seed=0):
    """FID-LeNet and classifier scores of generated images, with the real-data references.

    n = min(len(generated), test images, training images) images of each set
    are used, since FID shrinks as n grows and only equal n compare: the
    reference statistics come from n random training images.

    Args:
        scorer: a `FidLenet`.
        data: the real data (uint8 x_train and x_test).
        generated: generated images in [0, 1].
        seed: seed of the choice of training images.

    Returns:
        {"fid_lenet": generated vs train, "fid_lenet_real_floor": test vs
        train, "classifier_score": on generated, "classifier_score_real_test":
        on test, "fid_examples": n}.
    """
    n = min(len(generated), len(data.x_test), len(data.x_train))
    chosen = np.random.default_rng(seed).permutation(len(data.x_train))[:n]
    reference, _ = scorer.outputs(to_unit_range(data.x_train[chosen]))
    real_features, real_probabilities = scorer.outputs(to_unit_range(data.x_test[:n]))
    fake_features, fake_probabilities = scorer.outputs(generated[:n])
    return {
        "fid_lenet": scorer.distance(fake_features, reference),
        "fid_lenet_real_floor": scorer.distance(real_features, reference),
        "classifier_score": classifier_score(fake_probabilities),
        "classifier_score_real_test": classifier_score(real_probabilities),
        "fid_examples": n,
    }


def intra_class_fid(scorer, data, generated, labels, *, seed=0):
    """Mean over classes of FID-LeNet within each class (Miyato & Koyama 2018), and its real floor.

    For class c, n_c = min(generated, test and reference images of class c)
    images of each are compared: generated vs train and test vs train; the
    reference is len(x_test) random training images. Classes with fewer
    than 2 images in a set are left out.

    Args:
        scorer: a `FidLenet`.
        data: the real data (uint8 x_train, y_train, x_test, y_test).
        generated: generated images in [0, 1].
        labels: the class each generated image was asked for.
        seed: seed of the choice of training images.

    Returns:
        (mean generated-vs-train FID, mean test-vs-train FID) over the classes.

    Reference:
        Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
    """
    chosen = np.random.default_rng(seed).permutation(len(data.x_train))[: len(data.x_test)]
    sets = [  # (features, labels): generated, test, reference
        (scorer.outputs(generated)[0], np.asarray(labels).reshape(-1)),
        (scorer.outputs(to_unit_range(data.x_test))[0], data.y_test),
        (scorer.outputs(to_unit_range(data.x_train[chosen]))[0], data.y_train[chosen]),
    ]
    fake, real = [], []
    for c in range(data.num_classes):
        generated_c, test_c, reference_c = (features[classes == c] for features, classes in sets)
        n = min(len(generated_c), len(test_c), len(reference_c))
        if n < 2:  # no covariance from fewer than 2 images
            continue
        fake.append(scorer.distance(generated_c[:n], reference_c[:n]))
        real.append(scorer.distance(test_c[:n], reference_c[:n]))
    return float(np.mean(fake)), float(np.mean(real))


def per_class_label_accuracy(scorer, generated, labels, data):
    """The classifier's accuracy on the generated images of each requested class, the worst class, and the
    classifier's own accuracy on the real test images of each class (the ceiling for that class)."""
    generated_per_class = accuracy_per_class(scorer, generated, labels.reshape(-1), data.class_names)
    worst = min(generated_per_class, key=generated_per_class.get)
    return {"label_accuracy_per_class": generated_per_class, "label_accuracy_worst_class": generated_per_class[worst],
            "label_accuracy_worst_class_name": worst,
            "classifier_accuracy_real_test_per_class": accuracy_per_class(
                scorer, to_unit_range(data.x_test), data.y_test, data.class_names)}


def accuracy_per_class(scorer, images, labels, class_names):
    """{class name: the classifier's accuracy on the images of that class}."""
    return {str(name): scorer.accuracy(images[labels == index], labels[labels == index])
            for index, name in enumerate(class_names)}

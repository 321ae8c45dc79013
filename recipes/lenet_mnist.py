"""lenet-mnist: LeNet-5 (LeCun et al. 1998) on MNIST or Fashion-MNIST."""

import dataclasses

import numpy as np

from kerarch.config import ACTIVATIONS, SCHEDULES, RecipeConfig, option
from kerarch.data import load_image_classification, make_dataset, scale_images
from kerarch.data.augment import pad_crop_flip
from kerarch.data.splits import split_validation
from kerarch.frame import Recipe, register_recipe
from kerarch.vision import lenet5


@dataclasses.dataclass
class LenetMnistConfig(RecipeConfig):
    epochs: int = option(20, "Passes over the training data.", minimum=1)
    batch_size: int = option(128, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("mnist", "mnist (falls back to Fashion-MNIST offline) or fashion_mnist.",
                          choices=("mnist", "fashion_mnist"))
    activation: str = option("tanh", "Hidden activation of LeNet-5 (tanh as in the paper).", choices=ACTIVATIONS)
    validation_examples: int = option(5000, "Training examples held out for validation (best checkpoint).", minimum=1)
    train_examples: int = option(0, "Use only this many training examples (0: all); for quick runs.", minimum=0)
    shift: int = option(2, "Augmentation: shift training digits by up to this many pixels (pad and random crop; "
                           "0: none).", minimum=0)
    schedule: str = option("cosine", "Learning-rate schedule (cosine: from learning_rate to 0 over the run).",
                           choices=SCHEDULES)


@register_recipe("lenet-mnist")
class LenetMnist(Recipe):
    """LeNet-5 classifier on 28x28 digits or garments; exports float and int8 TFLite."""

    Config = LenetMnistConfig
    monitor = "val_accuracy"

    def load_data(self):
        data = load_image_classification(self.config.dataset, self.config.data_dir)
        return split_validation(data, self.config.validation_examples, self.config.train_examples, self.config.seed)

    def build_model(self, data):
        model = lenet5(input_shape=data.input_shape, num_classes=data.num_classes, activation=self.config.activation)
        model.compile(
            optimizer=self.make_optimizer(data),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=self.jit_compile,
        )
        return model

    def datasets(self, data):
        batch = self.config.batch_size
        augment = pad_crop_flip(pad=self.config.shift, flip=False) if self.config.shift else None
        train = make_dataset(data.x_train, data.y_train, batch_size=batch, shuffle=True, seed=self.config.seed,
                             map_fn=scale_images, augment_fn=augment)
        val = make_dataset(data.x_val, data.y_val, batch_size=batch, map_fn=scale_images)
        return train, val

    def evaluate(self, model, data):
        test = make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=scale_images)
        loss, accuracy = model.evaluate(test, verbose=0)
        return {"dataset": data.name, "test_loss": float(loss), "test_accuracy": float(accuracy)}

    def export_inputs(self, data):
        return np.asarray(scale_images(data.x_train[:500])), np.asarray(scale_images(data.x_test)), data.y_test

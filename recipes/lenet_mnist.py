"""lenet-mnist: LeNet-5 (LeCun et al. 1998) on MNIST or Fashion-MNIST."""

import dataclasses

from kerarch.config import ACTIVATIONS, SCHEDULES, image_dataset_option, option
from kerarch.data.augment import pad_crop_flip
from kerarch.frame import ImageClassification, register_recipe
from kerarch.frame.image_classification import ImageClassificationConfig
from kerarch.vision import lenet5


@dataclasses.dataclass
class LenetMnistConfig(ImageClassificationConfig):
    epochs: int = option(20, "Passes over the training data.", minimum=1)
    dataset: str = image_dataset_option("mnist")
    activation: str = option("tanh", "Hidden activation of LeNet-5 (tanh as in the paper).", choices=ACTIVATIONS)
    shift: int = option(2, "Augmentation: shift training digits by up to this many pixels (pad and random crop; "
                           "0: none).", minimum=0)
    schedule: str = option("cosine", "Learning-rate schedule (cosine: from learning_rate to 0 over the run).",
                           choices=SCHEDULES)
    steps_per_execution: int = option(16, "Train steps per call of the compiled train function (16 measured 0.86x "
                                      "the CPU time of 1 here: benchmarks/recipe_defaults.py).", minimum=1)


@register_recipe("lenet-mnist")
class LenetMnist(ImageClassification):
    """LeNet-5 classifier on 28x28 digits or garments; exports float and int8 TFLite."""

    Config = LenetMnistConfig

    def augmentation(self):
        shift = self.config.shift
        return pad_crop_flip(pad=shift, flip=False) if shift else None  # a mirrored digit is no digit

    def build_model(self, data):
        model = lenet5(input_shape=data.input_shape, num_classes=data.num_classes, activation=self.config.activation)
        return self.compile(model, data)

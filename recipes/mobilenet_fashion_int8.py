"""mobilenet-fashion-int8: MobileNetV2 (Sandler et al. 2018) on Fashion-MNIST, shipped as float and int8 TFLite.

The mobile target: train the network, convert it to full-integer int8 TFLite
(calibrated on training images) and report, on the whole test set, the
accuracy, size and single-image latency of each file (`MobileExportOptions`).
The 28x28 images are zero-padded to 32x32, MobileNetV2's smallest input.
Measured: README, "MobileNet for mobile".
"""

import dataclasses
import typing

from kerarch.config import INT8_GRANULARITIES, QUANTIZE_MODES, SCHEDULES, option
from kerarch.data import scale_images
from kerarch.data.augment import fit_images, pad_crop_flip
from kerarch.frame import ImageClassification, register_recipe
from kerarch.frame.image_classification import ImageClassificationConfig, MobileExportOptions
from kerarch.training.pruning import Prunable, PruningOptions
from kerarch.vision import mobilenet_v2


@dataclasses.dataclass
class MobilenetFashionInt8Config(PruningOptions, MobileExportOptions, ImageClassificationConfig):
    epochs: int = option(8, "Passes over the training data.", minimum=1)
    quantize: typing.Optional[str] = option("int8", "Quantized TFLite beside the float one (int8: full integer, the "
                                            "mobile target).", choices=(None, *QUANTIZE_MODES))
    int8_granularity: str = option("per_tensor", "int8 weight scales: per_tensor (here 26 % of the float file, no "
                                   "accuracy drop) or per_channel (30.6 %, safer).", choices=INT8_GRANULARITIES)
    jit_compile: str = option("false", "XLA: off here (it runs the depthwise convolutions about 6x slower on CPU); "
                              "auto or true on GPUs.", choices=("auto", "true", "false"))
    alpha: float = option(1.0, "MobileNetV2 width multiplier (paper: 0.35 to 1.4).", minimum=0.05)
    input_size: int = option(32, "Network input side; 28x28 images are padded (32) or resized (larger).", minimum=32)
    bn_momentum: float = option(0.99, "BatchNorm momentum (keras.applications: 0.999, for long runs).", minimum=0.0)
    learning_rate: float = option(2e-3, "Peak learning rate (warmup, then cosine decay to 0).", minimum=0.0)
    schedule: str = option("warmup_cosine", "Learning-rate schedule.", choices=SCHEDULES)
    warmup_epochs: float = option(1.0, "Linear learning-rate warmup, in epochs.", minimum=0.0)
    augment: bool = option(True, "Random 2-pixel translation and horizontal flips in tf.data.")


@register_recipe("mobilenet-fashion-int8")
class MobilenetFashionInt8(Prunable, ImageClassification):
    """MobileNetV2 on Fashion-MNIST, exported as float and full-integer int8 TFLite with accuracy, size and latency."""

    Config = MobilenetFashionInt8Config
    prune_skip = ("predictions",)

    def preprocess(self, images):
        """uint8 (…, 28, 28, 1) -> float32 in [0, 1] at input_size x input_size."""
        fit = fit_images(self.config.input_size, method="pad" if self.config.input_size == 32 else "bilinear")
        return fit(scale_images(images))

    def augmentation(self):
        return pad_crop_flip(pad=2) if self.config.augment else None

    def build_model(self, data):
        cfg = self.config
        model = mobilenet_v2(input_shape=(cfg.input_size, cfg.input_size, data.input_shape[-1]),
                             num_classes=data.num_classes, alpha=cfg.alpha, bn_momentum=cfg.bn_momentum)
        return self.compile(model, data)

    def extra_metrics(self, model, data):
        return {"params": int(model.count_params()), **super().extra_metrics(model, data)}

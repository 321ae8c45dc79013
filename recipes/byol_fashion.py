"""byol-fashion: BYOL (Grill et al. 2020) on unlabelled Fashion-MNIST, judged by a linear probe.

Pretrains a small CNN encoder by making an online network predict the projection
of the other view made by a target network, an exponential moving average of the
online one (no negatives); the SelfSupervised kind probes it beside a random and a
supervised encoder.
"""

import dataclasses

from kerarch.config import option
from kerarch.errors import KerarchError
from kerarch.frame import SelfSupervised, register_recipe
from kerarch.frame.self_supervised import SelfSupervisedConfig
from kerarch.selfsup import byol


@dataclasses.dataclass
class ByolFashionConfig(SelfSupervisedConfig):
    epochs: int = option(15, "Passes over the pretraining images.", minimum=1)
    base_decay: float = option(0.99, "tau_base of the target's moving average, rising to 1 on a cosine (paper: 0.996 "
                               "over 1000 ImageNet epochs; a short run needs a faster-moving target).", minimum=0.0)
    projection_units: int = option(256, "Hidden width of the projector and predictor (paper: 4096).", minimum=1)
    projection_dim: int = option(64, "Output size of the projector and predictor (paper: 256).", minimum=1)


@register_recipe("byol-fashion")
class ByolFashion(SelfSupervised):
    """BYOL pretraining on unlabelled Fashion-MNIST; linear probe vs random and supervised encoders."""

    Config = ByolFashionConfig

    def check_config(self):
        super().check_config()
        if self.config.base_decay > 1.0:
            raise KerarchError(f"base_decay must be at most 1, got {self.config.base_decay}.")

    def build_model(self, data):
        cfg = self.config
        model = byol(**self.encoder_kwargs(data), projection_units=cfg.projection_units,
                     projection_dim=cfg.projection_dim, prediction_units=cfg.projection_units,
                     base_decay=cfg.base_decay, total_steps=self.train_steps(data))
        return self.compile(model, data)

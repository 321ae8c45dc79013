"""simclr-fashion: SimCLR (Chen et al. 2020) on unlabelled Fashion-MNIST, judged by a linear probe.

Pretrains a small CNN encoder with the NT-Xent loss on pairs of augmented views
(random resized crop, flip, brightness/contrast jitter, blur) of unlabelled images;
the SelfSupervised kind probes it beside a random and a supervised encoder.
"""

import dataclasses

from kerarch.config import option
from kerarch.frame import SelfSupervised, register_recipe
from kerarch.frame.self_supervised import SelfSupervisedConfig
from kerarch.selfsup import simclr


@dataclasses.dataclass
class SimclrFashionConfig(SelfSupervisedConfig):
    epochs: int = option(15, "Passes over the pretraining images.", minimum=1)
    temperature: float = option(0.5, "NT-Xent temperature (paper: 0.5 on CIFAR-10).", minimum=1e-3)
    projection_units: int = option(256, "Hidden width of the projection head (paper: 2048).", minimum=1)
    projection_dim: int = option(64, "Output size of the projection head (paper: 128).", minimum=1)


@register_recipe("simclr-fashion")
class SimclrFashion(SelfSupervised):
    """SimCLR pretraining on unlabelled Fashion-MNIST; linear probe vs random and supervised encoders."""

    Config = SimclrFashionConfig

    def build_model(self, data):
        cfg = self.config
        model = simclr(**self.encoder_kwargs(data), projection_units=cfg.projection_units,
                       projection_dim=cfg.projection_dim, temperature=cfg.temperature)
        return self.compile(model, data)

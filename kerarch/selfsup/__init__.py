"""Self-supervised learning: SimCLR and BYOL.

    model = kerarch.build("simclr", input_shape=(28, 28, 1), encoder="simple_cnn")
    model.compile(optimizer="adam")
    model.fit(pairs)          # batches ((view1, view2),) from kerarch.selfsup.two_views
    features = model.encoder.predict(images)

The recipes' shared steps (pretraining, linear probes, baselines) are the
SelfSupervised kind's (kerarch.frame.self_supervised).
"""

from kerarch.selfsup.augment import gaussian_blur, random_resized_crop, random_view, two_views
from kerarch.selfsup.byol import BYOL, byol, ema_update, target_decay
from kerarch.selfsup.heads import headless_encoder, mlp_head
from kerarch.selfsup.losses import byol_loss, nt_xent
from kerarch.selfsup.simclr import SimCLR, simclr

__all__ = [
    "BYOL",
    "SimCLR",
    "byol",
    "byol_loss",
    "ema_update",
    "gaussian_blur",
    "headless_encoder",
    "mlp_head",
    "nt_xent",
    "random_resized_crop",
    "random_view",
    "simclr",
    "target_decay",
    "two_views",
]

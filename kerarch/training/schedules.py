"""Learning-rate schedules the recipes share, built from Keras 3's own.

    steps = train_steps(num_examples=45_000, batch_size=128, epochs=30)
    lr = warmup_cosine(0.1, total_steps=steps, warmup_steps=steps // 30)
    lr = step_decay(0.1, total_steps=steps)   # /10 at 50 % and 75 %, as He et al.

Both are plain `keras.optimizers.schedules` objects, so they serialise with
the optimizer and resume with its `iterations`.
"""

import math

import keras


def train_steps(*, num_examples, batch_size, epochs, steps_per_epoch=None):
    """Optimizer steps of a run: epochs x (the cap, or batches in one pass; the last may be partial)."""
    per_epoch = steps_per_epoch or math.ceil(num_examples / batch_size)
    return max(1, int(epochs) * int(per_epoch))


def warmup_cosine(peak, *, total_steps, warmup_steps=0, alpha=0.0):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then cosine decay to `alpha * peak`.

    The cosine ends exactly at `total_steps` (Keras's `CosineDecay` with
    `warmup_target`, whose decay phase starts after the warmup).

    Args:
        peak: learning rate reached at the end of the warmup.
        total_steps: optimizer steps of the whole run.
        warmup_steps: steps of the linear warmup (0: none).
        alpha: final learning rate as a fraction of `peak`.

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.
    """
    warmup_steps = int(min(max(0, warmup_steps), max(0, total_steps - 1)))
    decay_steps = max(1, int(total_steps) - warmup_steps)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps, alpha=alpha, warmup_target=peak, warmup_steps=warmup_steps
    )


def step_decay(peak, *, total_steps, milestones=(0.5, 0.75), factor=0.1):
    """`peak`, multiplied by `factor` at each milestone (a fraction of `total_steps`).

    The default is He et al.'s CIFAR schedule: 0.1, divided by 10 at 32k and
    48k of 64k iterations (50 % and 75 %).

    Returns:
        A `keras.optimizers.schedules.PiecewiseConstantDecay`.
    """
    boundaries = sorted({max(1, int(round(m * total_steps))) for m in milestones})
    values = [peak * factor**i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)

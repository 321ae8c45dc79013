"""The names behind the training keys' choices, in a module that imports no Keras.

`kerarch.config` offers them as the `choices=` of its keys, and the code that
implements each list takes its names from here: `kerarch.training.distribute`
accepts exactly `STRATEGIES`, and the optimizer and schedule registries of
`kerarch.training.optim` register exactly `OPTIMIZERS` and `SCHEDULES` (a
test checks them). The export choices (quantize modes, int8 weight
granularities) live beside their converter, in `kerarch.export.tflite`,
which imports no Keras either.
"""

# strategy= -> a note for the help, where the name alone does not say it (kerarch.training.distribute.make_strategy).
STRATEGIES = {
    "auto": "MirroredStrategy on 2+ GPUs or with devices>=2, else default",
    "mirrored": "",
    "multi_worker": "from TF_CONFIG",
    "one_device": "",
    "default": "",
}
# optimizer= names, in the order the help lists them (kerarch.training.optim.OPTIMIZERS).
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
# schedule= -> a note for the help (kerarch.training.optim.SCHEDULES).
SCHEDULES = {
    "constant": "",
    "step": "/10 at 50 % and 75 % of the run",
    "cosine": "",
    "warmup_cosine": "",
    "linear": "decay to 0, BERT",
}

"""keras.applications' conventions for every vision builder, implemented once.

`keras_application(key)` wraps a vision builder so that it takes, besides
its own arguments, keras.applications' `weights`, `input_tensor` and
`classes`:

- `weights=None` keeps the random initialisation; `weights="imagenet"`
  copies keras.applications' published ImageNet weights into the kerarch
  layout where the layouts match (`IMAGENET`); a path loads a `.weights.h5`,
  `.keras` or legacy `.h5` weights file saved by kerarch or
  keras.applications, layer by layer in order, checking every shape.
- `input_tensor=` builds the model on a Keras tensor, as keras.applications
  does: on a `keras.Input` directly; on the output of layers (e.g.
  preprocessing) the model starts at their `keras.Input` and holds the
  network as a nested model.
- `classes=` is an alias of `num_classes`.

`preprocess_input(name)` returns the function that maps 0-255 images to
what the builder's reference weights expect (`PREPROCESSING`).
"""

import contextlib
import contextvars
import functools
import inspect
import os
import textwrap
import warnings
import zipfile

import numpy as np

import keras

from kerarch.errors import KerarchError

# Registry key -> preprocessing mode of its reference weights (see `preprocess_input`).
PREPROCESSING = {
    "alexnet": "torch",
    "vgg11": "caffe",
    "vgg13": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnet18": "torch",
    "resnet34": "torch",
    "resnet50": "caffe",
    "resnet101": "caffe",
    "resnet152": "caffe",
    "resnet20": "unit",
    "resnet32": "unit",
    "resnet44": "unit",
    "resnet56": "unit",
    "resnet110": "unit",
    "inception_v1": "tf",
    "inception_v3": "tf",
    "inception_v4": "tf",
    "inception_resnet_v2": "tf",
    "mobilenet_v1": "tf",
    "mobilenet_v2": "tf",
    "mobilenet_v3_small": "tf",
    "mobilenet_v3_large": "tf",
    "vit": "tf",
    "simple_cnn": "unit",
    "lenet5": "unit",
}
MODES = {
    "caffe": "RGB -> BGR, minus the ImageNet channel means (103.939, 116.779, 123.68); no scaling",
    "tf": "scaled to [-1, 1] (x / 127.5 - 1)",
    "torch": "scaled to [0, 1], minus the ImageNet means (0.485, 0.456, 0.406), divided by the stds "
    "(0.229, 0.224, 0.225)",
    "unit": "scaled to [0, 1] (x / 255)",
}

# Registry key -> the keras.applications model with the same layout (so the same weight order; checked by
# tests/test_vision_applications.py). MobileNet v1 writes its classifier as a 1x1 convolution: same values.
IMAGENET = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
    "inception_v3": "InceptionV3",
    "inception_resnet_v2": "InceptionResNetV2",
    "mobilenet_v1": "MobileNet",
    "mobilenet_v2": "MobileNetV2",
}
# Builder arguments passed on to the keras.applications model when present.
_IMAGENET_ARGUMENTS = ("input_shape", "include_top", "alpha")

_APPLICATION_ARGS = (
    (
        "weights",
        "None (random initialisation), \"imagenet\" (keras.applications' published ImageNet weights; "
        "for {imagenet} only), or the path of a `.weights.h5`, `.keras` or `.h5` file saved from the same "
        "layout by kerarch or keras.applications (loaded layer by layer in order, shapes checked).",
    ),
    (
        "input_tensor",
        "a Keras tensor to build the model on, as keras.applications: a `keras.Input` (the network's "
        "layers are built on it), or the output of layers on one (e.g. preprocessing; the model then starts "
        "at that `keras.Input` and runs those layers and the network, as a nested model); `input_shape` "
        "follows its shape.",
    ),
    ("classes", "alias of `num_classes` (keras.applications' name)."),
)

_INPUT_TENSOR = contextvars.ContextVar("kerarch_input_tensor", default=None)


def image_input(input_shape):
    """The builder's input: `keras.Input(input_shape)`, or the `input_tensor` the caller passed."""
    tensor = _INPUT_TENSOR.get()
    return keras.Input(shape=input_shape, name="inputs") if tensor is None else tensor


def preprocess_input(name):
    """The function mapping 0-255 RGB images (B, H, W, 3) to what builder `name`'s reference weights expect.

    Modes, as keras.applications' `imagenet_utils.preprocess_input`:
    "caffe" (ResNet-50/101/152, VGG: RGB -> BGR and ImageNet mean
    subtraction), "tf" (Inception, MobileNet, ViT: [-1, 1]), "torch"
    (torchvision layouts: ResNet-18/34, AlexNet: [0, 1] then ImageNet mean
    and std), and "unit" ([0, 1], kerarch's own small models: CIFAR
    ResNets, simple_cnn, LeNet-5). `PREPROCESSING` lists every builder.

    Args:
        name: a vision builder's registry key, e.g. "resnet50".

    Returns:
        A function of a NumPy array or tensor (float or uint8) returning float32;
        NumPy inputs are not modified in place. Its `mode` attribute names the mode.

    Raises:
        KerarchError: `name` is not a vision builder.

    Example:
        >>> import numpy as np
        >>> f = kerarch.vision.preprocess_input("mobilenet_v2")
        >>> f(np.array([[[[0, 127.5, 255]]]])).tolist()
        [[[[-1.0, 0.0, 1.0]]]]
    """
    if name not in PREPROCESSING:
        raise KerarchError(f"No preprocessing known for {name!r}; vision builders: {', '.join(sorted(PREPROCESSING))}.")
    mode = PREPROCESSING[name]

    def preprocess(images):
        if isinstance(images, (np.ndarray, list, tuple, int, float)):
            images = np.array(images, dtype="float32")  # a copy: keras.applications works in place
        else:
            images = keras.ops.cast(images, "float32")
        if mode == "unit":
            return images / 255.0
        return keras.applications.imagenet_utils.preprocess_input(images, data_format="channels_last", mode=mode)

    preprocess.__name__ = f"preprocess_{name}"
    preprocess.__doc__ = f"Maps 0-255 RGB images to {name}'s input: {MODES[mode]} (mode {mode!r})."
    preprocess.mode = mode
    return preprocess


def keras_application(key):
    """Decorator giving a vision builder keras.applications' `weights`, `input_tensor` and `classes`.

    Args:
        key: the registry key, or a function of the builder's arguments
            returning it (for a family's base builder, e.g. `lambda a: f"vgg{a['depth']}"`).

    Returns:
        A decorator. The wrapped builder's signature is the builder's with
        `weights=None, input_tensor=None, classes=None` before `name`, and its
        docstring documents them.
    """

    def decorator(build):
        signature = inspect.signature(build)
        parameters = list(signature.parameters.values())
        extra = [
            inspect.Parameter(argument, inspect.Parameter.KEYWORD_ONLY, default=None)
            for argument in ("weights", "input_tensor", "classes")
        ]
        at = [p.name for p in parameters].index("name")
        signature = signature.replace(parameters=parameters[:at] + extra + parameters[at:])
        defaults = {p.name: p.default for p in parameters}

        @functools.wraps(build)
        def builder(**kwargs):
            arguments = signature.bind(**kwargs)  # an unknown keyword raises TypeError
            arguments.apply_defaults()
            arguments = dict(arguments.arguments)
            weights = arguments.pop("weights")
            input_tensor = arguments.pop("input_tensor")
            classes = arguments.pop("classes")
            name = key(arguments) if callable(key) else key
            _resolve_classes(arguments, classes, defaults, name)
            _resolve_input_tensor(arguments, input_tensor, defaults, name)
            _check_weights(weights, arguments, name)
            sources = None if input_tensor is None else keras.utils.get_source_inputs(input_tensor)
            intermediate = sources is not None and not (len(sources) == 1 and sources[0] is input_tensor)
            token = _INPUT_TENSOR.set(None if intermediate else input_tensor)
            try:
                model = build(**arguments)
            finally:
                _INPUT_TENSOR.reset(token)
            if weights == "imagenet":
                _load_imagenet(model, name, arguments)
            elif weights is not None:
                load_weights(model, weights)
            if intermediate:
                # The output of layers (e.g. preprocessing) on some keras.Input: the model starts at those
                # inputs, runs those layers, then the builder's network as one nested model.
                model = keras.Model(sources[0] if len(sources) == 1 else sources, model(input_tensor), name=model.name)
            return model

        builder.__signature__ = signature
        builder.__doc__ = _document(build.__doc__)
        return builder

    return decorator


def _document(doc):
    """Inserts the three arguments' entries before the `name:` entry of a Google-style docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("    name:"))
    entries = []
    for argument, text in _APPLICATION_ARGS:
        text = f"{argument}: " + text.format(imagenet=", ".join(IMAGENET))
        entries += textwrap.wrap(text, 80, initial_indent="    ", subsequent_indent="        ")
    lines = lines[:at] + entries + lines[at:]
    return "\n".join([lines[0]] + [f"    {line}" if line else "" for line in lines[1:]]) + "\n"


def _resolve_classes(arguments, classes, defaults, name):
    if classes is None:
        return
    if "num_classes" not in arguments:
        raise TypeError(f"{name} has no classifier: it takes no classes.")
    given = arguments["num_classes"]
    if given != defaults["num_classes"] and given != classes:
        raise ValueError(f"{name}: classes={classes} and num_classes={given} differ; pass one of them.")
    arguments["num_classes"] = classes


def _resolve_input_tensor(arguments, tensor, defaults, name):
    if tensor is None:
        return
    if not keras.backend.is_keras_tensor(tensor):
        raise ValueError(
            f"{name}: input_tensor must be a Keras tensor (from keras.Input or a layer), got {type(tensor).__name__}."
        )
    shape = tuple(tensor.shape[1:])
    given = tuple(arguments["input_shape"])
    if given != tuple(defaults["input_shape"]) and given != shape:
        raise ValueError(f"{name}: input_shape={given} differs from input_tensor's shape {shape}.")
    arguments["input_shape"] = shape


def _check_weights(weights, arguments, name):
    """Fails before building when `weights` cannot work."""
    if weights is None:
        return
    if weights == "imagenet":
        if name not in IMAGENET:
            raise KerarchError(
                f"weights='imagenet': no published ImageNet weights match {name}'s layout; they exist for "
                f"{', '.join(IMAGENET)}. Pass weights=None or the path of a weights file."
            )
        if arguments.get("include_top", True) and arguments.get("num_classes") != 1000:
            raise KerarchError(
                f"weights='imagenet' with include_top=True needs num_classes=1000 (ImageNet's classes), got "
                f"{arguments.get('num_classes')}; for a new head build with include_top=False and add your own."
            )
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise KerarchError(f"weights must be None, 'imagenet' or a file path, got {weights!r}.")
    if not os.path.exists(weights):
        raise KerarchError(f"weights file {os.fspath(weights)!r} does not exist (weights: None, 'imagenet' or a path).")


def _load_imagenet(model, name, arguments):
    """Copies keras.applications' ImageNet weights for `name` into `model`, layer by layer."""
    application = IMAGENET[name]
    kwargs = {k: arguments[k] for k in _IMAGENET_ARGUMENTS if k in arguments}
    call = f"keras.applications.{application}(weights='imagenet', " + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    try:
        with _downloads_allowed(_downloads_on()):
            reference = getattr(keras.applications, application)(weights="imagenet", **kwargs)
    except Exception as error:  # noqa: BLE001 - offline, a bad shape, ...: all reach the user as one message
        raise KerarchError(
            f"weights='imagenet' for {name}: tried {call}), which downloads keras.applications' published weights "
            f"into $KERAS_HOME/models (default ~/.keras/models), and it failed: {_sentence(error)} "
            "Without network access, download the file on another machine, copy it into that folder (or pass its "
            "path as weights=...), or use weights=None."
        ) from None
    _assign(model, _weighted_layers(reference), origin=f"{call})")


def _downloads_on():
    """False when the environment sets KERARCH_OFFLINE=1 (or true, yes), as for kerarch's data sets."""
    return os.environ.get("KERARCH_OFFLINE", "").lower() not in ("1", "true", "yes")


@contextlib.contextmanager
def _downloads_allowed(allowed):
    """With `allowed` False, Keras' `get_file` finds cached files but downloads nothing."""
    if allowed:
        yield
        return
    from keras.src.utils import file_utils  # noqa: PLC0415 - the one place Keras downloads

    def refuse(url, *args, **kwargs):
        raise OSError(f"downloads are off (KERARCH_OFFLINE=1); would fetch {url}")

    original = file_utils.urlretrieve
    file_utils.urlretrieve = refuse
    try:
        yield
    finally:
        file_utils.urlretrieve = original


def load_weights(model, path):
    """Loads a weights file saved by kerarch or keras.applications into `model`, layer by layer in order.

    `.keras` files are opened as models (without kerarch) and their layers
    with weights copied in order; legacy `.h5` files (keras.applications'
    downloads) are read in their stored layer order; Keras 3 `.weights.h5`
    files are matched as Keras does (layers of each type in order). Every
    shape is checked; a weight stored with extra unit axes (a 1x1 conv
    kernel for a dense one) is reshaped.

    Args:
        model: the model to fill.
        path: the weights file.

    Raises:
        KerarchError: the file cannot be read or does not fit `model`.
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        try:
            source_model = keras.saving.load_model(path, compile=False)
        except Exception as error:  # noqa: BLE001
            raise KerarchError(f"Could not open {path!r} as a Keras model to copy its weights: {error}") from None
        _assign(model, _weighted_layers(source_model), origin=path)
        return
    import h5py  # noqa: PLC0415 - only weights files need it

    try:
        with h5py.File(path, "r") as file:
            legacy = "layer_names" in file.attrs or "model_weights" in file
            source = _legacy_h5_layers(file) if legacy else None
    except OSError as error:
        raise KerarchError(f"Could not read weights file {path!r}: {error}") from None
    if source is not None:
        _assign(model, source, origin=path)
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(path)
        skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
        if skipped:  # Keras left some layers as initialised: a partial load is a mismatch
            raise ValueError(skipped[0])
    except Exception as error:  # noqa: BLE001
        raise KerarchError(
            f"Weights file {path!r} does not fit {model.name} ({_count(model)} layers with weights): {_sentence(error)} "
            "A Keras .weights.h5 file is matched layer type by layer type in order, so it must come from the "
            "same layout (same include_top, input channels, classes and widths)."
        ) from None


def _legacy_h5_layers(file):
    """[(layer name, [arrays])] of a Keras 2 / keras.applications `.h5` file, in its stored layer order."""
    group = file["model_weights"] if "model_weights" in file else file
    layers = []
    for layer_name in group.attrs["layer_names"]:
        layer_name = layer_name.decode() if isinstance(layer_name, bytes) else layer_name
        weight_names = group[layer_name].attrs.get("weight_names", [])
        arrays = [np.asarray(group[layer_name][n.decode() if isinstance(n, bytes) else n]) for n in weight_names]
        if arrays:
            layers.append((layer_name, arrays))
    return layers


def _weighted_layers(model):
    """[(layer name, [arrays])] of a model's layers with weights, in order."""
    return [(layer.name, [np.asarray(w) for w in layer.weights]) for layer in model.layers if layer.weights]


def _sentence(error):
    """An exception's message ending with a full stop, to be followed by our advice."""
    text = str(error).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _count(model):
    return sum(1 for layer in model.layers if layer.weights)


def _assign(model, source, *, origin):
    """Copies `source` ([(label, [arrays])], layer order) into `model`'s layers with weights, all or nothing."""
    targets = [layer for layer in model.layers if layer.weights]
    if len(source) != len(targets):
        # A whole model's file may fill a headless model: its extra layers (the head) come last.
        headless = len(source) > len(targets) and all(
            _fits(layer, arrays) for layer, (_, arrays) in zip(targets, source)
        )
        if not headless:
            raise KerarchError(
                f"{origin} does not fit {model.name}: it has {len(source)} layers with weights, the model "
                f"{len(targets)}. Build the model with the same arguments (include_top, classes, widths) as the file."
            )
    for i, (layer, (label, arrays)) in enumerate(zip(targets, source), start=1):
        if not _fits(layer, arrays):
            raise KerarchError(
                f"{origin} does not fit {model.name}: layer {i} with weights, {label!r} "
                f"{[tuple(a.shape) for a in arrays]}, does not match {layer.name!r} "
                f"{[tuple(w.shape) for w in layer.weights]}. Build the model with the same arguments "
                "(input channels, include_top, classes, widths) as the file."
            )
    for layer, (_, arrays) in zip(targets, source):
        for weight, array in zip(layer.weights, arrays):
            weight.assign(np.reshape(array, weight.shape).astype(weight.dtype))


def _fits(layer, arrays):
    """Same number of weights, and shapes equal up to unit axes."""
    return len(arrays) == len(layer.weights) and all(
        _squeezed(a.shape) == _squeezed(w.shape) for a, w in zip(arrays, layer.weights)
    )


def _squeezed(shape):
    return tuple(int(d) for d in shape if d != 1)

"""Computer-vision builders: LeNet-5 to ViT, with keras.applications' arguments (`weights`,
`input_tensor`, `classes`) and `preprocess_input(name)`; see `kerarch.vision.applications`.
"""

from kerarch.vision.lenet import lenet5  # noqa: F401
from kerarch.vision.alexnet import alexnet  # noqa: F401,E402
from kerarch.vision.vgg import vgg11, vgg13, vgg16, vgg19  # noqa: F401,E402
from kerarch.vision.resnet import (  # noqa: F401,E402
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnet20,
    resnet32,
    resnet44,
    resnet56,
    resnet110,
)
from kerarch.vision.inception import inception_v1, inception_v3, inception_v4  # noqa: F401,E402
from kerarch.vision.inception_resnet import inception_resnet_v2  # noqa: F401,E402
from kerarch.vision.mobilenet import (  # noqa: F401,E402
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from kerarch.vision.vit import vit  # noqa: F401,E402
from kerarch.vision.simple_cnn import simple_cnn  # noqa: F401,E402
from kerarch.vision.applications import preprocess_input  # noqa: F401,E402

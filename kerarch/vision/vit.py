"""Vision Transformer (ViT) with the paper's Ti/S/B/L/H configurations."""

import re

import keras
from keras import layers
from keras import ops

from kerarch.registry import register_builder
from kerarch.vision.applications import image_input, keras_application

# size -> (hidden size D, layers, heads, MLP size): Table 1 of Dosovitskiy et al.
# (Ti and S from Touvron et al.'s DeiT / Steiner et al.'s "How to train your ViT").
VIT_SIZES = {
    "ti": (192, 12, 3, 768),
    "s": (384, 12, 6, 1536),
    "b": (768, 12, 12, 3072),
    "l": (1024, 24, 16, 4096),
    "h": (1280, 32, 16, 5120),
}
_POOLINGS = (None, "token", "avg", "max")


def class_token_and_position_embedding(x, *, num_tokens, name):
    """Prepends a learned class token and adds learned position embeddings.

    (B, N, D) -> (B, N + 1, D), from stock layers only, so a saved model
    loads with Keras and keras-hub alone: the class token is a one-row
    `keras.layers.Embedding` looked up at index 0 (`{name}_class_token`,
    weight (1, D)), the positions keras-hub's `PositionEmbedding`
    (`{name}_position`, weight (N + 1, D)); the sum is the layer `{name}`.
    Both weights are drawn from N(0, 0.02) by one initializer, as ViT does.

    Args:
        x: patch tokens (B, N, D).
        num_tokens: N.
        name: prefix of the layer names.

    Returns:
        Tokens (B, N + 1, D).
    """
    from keras_hub.layers import PositionEmbedding  # noqa: PLC0415 - keras-hub loads only when a ViT is built

    dim = x.shape[-1]
    init = keras.initializers.RandomNormal(stddev=0.02)
    index = ops.zeros_like(x[:, :1, 0], dtype="int32")  # (B, 1), all 0
    token = layers.Embedding(1, dim, embeddings_initializer=init, name=f"{name}_class_token")(index)  # (B, 1, D)
    x = layers.Concatenate(axis=1, name=f"{name}_concat")([token, x])  # (B, N + 1, D)
    positions = PositionEmbedding(num_tokens + 1, initializer=init, name=f"{name}_position")(x)
    return layers.Add(name=name)([x, positions])


def parse_variant(variant):
    """ "b16" -> ("b", 16); the patch size may be omitted ("b" -> ("b", None))."""
    match = re.fullmatch(r"(ti|s|b|l|h)(\d*)", variant.lower())
    if not match:
        raise ValueError(f"Unknown ViT variant {variant!r}; expected e.g. 'ti16', 's16', 'b16', 'b32', 'l16', 'h14'.")
    size, patch = match.groups()
    return size, int(patch) if patch else None


def transformer_encoder_block(x, *, num_heads, mlp_dim, dropout_rate=0.0, attention_dropout=0.0, epsilon=1e-6, name):
    """Pre-norm Transformer encoder block: x + MHA(LN(x)); x + MLP(LN(x)).

    Args:
        x: tokens (B, T, D).
        num_heads: attention heads (D must divide by it).
        mlp_dim: hidden width of the GELU MLP.
        dropout_rate: dropout after attention and in the MLP.
        attention_dropout: dropout on the attention weights.
        epsilon: LayerNormalization epsilon.
        name: prefix, e.g. "block3".

    Returns:
        Tokens (B, T, D).
    """
    dim = x.shape[-1]
    y = layers.LayerNormalization(epsilon=epsilon, name=f"{name}_ln1")(x)
    y = layers.MultiHeadAttention(
        num_heads, key_dim=dim // num_heads, dropout=attention_dropout, name=f"{name}_attention"
    )(y, y)
    y = layers.Dropout(dropout_rate, name=f"{name}_attention_dropout")(y)
    x = layers.Add(name=f"{name}_attention_add")([x, y])
    y = layers.LayerNormalization(epsilon=epsilon, name=f"{name}_ln2")(x)
    y = layers.Dense(mlp_dim, activation="gelu", name=f"{name}_mlp_dense1")(y)
    y = layers.Dropout(dropout_rate, name=f"{name}_mlp_dropout1")(y)
    y = layers.Dense(dim, name=f"{name}_mlp_dense2")(y)
    y = layers.Dropout(dropout_rate, name=f"{name}_mlp_dropout2")(y)
    return layers.Add(name=f"{name}_mlp_add")([x, y])


@register_builder("vit")
@keras_application("vit")
def vit(
    *,
    input_shape=(224, 224, 3),
    num_classes=1000,
    include_top=True,
    pooling=None,
    variant="b16",
    patch_size=None,
    hidden_dim=None,
    num_layers=None,
    num_heads=None,
    mlp_dim=None,
    dropout_rate=0.0,
    attention_dropout=0.0,
    classifier_activation="softmax",
    name="vit",
):
    """Vision Transformer: patch embedding, class token, pre-norm encoder.

    The image is cut into PxP patches by a PxP/P convolution (the linear
    patch projection), a class token is prepended and learned position
    embeddings added; L pre-norm encoder blocks (multi-head self-attention
    and a GELU MLP) and a final LayerNorm follow. The head is one dense
    layer on the class token (the fine-tuning head). The headless model
    (`include_top=False`) is exactly keras-hub's `ViTBackbone` (class token,
    position embedding, final LayerNorm): 85,798,656 parameters for B/16 at
    224x224x3. Works on small images with a small patch, e.g. 32x32 with
    `patch_size=4` (65 tokens). Smallest input: one patch.

    Preprocessing: `kerarch.vision.preprocess_input("vit")`, mode "tf": [-1, 1],
    as keras-hub's ViT presets.

    Args:
        input_shape: (height, width, channels), each side divisible by the patch size.
        num_classes: classes of the classifier.
        include_top: with False the model returns the encoder's output.
        pooling: headless only: None (all tokens, (B, N + 1, D)), "token"
            (the class token), "avg" or "max" (over tokens).
        variant: size and patch, e.g. "ti16", "s16", "b16", "b32", "l16", "h14".
        patch_size: overrides the variant's patch size (e.g. 4 for 32x32 images).
        hidden_dim: overrides the variant's token width D.
        num_layers: overrides the variant's number of encoder blocks.
        num_heads: overrides the variant's attention heads (must divide D).
        mlp_dim: overrides the variant's MLP width.
        dropout_rate: dropout on the embeddings, after attention and in the MLPs.
        attention_dropout: dropout on the attention weights.
        classifier_activation: activation of the output layer (None: logits).
        name: model name.

    Returns:
        A functional `keras.Model`.

    Example:
        >>> model = kerarch.build("vit", variant="ti16", patch_size=4, input_shape=(32, 32, 3), classes=10)
        >>> model.output_shape
        (None, 10)

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for
        Image Recognition at Scale", ICLR 2021.
    """
    size, variant_patch = parse_variant(variant)
    patch = patch_size or variant_patch
    if patch is None:
        raise ValueError(f"Variant {variant!r} names no patch size; pass patch_size.")
    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be one of {_POOLINGS}, got {pooling!r}.")
    if include_top and (num_classes is None or num_classes < 1):
        raise ValueError(f"include_top=True needs num_classes >= 1, got {num_classes!r}.")
    height, width = input_shape[:2]
    if height is None or width is None or height % patch or width % patch:
        raise ValueError(f"Input sides {height}x{width} must be known and divisible by the patch size {patch}.")
    sizes = [given or default for given, default in zip((hidden_dim, num_layers, num_heads, mlp_dim), VIT_SIZES[size])]
    dim, depth, heads, mlp_dim = sizes
    if dim % heads:
        raise ValueError(f"hidden_dim {dim} must be divisible by num_heads {heads}.")
    num_patches = (height // patch) * (width // patch)

    inputs = image_input(input_shape)
    x = layers.Conv2D(dim, patch, strides=patch, name="patch_embedding")(inputs)  # (B, H/P, W/P, D)
    x = layers.Reshape((num_patches, dim), name="patch_tokens")(x)  # (B, N, D)
    x = class_token_and_position_embedding(x, num_tokens=num_patches, name="embedding")  # (B, N + 1, D)
    x = layers.Dropout(dropout_rate, name="embedding_dropout")(x)
    for i in range(1, depth + 1):
        x = transformer_encoder_block(
            x,
            num_heads=heads,
            mlp_dim=mlp_dim,
            dropout_rate=dropout_rate,
            attention_dropout=attention_dropout,
            name=f"block{i}",
        )
    x = layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    if include_top or pooling == "token":
        x = layers.Cropping1D((0, num_patches), name="class_token_crop")(x)  # (B, 1, D)
        x = layers.Flatten(name="class_token")(x)  # (B, D)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling1D(name="max_pool")(x)
    if include_top:
        x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)

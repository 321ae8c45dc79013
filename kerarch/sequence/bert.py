"""BERT (encoder, pretraining heads, classifier) and DistilBERT.

Layer names and layouts are keras-hub's `BertBackbone` / `DistilBertBackbone`
ones, so parameter counts agree exactly and preset weights copy layer by layer.
"""

import keras
import keras_hub
from keras import layers, ops

from kerarch.registry import register_builder
from kerarch.errors import KerarchError
from kerarch.sequence.common import (
    bias_add,
    checked_architecture,
    copy_weights,
    gelu_approximate,
    load_preset,
    preset_architecture,
    resolve_config,
)
from kerarch.variants import Variant, register_variants

# The BERT sizes of Devlin et al. (base, large) and Turc et al. 2019 (tiny ... medium).
BERT_CONFIGS = {
    "tiny": dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512),
    "mini": dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024),
    "small": dict(num_layers=4, num_heads=8, hidden_dim=512, intermediate_dim=2048),
    "medium": dict(num_layers=8, num_heads=8, hidden_dim=512, intermediate_dim=2048),
    "base": dict(num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072),
    "large": dict(num_layers=24, num_heads=16, hidden_dim=1024, intermediate_dim=4096),
}
_BERT_DEFAULTS = dict(vocabulary_size=30522, max_sequence_length=512, num_segments=2)
# The encoder's layers besides its transformer layers: what pretrained weights are copied into.
_ENCODER_LAYERS = (
    "token_embedding", "position_embedding", "segment_embedding", "embeddings_layer_norm", "pooled_dense"
)
_ARCHITECTURE = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim", "max_sequence_length")
DISTILBERT_CONFIG = dict(
    vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=768, intermediate_dim=3072, max_sequence_length=512
)


def _init():
    return keras.initializers.TruncatedNormal(stddev=0.02)


def _bert_architecture(config, pretrained, overrides):
    """(architecture dict, model to copy weights from or None) for the bert builders."""
    if pretrained is None:
        configs = {key: {**_BERT_DEFAULTS, **value} for key, value in BERT_CONFIGS.items()}
        return resolve_config("bert", configs, config, **overrides), None
    if isinstance(pretrained, keras.Model):
        architecture = bert_model_architecture(pretrained)
        return checked_architecture(architecture, overrides, source="pretrained model"), pretrained
    backbone = load_preset(keras_hub.models.BertBackbone, pretrained)
    return preset_architecture(backbone, _ARCHITECTURE + ("num_segments",), overrides), backbone


def bert_model_architecture(model):
    """The `build_bert` sizes of a BERT model with keras-hub's layer names (a kerarch `bert*` model, a BertBackbone).

    Read from its layers: vocabulary and width from `token_embedding`,
    positions from `position_embedding`, segments from `segment_embedding`,
    depth, heads and feed-forward width from the `transformer_layer_<i>`.

    Raises:
        KerarchError: `model` lacks one of those layers (it is no BERT).
    """
    names = {layer.name for layer in model.layers}
    missing = [name for name in _ENCODER_LAYERS + ("transformer_layer_0",) if name not in names]
    if missing:
        raise KerarchError(f"Model {model.name!r} is not a BERT encoder: it has no layer {', '.join(missing)} "
                           "(kerarch's bert builders and keras-hub's BertBackbone have them).")
    tokens, first = model.get_layer("token_embedding"), model.get_layer("transformer_layer_0")
    return dict(
        vocabulary_size=tokens.input_dim, hidden_dim=tokens.output_dim,
        num_layers=sum(1 for name in names if name.startswith("transformer_layer_")),
        num_heads=first.num_heads, intermediate_dim=first.intermediate_dim,
        max_sequence_length=model.get_layer("position_embedding").sequence_length,
        num_segments=model.get_layer("segment_embedding").input_dim,
    )


def _bert_encoder(*, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, dropout,
                  max_sequence_length, num_segments):
    """BERT inputs, (B, T, H) sequence output, (B, H) pooled output and the token embedding."""
    inputs = {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
    }
    token_embedding = layers.ReversibleEmbedding(
        vocabulary_size, hidden_dim, embeddings_initializer=_init(), name="token_embedding"
    )
    tokens = token_embedding(inputs["token_ids"])  # (B, T, H)
    positions = keras_hub.layers.PositionEmbedding(
        max_sequence_length, initializer=_init(), name="position_embedding"
    )(tokens)
    segments = layers.Embedding(num_segments, hidden_dim, embeddings_initializer=_init(), name="segment_embedding")(
        inputs["segment_ids"]
    )
    x = layers.Add(name="embeddings_add")((tokens, positions, segments))
    x = layers.LayerNormalization(epsilon=1e-12, name="embeddings_layer_norm")(x)
    x = layers.Dropout(dropout, name="embeddings_dropout")(x)
    for i in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            activation=gelu_approximate,
            layer_norm_epsilon=1e-12,
            kernel_initializer=_init(),
            name=f"transformer_layer_{i}",
        )(x, padding_mask=inputs["padding_mask"])
    # The pooled output: a tanh dense layer on the [CLS] (first) token.
    pooled = layers.Dense(hidden_dim, activation="tanh", kernel_initializer=_init(), name="pooled_dense")(x[:, 0, :])
    return inputs, x, pooled, token_embedding


def _pretraining_head(inputs, sequence, pooled, embedding):
    """Masked-LM and next-sentence logits; adds the `mask_positions` input."""
    inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
    # MaskedLMHead's computation spelled out with plain layers (why: see common.bias_add).
    x = ops.take_along_axis(sequence, ops.expand_dims(inputs["mask_positions"], -1), axis=1)  # (B, M, H)
    x = layers.Dense(embedding.output_dim, activation="gelu", kernel_initializer=_init(), name="mlm_dense")(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="mlm_layer_norm")(x)
    x = embedding(x, reverse=True)  # (B, M, V), tied to the input embedding
    mlm_logits = bias_add(x, name="mlm_bias")
    nsp_logits = layers.Dense(2, kernel_initializer=_init(), name="nsp_logits")(pooled)
    return {"mlm_logits": mlm_logits, "nsp_logits": nsp_logits}


def build_bert(
    *,
    head,
    num_classes=2,
    activation="softmax",
    config="base",
    vocabulary_size=None,
    num_layers=None,
    num_heads=None,
    hidden_dim=None,
    intermediate_dim=None,
    max_sequence_length=None,
    dropout=0.1,
    num_segments=None,
    pretrained=None,
    name=None,
):
    """BERT encoder with one of its heads.

    The encoder: token + position + segment embeddings and post-LN
    Transformer encoder layers over the inputs `token_ids`, `segment_ids`
    and `padding_mask` (1 at real tokens), all (B, T) int. Its pooled output
    (B, H) is a tanh dense layer on the first ([CLS]) token. Same layout and
    parameter count as keras-hub's `BertBackbone`: tiny 4,385,920, mini
    11,170,560, small 28,763,648, medium 41,373,184, base 109,482,240,
    large 335,141,888 (30,522-token vocabulary, 512 positions).

    Args:
        head: None (the encoder's outputs), "pretraining" or "classifier".
        num_classes: classes of the classifier.
        activation: output activation of the classifier; None gives logits.
        config: "tiny", "mini", "small", "medium", "base" or "large".
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
            max_sequence_length, num_segments: override the config's value
            (30,522 tokens, 512 positions, 2 segments) when set.
        dropout: dropout rate of embeddings, attention and residuals.
        pretrained: the encoder weights to start from, which also fix the
            architecture: a keras-hub BERT preset name ("bert_tiny_en_uncased",
            ...) or local preset directory (KerarchError if unreachable), or
            a BERT `keras.Model` with keras-hub's layer names -- a kerarch
            `bert` / `bert_pretraining` model, e.g. a bert-pretrain-mlm run's
            encoder.keras (`bert_model_architecture` reads its sizes). The
            encoder layers' weights are copied; the heads start fresh.
        name: model name (default `bert` or `bert_{head}`, the registry key).

    Returns:
        A functional `keras.Model` with dict inputs.

    Reference:
        Devlin, Chang, Lee & Toutanova, "BERT: Pre-training of Deep
        Bidirectional Transformers for Language Understanding", NAACL 2019.
        Turc, Chang, Lee & Toutanova, "Well-Read Students Learn Better",
        2019 (the tiny to medium sizes).
    """
    if head not in (None, "pretraining", "classifier"):
        raise ValueError(f"head must be None, 'pretraining' or 'classifier', got {head!r}.")
    overrides = dict(
        vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length, num_segments=num_segments,
    )
    architecture, backbone = _bert_architecture(config, pretrained, overrides)
    inputs, sequence, pooled, embedding = _bert_encoder(dropout=dropout, **architecture)
    if head is None:
        outputs = {"sequence_output": sequence, "pooled_output": pooled}
    elif head == "pretraining":
        outputs = _pretraining_head(inputs, sequence, pooled, embedding)
    else:
        x = layers.Dropout(dropout, name="classifier_dropout")(pooled)
        outputs = layers.Dense(num_classes, activation=activation, kernel_initializer=_init(), name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name or ("bert" if head is None else f"bert_{head}"))
    if backbone is not None:
        encoder_layers = [*_ENCODER_LAYERS, *(f"transformer_layer_{i}" for i in range(architecture["num_layers"]))]
        copy_weights(backbone, model, encoder_layers)
    return model


BERT_MODELS = {
    "bert": Variant(
        """BERT encoder: token + position + segment embeddings, post-LN Transformer encoder layers.

        Outputs `sequence_output` (B, T, H) and `pooled_output` (B, H).
        """,
        fixed=dict(head=None, num_classes=None, activation=None),
    ),
    "bert_pretraining": Variant(
        """BERT with its two pretraining heads: masked LM and next-sentence prediction.

        Inputs: the `bert` inputs plus `mask_positions` (B, M), the indices of
        the masked tokens. Outputs: `mlm_logits` (B, M, V) -- dense + GELU +
        layer norm at the masked positions, then the token embedding transposed
        (tied) plus an output bias, the layout of keras-hub's `MaskedLMHead` in
        `BertMaskedLM` -- and `nsp_logits` (B, 2) from the pooled output
        (IsNext / NotNext). Parameters: the encoder's + H*H + 3H + V (masked LM)
        + 2H + 2 (NSP); base: 110,106,428.
        """,
        fixed=dict(head="pretraining", num_classes=None, activation=None),
    ),
    "bert_classifier": Variant(
        """BERT with a sequence-classification head: dropout and dense on the pooled output.

        The fine-tuning setup of the paper (and keras-hub's `BertTextClassifier`):
        class scores (B, num_classes) from the pooled [CLS] representation.
        Parameters: the encoder's + (H + 1) * num_classes.
        """,
        fixed=dict(head="classifier"),
    ),
}

globals().update(register_variants(build_bert, BERT_MODELS))


@register_builder("distilbert")
def distilbert(
    *,
    vocabulary_size=None,
    num_layers=None,
    num_heads=None,
    hidden_dim=None,
    intermediate_dim=None,
    max_sequence_length=None,
    dropout=0.1,
    pretrained=None,
    name="distilbert",
):
    """DistilBERT: BERT-base halved in depth, without segment embeddings or pooler.

    Inputs `token_ids` and `padding_mask` (B, T); output the (B, T, H)
    sequence output. Same layout and count as keras-hub's
    `DistilBertBackbone`: 66,362,880 parameters for the defaults.

    Args:
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
            max_sequence_length: override DistilBERT-base's value (30,522,
            6, 12, 768, 3,072, 512) when set.
        dropout: dropout rate of embeddings, attention and residuals.
        pretrained: a keras-hub DistilBERT preset ("distil_bert_base_en_uncased")
            or local preset directory; fixes the architecture (KerarchError if
            unreachable).
        name: model name.

    Returns:
        A functional `keras.Model` with dict inputs.

    Reference:
        Sanh, Debut, Chaumond & Wolf, "DistilBERT, a distilled version of
        BERT: smaller, faster, cheaper and lighter", 2019.
    """
    overrides = dict(vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads,
                     hidden_dim=hidden_dim, intermediate_dim=intermediate_dim, max_sequence_length=max_sequence_length)
    backbone = None
    if pretrained is None:
        architecture = resolve_config("distilbert", {"base": DISTILBERT_CONFIG}, "base", **overrides)
    else:
        backbone = load_preset(keras_hub.models.DistilBertBackbone, pretrained)
        architecture = preset_architecture(backbone, _ARCHITECTURE, overrides)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=architecture["vocabulary_size"],
        sequence_length=architecture["max_sequence_length"],
        embedding_dim=architecture["hidden_dim"],
        embeddings_initializer=_init(),
        name="token_and_position_embedding",
    )(token_ids)
    x = layers.LayerNormalization(epsilon=1e-12, name="embeddings_layer_norm")(x)
    x = layers.Dropout(dropout, name="embeddings_dropout")(x)
    for i in range(architecture["num_layers"]):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=architecture["intermediate_dim"],
            num_heads=architecture["num_heads"],
            dropout=dropout,
            activation="gelu",
            layer_norm_epsilon=1e-12,
            kernel_initializer=_init(),
            name=f"transformer_layer_{i}",
        )(x, padding_mask=padding_mask)
    model = keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, x, name=name)
    if backbone is not None:
        names = ["token_and_position_embedding", "embeddings_layer_norm"]
        copy_weights(backbone, model, names + [f"transformer_layer_{i}" for i in range(architecture["num_layers"])])
    return model

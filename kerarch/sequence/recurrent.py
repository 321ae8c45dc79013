"""Stacked recurrent networks: Elman RNN, LSTM and GRU.

One generic builder (`build_recurrent`) takes the cell; `simple_rnn`, `lstm`
and `gru` are its registered variants (kerarch.variants). Each builds a
sequence classifier over token ids (`task="classify"`) or a forecaster over
float series (`task="forecast"`).
"""

import keras
from keras import layers

from kerarch.variants import Variant, register_variants

_CELLS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
_TASKS = ("classify", "forecast")


def build_recurrent(
    *,
    cell,
    task="classify",
    vocabulary_size=20000,
    embedding_dim=128,
    sequence_length=None,
    num_classes=2,
    activation="softmax",
    input_shape=(None, 1),
    horizon=1,
    num_targets=None,
    units=128,
    num_layers=1,
    dropout=0.0,
    embedding_dropout=0.0,
    bidirectional=False,
    pooling="last",
    name=None,
):
    """Stacked, optionally bidirectional recurrent network with the given `cell`.

    `task="classify"`: token ids (B, T) -> embedding (id 0 is padding and is
    masked) -> `num_layers` recurrent layers -> class probabilities
    (B, num_classes). `task="forecast"`: a float series (B, T, features) ->
    the recurrent stack -> the next `horizon` steps (B, horizon, num_targets).
    Inner layers return sequences; the last returns its final state. With
    `bidirectional=True` each layer runs forwards and backwards and
    concatenates both (2 * units features). Dropout sits between layers (on
    the non-recurrent connections, as Zaremba et al. 2014).

    Args:
        cell: "simple_rnn" (Elman), "lstm" or "gru".
        task: "classify" or "forecast".
        vocabulary_size: token ids are in [0, vocabulary_size); 0 is padding.
        embedding_dim: width of the token embedding (classify).
        sequence_length: fixed length of the token sequences, or None (classify).
        num_classes: classes of the classifier.
        activation: activation of the classifier output; None gives logits.
        input_shape: (timesteps, features) of the series; timesteps may be None (forecast).
        horizon: number of future steps predicted (forecast).
        num_targets: features predicted per step; None means all input features (forecast).
        units: hidden units per layer and direction.
        num_layers: recurrent layers stacked.
        dropout: dropout rate after each recurrent layer (0 disables it).
        embedding_dropout: rate at which whole embedding channels are
            dropped for a sequence (classify; SpatialDropout1D, Gal &
            Ghahramani 2016); 0 disables it.
        bidirectional: run every layer in both directions (Schuster & Paliwal 1997).
        pooling: what the classifier reads (classify): "last", the last
            layer's final state; "mean", the mean of its outputs over the
            real (unmasked) tokens.
        name: model name (default `cell`, the registry key).

    Returns:
        A functional `keras.Model`; layers `<cell>1`, `<cell>2`, ... (wrapped
        as `<cell>1_bidirectional` when bidirectional), e.g. `lstm1`.

    Reference:
        Schuster & Paliwal, "Bidirectional Recurrent Neural Networks", IEEE
        Transactions on Signal Processing, 1997.
        Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in
        Recurrent Neural Networks", NeurIPS 2016 (embedding dropout).
    """
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {tuple(_CELLS)}, got {cell!r}.")
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}.")
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}.")
    if pooling not in ("last", "mean"):
        raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}.")
    pooled = task == "classify" and pooling == "mean"
    if task == "classify":
        inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")  # (B, T)
        # Id 0 is padding: the mask makes every recurrent layer skip it, so a
        # padded sequence gives the same output as the unpadded one.
        x = layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
        if embedding_dropout:
            # Whole embedding channels dropped for the entire sequence (Gal & Ghahramani 2016).
            x = layers.SpatialDropout1D(embedding_dropout, name="embedding_dropout")(x)
    else:
        inputs = keras.Input(shape=input_shape, name="series")  # (B, T, features)
        x = inputs
    for i in range(1, num_layers + 1):
        # All but the last layer hand their whole sequence to the next one.
        rnn = _CELLS[cell](units, return_sequences=i < num_layers or pooled, name=f"{cell}{i}")
        if bidirectional:
            # Forward and backward states concatenated: 2 * units features.
            rnn = layers.Bidirectional(rnn, merge_mode="concat", name=f"{cell}{i}_bidirectional")
        x = rnn(x)  # (B, T, units) inside the stack, (B, units) after the last layer
        if dropout:
            x = layers.Dropout(dropout, name=f"{cell}{i}_dropout")(x)
    if pooled:
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)  # masked: the mean over the real tokens
    if task == "classify":
        outputs = layers.Dense(num_classes, activation=activation, name="predictions")(x)
    else:
        num_targets = input_shape[-1] if num_targets is None else num_targets
        x = layers.Dense(horizon * num_targets, name="forecast_dense")(x)
        outputs = layers.Reshape((horizon, num_targets), name="forecast")(x)  # (B, horizon, targets)
    return keras.Model(inputs, outputs, name=name or cell)


RECURRENT_NETWORKS = {
    "simple_rnn": Variant(
        """Elman recurrent network (SimpleRNN): stacked, optionally bidirectional.

        Cell: Elman, "Finding Structure in Time", Cognitive Science, 1990.
        """,
        fixed=dict(cell="simple_rnn"),
    ),
    "lstm": Variant(
        """Long short-term memory network: stacked, optionally bidirectional.

        Cell: Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation, 1997.
        """,
        fixed=dict(cell="lstm"),
    ),
    "gru": Variant(
        """Gated recurrent unit network: stacked, optionally bidirectional.

        Cell: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation", EMNLP 2014.
        """,
        fixed=dict(cell="gru"),
    ),
}

globals().update(register_variants(build_recurrent, RECURRENT_NETWORKS))

"""The sequence-to-sequence recipe kinds: a source sequence in, a target sequence out, scored against baselines.

`SequenceToSequence` is their shared part: data with `x_train`, `y_train`,
`x_val`, `y_val`, `x_test`, `y_test` arrays (sources and targets), batched
through `model_pairs` (a tf.data map of one pair to the model's (inputs,
labels); None: the pair as it is), gradients clipped by `clipnorm`, and an
export compared on outputs for the inputs `export_view(x, y)`.

`Translation` (transformer-seq2seq): character targets [START] ... [END]
decoded greedily and with beam search, scored by exact match and character
accuracy of whole strings against baselines that do not read the source,
with example translations and errors in the report.

`Forecast` (rnn-timeseries): a window of the last `window` values of a real
series (`load_forecast_data`) in, the next `horizon` values out, trained
with early stopping and scored on the held-out tail in the series' units
(MAE, RMSE) against persistence and seasonal naive, with a forecast plot.

A recipe says its config defaults and `build_model` (ending in
`self.compile(model, data)`); a Translation recipe also its `load_data` and
`model_pairs`; either may give a `model_to_export` view (kerarch.export.adapters).
"""

import collections
import dataclasses
import typing

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import make_dataset
from kerarch.data.text import END, START, decode_targets
from kerarch.data.timeseries import forecast_errors, load_forecast_data
from kerarch.frame.recipe import Recipe
from kerarch.plots import plot_forecast
from kerarch.sequence.generation import beam_search, greedy_decode
from kerarch.training.losses import make_loss


@dataclasses.dataclass
class SequenceToSequenceConfig(RecipeConfig):
    """Keys of every sequence-to-sequence model."""

    clipnorm: float = option(1.0, "Clip each gradient's norm to this (0: off); attention and recurrent nets can "
                             "explode (Pascanu et al. 2013).", minimum=0.0)


class SequenceToSequence(Recipe):
    """A source sequence in, a target sequence out, scored on held-out pairs against baselines."""

    Config = SequenceToSequenceConfig
    task = "regression"  # an export is compared on its outputs
    #: tf.data map of one (source, target) pair to the model's (inputs, labels); None: the pair as it is.
    model_pairs = None

    def datasets(self, data):
        cfg = self.config
        train = make_dataset(data.x_train, data.y_train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                             map_fn=self.model_pairs)
        return train, make_dataset(data.x_val, data.y_val, batch_size=cfg.batch_size, map_fn=self.model_pairs)

    def test_dataset(self, data):
        return make_dataset(data.x_test, data.y_test, batch_size=self.config.batch_size, map_fn=self.model_pairs)

    def export_view(self, x, y):
        """The exported model's input for sources `x` and targets `y` (default: the sources)."""
        return x

    def export_inputs(self, data):
        return (self.export_view(data.x_train[:200], data.y_train[:200]), self.export_view(data.x_test, data.y_test),
                None)


# --- translation ---------------------------------------------------------------------------------


@dataclasses.dataclass
class TranslationConfig(SequenceToSequenceConfig):
    """Keys of a translation: the beam search and the examples in the report."""

    num_beams: int = option(4, "Beams of the beam-search evaluation.", minimum=1)
    examples: int = option(5, "Test translations shown in the report, and as many of the wrong ones.", minimum=0)


class Translation(SequenceToSequence):
    """Character strings in and out, scored by exact match of whole translations vs source-blind baselines.

    Its data also holds `target_vocab` (a CharVocabulary with [START] and
    [END]), `test_text` ([(source string, target string)]), `train_outputs`
    (the training target strings) and `describe()` (the splits, for the report).
    """

    Config = TranslationConfig
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metrics = ("accuracy",)

    def evaluate(self, model, data):
        """Exact match of greedy and beam-search translations of the test sources, vs the baselines."""
        cfg = self.config
        _, token_accuracy = model.evaluate(self.test_dataset(data), verbose=0)
        greedy = self.translate(model, data, greedy_decode)
        beam = self.translate(model, data, beam_search, num_beams=cfg.num_beams)
        targets = [target for _, target in data.test_text]
        return {
            "dataset": data.describe(),
            "test_exact_match_greedy": exact_match(greedy, targets),
            f"test_exact_match_beam{cfg.num_beams}": exact_match(beam, targets),
            "test_char_accuracy_greedy": char_accuracy(greedy, targets),
            "test_token_accuracy_teacher_forced": float(token_accuracy),
            **source_blind_baselines(data.train_outputs, targets),
            **translation_examples(data.test_text, greedy, cfg.examples),
        }

    def translate(self, model, data, decode, **options):
        """Decoded target strings of the test sources, each at most as long as the test targets."""
        vocab = data.target_vocab
        ids = decode(model, data.x_test, data.y_test.shape[1] - 1, start_token_id=vocab.id(START),
                     stop_token_ids=(vocab.id(END),), **options)  # (N, 1 + T)
        return decode_targets(ids, vocab)

    def export_view(self, source, target):
        """Source ids and decoder ids ([START] + the target) side by side, as float32."""
        return np.concatenate([source, target[:, :-1]], axis=1).astype("float32")


def exact_match(outputs, targets):
    """Share of outputs equal to their target string."""
    return float(np.mean([o == t for o, t in zip(outputs, targets)]))


def char_accuracy(outputs, targets):
    """Share of target characters matched at their position (outputs cut or padded to the target length)."""
    return float(np.mean([a == b for o, t in zip(outputs, targets) for a, b in zip(o.ljust(len(t)), t)]))


def source_blind_baselines(train_outputs, targets):
    """Exact match and character accuracy of outputs chosen without reading the source.

    Most frequent output: the commonest training output string for every
    input. Per-position majority: the commonest training character at each
    output position.
    """
    strings, counts = np.unique(train_outputs, return_counts=True)
    commonest = strings[counts.argmax()]
    majority = "".join(collections.Counter(column).most_common(1)[0][0] for column in zip(*train_outputs))
    return {
        "baseline_most_frequent_output_exact_match": exact_match([commonest] * len(targets), targets),
        "baseline_position_majority_exact_match": exact_match([majority] * len(targets), targets),
        "baseline_position_majority_char_accuracy": char_accuracy([majority] * len(targets), targets),
    }


def translation_examples(pairs, outputs, count):
    """The first `count` translations and the first `count` wrong ones, for the report.

    Returns:
        {"example_<n>" or "error_<n>": "source → output (correct)" or "... (expected target)"} for the
        (source, target) `pairs` and their `outputs`.
    """
    wrong = [i for i, (output, (_, target)) in enumerate(zip(outputs, pairs)) if output != target]
    shown = {}
    for kind, rows in (("example", range(min(count, len(pairs)))), ("error", wrong[:count])):
        for n, i in enumerate(rows, start=1):
            (source, target), output = pairs[i], outputs[i]
            shown[f"{kind}_{n}"] = f"{source} → {output} ({'correct' if output == target else 'expected ' + target})"
    return shown


# --- forecasts -----------------------------------------------------------------------------------


@dataclasses.dataclass
class ForecastConfig(SequenceToSequenceConfig):
    """Keys of a forecaster: the series, its windows and splits, the loss and early stopping."""

    dataset: str = option("sunspots", "sunspots (yearly, 309 values) or co2 (weekly, 2,284 values), from statsmodels.",
                          choices=("sunspots", "co2"))
    data_dir: typing.Optional[str] = option(None, "A CSV file with the series (one numeric column, or see column=); "
                                            "replaces dataset.")
    column: typing.Optional[str] = option(None, "Header name of the CSV column to forecast (with data_dir=).")
    window: int = option(24, "Past values the network reads.", minimum=1)
    horizon: int = option(1, "Future values it forecasts at once.", minimum=1)
    relative: bool = option(True, "Windows relative to their last value (forecast the change); false: levels "
                            "standardised with the training mean.")
    loss: str = option("mse", "Training loss: mse, or huber (robust to outlying months; delta in scaled units).",
                       choices=("mse", "huber"))
    huber_delta: float = option(1.0, "Huber loss delta: quadratic below it, linear above (loss=huber).", minimum=0.0)
    patience: int = option(40, "Stop after this many epochs without a better validation loss; the best "
                           "epoch's weights are kept.", minimum=1)
    season: int = option(0, "Seasonal-naive lag in steps (0: the dataset's own, 11 for sunspots and 52 for co2; "
                         "a CSV file has none unless set).", minimum=0)
    test_fraction: float = option(0.15, "Share of the series, at its end, held out for the test.", minimum=0.0)
    validation_fraction: float = option(0.1, "Share just before the test tail used for validation.", minimum=0.0)


class Forecast(SequenceToSequence):
    """A forecaster of a univariate series, scored on its held-out tail vs persistence and seasonal naive."""

    Config = ForecastConfig
    metrics = ("mae",)

    @property
    def loss(self):
        return make_loss(self.config.loss, delta=self.config.huber_delta)

    def load_data(self):
        cfg = self.config
        return load_forecast_data(
            cfg.dataset, cfg.data_dir, column=cfg.column, window=cfg.window, horizon=cfg.horizon,
            test_fraction=cfg.test_fraction, validation_fraction=cfg.validation_fraction, relative=cfg.relative,
            season=cfg.season,
        )

    def callbacks(self, model, data):
        stop = keras.callbacks.EarlyStopping(patience=self.config.patience, restore_best_weights=True)
        return super().callbacks(model, data) + [stop]

    def evaluate(self, model, data):
        """Test MAE/RMSE of the model and the baselines on the held-out tail, and a plot of it."""
        actual = data.test_units(data.y_test)  # (N, horizon)
        forecasts = {"model": data.test_units(model.predict(data.x_test, verbose=0)), **data.baseline_forecasts()}
        metrics = {"dataset": data.series.name, "test_targets": data.test_span(), "season": data.season or "none",
                   **forecast_metrics(actual, forecasts)}
        path = plot_forecast(data.series.times[data.test_starts], actual[:, 0],
                             {name: forecast[:, 0] for name, forecast in forecasts.items()},
                             self.run.path / "forecast.png", title=f"{data.series.name}: held-out tail, 1 step ahead")
        self.run.add_picture(path, "Held-out tail: actual vs forecasts")
        return metrics


def forecast_metrics(actual, forecasts):
    """Test MAE and RMSE of forecasts["model"] and of each baseline forecast ({name: forecast}).

    `actual` and the forecasts are (N, horizon), in the series' units;
    "mae_vs_best_baseline" is the model's MAE over the best baseline's.
    """
    metrics = {}
    for name, forecast in forecasts.items():
        errors = forecast_errors(actual, forecast)
        prefix = "test" if name == "model" else name
        metrics[f"{prefix}_mae"], metrics[f"{prefix}_rmse"] = errors["mae"], errors["rmse"]
    best = min((name for name in forecasts if name != "model"), key=lambda name: metrics[f"{name}_mae"])
    metrics["mae_vs_best_baseline"] = metrics["test_mae"] / metrics[f"{best}_mae"]
    return metrics

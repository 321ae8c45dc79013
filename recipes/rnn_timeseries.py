"""rnn-timeseries: LSTM (Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014) forecaster of a real series.

The default series is the yearly sunspot number 1700-2008 (309 values, an
~11-year cycle) that ships with statsmodels; `dataset=co2` is the weekly
Mauna Loa CO2 record (gaps interpolated, 52-week season); `data_dir=` reads
one numeric column of your own CSV file (`column=` names it). The last
`window` values predict the next `horizon` ones. The split is chronological:
training, then validation (best epoch), then a held-out tail for the test;
statistics come from the training block only. By default windows are made
relative to their last value (the network forecasts the change from it), so
a trending series (CO2) is not pushed beyond the training range.

The test tail is scored in the series' units against two baselines on the
same targets: persistence (the last observed value) and seasonal naive (the
value one season earlier). Measured on a 2-core CPU shared with other jobs
(load average 5-9), test tail = the last 15%:

    make recipe NAME=rnn-timeseries                 # sunspots, LSTM, 41 s
        46 yearly targets 1963-2008    MAE    RMSE
        LSTM                          12.65   15.83
        persistence                   22.45   29.31
        seasonal naive (11 years)     25.83   34.82
    make recipe NAME=rnn-timeseries ARGS="dataset=co2 window=52 cell=gru"   # 138 s
        343 weekly targets 1995-2001   MAE    RMSE   (ppm)
        GRU                           0.298   0.387
        persistence                   0.398   0.501
        seasonal naive (52 weeks)     1.699   1.893
"""

import dataclasses
import typing

import keras
import numpy as np

from kerarch.config import RecipeConfig, option
from kerarch.data import make_dataset
from kerarch.data.timeseries import (
    Series,
    WindowedSeries,
    forecast_errors,
    load_series,
    persistence_forecast,
    seasonal_naive_forecast,
    window_split,
)
from kerarch.errors import KerarchError
from kerarch.frame import Recipe, register_recipe
from kerarch.sequence.recurrent import gru, lstm
from kerarch.training.losses import make_loss
from kerarch.plots import pyplot, save_figure

_CELLS = {"lstm": lstm, "gru": gru}


@dataclasses.dataclass
class RnnTimeseriesConfig(RecipeConfig):
    epochs: int = option(200, "Most passes over the training windows (early stopping usually ends sooner).", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    dataset: str = option("sunspots", "sunspots (yearly, 309 values) or co2 (weekly, 2,284 values), from statsmodels.",
                          choices=("sunspots", "co2"))
    data_dir: typing.Optional[str] = option(None, "A CSV file with the series (one numeric column, or see column=); "
                                            "replaces dataset.")
    column: typing.Optional[str] = option(None, "Header name of the CSV column to forecast (with data_dir=).")
    cell: str = option("lstm", "Recurrent cell: lstm (Hochreiter & Schmidhuber 1997) or gru (Cho et al. 2014).",
                       choices=("lstm", "gru"))
    window: int = option(24, "Past values the network reads.", minimum=1)
    horizon: int = option(1, "Future values it forecasts at once.", minimum=1)
    units: int = option(32, "Hidden units per recurrent layer.", minimum=1)
    num_layers: int = option(1, "Stacked recurrent layers.", minimum=1)
    dropout: float = option(0.0, "Dropout after each recurrent layer.", minimum=0.0)
    relative: bool = option(True, "Windows relative to their last value (forecast the change); false: levels "
                            "standardised with the training mean.")
    learning_rate: float = option(3e-3, "Learning rate.", minimum=0.0)
    loss: str = option("mse", "Training loss: mse, or huber (robust to outlying months; delta in scaled units).",
                       choices=("mse", "huber"))
    huber_delta: float = option(1.0, "Huber loss delta: quadratic below it, linear above (loss=huber).", minimum=0.0)
    clipnorm: float = option(1.0, "Clip each gradient's norm to this (0: off); recurrent nets can explode "
                             "(Pascanu et al. 2013).", minimum=0.0)
    patience: int = option(40, "Stop after this many epochs without a better validation loss; the best "
                           "epoch's weights are kept.", minimum=1)
    season: int = option(0, "Seasonal-naive lag in steps (0: the dataset's own, 11 for sunspots and 52 for co2; "
                         "a CSV file has none unless set).", minimum=0)
    test_fraction: float = option(0.15, "Share of the series, at its end, held out for the test.", minimum=0.0)
    validation_fraction: float = option(0.1, "Share just before the test tail used for validation.", minimum=0.0)


@dataclasses.dataclass
class ForecastData:
    """The loaded series and its windows."""

    series: Series
    windows: WindowedSeries
    season: int | None

    @property
    def source(self):
        return self.series.source

    @property
    def notice(self):
        return self.series.notice


@register_recipe("rnn-timeseries")
class RnnTimeseries(Recipe):
    """LSTM/GRU forecaster of a real series (sunspots, CO2 or a CSV) vs persistence and seasonal-naive baselines."""

    Config = RnnTimeseriesConfig
    task = "regression"

    def load_data(self):
        cfg = self.config
        if cfg.column is not None and cfg.data_dir is None:
            raise KerarchError("column= picks a column of a CSV file; give the file with data_dir=.")
        for key in ("test_fraction", "validation_fraction"):
            if not 0 < getattr(cfg, key) < 0.5:
                raise KerarchError(f"{key} must be between 0 and 0.5 (exclusive), got {getattr(cfg, key)}.")
        series = load_series(cfg.dataset, cfg.data_dir, column=cfg.column)
        windows = window_split(
            series.values, window=cfg.window, horizon=cfg.horizon, test_fraction=cfg.test_fraction,
            validation_fraction=cfg.validation_fraction, relative=cfg.relative,
        )
        return ForecastData(series=series, windows=windows, season=cfg.season or series.season)

    def build_model(self, data):
        cfg = self.config
        model = _CELLS[cfg.cell](
            task="forecast", input_shape=(cfg.window, 1), horizon=cfg.horizon, units=cfg.units,
            num_layers=cfg.num_layers, dropout=cfg.dropout,
        )
        model.compile(
            optimizer=self.make_optimizer(data),
            loss=make_loss(cfg.loss, delta=cfg.huber_delta),
            metrics=["mae"],
            jit_compile=self.jit_compile,
        )
        return model

    def num_train_examples(self, data):
        return len(data.windows.x_train)

    def datasets(self, data):
        w, batch = data.windows, self.config.batch_size
        train = make_dataset(w.x_train, w.y_train, batch_size=batch, shuffle=True, seed=self.config.seed)
        return train, make_dataset(w.x_val, w.y_val, batch_size=batch)

    def callbacks(self, model, data):
        stop = keras.callbacks.EarlyStopping(patience=self.config.patience, restore_best_weights=True)
        return super().callbacks(model, data) + [stop]

    def evaluate(self, model, data):
        """Test MAE/RMSE of the model and the baselines on the held-out tail, and a plot of it."""
        w, series = data.windows, data.series
        actual = w.test_units(w.y_test)  # (N, horizon)
        forecasts = {"model": w.test_units(model.predict(w.x_test, verbose=0))}
        forecasts["persistence"] = persistence_forecast(series.values, w.test_starts, self.config.horizon)
        if data.season:
            forecasts["seasonal_naive"] = seasonal_naive_forecast(
                series.values, w.test_starts, self.config.horizon, data.season
            )
        metrics = {
            "dataset": series.name,
            "test_targets": f"{len(w.test_starts)} ({_label(series.times[w.test_starts[0]])} to "
                            f"{_label(series.times[w.test_starts[-1] + self.config.horizon - 1])})",
            "season": data.season or "none",
        }
        for name, forecast in forecasts.items():
            errors = forecast_errors(actual, forecast)
            prefix = "test" if name == "model" else name
            metrics[f"{prefix}_mae"], metrics[f"{prefix}_rmse"] = errors["mae"], errors["rmse"]
        best = min((k for k in forecasts if k != "model"), key=lambda k: metrics[f"{k}_mae"])
        metrics["mae_vs_best_baseline"] = metrics["test_mae"] / metrics[f"{best}_mae"]
        path = plot_forecast(
            series.times[w.test_starts], actual[:, 0], {k: v[:, 0] for k, v in forecasts.items()},
            self.run.path / "forecast.png", title=f"{series.name}: held-out tail, 1 step ahead",
        )
        self.run.add_picture(path, "Held-out tail: actual vs forecasts")
        return metrics

    def model_to_export(self, model):
        return unrolled(model)

    def export_inputs(self, data):
        w = data.windows
        return w.x_train[:200], w.x_test, None


def unrolled(model):
    """The same model (same weights) with its recurrent layers unrolled over the fixed window.

    The TFLite converter cannot lower the symbolic loop of a recurrent layer
    with a dynamic batch size (a TensorList of unknown element shape);
    unrolled, the layer is plain ops that convert to builtins.
    """
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] in ("LSTM", "GRU"):
            layer["config"]["unroll"] = True
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def plot_forecast(times, actual, forecasts, path, *, title):
    """A PNG of the actual values and each forecast over the same time steps."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.plot(times, actual, "-o", color="black", markersize=3, label="actual")
    styles = {"model": "-", "persistence": "--", "seasonal_naive": ":"}
    for name, forecast in forecasts.items():
        ax.plot(times, forecast, styles.get(name, "-"), label=name.replace("_", " "))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _label(time):
    """A time label for people: a date for datetime64, else the value itself."""
    if isinstance(time, np.datetime64):
        return str(np.datetime_as_string(time, unit="D"))
    return str(time)

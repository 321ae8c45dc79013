"""rnn-timeseries: LSTM (Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014) forecaster of a real series.

The default series is the yearly sunspot number 1700-2008 (309 values, an
~11-year cycle) that ships with statsmodels; `dataset=co2` is the weekly Mauna
Loa CO2 record; `data_dir=` reads one numeric column of your own CSV file.
The last `window` values predict the next `horizon` ones, by default as the
change from the last value (kerarch.data.timeseries). The held-out tail is
scored against persistence and seasonal naive; results in README.md.
"""

import dataclasses

from kerarch.config import option
from kerarch.export.adapters import unrolled
from kerarch.frame import register_recipe
from kerarch.frame.sequence_to_sequence import Forecast, ForecastConfig
from kerarch.sequence.recurrent import gru, lstm

_CELLS = {"lstm": lstm, "gru": gru}


@dataclasses.dataclass
class RnnTimeseriesConfig(ForecastConfig):
    epochs: int = option(200, "Most passes over the training windows (early stopping usually ends sooner).", minimum=1)
    batch_size: int = option(32, "Global batch size, split across replicas.", minimum=1)
    cell: str = option("lstm", "Recurrent cell: lstm (Hochreiter & Schmidhuber 1997) or gru (Cho et al. 2014).",
                       choices=("lstm", "gru"))
    units: int = option(32, "Hidden units per recurrent layer.", minimum=1)
    num_layers: int = option(1, "Stacked recurrent layers.", minimum=1)
    dropout: float = option(0.0, "Dropout after each recurrent layer.", minimum=0.0)
    learning_rate: float = option(3e-3, "Learning rate.", minimum=0.0)


@register_recipe("rnn-timeseries")
class RnnTimeseries(Forecast):
    """LSTM/GRU forecaster of a real series (sunspots, CO2 or a CSV) vs persistence and seasonal-naive baselines."""

    Config = RnnTimeseriesConfig
    xla_on_cpu = True  # 0.44x the CPU time of a step without XLA (benchmarks/recipe_defaults.py)

    def build_model(self, data):
        cfg = self.config
        model = _CELLS[cfg.cell](task="forecast", input_shape=(cfg.window, 1), horizon=cfg.horizon, units=cfg.units,
                                 num_layers=cfg.num_layers, dropout=cfg.dropout)
        return self.compile(model, data)

    def model_to_export(self, model):
        return unrolled(model)

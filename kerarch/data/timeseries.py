"""Univariate time series for forecasting: real data, CSV files, windows and naive baselines.

    series = load_series("sunspots")     # yearly sunspot numbers 1700-2008 (statsmodels)
    split = window_split(series.values, window=24, horizon=1, test_fraction=0.15, validation_fraction=0.1)
    split.x_train.shape                  # (N, 24, 1) float32, normalised with training statistics
    persistence_forecast(series.values, split.test_starts, 1)   # (N_test, 1), the naive baseline
    data = load_forecast_data("co2", None, column=None, window=52, horizon=1, test_fraction=0.15,
                              validation_fraction=0.1, relative=True)   # the windows with their series

The splits are chronological: training windows, then validation windows, then
test windows whose targets lie in the held-out tail of the series. A window
is named by its first target index t: inputs values[t - window : t], targets
values[t : t + horizon]. Inputs may reach back into an earlier split (the
past is known when forecasting); targets never leave their own split.
"""

import csv
import dataclasses
import math
import os

import numpy as np

from kerarch.errors import KerarchError

# Seasonal-naive lag of each named dataset, in steps.
SEASONS = {"sunspots": 11, "co2": 52}
_CSV_HELP = "a CSV file with one numeric column (or several and column=<name>), an optional header row"


@dataclasses.dataclass
class Series:
    """A univariate series held in memory.

    Attributes:
        name: dataset name ("sunspots", "co2" or the CSV file's stem).
        values: (T,) float64 observations, gaps filled.
        times: (T,) labels for plots: years, dates or step numbers.
        season: the seasonal-naive lag in steps, or None when unknown.
        source: where the data came from, for people to read.
        notice: what was done to the data (gaps filled), or None.
    """

    name: str
    values: np.ndarray
    times: np.ndarray
    season: int | None
    source: str
    notice: str | None = None


@dataclasses.dataclass
class WindowedSeries:
    """(input window, target) pairs of a series, split chronologically and normalised.

    Inputs are (N, window, 1) and targets (N, horizon, 1), float32:
    (value - offset) / std, where std is the training block's and the offset
    is the training block's mean or, for relative windows, each window's last
    input value. `*_starts` are each split's first target indices.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_starts: np.ndarray
    val_starts: np.ndarray
    test_starts: np.ndarray
    test_offsets: np.ndarray  # (N_test, 1) in the series' units
    mean: float
    std: float

    def test_units(self, y):
        """Normalised test outputs (N_test, horizon, 1) -> the series' units (N_test, horizon)."""
        return np.asarray(y, dtype="float64")[..., 0] * self.std + self.test_offsets


@dataclasses.dataclass
class ForecastData(WindowedSeries):
    """The windows of a series, with the series itself and its seasonal-naive lag (None: no season)."""

    series: Series = None
    season: int | None = None

    @property
    def source(self):
        return self.series.source

    @property
    def notice(self):
        return self.series.notice

    def baseline_forecasts(self):
        """{"persistence", "seasonal_naive" (with a season)}: (N_test, horizon) forecasts in the series' units."""
        values, horizon = self.series.values, self.y_test.shape[1]
        forecasts = {"persistence": persistence_forecast(values, self.test_starts, horizon)}
        if self.season:
            forecasts["seasonal_naive"] = seasonal_naive_forecast(values, self.test_starts, horizon, self.season)
        return forecasts

    def test_span(self):
        """The test targets for people: "46 (1963 to 2008)"."""
        times, last = self.series.times, self.test_starts[-1] + self.y_test.shape[1] - 1
        return f"{len(self.test_starts)} ({time_label(times[self.test_starts[0]])} to {time_label(times[last])})"


def load_forecast_data(dataset, data_dir, *, column, window, horizon, test_fraction, validation_fraction,
                       relative, season=0):
    """A series (`load_series`) cut into windows (`window_split`); `season` 0 takes the series' own.

    Raises:
        KerarchError: column= without a CSV file, or a fraction outside (0, 0.5).
    """
    if column is not None and data_dir is None:
        raise KerarchError("column= picks a column of a CSV file; give the file with data_dir=.")
    for key, fraction in (("test_fraction", test_fraction), ("validation_fraction", validation_fraction)):
        if not 0 < fraction < 0.5:
            raise KerarchError(f"{key} must be between 0 and 0.5 (exclusive), got {fraction}.")
    series = load_series(dataset, data_dir, column=column)
    windows = window_split(series.values, window=window, horizon=horizon, test_fraction=test_fraction,
                           validation_fraction=validation_fraction, relative=relative)
    return ForecastData(**vars(windows), series=series, season=season or series.season)


def time_label(time):
    """A time label for people: a date for datetime64, else the value itself."""
    if isinstance(time, np.datetime64):
        return str(np.datetime_as_string(time, unit="D"))
    return str(time)


def load_series(dataset="sunspots", data_dir=None, *, column=None):
    """Loads a named dataset from statsmodels, or a CSV file when `data_dir` is given.

    Args:
        dataset: "sunspots" (yearly sunspot numbers 1700-2008, 309 values,
            an ~11-year cycle) or "co2" (weekly Mauna Loa CO2 1958-2001,
            2,284 values with gaps filled by linear interpolation, 52-week
            season). Ignored when `data_dir` is given.
        data_dir: path of a CSV file (see `read_csv_series`).
        column: the CSV column to forecast, by header name.

    Returns:
        A `Series`.

    Raises:
        KerarchError: unknown dataset, statsmodels missing, or a missing or
            unusable CSV file.
    """
    if data_dir is not None:
        return read_csv_series(data_dir, column=column)
    if dataset not in SEASONS:
        raise KerarchError(f"Unknown time-series dataset {dataset!r}; known: {', '.join(SEASONS)} (or data_dir=<csv>).")
    try:
        import statsmodels.datasets as sm_datasets
    except ImportError:
        raise KerarchError(
            f"The {dataset} data ships with statsmodels, which is not installed: pip install statsmodels "
            "(or pass data_dir=<csv file>)."
        ) from None
    return _sunspots(sm_datasets) if dataset == "sunspots" else _co2(sm_datasets)


def _sunspots(sm_datasets):
    frame = sm_datasets.sunspots.load_pandas().data
    return Series(
        name="sunspots",
        values=frame["SUNACTIVITY"].to_numpy("float64"),
        times=frame["YEAR"].to_numpy("int64"),
        season=SEASONS["sunspots"],
        source="statsmodels.datasets.sunspots (yearly mean sunspot numbers 1700-2008, SIDC)",
    )


def _co2(sm_datasets):
    frame = sm_datasets.co2.load_pandas().data
    raw = frame["co2"].to_numpy("float64")
    return Series(
        name="co2",
        values=fill_gaps(raw),
        times=frame.index.to_numpy(),
        season=SEASONS["co2"],
        source="statsmodels.datasets.co2 (weekly atmospheric CO2 at Mauna Loa 1958-2001, ppm)",
        notice=f"{int(np.isnan(raw).sum())} missing weekly values were filled by linear interpolation.",
    )


def fill_gaps(values):
    """Replaces NaNs by linear interpolation (the nearest value at either end)."""
    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    if missing.all():
        raise KerarchError("The series has no numeric values.")
    steps = np.arange(len(values))
    filled = values.copy()
    filled[missing] = np.interp(steps[missing], steps[~missing], values[~missing])
    return filled


def read_csv_series(path, *, column=None):
    """Reads one numeric column of a CSV file as a `Series` (empty or NA cells are interpolated).

    The first row is a header when any of its cells is not a number. Without
    `column`, the file must have exactly one numeric column.

    Raises:
        KerarchError: the file is missing, a folder, empty, has no (or more
            than one) numeric column without `column=`, lacks `column`, or
            holds text in the chosen column.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        raise KerarchError(f"data_dir {path} does not exist; expected {_CSV_HELP}.")
    if os.path.isdir(path):
        raise KerarchError(f"data_dir {path} is a folder; a time-series recipe expects {_CSV_HELP}.")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise KerarchError(f"Cannot read {path} as CSV ({error}); expected {_CSV_HELP}.") from None
    if not rows:
        raise KerarchError(f"{path} is empty; expected {_CSV_HELP}.")
    header = None if all(_is_number(cell) for cell in rows[0]) else [cell.strip() for cell in rows[0]]
    body = rows[1:] if header else rows
    index = _column_index(path, header, body, column)
    values = [_cell_value(path, row, index, line) for line, row in enumerate(body, start=2 if header else 1)]
    values = np.array(values, dtype="float64")
    if np.count_nonzero(~np.isnan(values)) < 2:
        raise KerarchError(f"{path}: column {_column_name(header, index)} has fewer than 2 numeric values.")
    gaps = int(np.isnan(values).sum())
    return Series(
        name=os.path.splitext(os.path.basename(path))[0],
        values=fill_gaps(values),
        times=np.arange(len(values)),
        season=None,
        source=f"data_dir {path} (column {_column_name(header, index)}, {len(values)} values)",
        notice=f"{gaps} empty values were filled by linear interpolation." if gaps else None,
    )


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_missing(cell):
    return cell.strip().lower() in ("", "na", "nan", "null")


def _column_index(path, header, body, column):
    """Index of the column to read: the named one, or the only numeric one."""
    if column is not None:
        if header is None:
            raise KerarchError(f"{path} has no header row, so column={column!r} cannot be found; drop column=.")
        if column not in header:
            raise KerarchError(f"{path} has no column {column!r}; its columns are: {', '.join(header)}.")
        return header.index(column)
    width = max(len(row) for row in body) if body else 0
    numeric = [
        i for i in range(width)
        if all(_is_missing(row[i]) or _is_number(row[i]) for row in body if i < len(row))
        and any(i < len(row) and not _is_missing(row[i]) for row in body)
    ]
    if not numeric:
        raise KerarchError(f"{path} has no numeric column; expected {_CSV_HELP}.")
    if len(numeric) > 1:
        names = ", ".join(_column_name(header, i) for i in numeric)
        raise KerarchError(f"{path} has {len(numeric)} numeric columns ({names}); choose one with column=<name>.")
    return numeric[0]


def _column_name(header, index):
    return repr(header[index]) if header else f"#{index + 1}"


def _cell_value(path, row, index, line):
    cell = row[index] if index < len(row) else ""
    if _is_missing(cell):
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise KerarchError(f"{path} line {line}: {cell.strip()!r} is not a number.") from None


def make_windows(values, starts, *, window, horizon):
    """Input windows and targets for the first target indices `starts`.

    Returns:
        x (N, window): values[t - window : t]; y (N, horizon): values[t : t + horizon].
    """
    starts = np.asarray(starts, dtype="int64")
    spans = np.lib.stride_tricks.sliding_window_view(np.asarray(values), window + horizon)  # (T - w - h + 1, w + h)
    rows = spans[starts - window]
    return rows[:, :window], rows[:, window:]


def split_starts(length, *, window, horizon, test_size, validation_size):
    """First target indices of the train, validation and test windows.

    The last `test_size` steps are the test block and the `validation_size`
    before them the validation block; every window's targets stay inside
    its block, so no target is seen by two splits.

    Raises:
        KerarchError: a split would get no window.
    """
    test_begin = length - test_size
    val_begin = test_begin - validation_size
    starts = (
        np.arange(window, val_begin - horizon + 1),
        np.arange(val_begin, test_begin - horizon + 1),
        np.arange(test_begin, length - horizon + 1),
    )
    for name, block in zip(("training", "validation", "test"), starts):
        if len(block) == 0:
            raise KerarchError(
                f"The {name} split gets no window: {length} values with window={window}, horizon={horizon}, "
                f"{test_size} test and {validation_size} validation steps. Use a smaller window or horizon, "
                "other split fractions, or a longer series."
            )
    return starts


def window_split(values, *, window, horizon, test_fraction, validation_fraction, relative=False):
    """Normalised windows of a series, split chronologically (see `split_starts`).

    Statistics come from the training block only (the values before the
    validation block), so nothing about a held-out value leaks into
    training. Level windows subtract the training mean; relative windows
    (`relative=True`) subtract each window's last input value, so the model
    forecasts the change from it -- translation invariant, which lets it
    follow a trend beyond the training range (CO2), where levels cannot.
    Both divide by the training block's standard deviation.
    """
    values = np.asarray(values, dtype="float64")
    test_size = max(1, round(test_fraction * len(values)))
    validation_size = max(1, round(validation_fraction * len(values)))
    train, val, test = split_starts(
        len(values), window=window, horizon=horizon, test_size=test_size, validation_size=validation_size
    )
    seen = values[: val[0]]
    mean, std = float(seen.mean()), float(seen.std()) or 1.0

    def pairs(starts):
        x, y = make_windows(values, starts, window=window, horizon=horizon)  # (N, window), (N, horizon)
        offset = x[:, -1:] if relative else np.full((len(x), 1), mean)  # (N, 1)
        scale = lambda a: ((a - offset) / std)[..., None].astype("float32")  # noqa: E731
        return scale(x), scale(y), offset

    (x_train, y_train, _), (x_val, y_val, _), (x_test, y_test, test_offsets) = pairs(train), pairs(val), pairs(test)
    return WindowedSeries(
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test,
        train_starts=train, val_starts=val, test_starts=test, test_offsets=test_offsets, mean=mean, std=std,
    )


def persistence_forecast(values, starts, horizon):
    """The last observed value, values[t - 1], for each of targets t .. t + horizon - 1: (N, horizon)."""
    last = np.asarray(values, dtype="float64")[np.asarray(starts) - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive_forecast(values, starts, horizon, season):
    """The value one season before each target, values[t + k - season]: (N, horizon).

    A target more than a season ahead takes the value as many whole seasons
    back as needed to stay before t (observed data only).
    """
    steps = np.arange(horizon)
    lags = season * (steps // season + 1)  # (horizon,), each > step
    index = np.asarray(starts)[:, None] + (steps - lags)[None, :]
    if index.min() < 0:
        raise KerarchError(f"The seasonal-naive baseline needs {season} steps before the first target.")
    return np.asarray(values, dtype="float64")[index]


def forecast_errors(actual, forecast):
    """{"mae", "rmse"} over every target and step, in the series' units."""
    error = np.asarray(actual, dtype="float64") - np.asarray(forecast, dtype="float64")
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean()))}

"""The tuner that trains the architectures an oracle proposes, and reading its results."""

import time
from pathlib import Path

import keras
import keras_tuner
from keras_tuner.engine.tuner import maybe_distribute

from kerarch.model_files import load_model_file
from kerarch.nas.oracles import COMPLETED


class NasTuner(keras_tuner.Tuner):
    """Trains each proposed architecture for `epochs`; reports its last-epoch metrics and parameter count.

    Every trial starts from a fresh Keras session seeded with `seed` + trial
    number (its weight initialisation does not depend on the trials before),
    trains with `model.fit` and keeps the trained model as `trial_<id>/model.keras`,
    which `load_model`, and so `get_best_models`, read back. The trial's
    metrics are the last epoch's logs (e.g. `val_accuracy`, the objective),
    `params` and `train_seconds`. `best_result` summarises the best trial.

    Args:
        oracle: the search strategy, e.g. RegularizedEvolutionOracle.
        hypermodel: builds a compiled model from hyperparameters; its `describe(hp)` says what
            they choose (as CnnSearchSpace's).
        seed: base seed of the trials' weight initialisation and shuffling.
        **kwargs: keras_tuner.Tuner arguments: directory, project_name,
            overwrite (False resumes an existing project), distribution_strategy.
    """

    def __init__(self, oracle, hypermodel, *, seed=0, **kwargs):
        super().__init__(oracle, hypermodel, **kwargs)
        self.seed = seed

    def run_trial(self, trial, train_data, validation_data, *, epochs, verbose=0):
        keras.backend.clear_session()  # the previous trial's layers and memory
        keras.utils.set_random_seed(self.seed + int(trial.trial_id))
        with maybe_distribute(self.distribution_strategy):
            model = self.hypermodel.build(trial.hyperparameters)
        started = time.time()
        history = model.fit(train_data, validation_data=validation_data, epochs=epochs, verbose=verbose)
        seconds = time.time() - started
        self.save_model(trial.trial_id, model)
        last = {name: values[-1] for name, values in history.history.items()}
        return {**last, "params": model.count_params(), "train_seconds": seconds}

    def model_path(self, trial_id):
        return Path(self.get_trial_dir(trial_id)) / "model.keras"

    def save_model(self, trial_id, model, step=0):
        model.save(self.model_path(trial_id))

    def load_model(self, trial):
        return load_model_file(self.model_path(trial.trial_id))

    def best_model(self):
        """The trained model of the best trial so far."""
        return self.load_model(self.oracle.get_best_trials(1)[0])

    def best_result(self):
        """(summary, trained model) of the best trial.

        The summary holds its score (under the objective's name), its parameter count, what the
        hypermodel's `describe` says of its choices, and the search's `search_history` as "trials".
        """
        trial = self.oracle.get_best_trials(1)[0]
        hp = self.oracle.get_space()
        hp.values = dict(trial.hyperparameters.values)
        model = self.load_model(trial)
        summary = {self.oracle.objective.name: trial.score, "params": model.count_params(),
                   **self.hypermodel.describe(hp), "trials": search_history(self.oracle)}
        return summary, model


def search_history(oracle):
    """The completed trials in the order they started: number, id, score, metrics and chosen values."""
    rows = []
    for number, trial_id in enumerate(oracle.start_order, start=1):
        trial = oracle.trials[trial_id]
        if trial.status != COMPLETED:
            continue
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        rows.append({"trial": number, "trial_id": trial_id, "score": trial.score, "metrics": metrics,
                     "values": dict(trial.hyperparameters.values)})
    return rows

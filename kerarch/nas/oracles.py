"""Search strategies as keras-tuner Oracles: regularized evolution and REINFORCE.

Both search discrete spaces (Choice, Boolean, Fixed and linear Int
hyperparameters, conditional ones included) and keep their whole state in
`get_state`/`set_state`, so keras-tuner's `oracle.json` resumes a search
exactly where it stopped. Each trial's random draws come from a generator
seeded by (oracle seed, trial number), so a resumed search proposes what an
uninterrupted one would have.
"""

import math

import keras_tuner
import numpy as np
from keras_tuner.engine import hyperparameters as hp_module

from kerarch.errors import KerarchError

RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED
COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED

# The search strategies `make_oracle` knows.
STRATEGIES = ("evolution", "reinforce")
# Proposals that repeat an already tried architecture are redrawn up to this many times.
MAX_REDRAWS = 50


def choices(hp):
    """The finite list of values of a discrete hyperparameter."""
    if isinstance(hp, hp_module.Choice):
        return list(hp.values)
    if isinstance(hp, hp_module.Boolean):
        return [False, True]
    if isinstance(hp, hp_module.Fixed):
        return [hp.value]
    if isinstance(hp, hp_module.Int) and hp.sampling == "linear":
        return list(range(hp.min_value, hp.max_value + 1, hp.step))
    raise KerarchError(
        f"Hyperparameter {hp.name!r} ({type(hp).__name__}) is not discrete. The NAS oracles search "
        "Choice, Boolean, Fixed and linear Int hyperparameters; express continuous ones as a Choice."
    )


def uniform_draw(hp, rng):
    options = choices(hp)
    return options[rng.integers(len(options))]


class DiscreteOracle(keras_tuner.Oracle):
    """What both searches share: seeded per-trial randomness, filling conditional spaces, the reward."""

    def __init__(self, *, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if seed is not None:  # keras_tuner.Oracle replaces seed=0 with a random seed
            self.seed = self._seed_state = seed

    def trial_rng(self, trial_id):
        return np.random.default_rng([self.seed, int(trial_id)])

    def complete(self, values, draw):
        """Values for exactly the active hyperparameters: those given in `values`, `draw(hp)` for the rest."""
        hps = self.hyperparameters.copy()
        hps.values = {}
        for hp in hps.space:  # declaration order: a condition's parent comes before its children
            if hps.is_active(hp):
                hps.values[hp.name] = values[hp.name] if hp.name in values else draw(hp)
        return hps.values

    def random_values(self, rng):
        return self.complete({}, lambda hp: uniform_draw(hp, rng))

    def reward(self, trial):
        """The trial's score, negated when the objective is minimised."""
        return trial.score if self.objective.direction == "max" else -trial.score

    def proposal(self, values):
        """A RUNNING response with `values`, or STOPPED when the space gave nothing new."""
        if values is None:
            return {"status": STOPPED, "values": None}
        return {"status": RUNNING, "values": values}


class RegularizedEvolutionOracle(DiscreteOracle):
    """Aging evolution: tournament selection, one-choice mutation, the oldest model dies.

    The first `population_size` trials are random. After that each trial
    samples `sample_size` members of the population uniformly, takes the
    best of them as parent and changes exactly one of its active choices to
    another value (children of a changed condition, e.g. a new stage, are
    drawn at random). Every completed trial joins the population and the
    oldest member leaves, whatever its score, so good architectures must be
    rediscovered by their offspring: the regularization of the paper.

    Args:
        objective: keras-tuner objective, e.g. "val_accuracy".
        max_trials: trials of the whole search.
        population_size: members kept alive (P in the paper).
        sample_size: tournament size (S), 1 <= S <= P.
        seed: seeds every random draw.
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as keras_tuner.Oracle.

    Reference:
        Real, Aggarwal, Huang & Le, "Regularized Evolution for Image
        Classifier Architecture Search", AAAI 2019 (Algorithm 1).
    """

    def __init__(self, objective=None, max_trials=20, *, population_size=10, sample_size=3, seed=None, **kwargs):
        if not 1 <= sample_size <= population_size:
            raise KerarchError(
                f"sample_size must be between 1 and population_size ({population_size}); got {sample_size}."
            )
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.population_size = population_size
        self.sample_size = sample_size
        self.population = []  # trial ids, oldest first

    def populate_space(self, trial_id):
        rng = self.trial_rng(trial_id)
        for _ in range(MAX_REDRAWS):
            if len(self.population) < self.population_size:
                values = self.random_values(rng)
            else:
                values = self.mutate(self.tournament(rng).hyperparameters.values, rng)
            if not self._duplicate(values):
                return self.proposal(values)
        return self.proposal(None)

    def tournament(self, rng):
        """The best of `sample_size` population members drawn without replacement."""
        picked = rng.choice(len(self.population), size=self.sample_size, replace=False)
        contenders = [self.trials[self.population[i]] for i in sorted(picked)]
        return max(contenders, key=self.reward)

    def mutate(self, values, rng):
        """`values` with one active, changeable choice set to a different value."""
        mutable = [hp for hp in self.hyperparameters.space if hp.name in values and len(choices(hp)) > 1]
        if not mutable:
            return dict(values)
        hp = mutable[rng.integers(len(mutable))]
        others = [v for v in choices(hp) if v != values[hp.name]]
        child = {**values, hp.name: others[rng.integers(len(others))]}
        return self.complete(child, lambda new: uniform_draw(new, rng))

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        if self.trials[trial.trial_id].status == COMPLETED:
            self.population.append(trial.trial_id)
            if len(self.population) > self.population_size:
                self.population.pop(0)  # aging: the oldest dies, not the worst
            self.save()

    def get_state(self):
        return {**super().get_state(), "population": list(self.population)}

    def set_state(self, state):
        super().set_state(state)
        self.population = list(state["population"])


class ReinforceOracle(DiscreteOracle):
    """A REINFORCE-trained controller: one softmax per choice, score minus a moving-average baseline.

    The controller holds a logit vector per hyperparameter; each trial
    samples every active choice from its softmax (on-policy: repeats are
    allowed, rejecting them would bias the gradient). When a trial
    completes with reward R (its score), every choice it made moves by
    `learning_rate * (R - b) * d log p(choice) / d logits`, i.e.
    `(one_hot(choice) - softmax(logits))`, and the baseline b follows an
    exponential moving average of the rewards (initialised with the first
    one, so the first trial does not move the controller). Zoph & Le use an
    RNN controller; independent logits are the same estimator without
    weight sharing between decisions.

    Args:
        objective: keras-tuner objective, e.g. "val_accuracy".
        max_trials: trials of the whole search.
        learning_rate: step size of the gradient ascent on the logits.
        baseline_decay: weight of the old baseline in the moving average.
        seed: seeds every random draw.
        hyperparameters, allow_new_entries, tune_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as keras_tuner.Oracle.

    Reference:
        Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
        ICLR 2017; Williams, "Simple Statistical Gradient-Following Algorithms
        for Connectionist Reinforcement Learning", Machine Learning 1992.
    """

    def __init__(self, objective=None, max_trials=20, *, learning_rate=2.0, baseline_decay=0.8, seed=None, **kwargs):
        if not 0.0 <= baseline_decay < 1.0:
            raise KerarchError(f"baseline_decay must be in [0, 1); got {baseline_decay}.")
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.learning_rate = learning_rate
        self.baseline_decay = baseline_decay
        self.logits = {}  # hyperparameter name -> one logit per choice
        self.baseline = None

    def probabilities(self, hp):
        logits = np.asarray(self.logits.get(hp.name, [0.0] * len(choices(hp))))
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def populate_space(self, trial_id):
        rng = self.trial_rng(trial_id)

        def draw(hp):
            options = choices(hp)
            return options[rng.choice(len(options), p=self.probabilities(hp))]

        return self.proposal(self.complete({}, draw))

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        trial = self.trials[trial.trial_id]
        if trial.status == COMPLETED and math.isfinite(trial.score):
            self.reinforce(trial.hyperparameters, self.reward(trial))
            self.save()

    def reinforce(self, hyperparameters, reward):
        """One REINFORCE step on the choices in `hyperparameters`, then the baseline update."""
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        for hp in hyperparameters.space:
            if hp.name not in hyperparameters.values:
                continue
            options = choices(hp)
            grad = -self.probabilities(hp)
            grad[options.index(hyperparameters.values[hp.name])] += 1.0
            old = np.asarray(self.logits.get(hp.name, [0.0] * len(options)))
            self.logits[hp.name] = (old + self.learning_rate * advantage * grad).tolist()
        self.baseline = self.baseline_decay * self.baseline + (1.0 - self.baseline_decay) * reward

    def get_state(self):
        return {**super().get_state(), "logits": dict(self.logits), "baseline": self.baseline}

    def set_state(self, state):
        super().set_state(state)
        self.logits = dict(state["logits"])
        self.baseline = state["baseline"]


def make_oracle(strategy, max_trials, *, objective="val_accuracy", direction="max", population_size=10,
                sample_size=3, learning_rate=2.0, baseline_decay=0.8, seed=None):
    """The oracle of search `strategy`, maximising (or, direction="min", minimising) the metric `objective`.

    "evolution" is a RegularizedEvolutionOracle (`population_size`, `sample_size`), "reinforce" a
    ReinforceOracle (`learning_rate`, `baseline_decay`); both raise KerarchError on invalid settings.
    """
    objective = keras_tuner.Objective(objective, direction=direction)
    if strategy == "evolution":
        return RegularizedEvolutionOracle(objective, max_trials, population_size=population_size,
                                          sample_size=sample_size, seed=seed)
    if strategy == "reinforce":
        return ReinforceOracle(objective, max_trials, learning_rate=learning_rate, baseline_decay=baseline_decay,
                               seed=seed)
    raise KerarchError(f"Unknown search strategy {strategy!r}; choose from {', '.join(STRATEGIES)}.")

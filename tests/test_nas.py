"""Architecture search: the nas_cnn builder and space, both oracles driven without training, resuming a search."""

import collections
import json

import keras_tuner as kt
import numpy as np
import pytest

import kerarch
from builder_checks import check_builder
from kerarch.errors import KerarchError
from kerarch.nas import (CnnSearchSpace, RegularizedEvolutionOracle, ReinforceOracle, describe_architecture,
                         make_oracle, search_history, short_run_batch_norm)
from kerarch.nas.oracles import choices


def choice_space(names, values):
    hp = kt.HyperParameters()
    for name in names:
        hp.Choice(name, list(values))
    return hp


def drive(oracle, score, trials, directory, name="search"):
    """Runs `trials` trials on `oracle` through create/update/end_trial; `score(values)` is the objective."""
    oracle._set_project_dir(directory, name)  # what a Tuner does; keras-tuner's own oracle tests do the same
    ran = []
    for _ in range(trials):
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        oracle.update_trial(trial.trial_id, {"score": score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        ran.append(trial)
    return ran


def objective():
    return kt.Objective("score", direction="max")


# --- the builder and the search space --------------------------------------------------


@pytest.mark.parametrize("block, params", [
    # conv 3x3x1x4 (no bias) + BN 4x4 = 52, dense 4x2+2 = 10
    ("plain", 62),
    # conv1 36 + BN 16, conv2 3x3x4x4 = 144 + BN 16, 1x1 projection 4 + BN 16, dense 10
    ("residual", 242),
    # depthwise 3x3x1 = 9 + BN 4, pointwise 1x4 = 4 + BN 16, dense 10
    ("separable", 43),
])
def test_nas_cnn_blocks_have_hand_counted_parameters(block, params, tmp_path):
    model = kerarch.build("nas_cnn", input_shape=(8, 8, 1), num_classes=2, stages=((4, 3, block),), dense_units=0)
    check_builder(model, input_shape=(8, 8, 1), output_shape=(2,), params=params, name="nas_cnn", tmp_path=tmp_path)


def test_nas_cnn_defaults_and_headless(tmp_path):
    model = kerarch.build("nas_cnn")
    check_builder(model, input_shape=(28, 28, 1), output_shape=(10,), params=17_690, name="nas_cnn", tmp_path=tmp_path)
    assert model.get_layer("stage1_bn").momentum == 0.9
    headless = kerarch.build("nas_cnn", include_top=False, pooling="avg", stages=((4, 5, "separable"), (6, 3, "plain")))
    assert headless.output_shape == (None, 6)
    assert headless.get_layer("stage1_dw_conv").kernel.shape == (5, 5, 1, 1)
    with pytest.raises(ValueError, match="block must be one of"):
        kerarch.build("nas_cnn", stages=((4, 3, "dense"),))


def test_search_space_declares_conditional_stages_and_builds_the_chosen_model():
    space = CnnSearchSpace(input_shape=(8, 8, 1), num_classes=2, max_stages=2, filters=(4, 8), dense_units=(0, 8))
    hp = kt.HyperParameters()
    model = space.build(hp)  # defaults: one stage
    assert [h.name for h in hp.space] == ["stages", "stage1_filters", "stage1_kernel", "stage1_block",
                                          "stage2_filters", "stage2_kernel", "stage2_block", "dense_units"]
    assert set(hp.values) == {"stages", "stage1_filters", "stage1_kernel", "stage1_block", "dense_units"}
    assert model.name == "nas_cnn" and model.optimizer is not None
    hp.values = {"stages": 2, "stage1_filters": 8, "stage1_kernel": 5, "stage1_block": "residual",
                 "stage2_filters": 4, "stage2_kernel": 3, "stage2_block": "separable", "dense_units": 8}
    kwargs = space.builder_kwargs(hp)
    assert kwargs == {"stages": ((8, 5, "residual"), (4, 3, "separable")), "dense_units": 8}
    assert describe_architecture(kwargs) == "8x5x5 residual | 4x3x3 separable | dense 8"
    assert space.build(hp).get_layer("stage2_pw_conv").filters == 4
    with pytest.raises(KerarchError, match="use at most 3"):
        CnnSearchSpace(input_shape=(8, 8, 1), num_classes=2, max_stages=4)
    with pytest.raises(KerarchError, match="Unknown block type"):
        CnnSearchSpace(input_shape=(8, 8, 1), num_classes=2, block_types=("plain", "inception"))
    with pytest.raises(KerarchError, match="each need at least one choice"):
        CnnSearchSpace(input_shape=(8, 8, 1), num_classes=2, kernel_sizes=())
    assert space.describe(hp) == {"architecture": "8x5x5 residual | 4x3x3 separable | dense 8",
                                  "builder_kwargs": {"stages": [[8, 5, "residual"], [4, 3, "separable"]],
                                                     "dense_units": 8}}


def test_short_run_batch_norm_sets_every_batch_norm_layer():
    model = short_run_batch_norm(kerarch.build("simple_cnn", input_shape=(8, 8, 1), num_classes=2, batch_norm=True))
    momenta = [layer.momentum for layer in model.layers if hasattr(layer, "moving_variance")]
    assert momenta and set(momenta) == {0.9}


def test_only_discrete_hyperparameters_are_searchable():
    kinds = kt.engine.hyperparameters
    assert choices(kinds.Int("n", 2, 8, step=3)) == [2, 5, 8]
    assert choices(kinds.Boolean("b")) == [False, True]
    assert choices(kinds.Fixed("f", 7)) == [7]
    with pytest.raises(KerarchError, match="'rate' .Float. is not discrete"):
        choices(kinds.Float("rate", 0.0, 1.0))


# --- regularized evolution -----------------------------------------------------------------


def test_evolution_starts_random_then_mutates_one_choice_of_the_tournament_winner(tmp_path):
    # sample_size == population_size: the tournament winner is the best of the population.
    oracle = RegularizedEvolutionOracle(objective(), 14, population_size=4, sample_size=4, seed=3,
                                        hyperparameters=choice_space(["a", "b", "c", "d"], (0, 1, 2)))
    trials = drive(oracle, lambda v: float(sum(v.values())), 14, tmp_path)
    values = [t.hyperparameters.values for t in trials]
    assert len(values) == 14 and len({json.dumps(v, sort_keys=True) for v in values}) == 14  # no repeats
    for k in range(4, 14):
        population = values[k - 4 : k]  # the last 4 completed, oldest first
        parent = max(population, key=lambda v: sum(v.values()))
        assert sum(values[k][name] != parent[name] for name in parent) == 1


def test_aging_removes_the_oldest_member_even_when_it_is_the_best(tmp_path):
    oracle = RegularizedEvolutionOracle(objective(), 5, population_size=3, sample_size=1, seed=0,
                                        hyperparameters=choice_space(["a", "b"], range(5)))
    scores = iter([10.0, 1.0, 2.0, 3.0, 4.0])
    trials = drive(oracle, lambda v: next(scores), 5, tmp_path)
    ids = [t.trial_id for t in trials]
    assert oracle.population == ids[2:]  # trial 0 (score 10) and trial 1 aged out
    assert oracle.get_best_trials(1)[0].trial_id == ids[0]  # still the best trial of the search


def test_tournament_never_picks_the_worst_of_two_and_picks_the_best_half_the_time(tmp_path):
    oracle = RegularizedEvolutionOracle(objective(), 4, population_size=4, sample_size=2, seed=0,
                                        hyperparameters=choice_space(["a"], range(10)))
    scores = {}
    drive(oracle, lambda v: scores.setdefault(v["a"], float(v["a"])), 4, tmp_path)
    ranked = sorted(oracle.population, key=lambda tid: oracle.trials[tid].score)
    winners = collections.Counter(oracle.tournament(np.random.default_rng(i)).trial_id for i in range(400))
    assert winners[ranked[0]] == 0
    assert 0.4 < winners[ranked[-1]] / 400 < 0.6  # in 3 of the 6 possible pairs


def test_mutating_the_stage_count_adds_and_removes_conditional_choices():
    space = CnnSearchSpace(input_shape=(8, 8, 1), num_classes=2, max_stages=2, filters=(4, 8), dense_units=(0,))
    hp = kt.HyperParameters()
    space.builder_kwargs(hp)
    oracle = RegularizedEvolutionOracle(objective(), 10, population_size=2, sample_size=1, seed=0, hyperparameters=hp)
    one_stage = {"stages": 1, "stage1_filters": 4, "stage1_kernel": 3, "stage1_block": "plain", "dense_units": 0}
    children = [oracle.mutate(one_stage, np.random.default_rng(i)) for i in range(60)]
    grown = [c for c in children if c["stages"] == 2]
    assert grown and all({"stage2_filters", "stage2_kernel", "stage2_block"} <= set(c) for c in grown)
    assert all(c == {**one_stage, "stages": 2, **{k: c[k] for k in c if k.startswith("stage2_")}} for c in grown)
    shrunk = [c for c in (oracle.mutate(grown[0], np.random.default_rng(i)) for i in range(60)) if c["stages"] == 1]
    assert shrunk and all(c == one_stage | {k: grown[0][k] for k in one_stage if k != "stages"} for c in shrunk)
    assert all(c["dense_units"] == 0 for c in children)  # a single choice: never mutated


def test_evolution_climbs_where_random_search_does_not(tmp_path):
    space = choice_space([f"bit{i}" for i in range(10)], (0, 1))

    def best(oracle, name):
        return max(t.score for t in drive(oracle, lambda v: float(sum(v.values())), 40, tmp_path, name))

    evolved = best(RegularizedEvolutionOracle(objective(), 40, population_size=6, sample_size=3, seed=1,
                                              hyperparameters=space.copy()), "evolution")
    random = best(kt.oracles.RandomSearchOracle(objective(), 40, seed=1, hyperparameters=space.copy()), "random")
    assert evolved == 10.0 and random < 10.0


def test_evolution_rejects_a_tournament_larger_than_the_population():
    with pytest.raises(KerarchError, match="sample_size must be between 1 and population_size"):
        RegularizedEvolutionOracle(objective(), 5, population_size=2, sample_size=3)


def test_make_oracle_by_strategy_name():
    evolution = make_oracle("evolution", 6, population_size=3, sample_size=2, seed=1)
    assert isinstance(evolution, RegularizedEvolutionOracle) and evolution.population_size == 3
    assert evolution.objective.name == "val_accuracy" and evolution.objective.direction == "max"
    reinforce = make_oracle("reinforce", 6, objective="val_loss", direction="min", learning_rate=0.5, seed=1)
    assert isinstance(reinforce, ReinforceOracle) and reinforce.learning_rate == 0.5
    assert reinforce.objective.direction == "min" and reinforce.max_trials == 6
    with pytest.raises(KerarchError, match="Unknown search strategy 'random'"):
        make_oracle("random", 6)


# --- REINFORCE ----------------------------------------------------------------------------


def test_reinforce_step_by_hand():
    oracle = ReinforceOracle(objective(), 5, learning_rate=0.5, baseline_decay=0.8, seed=0)
    hp = choice_space(["x"], ("a", "b", "c"))
    hp.values = {"x": "b"}
    oracle.reinforce(hp, 0.9)  # the first reward sets the baseline: no move
    assert oracle.logits == {"x": [0.0, 0.0, 0.0]} and oracle.baseline == pytest.approx(0.9)
    hp.values = {"x": "a"}
    oracle.reinforce(hp, 0.6)  # advantage -0.3; d log p(a) / d logits = (1 - 1/3, -1/3, -1/3)
    assert oracle.logits["x"] == pytest.approx([0.5 * -0.3 * 2 / 3, 0.5 * 0.3 / 3, 0.5 * 0.3 / 3])
    assert oracle.baseline == pytest.approx(0.8 * 0.9 + 0.2 * 0.6)
    probabilities = oracle.probabilities(hp.space[0])
    assert probabilities.sum() == pytest.approx(1.0) and probabilities[0] < 1 / 3 < probabilities[1]


def test_reinforce_moves_the_controller_towards_the_rewarded_choice(tmp_path):
    space = choice_space(["x", "noise"], ("a", "b", "c"))
    oracle = ReinforceOracle(objective(), 40, learning_rate=1.0, seed=0, hyperparameters=space)
    trials = drive(oracle, lambda v: 1.0 if v["x"] == "b" else 0.0, 40, tmp_path)
    x = next(hp for hp in oracle.hyperparameters.space if hp.name == "x")
    assert oracle.probabilities(x)[1] > 0.9
    assert np.argmax(oracle.logits["x"]) == 1
    assert sum(t.hyperparameters.values["x"] == "b" for t in trials[-10:]) >= 8
    assert sum(t.hyperparameters.values["x"] == "b" for t in trials[:10]) <= 6


# --- state and resuming -------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda hp: RegularizedEvolutionOracle(objective(), 8, population_size=3, sample_size=2, seed=5, hyperparameters=hp),
    lambda hp: ReinforceOracle(objective(), 8, learning_rate=3.0, seed=5, hyperparameters=hp),
], ids=["evolution", "reinforce"])
def test_reloaded_oracle_has_the_same_state_and_proposes_the_same_next_trial(make, tmp_path):
    space = choice_space(["a", "b", "c"], (0, 1, 2, 3))
    original = make(space.copy())
    drive(original, lambda v: float(v["a"] * 3 + v["b"] - v["c"]), 5, tmp_path)
    state = json.loads(json.dumps(original.get_state()))  # keras-tuner keeps it as oracle.json
    reloaded = make(space.copy())
    reloaded._set_project_dir(tmp_path, "search")
    reloaded.reload()
    for key in ("population", "logits", "baseline"):
        assert reloaded.get_state().get(key) == state.get(key)
    assert state.get("population") or state.get("logits")  # the state is not empty
    assert reloaded.populate_space("5") == original.populate_space("5")


class ScoredTuner(kt.engine.base_tuner.BaseTuner):
    """A tuner without training: the score is a function of the choices; records the trials it ran."""

    def run_trial(self, trial):
        self.ran.append(trial.trial_id)
        values = trial.hyperparameters.values
        return float(values["a"] - values["b"])

    def on_search_begin(self):
        self.ran = []


def scored_tuner(directory, max_trials, space):
    oracle = RegularizedEvolutionOracle(kt.Objective("score", "max"), max_trials, population_size=1, sample_size=1,
                                        seed=0, hyperparameters=space.copy())
    return ScoredTuner(oracle, directory=directory, project_name="evolution", overwrite=False)


def test_search_resumes_with_only_the_missing_trial(tmp_path, capsys):
    space = choice_space(["a", "b"], range(6))
    first = scored_tuner(tmp_path, 1, space)
    first.search()
    assert first.ran == ["0"] and first.oracle.population == ["0"]

    resumed = scored_tuner(tmp_path, 2, space)
    assert "Reloading Tuner" in capsys.readouterr().out
    assert resumed.oracle.population == ["0"]  # the evolution state came back from oracle.json
    resumed.search()
    assert resumed.ran == ["1"]
    assert resumed.oracle.population == ["1"]  # population 1: the newer member replaced the older
    rows = search_history(resumed.oracle)
    assert [row["trial"] for row in rows] == [1, 2]
    assert [row["score"] for row in rows] == [row["values"]["a"] - row["values"]["b"] for row in rows]
    assert sum(rows[0]["values"][k] != rows[1]["values"][k] for k in "ab") == 1  # trial 2 mutates trial 1


def test_a_trial_interrupted_midway_is_rerun_with_the_same_choices(tmp_path):
    space = choice_space(["a", "b"], range(6))

    class Interrupted(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial):
            if trial.trial_id == "1" and not resumed:
                raise KeyboardInterrupt  # e.g. Ctrl-C: not an Exception, so keras-tuner does not catch it
            return float(trial.hyperparameters.values["a"])

    def tuner():
        oracle = ReinforceOracle(kt.Objective("score", "max"), 3, seed=2, hyperparameters=space.copy())
        return Interrupted(oracle, directory=tmp_path, project_name="reinforce", overwrite=False)

    resumed = False
    first = tuner()
    with pytest.raises(KeyboardInterrupt):
        first.search()
    proposed = first.oracle.trials["1"].hyperparameters.values
    resumed = True
    second = tuner()
    second.search()
    assert [second.oracle.trials[t].status for t in ("0", "1", "2")] == ["COMPLETED"] * 3
    assert second.oracle.trials["1"].hyperparameters.values == proposed

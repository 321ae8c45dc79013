import dataclasses
import json
import subprocess
import sys
import typing

import pytest

from kerarch import cli
from kerarch.config import RecipeConfig, describe, from_dict, option, parse_overrides, to_dict
from kerarch.errors import KerarchError


@dataclasses.dataclass
class DemoConfig(RecipeConfig):
    rate: float = option(0.1, "A float.")
    widths: typing.Tuple[int, ...] = option((8, 16), "A tuple.")
    mode: str = option("a", "A choice.", choices=("a", "b"))
    parts: typing.Tuple[str, ...] = option(("a",), "A list of choices.", choices=("a", "b"))


def test_overrides_convert_each_type():
    config = parse_overrides(DemoConfig, ["epochs=3", "rate=0.5", "widths=4,5,6", "export=false", "steps_per_epoch=none", "mode=b"])
    assert (config.epochs, config.rate, config.widths, config.export, config.steps_per_epoch, config.mode) == (
        3, 0.5, (4, 5, 6), False, None, "b"
    )
    assert parse_overrides(DemoConfig, []).widths == (8, 16)
    assert parse_overrides(DemoConfig, ["parts=b,a"]).parts == ("b", "a")


def test_override_chain_from_a_saved_config():
    saved = json.loads(json.dumps(to_dict(parse_overrides(DemoConfig, ["widths=1,2", "epochs=7"]))))
    config = parse_overrides(DemoConfig, ["rate=2"], base=from_dict(DemoConfig, saved))
    assert (config.widths, config.epochs, config.rate) == ((1, 2), 7, 2.0)


@pytest.mark.parametrize(
    "pair, message",
    [
        ("epoch=3", "Unknown key 'epoch'.*Valid keys: .*epochs"),
        ("epochs=three", "'three' for 'epochs' is not a valid int"),
        ("export=maybe", "'maybe' for 'export' is not a valid bool"),
        ("epochs=none", "'none' for 'epochs' is not a valid int"),
        ("mode=c", "'c' for 'mode' is not one of: a, b"),
        ("parts=a,c", "'a,c' for 'parts' must list one or more of: a, b \\(unknown: c\\)"),
        ("parts=", "'' for 'parts' must list one or more of: a, b"),
        ("optimizer=adagrad", "'adagrad' for 'optimizer' is not one of: sgd, momentum, nesterov, rmsprop, adam, adamw"),
        ("schedule=exp", "is not one of: constant, step, cosine, warmup_cosine, linear"),
        ("precision=float64", "is not one of: float32, mixed_float16, mixed_bfloat16"),
        ("epochs", "Expected key=value"),
        ("epochs=0", "'0' for 'epochs' must be at least 1"),
        ("devices=-2", "'-2' for 'devices' must be at least 1"),
    ],
)
def test_bad_overrides_are_explained(pair, message):
    with pytest.raises(KerarchError, match=message):
        parse_overrides(DemoConfig, [pair])


def test_describe_documents_every_key():
    rows = {key: (type_name, default, help_text) for key, type_name, default, help_text in describe(DemoConfig)}
    assert rows["widths"][:2] == ("tuple of int", "8,16")
    assert rows["steps_per_epoch"][:2] == ("int or none", "none")
    assert "One of: a, b" in rows["mode"][2]
    assert all(help_text for _, _, help_text in rows.values())


def test_config_choices_are_the_implementations_names():
    from kerarch import choices
    from kerarch.export import tflite
    from kerarch.training import optim

    fields = {f.name: f.metadata["choices"] for f in dataclasses.fields(RecipeConfig)}
    assert sorted(fields["optimizer"]) == optim.OPTIMIZERS.names()
    assert sorted(fields["schedule"]) == optim.SCHEDULES.names()
    assert fields["strategy"] == tuple(choices.STRATEGIES)
    assert fields["quantize"] == (None, *tflite.QUANTIZE_MODES) and set(tflite.QUANTIZE_MODES) < set(tflite.TFLITE_FILES)
    assert fields["int8_granularity"] == tflite.INT8_GRANULARITIES


def test_config_imports_no_keras():
    code = "import sys, kerarch.config; print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


def test_cli_lists_recipes_and_builders(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "gan-mnist" in out and "lenet-mnist" in out and "lenet5" in out and "dcgan_generator" in out


def test_cli_info_prints_defaults(capsys):
    assert cli.main(["info", "gan-mnist"]) == 0
    out = capsys.readouterr().out
    assert "latent_dim" in out and "batch_size" in out and "Override with" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "lenet-mnis"], "Unknown recipe 'lenet-mnis'. Did you mean: lenet-mnist"),
        (["run", "lenet-mnist", "learning_rat=0.1"], "Unknown key 'learning_rat'"),
        (["run", "lenet-mnist", "epochs=1.5"], "not a valid int"),
        (["run", "lenet-mnist", "--learning-rat", "0.1"], "Unknown key 'learning_rat'"),
        (["run", "lenet-mnist", "--epochs=1.5"], "not a valid int"),
        (["run", "lenet-mnist", "--epochs"], "Expected a value after --epochs"),
        (["info", "gan"], "Unknown recipe or builder 'gan'. Did you mean:"),
        (["export", "no/such/run"], "is not a run folder"),
    ],
)
def test_cli_bad_input_exits_2_with_one_paragraph(argv, message, capsys):
    assert cli.main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_cli_missing_data_dir_exits_2(workdir, capsys):
    assert cli.main(["run", "lenet-mnist", f"data_dir={workdir / 'nowhere'}"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "train-images-idx3-ubyte" in err and "Traceback" not in err


def test_cli_corrupt_data_dir_exits_2(workdir, idx_dataset, capsys):
    path = idx_dataset / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    assert cli.main(["run", "lenet-mnist", f"data_dir={idx_dataset}"]) == 2
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_console_script_exit_code_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "kerarch.cli", "run", "gan-mnist", "epochs=-"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "error: Value '-' for 'epochs' is not a valid int" in result.stderr
    assert "Traceback" not in result.stderr


def test_atomic_writes_leave_no_temp_file_and_honour_umask(tmp_path):
    import os
    import stat

    from kerarch.io import atomic_path, write_json

    write_json(tmp_path / "a.json", {"x": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "b.json", {})
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o644
    finally:
        os.umask(mask)
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "c.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]

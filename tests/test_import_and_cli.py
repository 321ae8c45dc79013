"""Fast, lazy import; the source index behind the registries; the installed namespace; the CLI's builder info."""

import ast
import configparser
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerarch import cli, index
from kerarch.errors import KerarchError

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "keras_hub", "keras_tuner", "networkx", "sklearn", "jax")


def _python(code, *, env=None, cwd=None, timeout=300):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_list_and_info_load_no_framework():
    """`import kerarch`, `--help`, `list`, a builder's signature and docs: no Keras, TensorFlow, tuner, graph or sklearn."""
    code = f"""
import contextlib, io, json, sys
import kerarch
from kerarch import cli
from kerarch.registry import BUILDERS, RECIPES
after_import = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))
names = kerarch.list_builders("resnet*"), "lenet5" in BUILDERS, len(RECIPES)
with contextlib.redirect_stdout(io.StringIO()):
    for argv in (["list"], ["info", "resnet50", "--no-params"]):
        assert cli.main(argv) == 0
    try:
        cli.main(["--help"])
    except SystemExit:
        pass
print(json.dumps([after_import, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), names]))
"""
    after_import, after_cli, (resnets, has_lenet, recipes) = json.loads(_python(code, env={"KERAS_BACKEND": "jax"}))
    assert after_import == [] and after_cli == []
    assert resnets == ["resnet101", "resnet110", "resnet152", "resnet18", "resnet20", "resnet32", "resnet34",
                       "resnet44", "resnet50", "resnet56"]
    assert has_lenet and recipes == 28


def test_subpackages_load_on_first_attribute_access():
    import kerarch

    assert kerarch.vision.__name__ == "kerarch.vision" and kerarch.training.Run.__name__ == "Run"
    with pytest.raises(AttributeError):
        kerarch.no_such_thing


def test_the_index_agrees_with_the_imported_registries():
    """Names, docstrings and signatures (with defaults) read from the source are what importing registers."""
    from kerarch.registry import BUILDERS, RECIPES

    BUILDERS._loaded(), RECIPES._loaded()  # import the families and the recipes
    assert sorted(BUILDERS._entries) == sorted(index.builders())
    assert sorted(RECIPES._entries) == sorted(index.recipes())
    for name, entry in index.builders().items():
        builder = BUILDERS._entries[name]
        assert entry.module == builder.__module__, name
        assert entry.doc == inspect.cleandoc(builder.__doc__), name
        parameters = inspect.signature(builder).parameters
        assert [p for p, _ in entry.parameters] == list(parameters), name
        for argument, default in entry.parameters:
            expected = parameters[argument].default
            if default is None:
                assert expected is inspect.Parameter.empty, (name, argument)
            else:
                try:
                    assert ast.literal_eval(default) == expected, (name, argument)
                except ValueError:  # not a literal (a call, a name): as the source writes it
                    pass
    for name, entry in index.recipes().items():
        assert entry.doc == inspect.cleandoc(RECIPES._entries[name].__doc__), name


def test_descriptions_are_whole_first_sentences():
    assert index.first_sentence("LeNet-5, as in LeCun et al. 1998. Second sentence.") == (
        "LeNet-5, as in LeCun et al. 1998.")
    assert index.first_sentence("One line\n    that goes on (e.g. This) here. Next.\n\nArgs: x") == (
        "One line that goes on (e.g. This) here.")
    assert index.first_sentence("No full stop\n\nSecond paragraph.") == "No full stop"
    summaries = [e.summary for e in [*index.builders().values(), *index.recipes().values()]]
    assert all(s.endswith((".", "!", "?")) for s in summaries), [s for s in summaries if s[-1] not in ".!?"]
    out = subprocess.run([sys.executable, "-m", "kerarch.cli", "list"], capture_output=True, text=True,
                         timeout=120).stdout
    assert "  resnet50                     ResNet-50 (bottleneck blocks).\n" in out
    assert f"  lenet-mnist                  {index.recipes()['lenet-mnist'].summary}\n" in out


def test_setup_cfg_installs_recipes_as_kerarch_recipes():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    packages = config["options"]["packages"].split()
    subpackages = sorted(f"kerarch.{p.parent.name}" for p in (ROOT / "kerarch").glob("*/__init__.py"))
    assert packages == ["kerarch", *subpackages, "kerarch_recipes"]
    assert config["options"]["package_dir"].split() == ["kerarch_recipes", "=", "recipes"]
    assert "kerarch = kerarch_recipes" in config["options.entry_points"]["kerarch.recipes"]


def test_a_projects_own_recipes_package_does_not_hide_kerarchs(tmp_path):
    """kerarch's recipes install as `kerarch_recipes`; a project's `recipes` package first on sys.path is its own."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "__init__.py").write_text("")
    code = """
import contextlib, io, json, recipes, sys
from kerarch import cli
from kerarch.registry import BUILDERS, RECIPES
out = io.StringIO()
with contextlib.redirect_stdout(out):
    assert cli.main(["list", "recipes"]) == 0
recipe = RECIPES.get("perceptron-xor")
BUILDERS.get("lenet5")
print(json.dumps([recipes.__file__, out.getvalue().count("\\n") - 1, recipe.__module__, sorted(sys.modules)]))
"""
    users, listed, module, loaded = json.loads(_python(code, env={"PYTHONPATH": str(tmp_path)}, cwd=tmp_path))
    assert users == str(tmp_path / "recipes" / "__init__.py")
    assert listed == 28 and module == "kerarch_recipes.perceptron_xor"
    # `get` imports only the module that registers the name.
    assert [m for m in loaded if m.startswith("kerarch_recipes.")] == ["kerarch_recipes.perceptron_xor"]
    assert "kerarch.vision.lenet" in loaded
    assert not [m for m in loaded if m.startswith(("kerarch.nas", "kerarch.sequence", "kerarch.graph"))]


def test_cli_overrides_take_three_spellings():
    assert cli.cli_overrides(["epochs=3", "--batch-size", "16", "--learning_rate=0.1", "--data_dir", "a=b"]) == [
        "epochs=3", "batch_size=16", "learning_rate=0.1", "data_dir=a=b"]
    with pytest.raises(KerarchError, match="Expected a value after --epochs"):
        cli.cli_overrides(["--epochs"])
    with pytest.raises(KerarchError, match="Expected a value after --export"):
        cli.cli_overrides(["--export", "--epochs", "3"])


def test_info_of_a_builder_shows_signature_docs_and_size(capsys):
    assert cli.main(["info", "lenet5"]) == 0
    out = capsys.readouterr().out
    import kerarch

    assert f"kerarch.vision.lenet.lenet5{inspect.signature(kerarch.BUILDERS.get('lenet5'))}\n" in out
    assert "lenet5(*, input_shape=(28, 28, 1), num_classes=10, include_top=True, activation='tanh', " in out
    assert "Args:" in out and "Reference:" in out
    assert out.rstrip().endswith("Parameters of the default configuration: 61,706")
    assert cli.main(["info", "mlp"]) == 0
    assert "needs input_shape= (no default)" in capsys.readouterr().out


@pytest.mark.parametrize("name, count", [("resnet50", 25_636_712), ("bert", 109_482_240), ("vae", 1_685_317)])
def test_the_default_count_builds_shape_only(name, count):
    """100M-parameter defaults count without allocating their weights (keras.StatelessScope); the VAE, a
    `keras.Model` subclass that cannot build there, is built for real and counted over its parts."""
    assert cli.default_parameter_count(name) == count


def test_a_listing_cut_short_by_its_reader_ends_quietly():
    """`kerarch list | head -1`: a reader that closes the pipe gets no traceback, and the exit status is 0."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "kerarch.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the interpreter has started: every write meets a closed pipe
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr

"""The package's dependency direction and the recipes' size, read from the source (no imports).

recipes -> frame -> training / data / export -> builder families -> layers:
nothing under kerarch/ imports the recipes, a builder family imports none
of the layers above it, and no kerarch modules import each other in a
circle.
"""

import ast
import pathlib
import statistics

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kerarch"
BUILDER_FAMILIES = ("vision", "sequence", "generative", "graph", "selfsup", "nas", "mlp", "layers")
ABOVE_BUILDERS = ("kerarch.training", "kerarch.data", "kerarch.frame", "kerarch.export", "recipes", "kerarch_recipes")


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path):
    """Every module `path` imports (at module level or inside functions), as dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            names.update(submodules)
            if not all(is_module(name) for name in submodules):  # `from package import submodule` needs no __init__ edge
                names.add(node.module)
    return names


def is_module(dotted):
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def kerarch_graph():
    """{module: set of kerarch modules it imports}, over the modules that exist."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported_modules(path) if m in modules and m != name} for name, path in modules.items()}


def is_under(module, prefixes):
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_no_module_of_kerarch_imports_the_recipes():
    offenders = {name: sorted(m for m in imported_modules(path) if is_under(m, ("recipes", "kerarch_recipes")))
                 for name, path in ((module_name(p), p) for p in PACKAGE.rglob("*.py"))}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_builder_families_import_nothing_above_them():
    families = tuple(f"kerarch.{family}" for family in BUILDER_FAMILIES)
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if is_under(name, families):
            above = sorted(m for m in imported_modules(path) if is_under(m, ABOVE_BUILDERS))
            if above:
                offenders[name] = above
    assert offenders == {}


def find_cycles(graph):
    """Import circles of a {module: imported modules} graph, each as a list that starts and ends on one module."""
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycles_between_kerarch_modules():
    assert find_cycles(kerarch_graph()) == []


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    """The reader above finds what it looks for (a file that imports upward and one in a circle)."""
    (tmp_path / "a.py").write_text("import recipes.x\nfrom kerarch.training import Run\ndef f():\n    import b\n")
    assert {"recipes.x", "kerarch.training", "b"} <= imported_modules(tmp_path / "a.py")
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("limit", [150])
def test_recipes_are_a_screen_each(limit):
    lengths = {path.name: len(path.read_text().splitlines()) for path in (ROOT / "recipes").glob("*.py")
               if path.name != "__init__.py"}
    assert {name: n for name, n in lengths.items() if n > limit} == {}
    assert statistics.median(lengths.values()) <= 60


def test_the_readme_shows_lenet_mnist_as_it_is():
    """README's "Adding a recipe" example is the real recipe module, word for word."""
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("`recipes/lenet_mnist.py` in full:\n\n```python\n", 1)[1].split("```\n", 1)[0]
    assert shown == (ROOT / "recipes" / "lenet_mnist.py").read_text()


def test_every_recipe_kind_is_importable_from_the_frame():
    import kerarch.frame

    kinds = {name: getattr(kerarch.frame, name) for name in kerarch.frame._KINDS}
    assert all(issubclass(kind, kerarch.frame.Recipe) for kind in kinds.values())

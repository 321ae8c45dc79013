"""What the registries hold, read from the source without importing it.

`kerarch list`, `kerarch info` and `kerarch.list_builders()` need the names,
one-sentence descriptions and signatures of the builders and recipes, not
the models: importing the builder families loads Keras and its backend
(seconds of CPU), and the recipes load TensorFlow. This module parses the
family modules and the recipe packages with `ast` instead:

- a function decorated `@register_builder("key")` is the builder "key";
- `register_variants(base, TABLE)` registers each row `"key": Variant(summary,
  fixed=dict(...))` of the module-level dict `TABLE`, with `base`'s
  signature less the fixed arguments and `name` defaulting to the key (as
  kerarch/variants.py does at import);
- a class decorated `@register_recipe("key")` is the recipe "key".

Defaults are shown as written in the source, a module-level constant
resolved to its literal value. tests/test_import_and_cli.py checks that this
index agrees with the registries filled by importing the modules.
"""

import ast
import dataclasses
import functools
import importlib.metadata
import importlib.util
import inspect
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The packages (kerarch/<family>/ or kerarch/<family>.py) whose modules register builders.
BUILDER_FAMILIES = ("mlp", "vision", "generative", "sequence", "selfsup", "graph", "nas")
# The entry-point group naming recipe packages (setup.cfg: kerarch = kerarch_recipes).
RECIPE_ENTRY_POINTS = "kerarch.recipes"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered name as the source declares it.

    Attributes:
        name: the registry key.
        module: the module that registers it ("kerarch.vision.resnet").
        doc: the docstring (cleaned; for a variant, as `register_variants` composes it).
        parameters: ((argument, default source or None), ...), keyword-only for builders.
    """

    name: str
    module: str
    doc: str
    parameters: tuple = ()

    @property
    def summary(self):
        """The docstring's first sentence, whole."""
        return first_sentence(self.doc)

    @property
    def signature(self):
        """The call signature as text: `(*, input_shape=(28, 28, 1), num_classes=10, name='lenet5')`."""
        if not self.parameters:
            return "()"
        parts = [name if default is None else f"{name}={default}" for name, default in self.parameters]
        return "(*, " + ", ".join(parts) + ")"


# An abbreviation's full stop does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "etc.", "Fig.", "No.")


def first_sentence(doc):
    """The first sentence of `doc`'s first paragraph, joined onto one line."""
    paragraph = " ".join(inspect.cleandoc(doc or "").split("\n\n", 1)[0].split())
    for match in re.finditer(r"[.!?](?=\s+[A-Z0-9(\"'`])", paragraph):
        end = match.end()
        if not paragraph[:end].endswith(_ABBREVIATIONS):
            return paragraph[:end]
    return paragraph


def _decorator_key(node, decorator_name):
    """"key" of `@decorator_name("key")` among `node`'s decorators, else None."""
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and _name(decorator.func) == decorator_name and decorator.args
                and isinstance(decorator.args[0], ast.Constant)):
            return decorator.args[0].value
    return None


def _name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Module:
    """One parsed module: its top-level functions and literal constants."""

    def __init__(self, path, module):
        source = path.read_text(encoding="utf-8")
        self.tree = ast.parse(source, filename=str(path))
        self.module = module
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
        self.assignments = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.assignments[node.targets[0].id] = node.value

    def default_text(self, node):
        """A default as the source writes it; a module-level literal constant by its value."""
        if isinstance(node, ast.Name) and node.id in self.assignments:
            try:
                return repr(ast.literal_eval(self.assignments[node.id]))
            except (ValueError, TypeError, SyntaxError):
                pass
        try:
            return repr(ast.literal_eval(node))  # one spelling: 'a' for "a", (1, 2) for (1,2)
        except (ValueError, TypeError, SyntaxError):
            return ast.unparse(node)

    def function(self, function):
        """(parameters, docstring) of a builder function as its decorators leave them."""
        arguments = function.args
        if arguments.args or arguments.posonlyargs or arguments.vararg:
            raise ValueError(f"{self.module}.{function.name}: builders take keyword-only arguments.")
        parameters = tuple(
            (argument.arg, None if default is None else self.default_text(default))
            for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults)
        )
        doc = inspect.cleandoc(ast.get_docstring(function, clean=False) or "")
        if any(isinstance(d, ast.Call) and _name(d.func) == "keras_application" for d in function.decorator_list):
            parameters, doc = _keras_application(parameters, doc)
        return parameters, doc

    def builders(self):
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef):
                key = _decorator_key(node, "register_builder")
                if key is not None:
                    parameters, doc = self.function(node)
                    yield Entry(key, self.module, doc, parameters)
            elif not isinstance(node, ast.ClassDef):  # a module-level `globals().update(register_variants(...))`
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and _name(call.func) == "register_variants":
                        yield from self._variants(*call.args)

    def _variants(self, base, table):
        parameters, base_doc = self.function(self.functions[base.id])
        for key_node, row in zip(self.assignments[table.id].keys, self.assignments[table.id].values):
            key = key_node.value
            summary = row.args[0].value if row.args else _keyword(row, "summary").value
            fixed = _fixed_names(_keyword(row, "fixed"))
            row_parameters = tuple(
                (name, repr(key) if name == "name" else default) for name, default in parameters if name not in fixed
            )
            doc = inspect.cleandoc(variant_docstring(summary, base_doc, drop=fixed))
            yield Entry(key, self.module, doc, row_parameters)

    def recipes(self):
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                key = _decorator_key(node, "register_recipe")
                if key is not None:
                    yield Entry(key, self.module, inspect.cleandoc(ast.get_docstring(node) or ""))


# kerarch/vision/applications.py's `keras_application` decorator adds these arguments before `name`
# and documents them with that module's `_document`. That module imports Keras, so its `_document`
# runs here from the source: the function and the module's literal constants, nothing else.
_APPLICATION_ARGUMENTS = ("weights", "input_tensor", "classes")
_LIGHT_MODULES = ("inspect", "re", "textwrap")


@functools.cache
def _application_document():
    """applications.py's `_document(doc)`, run on its literal constants and the standard library only."""
    tree = ast.parse((PACKAGE_DIR / "vision" / "applications.py").read_text(encoding="utf-8"))
    namespace = {name: importlib.import_module(name) for name in _LIGHT_MODULES}
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            namespace.update({target.id: value for target in node.targets})
        elif isinstance(node, ast.FunctionDef) and node.name == "_document":
            exec(compile(ast.Module([node], []), "kerarch/vision/applications.py", "exec"), namespace)  # noqa: S102
    return namespace["_document"]


def _keras_application(parameters, doc):
    """What `keras_application` does to a builder's signature and docstring."""
    at = [name for name, _ in parameters].index("name")
    parameters = parameters[:at] + tuple((a, "None") for a in _APPLICATION_ARGUMENTS) + parameters[at:]
    try:
        doc = inspect.cleandoc(_application_document()(doc))
    except Exception:  # noqa: BLE001 - a listing never fails on documentation; the index test reports the drift
        pass
    return parameters, doc


def variant_docstring(summary, base_doc, *, drop):
    """The variant's summary, then the base docstring without its first line and the `drop` arguments.

    kerarch/variants.py composes each variant's `__doc__` with it, so `kerarch info` and `help()` agree.
    """
    body = inspect.cleandoc(base_doc).split("\n", 1)[1].strip("\n") + "\n"
    for argument in drop:
        # A Google-style entry: "    name: text" and its deeper-indented continuation lines.
        body = re.sub(rf"^( +){argument}: .*\n(?:\1 +\S.*\n)*", "", body, flags=re.MULTILINE)
    lines = f"{inspect.cleandoc(summary)}\n\n{body}".rstrip().splitlines()
    return "\n".join([lines[0]] + [f"    {line}" if line else "" for line in lines[1:]]) + "\n"


def _keyword(call, name):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _fixed_names(node):
    """The argument names of a `fixed=dict(a=1)` or `fixed={"a": 1}`."""
    if node is None:
        return ()
    if isinstance(node, ast.Call):
        return tuple(keyword.arg for keyword in node.keywords)
    return tuple(key.value for key in node.keys)


def _modules(package_dir, package):
    """(path, module name) of every module of a package folder, sorted; or the one module file."""
    if package_dir.suffix == ".py":
        return [(package_dir, package)]
    return [
        (path, f"{package}.{path.stem}" if path.stem != "__init__" else package)
        for path in sorted(package_dir.glob("*.py"))
    ]


def _index(modules, kind):
    entries = {}
    for path, module in modules:
        for entry in getattr(_Module(path, module), kind)():
            if entry.name in entries:
                raise ValueError(f"{kind[:-1]} {entry.name!r} is declared twice ({entries[entry.name].module}, {module}).")
            entries[entry.name] = entry
    return dict(sorted(entries.items()))


@functools.cache
def builders():
    """{builder key: Entry} for every builder of kerarch's builder families."""
    modules = []
    for family in BUILDER_FAMILIES:
        path = PACKAGE_DIR / family
        modules += _modules(path if path.is_dir() else path.with_suffix(".py"), f"kerarch.{family}")
    return _index(modules, "builders")


@functools.cache
def recipes():
    """{recipe key: Entry} for every recipe of the packages in the "kerarch.recipes" entry-point group."""
    modules = []
    for entry in importlib.metadata.entry_points(group=RECIPE_ENTRY_POINTS):
        spec = importlib.util.find_spec(entry.value)  # finds the package without running it
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            modules += [(path, module) for path, module in _modules(Path(location), entry.value)
                        if path.stem != "__init__"]
    return _index(modules, "recipes")

"""Name → object registries for builders and recipes.

Modelled on timm's `@register_model`, but strict: registering a name twice
raises, and a lookup of an unknown name suggests the closest known names.
A registry fills itself on first use: `BUILDERS` imports the builder
families, `RECIPES` the recipe packages that installed packages declare
under the entry-point group "kerarch.recipes" (setup.cfg), so kerarch
itself never imports a recipe. Names, descriptions and signatures come from
`kerarch.index`, which reads the same modules' source without importing them:
listing a registry loads neither Keras nor TensorFlow, and `get` imports
only the module that registers the name.
"""

import difflib
import fnmatch
import importlib
import importlib.metadata
import pkgutil

from kerarch import index
from kerarch.errors import KerarchError
from kerarch.index import BUILDER_FAMILIES, RECIPE_ENTRY_POINTS  # kerarch.index imports no kerarch module


class Registry:
    """A mapping from explicit string keys to registered objects."""

    def __init__(self, kind, *, load=None, index=None):
        self.kind = kind
        self._entries = {}
        self._load = load  # called once, before the first lookup, to import the modules that register
        self._index = index  # () -> {name: kerarch.index.Entry}, what `load` will register, read from the source

    def _loaded(self):
        if self._load is not None:
            load, self._load = self._load, None
            load()
        return self._entries

    def register(self, name):
        """Decorator that registers its target under `name`."""

        def decorator(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._entries[name] = obj
            return obj

        return decorator

    def _known(self):
        """Every name: the indexed ones without importing anything, and those registered so far."""
        if self._index is None:
            return self._loaded().keys()
        return self._index().keys() | self._entries.keys()

    def get(self, name):
        """The registered object: imports the one module the index names, or else all registering modules."""
        if name not in self._entries and self._index is not None and self._load is not None:
            entry = self._index().get(name)
            if entry is not None:
                importlib.import_module(entry.module)
        if name not in self._entries and name not in self._loaded():
            raise KerarchError(self.unknown_message(name))
        return self._entries[name]

    def entry(self, name):
        """The `kerarch.index.Entry` of `name` (summary, signature, docstring), read from the source.

        Raises:
            KerarchError: `name` is not indexed (not registered, or registered outside the indexed modules).
        """
        entries = self._index() if self._index is not None else {}
        if name not in entries:
            raise KerarchError(self.unknown_message(name))
        return entries[name]

    def unknown_message(self, name):
        known = sorted(self._known())
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(known)}."

    def names(self, pattern="*"):
        return sorted(n for n in self._known() if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name):
        return name in self._known()

    def __len__(self):
        return len(self._known())




def _import_builder_families():
    for family in BUILDER_FAMILIES:
        importlib.import_module(f"kerarch.{family}")


def _import_recipe_packages():
    """Imports every module of each package named in the "kerarch.recipes" entry-point group."""
    for entry in importlib.metadata.entry_points(group=RECIPE_ENTRY_POINTS):
        package = importlib.import_module(entry.value)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")


BUILDERS = Registry("builder", load=_import_builder_families, index=index.builders)
RECIPES = Registry("recipe", load=_import_recipe_packages, index=index.recipes)


def register_builder(name):
    """Registers a model-building function under `name` (its model name too)."""
    return BUILDERS.register(name)

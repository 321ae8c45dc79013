"""Name → object registries for builders and recipes.

Modelled on timm's `@register_model`, but strict: registering a name twice
raises, and a lookup of an unknown name suggests the closest known names.
A registry fills itself on first use: `BUILDERS` imports the builder
families, `RECIPES` the recipe packages that installed packages declare
under the entry-point group "kerarch.recipes" (setup.cfg), so kerarch
itself never imports a recipe.
"""

import difflib
import fnmatch
import importlib
import importlib.metadata
import pkgutil

from kerarch.errors import KerarchError


class Registry:
    """A mapping from explicit string keys to registered objects."""

    def __init__(self, kind, *, load=None):
        self.kind = kind
        self._entries = {}
        self._load = load  # called once, before the first lookup, to import the modules that register

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

    def get(self, name):
        if name not in self._loaded():
            raise KerarchError(self.unknown_message(name))
        return self._entries[name]

    def unknown_message(self, name):
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return (
            f"Unknown {self.kind} {name!r}.{hint} "
            f"Known {self.kind}s: {', '.join(sorted(self._entries))}."
        )

    def names(self, pattern="*"):
        return sorted(n for n in self._loaded() if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name):
        return name in self._loaded()

    def __len__(self):
        return len(self._loaded())


BUILDER_FAMILIES = ("mlp", "vision", "generative", "sequence", "selfsup", "graph", "nas")
RECIPE_ENTRY_POINTS = "kerarch.recipes"


def _import_builder_families():
    for family in BUILDER_FAMILIES:
        importlib.import_module(f"kerarch.{family}")


def _import_recipe_packages():
    """Imports every module of each package named in the "kerarch.recipes" entry-point group."""
    for entry in importlib.metadata.entry_points(group=RECIPE_ENTRY_POINTS):
        package = importlib.import_module(entry.value)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")


BUILDERS = Registry("builder", load=_import_builder_families)
RECIPES = Registry("recipe", load=_import_recipe_packages)


def register_builder(name):
    """Registers a model-building function under `name` (its model name too)."""
    return BUILDERS.register(name)

"""Name → object registries for builders and recipes.

Modelled on timm's `@register_model`, but strict: registering a name twice
raises, and a lookup of an unknown name suggests the closest known names.
"""

import difflib
import fnmatch

from kerarch.errors import KerarchError


class Registry:
    """A mapping from explicit string keys to registered objects."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name):
        """Decorator that registers its target under `name`."""

        def decorator(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name):
        if name not in self._entries:
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
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name):
        return name in self._entries

    def __len__(self):
        return len(self._entries)


BUILDERS = Registry("builder")
RECIPES = Registry("recipe")


def register_builder(name):
    """Registers a model-building function under `name` (its model name too)."""
    return BUILDERS.register(name)

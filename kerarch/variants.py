"""Builder variants: one base builder per family, a table of its variants, one helper.

A family (the ImageNet ResNets, VGG, the recurrent networks, the BERT
heads, ...) has one base builder with keyword-only arguments, e.g.
`build_resnet(*, depth, input_shape=..., ...)`, documented once. Its
variants are the rows of a table: registry key -> `Variant` (a summary and
the arguments the variant fixes, e.g. `depth=50`). `register_variants`
registers every row as a real function: its `inspect.signature` is the base
builder's without the fixed arguments and with `name` defaulting to the
registry key, and its docstring is the variant's summary followed by the
base builder's description, Args (less the fixed ones), Returns and
Reference. `help()`, IDEs and `kerarch list` thus show the real arguments,
and a wrong keyword raises the usual TypeError.
"""

import dataclasses
import inspect

from kerarch.index import variant_docstring
from kerarch.registry import register_builder


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of a family's table.

    Attributes:
        summary: the variant's own docstring text; its first line is what
            `kerarch list` shows.
        fixed: base-builder arguments the variant sets; they leave its signature.
    """

    summary: str
    fixed: dict = dataclasses.field(default_factory=dict)


def register_variants(base, table):
    """Registers every row of `table` as a builder calling `base` with the row's fixed arguments.

    Args:
        base: the family's builder; keyword-only arguments, one of them `name`.
        table: {registry key: `Variant`}.

    Returns:
        {registry key: builder function}, to bind in the family's module
        (`globals().update(...)`), so `from kerarch.vision.resnet import resnet50` works.

    Raises:
        ValueError: a row fixes an argument `base` does not take.
    """
    return {key: register_builder(key)(_variant(base, key, variant)) for key, variant in table.items()}


def _variant(base, key, variant):
    base_signature = inspect.signature(base)
    unknown = set(variant.fixed) - set(base_signature.parameters)
    if unknown:
        raise ValueError(f"Variant {key!r} fixes {sorted(unknown)}, which {base.__name__} does not take.")
    signature = base_signature.replace(
        parameters=[
            parameter.replace(default=key) if parameter.name == "name" else parameter
            for parameter in base_signature.parameters.values()
            if parameter.name not in variant.fixed
        ]
    )

    def builder(**kwargs):
        arguments = signature.bind(**kwargs)  # an unknown keyword raises TypeError, as in a plain function
        arguments.apply_defaults()
        return base(**variant.fixed, **arguments.arguments)

    builder.__name__ = builder.__qualname__ = key
    builder.__module__ = base.__module__
    builder.__signature__ = signature
    builder.__doc__ = variant_docstring(variant.summary, base.__doc__, drop=variant.fixed)
    return builder

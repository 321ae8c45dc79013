"""The `kerarch` command: list, info, run and export recipes.

    kerarch list [recipes|builders]
    kerarch info NAME            (a recipe's config keys, or a builder's signature, docstring and size)
    kerarch run NAME key=value --key value --key=value ...
    kerarch export RUN_DIR quantize=int8 ...

`--help`, `list` and `info` of a builder read kerarch.index (the source),
so they load neither Keras nor TensorFlow; a builder's parameter count
builds it (shape-only) and `info` of a recipe imports the recipe.
Bad input prints one paragraph and exits with status 2, never a traceback.
"""

import argparse
import errno
import logging
import os
import sys
import textwrap

EXIT_USAGE = 2


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("kerarch").setLevel(logging.INFO)  # also where the root logger was set up before (log.txt)
    parser = _parser()
    args = parser.parse_args(argv)
    if {"-h", "--help"} & set(getattr(args, "overrides", ())):  # `kerarch run NAME --help`
        parser.parse_args([args.command, "--help"])
    from kerarch.errors import KerarchError

    try:
        return args.handler(args) or 0
    except KerarchError as error:
        return _fail(error)
    except BrokenPipeError:  # the reader went away (`kerarch list | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        if error.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f" {error.filename}" if error.filename else ""
        return _fail(f"cannot write{where}: {error.strerror or error}. Nothing finished was lost: free space or "
                     "fix the permissions, then run the same command again to continue.")
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to continue from the last finished epoch or phase.", file=sys.stderr)
        return 130


# A full or read-only disk, missing permissions: the machine's state, not a bug, so a message instead of a traceback.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _fail(message):
    print(textwrap.fill(f"error: {message}", width=100, break_on_hyphens=False, break_long_words=False), file=sys.stderr)
    return EXIT_USAGE


class _Formatter(logging.Formatter):
    """One line per message; warnings as a framed, wrapped paragraph that stands out."""

    def format(self, record):
        message = record.getMessage()
        if record.levelno < logging.WARNING:
            return f"[kerarch] {message}"
        rule = "!" * 100
        body = textwrap.fill(f"{record.levelname}: {message}", width=100, break_on_hyphens=False, break_long_words=False)
        return f"{rule}\n{body}\n{rule}"


def _parser():
    parser = argparse.ArgumentParser(prog="kerarch", description="Keras 3 architectures: builders and recipes.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list recipes and builders")
    p.add_argument("what", nargs="?", choices=("recipes", "builders", "all"), default="all")
    p.set_defaults(handler=_list)

    p = sub.add_parser("info", help="a recipe's config keys and defaults, or a builder's signature, docs and size")
    p.add_argument("name")
    p.add_argument("--no-params", action="store_true", help="builders: skip the parameter count (which builds the model)")
    p.set_defaults(handler=_info)

    p = sub.add_parser("run", help="run a recipe: data → model → train → evaluate → export",
                       description="Overrides: key=value, --key value or --key=value (--learning-rate: learning_rate).")
    p.add_argument("name")
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="key=value")
    p.set_defaults(handler=_run)

    p = sub.add_parser("export", help="re-export a finished run's best model")
    p.add_argument("run_dir")
    p.add_argument(
        "overrides", nargs=argparse.REMAINDER, metavar="key=value",
        help="format=keras,saved_model,tflite (default all); quantize=none|dynamic|float16|int8; data_dir=",
    )
    p.set_defaults(handler=_export)
    return parser


def _list(args):
    from kerarch.registry import BUILDERS, RECIPES

    if args.what in ("recipes", "all"):
        print("Recipes (make recipe NAME=<name>):")
        for name in RECIPES.names():
            print(f"  {name:28s} {RECIPES.entry(name).summary}")
    if args.what in ("builders", "all"):
        print("Builders (kerarch.build(<name>, ...)):")
        for name in BUILDERS.names():
            print(f"  {name:28s} {BUILDERS.entry(name).summary}")


def _info(args):
    from kerarch.registry import BUILDERS, RECIPES

    if args.name in BUILDERS and args.name not in RECIPES:
        return _builder_info(args.name, count=not args.no_params)
    if args.name not in RECIPES:
        import difflib

        from kerarch.errors import KerarchError

        close = difflib.get_close_matches(args.name, RECIPES.names() + BUILDERS.names(), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KerarchError(f"Unknown recipe or builder {args.name!r}.{hint} `kerarch list` shows them all.")
    from kerarch.config import describe
    from kerarch.frame import get_recipe
    from kerarch.index import first_sentence

    recipe = get_recipe(args.name)
    print(f"{recipe.name}: {first_sentence(recipe.__doc__)}\n")
    print(f"{'key':22s} {'type':16s} {'default':12s} description")
    for key, type_name, default, help_text in describe(recipe.Config):
        print(f"{key:22s} {type_name:16s} {default:12s} {help_text}")
    print(f'\nOverride with: make recipe NAME={recipe.name} ARGS="key=value ..."')


def _builder_info(name, *, count):
    from kerarch.registry import BUILDERS

    entry = BUILDERS.entry(name)
    print(f"kerarch.build({name!r}, ...) -- {entry.module}.{name}{entry.signature}\n")
    print(textwrap.indent(entry.doc, "    "), flush=True)
    if not count:
        return
    required = [argument for argument, default in entry.parameters if default is None]
    if required:
        print(f"\nParameters: the default configuration needs {', '.join(f'{a}=' for a in required)} (no default).")
        return
    try:
        count = default_parameter_count(name)
    except Exception as error:  # e.g. a default that needs a download: the signature and docs are still shown
        first_line = (str(error).strip().splitlines() or [""])[0]
        print(f"\nParameters: the default configuration did not build ({type(error).__name__}: {first_line})")
        return
    print(f"\nParameters of the default configuration: {count:,}")


def default_parameter_count(name, **kwargs):
    """The parameter count of `kerarch.build(name, **kwargs)`, built shape-only where it can be.

    Inside a `keras.StatelessScope` that does not initialise variables, layers
    create variables without values, so even the 100M-parameter defaults
    (BERT, GPT-2, VGG) count in seconds and no memory. The few builders that
    cannot build there (BYOL's target network copies weights; the VAE and
    the graph classifier's readout) are small and built for real. Counted as
    `count_params` does, over the model's weights (a `keras.Model`
    subclass such as the VAE is counted over its built parts).
    """
    import math

    import keras

    import kerarch

    try:
        with keras.StatelessScope(initialize_variables=False):
            model = kerarch.build(name, **kwargs)
            return sum(math.prod(weight.shape) for weight in model.weights)
    except Exception:  # noqa: BLE001 - not buildable shape-only: build it
        model = kerarch.build(name, **kwargs)
        return sum(math.prod(weight.shape) for weight in model.weights)


def cli_overrides(tokens):
    """`key=value` overrides from `key=value`, `--key=value` and `--key value` tokens (`--a-b` is `a_b`)."""
    from kerarch.errors import KerarchError

    overrides, tokens = [], list(tokens)
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("--"):
            overrides.append(token)
            continue
        key, equals, value = token[2:].partition("=")
        if not equals:
            if not tokens or tokens[0].startswith("--"):
                raise KerarchError(f"Expected a value after {token} (--key value, --key=value or key=value).")
            value = tokens.pop(0)
        overrides.append(f"{key.replace('-', '_')}={value}")
    return overrides


def _run(args):
    from kerarch.frame import run_recipe

    run_recipe(args.name, cli_overrides(args.overrides))


def _export(args):
    from kerarch.frame import reexport
    from kerarch.training.run import export_rows

    report = reexport(args.run_dir, cli_overrides(args.overrides))
    print(f"exported to {report['dir']}")
    for path, size, check in export_rows(report):
        print(f"  {path:24s} {size:>11,} bytes  {check}")


if __name__ == "__main__":
    sys.exit(main())

"""The `kerarch` command: list, info, run and export recipes.

    kerarch list [recipes|builders]
    kerarch info NAME
    kerarch run NAME key=value ...
    kerarch export RUN_DIR quantize=int8 ...

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
    args = _parser().parse_args(argv)
    from kerarch.errors import KerarchError

    try:
        return args.handler(args) or 0
    except KerarchError as error:
        return _fail(error)
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

    p = sub.add_parser("info", help="show a recipe's config keys and defaults")
    p.add_argument("name")
    p.set_defaults(handler=_info)

    p = sub.add_parser("run", help="run a recipe: data → model → train → evaluate → export")
    p.add_argument("name")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(handler=_run)

    p = sub.add_parser("export", help="re-export a finished run's best model")
    p.add_argument("run_dir")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="format=keras,saved_model,tflite (default all); quantize=none|dynamic|float16|int8; data_dir=",
    )
    p.set_defaults(handler=_export)
    return parser


def _list(args):
    from kerarch.registry import RECIPES as recipes

    if args.what in ("recipes", "all"):
        print("Recipes (make recipe NAME=<name>):")
        for name in recipes.names():
            print(f"  {name:28s} {recipes.get(name).description()}")
    if args.what in ("builders", "all"):
        import kerarch

        print("Builders (kerarch.build(<name>, ...)):")
        for name in kerarch.list_builders():
            doc = (kerarch.BUILDERS.get(name).__doc__ or "").strip().splitlines()
            print(f"  {name:28s} {doc[0] if doc else ''}")


def _info(args):
    from kerarch.config import describe
    from kerarch.frame import get_recipe

    recipe = get_recipe(args.name)
    print(f"{recipe.name}: {recipe.description()}\n")
    print(f"{'key':22s} {'type':16s} {'default':12s} description")
    for key, type_name, default, help_text in describe(recipe.Config):
        print(f"{key:22s} {type_name:16s} {default:12s} {help_text}")
    print(f'\nOverride with: make recipe NAME={recipe.name} ARGS="key=value ..."')


def _run(args):
    from kerarch.frame import run_recipe

    run_recipe(args.name, args.overrides)


def _export(args):
    from kerarch.frame import reexport
    from kerarch.training.run import export_rows

    report = reexport(args.run_dir, args.overrides)
    print(f"exported to {report['dir']}")
    for path, size, check in export_rows(report):
        print(f"  {path:24s} {size:>11,} bytes  {check}")


if __name__ == "__main__":
    sys.exit(main())

"""The ``zapledger`` command: a thin shell over the Python API.

This package is the only place that knows about terminals and exit codes: library code raises
typed errors, :func:`main` turns each into one line and a distinct exit code. Heavy modules are
imported inside the commands so that ``zapledger --help`` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

import typer

from ..exceptions import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    CommandError,
    CommandNotConfirmedError,
    ConfigError,
    MeterError,
    PriceError,
    StoreError,
    UsageError,
    ZapledgerError,
)
from ._common import rewrite_deprecated, state

__all__ = ["EXIT_CODES", "app", "main"]

app = typer.Typer(
    name="zapledger",
    help="Keep, check and show the energy history of a myenergi zappi; control the charger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Exit codes by error class, most specific first. 2 is click's usage error.
EXIT_CODES: tuple[tuple[type[ZapledgerError], int], ...] = (
    (UsageError, 2),
    (ConfigError, 3),
    (AuthenticationError, 4),
    (CommandError, 7),
    (CommandNotConfirmedError, 7),
    (BadResponseError, 6),
    (MeterError, 6),
    (PriceError, 6),
    (ApiError, 5),
    (StoreError, 8),
    (ZapledgerError, 1),
)
EXIT_INTERNAL = 70


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"zapledger {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show details of errors."),
    db: str | None = typer.Option(
        None, "--db", envvar="ZAPLEDGER_DB", help="Database URL (sqlite:///… or postgresql://…)."
    ),
    _version_flag: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.verbose = verbose
    state.db_url = db
    from ._logs import setup_logging

    setup_logging(verbose)


for _name in (
    "_core",
    "_control",
    "_sync",
    "_meter",
    "_report",
    "_ha",
    "_prices",
    "_sessions",
    "_live",
):
    import_module(f"{__name__}.{_name}").register(app)


def exit_code_for(exc: ZapledgerError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1  # pragma: no cover - ZapledgerError is last in EXIT_CODES


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script exits with it)."""
    from rich.markup import escape

    from ..config import new_run

    new_run()
    err = state.err_console()
    args = rewrite_deprecated(list(sys.argv[1:] if argv is None else argv), err.print)
    try:
        code = app(args=args, prog_name="zapledger", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.TyperException as exc:  # click's usage errors: one line, like ours
        return _usage_error(exc)
    except typer.Abort:
        err.print("aborted")
        return 1
    except ZapledgerError as exc:
        err.print(f"[bold red]error:[/] {escape(_one_line(exc))}", soft_wrap=True)
        if state.verbose:
            err.print_exception()
        return exit_code_for(exc)
    except Exception as exc:
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(_one_line(exc))}",
            soft_wrap=True,
        )
        if state.verbose:
            err.print_exception()
        else:
            err.print("run again with --verbose for details, and please report it")
        return EXIT_INTERNAL
    return code if isinstance(code, int) else 0


def _usage_error(exc: typer.TyperException) -> int:
    """A usage error as one line naming the command's --help (a bare command shows its help)."""
    from rich.markup import escape

    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        sys.stdout.write(ctx.get_help() + "\n")
        return 2
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    state.err_console().print(
        f"[bold red]error:[/] {escape(_one_line(exc))}{escape(hint)}", soft_wrap=True
    )
    code = getattr(exc, "exit_code", 2)
    return code if isinstance(code, int) else 2


def _one_line(exc: BaseException) -> str:
    """The message on one line, through the one redaction function (the last line of defence)."""
    from ..redact import redact

    message = exc.format_message() if isinstance(exc, typer.TyperException) else str(exc)
    text = " ".join(message.split())
    return redact(text) or type(exc).__name__


def run() -> None:  # pragma: no cover - console-script entry point
    sys.exit(main())

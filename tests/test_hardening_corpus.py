"""Every command, every argument and option, every setting, fed hostile values: never exit 70.

The commands are found by walking the typer app, so a command added later is covered without
touching this file. Each value is tried alone, on top of arguments that make the command
otherwise valid (BASE), in-process with a cloud that refuses every connection on loopback.
Allowed: exit 0-8 (a value may be legitimately fine, or a usage, config, network, data or
database error), one error line at most, no traceback. Exit 70 is reserved for real bugs.
"""

from __future__ import annotations

import io
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from zapledger.cli import app, main
from zapledger.config import _ENV as SETTING_VARS  # the one list of settings
from zapledger.redact import forget_secrets

FIXTURES = Path(__file__).parent / "fixtures"
HUB = "10088888"
KEY = "corpus-api-key-0042"

#: Hostile values for any argument or option: empty, huge, negative, non-ASCII, wrong type, far
#: past, far future, path tricks (none may leave tmp_path: the cwd is deep inside it, and the
#: absolute paths are ones nothing can be written into).
HOSTILE = [
    "",
    "-1",
    "99999999999999999999",
    "1e308",
    "nan",
    "x" * 5000,
    "１２３",  # fullwidth digits
    "é€😀",
    "0001-01-01",
    "9999-12-31",
    "../../../../etc/passwd",
    "/dev/zero",
    "/proc",
    "a\nb",
]

#: Fewer values where the type rules most of them out before any code of ours runs.
HOSTILE_NUMBERS = ["", "-1", "99999999999999999999", "1e308", "nan", "１２３"]
HOSTILE_CHOICES = ["", "é€😀", "x" * 5000]

#: Arguments that make each command valid apart from the value under test (positionals, options).
BASE: dict[str, tuple[list[str], list[str]]] = {
    "history": (["2026-01-01"], []),
    "decode": ([str(FIXTURES / "status_zappi_example.json")], []),
    "login": ([], ["--hub-serial", HUB, "--api-key", KEY, "--no-check"]),
    "mode": (["eco"], []),
    "boost": (["5"], []),
    "min-green": (["50"], []),
    "priority": (["1"], []),
    "chart": (["2026-11"], []),
    "boost-timers set": (["11"], []),
    "meter import": ([str(FIXTURES / "meter_totals.csv")], []),
    "meter read": ([], ["--port", "loop://"]),
}

#: Settings as TOML values: wrong types, empty, huge, non-ASCII, a NUL, path tricks, far dates.
HOSTILE_TOML = [
    "true",
    "[1]",
    "{ a = 1 }",
    '""',
    '"' + "x" * 5000 + '"',
    "-1",
    "99999999999999999999",
    '"１２３"',
    '"\\u0000"',
    '"../../../../etc/passwd"',
    '"http://127.0.0.1:99999"',
]
SETTING_COMMANDS = [
    ["status"],
    ["report"],
    ["meter", "import", str(FIXTURES / "meter_totals.csv")],
]


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    yield from walk(get_command(app), [])


COMMANDS = dict(_commands())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hostile_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cloud that refuses on loopback, a private database, and long-running bodies stubbed:
    a value that passes validation reaches them, and the test records that as a pass."""
    import zapledger.collect
    import zapledger.integrations.metrics
    import zapledger.integrations.mqtt
    import zapledger.meters
    import zapledger.simulator
    from zapledger.cli import _common, _demo
    from zapledger.meters import ReadStats

    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", HUB)
    monkeypatch.setenv("ZAPLEDGER_API_KEY", KEY)
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{tmp_path / 'z.sqlite3'}")
    monkeypatch.setenv("ZAPLEDGER_TZ", "UTC")
    monkeypatch.setenv("ZAPLEDGER_MAX_FILE_BYTES", str(1024 * 1024))
    monkeypatch.setitem(_common.CLIENT_OPTIONS, "max_attempts", 1)
    monkeypatch.setattr(zapledger.simulator, "serve_forever", lambda *a, **k: None)
    monkeypatch.setattr(_demo, "run_demo", lambda *a, **k: None)

    async def no_collector(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(zapledger.collect, "run_collector", no_collector)
    # the MQTT bridge and the metrics server run until a signal, like the collector
    monkeypatch.setattr(zapledger.integrations.mqtt, "run_bridge", no_collector)
    monkeypatch.setattr(zapledger.integrations.metrics, "serve_store_metrics", no_collector)
    for reader in ("read_serial", "read_tcp", "poll_homewizard"):
        monkeypatch.setattr(zapledger.meters, reader, lambda *a, **k: ReadStats(source="stub"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    deep = tmp_path / "a" / "b" / "c" / "d" / "e" / "f"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    logger = logging.getLogger("zapledger")  # `collect` sets up its log lines on every run
    handlers, level = list(logger.handlers), logger.level
    yield tmp_path
    logger.handlers[:], logger.level = handlers, level
    forget_secrets()  # values given as keys here are no secrets of any later test


def _check(args: list[str], capsys: pytest.CaptureFixture[str]) -> str | None:
    """None when the run is acceptable, else what was wrong."""
    code = main(args)
    _, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    if code not in range(9) and code != 130:
        return f"exit {code}: {err.strip()[:300]}"
    if "Traceback" in err or len(errors) > 1:
        return f"not one line: {err.strip()[:300]}"
    return None


def _invocations(name: str, command: Any) -> Iterator[list[str]]:
    positionals, options = BASE.get(name, ([], []))
    path = name.split()
    params = [p for p in command.params if p.name != "help"]
    arguments = [p for p in params if p.param_type_name == "argument"]
    filled = list(positionals) or ["1" for p in arguments if p.required]
    for param in params:
        if getattr(param, "is_flag", False):
            yield [*path, *filled, *options, param.opts[0]]
            continue
        for value in _values_for(param):
            if param.param_type_name == "argument":
                index = arguments.index(param)
                args = list(filled) + [""] * (index + 1 - len(filled))
                args[index] = value
                yield [*path, *args, *options]
            else:
                rest = _without(options, param.opts)
                yield [*path, *filled, *rest, param.opts[0], value]


def _values_for(param: Any) -> list[str]:
    """The corpus for a parameter: by its Python type (numbers, a choice, or text and paths)."""
    kind = getattr(param.bare_type(), "__name__", str(param.bare_type()))
    if kind in ("int", "float"):
        return HOSTILE_NUMBERS
    if kind not in ("str", "Path"):
        return HOSTILE_CHOICES
    return HOSTILE


def _without(options: list[str], names: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for token in options:
        if skip:
            skip = False
            continue
        if token in names:
            skip = True
            continue
        out.append(token)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_survives_hostile_values(
    name: str, hostile_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = []
    for args in _invocations(name, COMMANDS[name]):
        problem = _check(args, capsys)
        if problem is not None:
            problems.append(f"{args!r}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("root_option", ["--db"])
def test_global_options_survive_hostile_values(
    root_option: str, hostile_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = []
    for value in HOSTILE:
        for command in (["report"], ["sync", "--from", "2026-01-01"]):
            args = [root_option, value, *command]
            problem = _check(args, capsys)
            if problem is not None:
                problems.append(f"{args!r}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("setting", sorted(SETTING_VARS))
def test_every_setting_survives_hostile_values(
    setting: str, hostile_env: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = hostile_env / "config.toml"
    monkeypatch.setenv("ZAPLEDGER_CONFIG", str(config))
    monkeypatch.delenv(SETTING_VARS[setting], raising=False)
    problems = []
    for value in HOSTILE_TOML:
        config.write_text(f"{setting} = {value}\n", encoding="utf-8")
        config.chmod(0o600)
        for command in SETTING_COMMANDS:
            problem = _check(command, capsys)
            if problem is not None:
                problems.append(f"{setting} = {value[:40]} / {command[0]}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_corpus_covers_every_command() -> None:
    assert {"status", "history", "decode", "login", "sync", "report", "meter import"} <= set(
        COMMANDS
    )
    assert all(name in COMMANDS for name in BASE)

"""No credential in any message: one redaction function for every shape a secret can take."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zapledger.cli import main
from zapledger.exceptions import StoreError
from zapledger.redact import (
    REDACTED,
    RedactingFilter,
    normalise_userinfo,
    redact,
    register_secret,
    url_secrets,
)
from zapledger.store import open_store

#: Any printable character (space included), as a user may put in a database password.
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.characters(
    categories=("L", "N", "P", "S"), max_codepoint=0x2FFF
)
PASSWORDS = st.text(PRINTABLE, min_size=1, max_size=24)
#: Long enough that "not in the message" is a meaningful check (a 1-character password is a
#: letter of every message); shorter ones are checked by the exact shape of redact's output.
LONG_PASSWORDS = st.text(PRINTABLE, min_size=8, max_size=24).filter(lambda p: p.strip() == p)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _libpq_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- redact() by shape -----------------------------------------------------------------------


@given(password=PASSWORDS)
def test_url_password_of_any_characters_becomes_stars(password: str) -> None:
    url = f"postgresql://zap:{password}@db.example:5432/zap?sslmode=require"
    assert redact(url) == f"postgresql://zap:{REDACTED}@db.example:5432/zap?sslmode=require"


@given(password=PASSWORDS)
def test_url_inside_a_sentence_keeps_the_rest(password: str) -> None:
    text = f"cannot open postgresql://zap:{password}@127.0.0.1:5432/zap: refused"
    assert redact(text) == f"cannot open postgresql://zap:{REDACTED}@127.0.0.1:5432/zap: refused"


@given(password=PASSWORDS)
def test_libpq_key_value_password_becomes_stars(password: str) -> None:
    conninfo = f"host=127.0.0.1 password={_libpq_quote(password)} dbname=zap"
    assert redact(conninfo) == f"host=127.0.0.1 password={REDACTED} dbname=zap"


@given(password=LONG_PASSWORDS)
def test_registered_secret_is_scrubbed_anywhere(password: str) -> None:
    register_secret(password)
    assert password not in redact(f"boom: {password!s} and {password!r}")


@given(password=PASSWORDS)
def test_normalised_url_reads_back_the_same_password(password: str) -> None:
    url = normalise_userinfo(f"postgresql://zap:{password}@h:5432/db")
    userinfo = url.removeprefix("postgresql://").rsplit("@", 1)[0]
    assert unquote(userinfo.split(":", 1)[1]) == unquote(password)
    assert "/" not in userinfo and "@" not in userinfo and "#" not in userinfo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_key = \"abc def\"", "api_key = ***"),
        ("postgresql://u@h/db?sslmode=require&password=pw", "postgresql://u@h/db?sslmode=require&password=***"),
        ("Authorization: Digest username=\"1\", response=\"x\"", "Authorization: ***"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("mail me at user@example.org", "mail me at user@example.org"),
        ("token: s3cr3t-token", "token: ***"),
    ],
)  # fmt: skip
def test_shapes_without_knowing_the_value(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_url_secrets_of_both_forms() -> None:
    assert "p#/?@ss" in url_secrets("postgresql://u:p#/?@ss@h/db")
    assert "it's" in url_secrets("host=h password='it\\'s' dbname=d")


# --- errors of open_store --------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=LONG_PASSWORDS)
def test_unreachable_postgres_url_never_shows_the_password(password: str) -> None:
    url = f"postgresql://zap:{password}@127.0.0.1:{_closed_port()}/zap?connect_timeout=5"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert password not in message and "\n" not in message


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=LONG_PASSWORDS)
def test_unreachable_postgres_conninfo_never_shows_the_password(password: str) -> None:
    conninfo = (
        f"postgresql://127.0.0.1:{_closed_port()}/zap?connect_timeout=5&password="
        + password.replace("%", "%25").replace("&", "%26").replace("#", "%23")
    )
    with pytest.raises(StoreError) as info:
        open_store(conninfo)
    assert password not in str(info.value)


def test_unknown_scheme_never_shows_a_password_with_odd_characters() -> None:
    with pytest.raises(StoreError) as info:
        open_store("mysql://admin:pa/ss#wo?rd@db.example/zap")
    assert "pa/ss#wo?rd" not in str(info.value) and "ss#wo" not in str(info.value)


def test_libpq_string_error_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "libpq-secret w0rd"
    url = f"postgresql://host=127.0.0.1 port={_closed_port()} password={_libpq_quote(password)}"
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert password not in str(info.value) and "w0rd" not in str(info.value)


def test_cli_error_line_is_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql://zap:cli#pass/word@127.0.0.1:{_closed_port()}/zap?connect_timeout=5"
    code = main(["--db", url, "report", "--from", "2026-01-01", "--to", "2026-01-02"])
    err = capsys.readouterr().err
    assert code == 8
    assert "cli#pass/word" not in err and "pass/word" not in err and "cli#pass" not in err
    assert len(err.strip().splitlines()) == 1


# --- logs ------------------------------------------------------------------------------------


def test_logging_filter_redacts_userinfo_and_registered_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_secret("registered-api-key-77")
    logger = logging.getLogger("zapledger.test-redact")
    record = logger.makeRecord(
        logger.name,
        logging.DEBUG,
        __file__,
        1,
        "GET %s with %s",
        ("http://user:pw#1@director.example/x", "registered-api-key-77"),
        None,
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == f"GET http://user:{REDACTED}@director.example/x with {REDACTED}"


def test_verbose_log_of_a_director_url_has_no_userinfo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = _closed_port()
    monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", f"http://admin:d1r#pw@127.0.0.1:{port}")
    monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", "10088888")
    monkeypatch.setenv("ZAPLEDGER_API_KEY", "verbose-key-123")
    from zapledger.cli import _common

    monkeypatch.setitem(_common.CLIENT_OPTIONS, "max_attempts", 1)
    try:
        code = main(["-v", "status"])
    finally:
        from zapledger.cli._logs import setup_logging

        setup_logging(False)
    err = capsys.readouterr().err
    assert code == 5
    assert "GET http://admin:***@127.0.0.1" in err
    assert "d1r" not in err and "verbose-key-123" not in err

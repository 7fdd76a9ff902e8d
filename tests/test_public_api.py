"""The documented public API: every name in ``__all__`` resolves; heavy modules load lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import zapledger


@pytest.mark.parametrize("name", zapledger.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(zapledger, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = zapledger.no_such_thing


def test_every_error_derives_from_the_base() -> None:
    errors = [getattr(zapledger, n) for n in zapledger.__all__ if n.endswith("Error")]
    assert all(issubclass(e, zapledger.ZapledgerError) for e in errors)


def test_cli_help_does_not_load_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from zapledger.cli import app\n"
        "heavy = {'httpx', 'matplotlib', 'psycopg', 'dsmr_parser', 'jinja2', 'msgspec'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_top_level_sync_and_reconcile_are_the_functions() -> None:
    from zapledger import reconcile, sync

    assert callable(sync) and sync.__name__ == "sync"
    assert callable(reconcile) and reconcile.__name__ == "reconcile"

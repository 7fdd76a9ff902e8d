"""Files written safely: private directories under any umask, the config never through a link,
existing outputs refused without --force, a database read without writing."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from zapledger.cli import main
from zapledger.models import HistoryRecord, Resolution
from zapledger.store import open_store

HUB = "10088888"
KEY = "files-test-key-0042"
NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _login(monkeypatch: pytest.MonkeyPatch, key: str = KEY) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    return main(["login", "--hub-serial", HUB, "--api-key-stdin", "--no-check"])


def _hour(start: datetime, import_j: int) -> HistoryRecord:
    return HistoryRecord(timestamp=start, duration_s=3600, import_j=import_j)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _config(tmp_path: Path) -> Path:
    return tmp_path / "xdg-config" / "zapledger" / "config.toml"


# --- config and data directories ---------------------------------------------------------------


def test_login_under_umask_000_makes_private_dirs_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_000: None
) -> None:
    assert _login(monkeypatch) == 0
    config = _config(tmp_path)
    assert _mode(config) == 0o600
    assert _mode(config.parent) == 0o700
    assert _mode(config.parent.parent) == 0o700  # the XDG dir it had to create as well


def test_data_dir_is_created_private_under_umask_000(tmp_path: Path, umask_000: None) -> None:
    db = tmp_path / "data" / "deep" / "z.sqlite3"
    with open_store(f"sqlite:///{db}"):
        pass
    assert _mode(db.parent) == 0o700 and _mode(db.parent.parent) == 0o700


def test_a_planted_tmp_symlink_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    config.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere.txt"
    target.write_text("original\n")
    (config.parent / "config.toml.tmp").symlink_to(target)
    assert _login(monkeypatch) == 0
    assert target.read_text() == "original\n"
    assert not config.is_symlink() and KEY in config.read_text()
    assert not (config.parent / "config.toml.tmp").exists()


def test_readable_config_warns_on_every_run_until_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _login(monkeypatch) == 0
    capsys.readouterr()
    config = _config(tmp_path)
    config.chmod(0o644)
    for _ in range(2):
        code, _, err = run(capsys, "gaps", "--since", "2026-01-01")
        assert code == 0
        assert [line for line in err.splitlines() if "other users" in line] == [
            f"warning: {config} can be read by other users (it holds your API key): "
            f"chmod 600 {config}"
        ]
    config.chmod(0o600)
    _, _, err = run(capsys, "gaps", "--since", "2026-01-01")
    assert "other users" not in err


def test_login_refuses_an_empty_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _login(monkeypatch, key="   ") == 2
    assert "empty" in capsys.readouterr().err
    assert not _config(tmp_path).exists()


def test_login_help_warns_against_the_key_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "login", "--help")
    assert code == 0
    assert "--api-key-stdin" in out and "process" in out


# --- outputs -----------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store" / "z.sqlite3"
    with open_store(f"sqlite:///{path}") as store:
        store.upsert_device("16000001", "zappi")
        store.upsert_history(
            "16000001",
            Resolution.HOUR,
            [_hour(datetime(2026, 11, 1, h, tzinfo=UTC), 3_600_000) for h in range(24)],
        )
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{path}")
    monkeypatch.setenv("ZAPLEDGER_TZ", "UTC")
    return path


RANGE = ("--from", "2026-11-01", "--to", "2026-11-01")


def test_export_refuses_an_existing_file_unless_forced(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export.csv"
    out.write_text("keep me\n")
    code, _, err = run(capsys, "export", *RANGE, "-o", str(out))
    assert code == 3
    assert err.strip() == f"error: {out} already exists: give --force to overwrite it"
    assert out.read_text() == "keep me\n"
    assert run(capsys, "export", *RANGE, "-o", str(out), "--force")[0] == 0
    assert out.read_text().count("\n") == 25


def test_html_report_refuses_an_existing_page_unless_forced(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "html"
    assert run(capsys, "report", *RANGE, "--html", str(folder))[0] == 0
    page = folder / "report-2026-11-01_2026-11-01.html"
    first = page.read_bytes()
    code, _, err = run(capsys, "report", *RANGE, "--html", str(folder))
    assert code == 3 and "already exists: give --force" in err
    assert run(capsys, "report", *RANGE, "--html", str(folder), "--force")[0] == 0
    assert page.read_bytes() == first


def test_charts_refuse_existing_files_unless_forced(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "charts"
    assert run(capsys, "chart", "2026-11-01", "--out", str(folder))[0] == 0
    code, _, err = run(capsys, "chart", "2026-11-01", "--out", str(folder))
    assert code == 3 and "already exists" in err
    assert run(capsys, "chart", "2026-11-01", "--out", str(folder), "--force")[0] == 0


def test_an_unwritable_output_path_is_one_clear_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run(capsys, "export", *RANGE, "-o", str(blocker / "out.csv"))
    assert code == 3
    assert err.strip() == f"error: cannot write {blocker / 'out.csv'}: Not a directory"
    code, _, err = run(capsys, "report", *RANGE, "--html", str(blocker))
    assert code == 3 and len(err.strip().splitlines()) == 1 and "cannot" in err


def test_export_never_writes_through_a_symlink(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("untouched\n")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    code, _, _ = run(capsys, "export", *RANGE, "-o", str(link), "--force")
    assert code == 3
    assert target.read_text() == "untouched\n"


# --- the database ------------------------------------------------------------------------------


def test_sync_without_credentials_creates_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "never" / "z.sqlite3"
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{path}")
    code, _, err = run(capsys, "sync", "--since", "2026-01-01")
    assert code == 3 and "no credentials" in err
    assert not path.parent.exists()


def test_reading_commands_create_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "none" / "z.sqlite3"
    monkeypatch.setenv("ZAPLEDGER_DB", f"sqlite:///{path}")
    for args in (("report", *RANGE), ("gaps", "--since", "2026-11-01"), ("reconcile", *RANGE)):
        code, _, err = run(capsys, *args)
        assert code == 0, err
    assert not path.parent.exists()


def test_a_database_that_needs_migrating_is_a_clear_error_when_read_only(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER, description, applied_at)")
        conn.execute("INSERT INTO schema_migrations VALUES (1, 'first', 0)")
    from zapledger.exceptions import StoreError

    with pytest.raises(StoreError, match="run a writing command"):
        open_store(f"sqlite:///{path}", read_only=True)
    with open_store(f"sqlite:///{path}") as store:  # a writing open migrates it
        assert store.schema_version() > 1


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="zapledger-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        path.chmod(0o755)
        shutil.rmtree(path)


def test_report_reads_a_database_in_a_read_only_directory(shared_dir: Path) -> None:
    folder = shared_dir / "data"
    db = folder / "z.sqlite3"
    with open_store(f"sqlite:///{db}") as store:
        store.upsert_history(
            "16000001",
            Resolution.HOUR,
            [_hour(datetime(2026, 11, 1, 5, tzinfo=UTC), 7_200_000)],
        )
    for extra in folder.iterdir():
        extra.chmod(0o644)
    folder.chmod(0o555)
    before = sorted(p.name for p in folder.iterdir())
    command = [sys.executable, "-c", "from zapledger.cli import run; run()", "report", *RANGE]
    command.append("--json")
    if os.geteuid() == 0:  # root ignores permissions: read as nobody
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ZAPLEDGER_DB": f"sqlite:///{db}",
        "ZAPLEDGER_TZ": "UTC",
        "HOME": str(shared_dir),
        "XDG_CONFIG_HOME": str(shared_dir / "config"),
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"import_kwh": 2.0' in done.stdout.replace("2.0,", "2.0")
    assert sorted(p.name for p in folder.iterdir()) == before

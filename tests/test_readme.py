"""The README's "Use it from Python" block runs as written, against the simulator."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from zapledger.simulator import Simulator

README = Path(__file__).parent.parent / "README.md"


def _python_section() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the section holds one Python block"
    return str(blocks[0])


def test_readme_python_section_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Simulator(seed=1, hub_serial="10088888", api_key="readme-key") as sim:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ZAPLEDGER_HUB_SERIAL", "10088888")
        monkeypatch.setenv("ZAPLEDGER_API_KEY", "readme-key")
        monkeypatch.setenv("ZAPLEDGER_DIRECTOR_URL", sim.url)
        code = compile(_python_section(), str(README), "exec")
        exec(code, {"__name__": "readme"})  # noqa: S102
    out = capsys.readouterr().out.splitlines()
    assert "23 hours" in out
    assert "sync ok: True" in out
    # the three local days of the balance, each with the kWh that went into the car
    assert [line.split()[0] for line in out if "kWh into the car" in line] == [
        "2026-03-28",
        "2026-03-29",
        "2026-03-30",
    ]
    assert (tmp_path / "report" / "report-2026-03-28_2026-03-30.html").is_file()
    db = sqlite3.connect(tmp_path / "zapledger.sqlite3")
    try:
        (hours,) = db.execute("SELECT count(*) FROM history_hour").fetchone()
    finally:
        db.close()
    assert hours == 24 + 23 + 24

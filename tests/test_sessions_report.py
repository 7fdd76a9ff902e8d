"""The sessions table and the solar-share chart of the HTML report."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from test_sessions import fixture, load
from zapledger.report._charts import session_share_chart
from zapledger.report._html import build_report_page, render_html
from zapledger.sessions import sessions
from zapledger.store import Store, open_store

TZ = "Europe/London"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
DAY = date(2024, 5, 10)


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as s:
        load(s, fixture("gaps"))
        load(s, fixture("plug"))
        yield s


def test_chart_draws_each_sessions_solar_share(store: Store) -> None:
    report = sessions(store, date(2024, 5, 1), date(2024, 8, 31), TZ, now=NOW)
    chart = session_share_chart(report)
    shares = [100 * (s.solar_share or 0) for s in report.sessions]
    # one bar per session in time order; bars of height 0 (all grid) are not drawn
    drawn = chart.drawn("solar_share")
    assert drawn.x == tuple(float(i) for i, v in enumerate(shares) if v)
    assert drawn.y == pytest.approx([v for v in shares if v])
    assert chart.png[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_lists_the_sessions_with_their_chart(store: Store) -> None:
    page = build_report_page(store, DAY, DAY, TZ, now=NOW)
    assert page.sessions is not None and page.sessions_chart is not None
    html = render_html(page)
    table = html.split('<table id="sessions-table">', 1)[1].split("</tbody>", 1)[0]
    table = table.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 5
    first = re.findall(r"<td>(.*?)</td>", rows[0])
    assert first[:4] == ["2024-05-10 11:00 BST", "12:15 BST", "1:15", "1.97"]
    assert first[-1] == "16"
    assert "31 minutes inside sessions are missing" in html
    embedded = re.findall(
        r'id="chart-sessions-[^"]*">\s*<img src="data:image/png;base64,([^"]*)"', html
    )
    assert [base64.b64decode(e) for e in embedded] == [page.sessions_chart.png]


def test_no_section_without_sessions(store: Store) -> None:
    page = build_report_page(store, date(2024, 6, 1), date(2024, 6, 2), TZ, now=NOW)
    assert page.sessions is None and page.sessions_chart is None
    assert 'id="sessions"' not in render_html(page)


def test_a_long_range_lists_the_sessions_of_its_last_days(store: Store) -> None:
    page = build_report_page(store, date(2024, 5, 1), date(2024, 8, 31), TZ, now=NOW)
    assert page.sessions is not None
    assert (page.sessions["from"], page.sessions["to"]) == ("2024-07-01", "2024-08-31")
    assert [s["start"][:10] for s in page.sessions["sessions"]] == ["2024-08-20"] * 2
    assert "Sessions that started from 2024-07-01 to 2024-08-31" in render_html(page)

"""A HomeWizard P1 meter over its local API, with python-homewizard-energy (extra ``homewizard``).

The dongle answers ``GET http://<host>/api/v1/data`` with the meter's totalisers in kWh. The
answer has no meter time, so readings carry the receive time. ``host`` may include a port
(``192.168.1.20:8080``). One failed poll is counted, never fatal; a disabled local API is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..exceptions import MeterError
from ..models import MeterReading
from ._common import Issue, IssueKind, ReadingSink, ReadStats, kwh_to_joules, reading_time

__all__ = ["homewizard_readings", "poll_homewizard"]

#: channel -> the attribute of python-homewizard-energy's ``Data`` that holds it
_FIELDS = {
    "import_t1": "total_energy_import_t1_kwh",
    "import_t2": "total_energy_import_t2_kwh",
    "export_t1": "total_energy_export_t1_kwh",
    "export_t2": "total_energy_export_t2_kwh",
}
#: a single-tariff meter reports only a total: it is tariff 1
_SINGLE_TARIFF = {"import_t1": "total_energy_import_kwh", "export_t1": "total_energy_export_kwh"}


def homewizard_readings(data: Any, meter_id: str, received_at: datetime) -> list[MeterReading]:
    """Readings from one answer of the dongle (its ``Data`` object)."""
    ts = reading_time(received_at)
    values: dict[str, Any] = {ch: getattr(data, name, None) for ch, name in _FIELDS.items()}
    for channel, name in _SINGLE_TARIFF.items():
        if values[channel] is None:
            values[channel] = getattr(data, name, None)
    return [
        MeterReading(meter_id, channel, ts, kwh_to_joules(value), "homewizard", "receive")
        for channel, value in values.items()
        if value is not None
    ]


def _client_class() -> Any:
    try:
        import homewizard_energy
    except ImportError:  # pragma: no cover - the extra is part of the test environment
        raise MeterError("HomeWizard support needs: pip install 'zapledger[homewizard]'") from None
    return homewizard_energy.HomeWizardEnergy


async def poll_homewizard(
    host: str,
    *,
    sink: ReadingSink | None = None,
    interval_s: float = 10.0,
    count: int | None = None,
    meter_id: str | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    timeout_s: int = 10,
) -> ReadStats:
    """Poll the dongle every ``interval_s`` until ``stop`` is set or ``count`` polls were made."""
    from homewizard_energy.errors import DisabledError, UnsupportedError

    stats = ReadStats(source=f"homewizard://{host}")
    async with _client_class()(host, timeout=timeout_s) as api:
        while (count is None or stats.units < count) and not (stop and stop.is_set()):
            stats.units += 1
            try:
                data = await api.data()
            except (DisabledError, UnsupportedError) as exc:
                raise MeterError(f"HomeWizard {host}: {exc}") from None
            except Exception as exc:  # one failed poll is counted; the next may work
                message = f"poll failed: {type(exc).__name__}: {exc}"
                stats.add_issue(Issue(IssueKind.POLL, message))
            else:
                ident = meter_id or getattr(data, "unique_meter_id", None) or f"homewizard-{host}"
                readings = homewizard_readings(data, str(ident), clock())
                if readings:
                    stats.accepted += 1
                    stats.note_readings(readings)
                    if sink is not None:
                        sink(readings)
                else:
                    stats.add_issue(Issue(IssueKind.NO_TOTALISER, "no totaliser in the answer"))
            if count is not None and stats.units >= count:
                break
            if stop is None:
                await asyncio.sleep(interval_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
    return stats

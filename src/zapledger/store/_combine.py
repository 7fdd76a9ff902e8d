"""Combining per-device bucket sums into site energy (pure functions over rows).

The database sums each device's records per bucket; what is left here is small (one row per
device and bucket): folding repeated buckets and counting the site-wide values once.

A bucket row is ``(bucket_start_epoch, records, import_j, export_j, generation_j,
generation_negative_j, diverted_j, boosted_j)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["combine_devices", "merge_adjacent"]

Row = tuple[Any, ...]
#: Indexes of the site-wide values (import, export, generation, generation negative).
_SITE = slice(2, 6)


def merge_adjacent(rows: Sequence[Row]) -> list[Row]:
    """Sum consecutive rows of the same bucket (one device, rows in time order)."""
    out: list[Row] = []
    for row in rows:
        if out and out[-1][0] == row[0]:
            prev = out[-1]
            out[-1] = (prev[0], *(a + b for a, b in zip(prev[1:], row[1:], strict=True)))
        else:
            out.append(row)
    return out


def combine_devices(per_device: Sequence[tuple[str, Sequence[Row]]]) -> list[Row]:
    """One row per bucket over all devices, in bucket order.

    Records and diverted/boosted energy are summed. Import, export and generation are seen by
    every device on the grid CT, so they are taken from one device per bucket: the lowest serial
    (text order) that reports any of them there. A device without a grid CT (zeros) never hides
    one with it; a bucket where none reports any keeps zeros.
    """
    if len(per_device) == 1:
        return list(per_device[0][1])
    acc: dict[int, list[Any]] = {}
    for _serial, rows in sorted(per_device, key=lambda item: item[0]):
        for row in rows:
            current = acc.get(row[0])
            if current is None:
                acc[row[0]] = list(row)
                continue
            current[1] += row[1]
            current[6] += row[6]
            current[7] += row[7]
            if not any(current[_SITE]) and any(row[_SITE]):
                current[_SITE] = row[_SITE]
    return [tuple(acc[bucket]) for bucket in sorted(acc)]

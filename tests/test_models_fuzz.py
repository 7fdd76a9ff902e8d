"""Property: decoding arbitrary JSON raises nothing but the documented bad-response error."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zapledger.exceptions import BadResponseError
from zapledger.models import Resolution, decode_any, decode_history, decode_status

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
_field_names = st.sampled_from(
    ["sno", "zmo", "sta", "pst", "vol", "frq", "dat", "tim", "lck", "pwm", "div", "cmt", "sbh",
     "ectt1", "ectp1", "bsm", "che", "mgl", "yr", "mon", "dom", "hr", "min", "imp", "v1"]
)  # fmt: skip
_zappi_like = st.dictionaries(_field_names, _scalars, max_size=12)
_shaped = st.one_of(
    _json,
    st.builds(lambda z: {"zappi": [z]}, _zappi_like),
    st.builds(lambda z: [{"zappi": [z]}, {"asn": "x"}], _zappi_like),
    st.builds(lambda r: {"U1": [r]}, _zappi_like),
    st.builds(lambda rs: {"U1": rs}, st.lists(_zappi_like, max_size=4)),
)


def _decode_all(data: bytes) -> None:
    decoders: tuple[Callable[[], object], ...] = (
        lambda: decode_status(data),
        lambda: decode_history(data, Resolution.MINUTE),
        lambda: decode_history(data, Resolution.HOUR),
        lambda: decode_any(data),
    )
    for decode in decoders:
        with contextlib.suppress(BadResponseError):
            decode()


@settings(max_examples=300, deadline=None)
@given(_shaped)
def test_arbitrary_json_only_raises_bad_response(payload: Any) -> None:
    _decode_all(json.dumps(payload).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_raise_bad_response(data: bytes) -> None:
    _decode_all(data)

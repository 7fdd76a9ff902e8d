"""The simulated cloud's transport: digest auth, the asn header, director and account moves."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.request import parse_http_list, parse_keqv_list

import httpx
import pytest

from zapledger.simulator import ASN_HEADER, Faults, Simulator

HUB, KEY = "10088888", "sim-api-key"
NOW = datetime(2024, 6, 15, 12, 30, 20, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed=1, hub_serial=HUB, api_key=KEY, now=NOW) as s:
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(auth=httpx.DigestAuth(HUB, KEY), timeout=5) as c:
        yield c


def _challenge_fields(response: httpx.Response) -> dict[str, str]:
    scheme, _, rest = response.headers["www-authenticate"].partition(" ")
    assert scheme == "Digest"
    return parse_keqv_list(parse_http_list(rest))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def test_request_without_credentials_gets_a_digest_challenge(sim: Simulator) -> None:
    r = httpx.get(f"{sim.asn_url}/cgi-jstatus-*")
    assert r.status_code == 401
    fields = _challenge_fields(r)
    assert fields["realm"] == "MyEnergi Telemetry"
    assert fields["qop"] == "auth"
    assert fields["algorithm"] == "MD5"
    assert fields["nonce"] and fields["opaque"]
    assert r.headers[ASN_HEADER] == sim.asn


def test_httpx_digest_auth_is_accepted(sim: Simulator, client: httpx.Client) -> None:
    r = client.get(f"{sim.asn_url}/cgi-jstatus-E")
    assert r.status_code == 200
    assert r.json() == {"eddi": []}


def test_wrong_key_is_refused(sim: Simulator) -> None:
    r = httpx.get(f"{sim.asn_url}/cgi-jstatus-E", auth=httpx.DigestAuth(HUB, "wrong-key"))
    assert r.status_code == 401
    assert r.headers[ASN_HEADER] == sim.asn


def test_wrong_hub_serial_is_refused(sim: Simulator) -> None:
    r = httpx.get(f"{sim.asn_url}/cgi-jstatus-E", auth=httpx.DigestAuth("10000001", KEY))
    assert r.status_code == 401


def test_curl_digest_works(sim: Simulator) -> None:
    out = subprocess.run(
        ["curl", "-s", "-i", "--digest", "-u", f"{HUB}:{KEY}", f"{sim.asn_url}/cgi-jstatus-E"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    final = out.split("HTTP/1.1 ")[-1]
    assert final.startswith("200")
    assert f"X_MYENERGI-asn: {sim.asn}" in final
    assert final.rstrip().endswith('{"eddi":[]}')


def test_curl_digest_with_wrong_key_gets_401(sim: Simulator) -> None:
    code = subprocess.run(
        [
            *("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--digest"),
            *("-u", f"{HUB}:bad", f"{sim.asn_url}/cgi-jstatus-E"),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    assert code == "401"


def _authorization(nonce: str, uri: str, key: str = KEY, **override: str) -> str:
    ha1 = _md5(f"{HUB}:MyEnergi Telemetry:{key}")
    ha2 = _md5(f"GET:{uri}")
    response = _md5(f"{ha1}:{nonce}:00000001:abcdef:auth:{ha2}")
    fields = {
        "username": HUB,
        "realm": "MyEnergi Telemetry",
        "nonce": nonce,
        "uri": uri,
        "response": response,
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "abcdef",
        **override,
    }
    quoted = ", ".join(
        f"{k}={v}" if k in ("qop", "nc") else f'{k}="{v}"' for k, v in fields.items()
    )
    return f"Digest {quoted}"


def test_hand_made_digest_is_verified_hash_and_uri(sim: Simulator) -> None:
    nonce = _challenge_fields(httpx.get(f"{sim.asn_url}/cgi-jstatus-E"))["nonce"]
    uri = "/cgi-jstatus-E"
    url = f"{sim.asn_url}{uri}"
    ok = httpx.get(url, headers={"Authorization": _authorization(nonce, uri)})
    assert ok.status_code == 200
    bad_cases = [
        _authorization(nonce, uri, key="other"),
        _authorization(nonce, "/cgi-jstatus-Z"),
        _authorization("0" * 32, uri),
        _authorization(nonce, uri, realm="Other"),
        _authorization(nonce, uri, algorithm="SHA-256"),
        _authorization(nonce, uri, qop="auth-int"),
        "Basic MTAwODg4ODg6c2ltLWFwaS1rZXk=",
        'Digest username="10088888"',
    ]
    for header in bad_cases:
        r = httpx.get(url, headers={"Authorization": header})
        assert r.status_code == 401, header


def test_digest_without_qop_rfc2069_is_accepted(sim: Simulator) -> None:
    nonce = _challenge_fields(httpx.get(f"{sim.asn_url}/cgi-jstatus-E"))["nonce"]
    uri = "/cgi-jstatus-E"
    ha1 = _md5(f"{HUB}:MyEnergi Telemetry:{KEY}")
    response = _md5(f"{ha1}:{nonce}:{_md5('GET:' + uri)}")
    header = (
        f'Digest username="{HUB}", realm="MyEnergi Telemetry", nonce="{nonce}", '
        f'uri="{uri}", response="{response}"'
    )
    assert httpx.get(f"{sim.asn_url}{uri}", headers={"Authorization": header}).status_code == 200


def test_expired_nonce_is_refused() -> None:
    with Simulator(now=NOW, nonce_ttl_s=0.0) as sim:
        nonce = _challenge_fields(httpx.get(f"{sim.asn_url}/cgi-jstatus-E"))["nonce"]
        header = _authorization(nonce, "/cgi-jstatus-E")
        r = httpx.get(f"{sim.asn_url}/cgi-jstatus-E", headers={"Authorization": header})
        assert r.status_code == 401


def test_asn_header_on_every_response(sim: Simulator, client: httpx.Client) -> None:
    sim.fail_next("500")
    sim.fail_next("429")
    sim.fail_next("html502")
    responses = [client.get(f"{sim.url}/cgi-jstatus-E") for _ in range(3)]
    responses += [
        client.get(f"{sim.url}/cgi-jstatus-E"),
        client.get(f"{sim.url}/no-such-page"),
        client.post(f"{sim.url}/cgi-jstatus-E"),
        httpx.get(f"{sim.url}/cgi-jstatus-E"),
    ]
    assert [r.status_code for r in responses] == [500, 429, 502, 200, 404, 405, 401]
    assert all(r.headers[ASN_HEADER] == sim.asn for r in responses)


def test_director_serves_but_points_at_the_asn_server(sim: Simulator, client: httpx.Client) -> None:
    r = client.get(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 200
    director = sim.url.removeprefix("http://")
    assert r.headers[ASN_HEADER] != director
    assert r.headers[ASN_HEADER] == sim.asn == sim.servers["asn1"]


def test_move_account_makes_old_server_refuse_with_new_asn(
    sim: Simulator, client: httpx.Client
) -> None:
    old_url = sim.asn_url
    assert client.get(f"{old_url}/cgi-jstatus-E").status_code == 200
    new_asn = sim.move_account()
    assert new_asn == sim.servers["asn2"] != old_url.removeprefix("http://")
    refused = client.get(f"{old_url}/cgi-jstatus-E")
    assert refused.status_code == 401
    assert refused.headers[ASN_HEADER] == new_asn
    assert "www-authenticate" in refused.headers
    followed = client.get(f"http://{refused.headers[ASN_HEADER]}/cgi-jstatus-E")
    assert followed.status_code == 200
    assert sim.stats.account_moves == 1


def test_asn_change_fault_moves_the_account_every_n_requests(client: httpx.Client) -> None:
    with Simulator(now=NOW, faults=Faults.parse("asn-change=3")) as sim:
        first = sim.asn
        seen = [client.get(f"{sim.url}/cgi-jstatus-E").headers[ASN_HEADER] for _ in range(7)]
        # digest: the first call costs two requests (challenge + answer)
        assert seen[0] == first
        assert len(set(seen)) == 2
        assert sim.stats.account_moves == 2


def test_head_request_has_no_body(sim: Simulator) -> None:
    r = httpx.head(f"{sim.url}/cgi-jstatus-E")
    assert r.status_code == 401
    assert r.content == b""
    assert r.headers[ASN_HEADER] == sim.asn


def test_unknown_path_is_a_404_html_page(sim: Simulator, client: httpx.Client) -> None:
    r = client.get(f"{sim.url}/cgi-does-not-exist")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert r.text.lstrip().startswith("<!DOCTYPE HTML")


def test_simulator_rejects_bad_arguments_and_hides_the_key() -> None:
    with pytest.raises(ValueError, match="digits"):
        Simulator(hub_serial="abc")
    with pytest.raises(ValueError, match="asn"):
        Simulator(asn_servers=1)
    with pytest.raises(ValueError, match="latency"):
        Simulator(latency_ms=-1)
    sim = Simulator(api_key="very-secret-key")
    assert "very-secret-key" not in repr(sim)
    assert "very-secret-key" not in repr(sim._digest)
    with pytest.raises(RuntimeError):
        _ = sim.url


def test_simulator_starts_only_once() -> None:
    sim = Simulator()
    with sim:
        with pytest.raises(RuntimeError):
            sim.start()
        assert "http://127.0.0.1:" in repr(sim)
    sim.stop()


def test_bind_failure_releases_ports() -> None:
    with Simulator() as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="in use"):
            Simulator(port=port).start()


def test_any_host_binding_would_advertise_loopback() -> None:
    assert Simulator(host="0.0.0.0", api_key="own-key")._public_host == "127.0.0.1"
    assert Simulator(host="127.0.0.2")._public_host == "127.0.0.2"


def test_stdlib_error_pages_carry_the_asn_header(sim: Simulator) -> None:
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70000 + b"\r\n\r\n")
        head = conn.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 431")
    assert f"X_MYENERGI-asn: {sim.asn}\r\n" in head

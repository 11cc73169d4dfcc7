"""SSRF guard: refused at registration and again at connect time."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jeeves_control_tower.webhooks.ssrf import BlockedAddressError, GuardedTransport, UrlGuard
from jeeves_protocols import InvalidInterruptError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",  # loopback
        "http://localhost:8080/hook",  # a name for loopback
        "http://10.0.0.5/",  # private
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",  # link-local cloud metadata
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[fd00:ec2::254]/",  # AWS IPv6 metadata
        "http://100.100.100.200/",  # Alibaba metadata
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/",  # ... in hex
        "http://0177.0.0.1/",  # ... in octal
        "http://127.1/",  # ... shortened
        "http://0.0.0.0/",
        "http://user:pw@example.com/",
        "ftp://example.com/",
        "not a url",
    ],
)
def test_internal_addresses_are_refused_at_registration(url: str) -> None:
    with pytest.raises(InvalidInterruptError) as caught:
        UrlGuard().check_url(url)
    assert caught.value.field == "url"


def test_public_addresses_pass() -> None:
    assert UrlGuard().check_url("https://93.184.216.34/hook") == "https://93.184.216.34/hook"


def test_the_allow_list_opens_loopback_only() -> None:
    guard = UrlGuard(["127.0.0.0/8"])
    assert guard.check_url("http://127.0.0.1:9000/hook")
    with pytest.raises(InvalidInterruptError):
        guard.check_url("http://10.0.0.1/hook")


async def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time() -> None:
    # Registration may have seen a public address; what counts is where the connection would go.
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(transport=GuardedTransport(UrlGuard())) as client:
        with pytest.raises(BlockedAddressError, match="loopback"):
            await client.post(f"http://localhost:{port}/hook", content=b"{}")
    server.close()
    await server.wait_closed()


async def test_connect_goes_to_the_checked_address_with_the_original_host_header() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(transport=GuardedTransport(UrlGuard(["127.0.0.0/8"]))) as client:
        response = await client.post(f"http://localhost:{port}/hook", content=b"{}")
    assert response.status_code == 204
    assert f"host: localhost:{port}".encode() in seen[0].lower()
    server.close()
    await server.wait_closed()

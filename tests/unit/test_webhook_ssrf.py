"""SSRF guard: refused at registration and again at connect time."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from jeeves_control_tower.webhooks.ssrf import (
    BlockedAddressError,
    GuardedTransport,
    IPAddress,
    Resolver,
    UrlGuard,
    embedded_addresses,
)
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
        "http://[::1/",  # malformed brackets
        "http://example.com:99999/",  # port out of range
        "http://example.com:port/",
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


# Addresses that embed an IPv4 address, with the embedded address each one must be judged as.
# Teredo's client is stored XOR-obfuscated: 80ff:fffe is 127.0.0.1, f5fe:fdfc is 10.1.2.3.
EMBEDDING_A_REFUSED_ADDRESS = [
    ("2002:7f00:1::", "127.0.0.1", "loopback"),  # 6to4
    ("2002:7f00:1:1234::5", "127.0.0.1", "loopback"),
    ("2002:a00:1::", "10.0.0.1", "private"),
    ("2002:a9fe:a9fe::", "169.254.169.254", "link-local"),
    ("2002:c0a8:101::1", "192.168.1.1", "private"),
    ("2002:6464:64c8::", "100.100.100.200", "metadata"),
    ("64:ff9b::7f00:1", "127.0.0.1", "loopback"),  # NAT64, well-known prefix
    ("64:ff9b::a9fe:a9fe", "169.254.169.254", "link-local"),
    ("64:ff9b::a00:5", "10.0.0.5", "private"),
    ("64:ff9b:1::7f00:1", "127.0.0.1", "loopback"),  # NAT64, local-use prefix as a /96
    ("64:ff9b:1:7f00:0:100::", "127.0.0.1", "loopback"),  # ... as a /48 (RFC 6052 layout)
    ("64:ff9b:1:a:1:102::", "10.1.1.2", "private"),  # ... as a /56
    ("64:ff9b:1:0:c0:a801:100::", "192.168.1.1", "private"),  # ... as a /64
    ("::ffff:127.0.0.1", "127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:7f00:1", "127.0.0.1", "loopback"),  # ... spelled in hex
    ("::ffff:a9fe:a9fe", "169.254.169.254", "link-local"),
    ("::127.0.0.1", "127.0.0.1", "loopback"),  # IPv4-compatible (deprecated)
    ("::10.0.0.1", "10.0.0.1", "private"),
    ("2001:0:4136:e378::80ff:fffe", "127.0.0.1", "loopback"),  # Teredo: the client
    ("2001:0:4136:e378::f5fe:fdfc", "10.1.2.3", "private"),
    ("2001:0:c0a8:1::f7f7:f7f7", "192.168.0.1", "private"),  # ... or the server
    ("2a00:1450::5efe:7f00:1", "127.0.0.1", "loopback"),  # ISATAP under a global prefix
    ("2a00:1450::200:5efe:a00:1", "10.0.0.1", "private"),  # ... with the u bit set
    ("2002:808:808::5efe:a9fe:a9fe", "169.254.169.254", "link-local"),  # 6to4 + ISATAP
]


@pytest.mark.parametrize(("address", "embedded", "why"), EMBEDDING_A_REFUSED_ADDRESS)
def test_an_address_embedding_a_refused_address_is_refused_as_a_literal(
    address: str, embedded: str, why: str
) -> None:
    assert ipaddress.ip_address(embedded) in embedded_addresses(ipaddress.ip_address(address))[0]
    with pytest.raises(InvalidInterruptError, match=why) as caught:
        UrlGuard().check_url(f"http://[{address}]:8080/hook")
    assert embedded in caught.value.message and caught.value.field == "url"


def dns(*answers: str) -> Resolver:
    """A resolver that answers every name with `answers` (what a hostile DNS server could say)."""
    addresses: list[IPAddress] = [ipaddress.ip_address(a) for a in answers]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(("address", "embedded", "why"), EMBEDDING_A_REFUSED_ADDRESS)
def test_a_name_resolving_to_an_embedding_address_is_refused_at_registration(
    address: str, embedded: str, why: str
) -> None:
    # One refused answer among public ones is enough: the connection may pick any of them.
    guard = UrlGuard(resolver=dns("93.184.216.34", address))
    with pytest.raises(InvalidInterruptError, match=why) as caught:
        guard.check_url("https://hooks.example.com/x")
    assert embedded in caught.value.message


@pytest.mark.parametrize(("address", "embedded", "why"), EMBEDDING_A_REFUSED_ADDRESS[::4])
async def test_a_name_resolving_to_an_embedding_address_is_refused_at_connect_time(
    address: str, embedded: str, why: str
) -> None:
    guard = UrlGuard(resolver=dns(address))
    async with httpx.AsyncClient(transport=GuardedTransport(guard)) as client:
        with pytest.raises(BlockedAddressError, match=why):
            await client.post("http://rebound.example.com/hook", content=b"{}")


@pytest.mark.parametrize(
    "address",
    [
        "2002:5db8:d822::",  # 6to4 of 93.184.216.34
        "64:ff9b::5db8:d822",  # NAT64 (DNS64) of 93.184.216.34
        "64:ff9b:1::5db8:d822",  # local-use NAT64 as a /96
        "64:ff9b:1:5db8:d8:2200::",  # ... as a /48
        "::ffff:93.184.216.34",  # IPv4-mapped
        "2a00:1450::5efe:5db8:d822",  # ISATAP of a public address under a global prefix
        "2606:4700::1111",  # plain global IPv6: nothing embedded
    ],
)
def test_an_address_embedding_a_public_address_passes(address: str) -> None:
    assert UrlGuard().check_url(f"http://[{address}]/hook")
    assert UrlGuard(resolver=dns(address)).check_url("http://hooks.example.com/")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        # Tunnels are judged themselves too: Teredo and the deprecated IPv4-compatible form stay
        # refused even around a public address, as they were before.
        ("2001:0:4136:e378::f7f7:f7f7", "private"),
        ("::8.8.8.8", "reserved"),
        ("fe80::5efe:808:808", "link-local"),  # ISATAP under a link-local prefix
    ],
)
def test_a_tunnel_address_is_judged_itself_as_well(address: str, why: str) -> None:
    with pytest.raises(InvalidInterruptError, match=why):
        UrlGuard().check_url(f"http://[{address}]/")


def test_the_allow_list_opens_the_embedded_address_too() -> None:
    guard = UrlGuard(["127.0.0.0/8"])
    assert guard.check_url("http://[2002:7f00:1::]/")
    assert guard.check_url("http://[::ffff:127.0.0.1]/")
    with pytest.raises(InvalidInterruptError, match="private"):
        guard.check_url("http://[2002:a00:1::]/")


def test_a_name_with_no_address_is_refused() -> None:
    with pytest.raises(InvalidInterruptError, match="no address"):
        UrlGuard(resolver=dns()).check_url("http://empty.example.com/")

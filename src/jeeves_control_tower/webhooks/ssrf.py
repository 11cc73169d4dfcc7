"""Refusing webhook URLs that reach inside the network (SSRF), at registration and at connect time.

Registration checks the URL's literal address or resolves its name; the transport resolves again
when it connects, checks every address, and connects to the checked address itself, so a name
that later resolves elsewhere (DNS rebinding) cannot slip through.

An IPv6 address that embeds an IPv4 address is judged by what it embeds, literal or resolved:
- translations, which reach the embedded address and nothing else, are judged as that address
  alone: IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48
  in every RFC 6052 layout its bits fit);
- tunnels are refused if what they embed is refused, and are then judged themselves too:
  6to4 (2002::/16), Teredo (2001::/32: its server and its XOR-obfuscated client), ISATAP
  interface ids (::5efe:a.b.c.d under any prefix) and the deprecated IPv4-compatible ::a.b.c.d.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Optional
from urllib.parse import urlsplit

import httpx

from jeeves_protocols import InvalidInterruptError

__all__ = ["UrlGuard", "GuardedTransport", "BlockedAddressError"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], list[IPAddress]]

# Cloud metadata endpoints outside the link-local range (AWS IPv6, Alibaba).
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}

_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_ISATAP_ID = 0x00005EFE  # the interface id's high half, u/g bits (0x03000000) masked off
_ISATAP_MASK = 0xFCFFFFFF

#: RFC 6052 layouts inside a /48 prefix: (prefix length, the IPv4 address's bit ranges, counted
#: from the most significant bit, inclusive). Bits 64-71 (the "u" octet) are never used.
_RFC6052_LAYOUTS: tuple[tuple[int, tuple[tuple[int, int], ...]], ...] = (
    (48, ((48, 63), (72, 87))),
    (56, ((56, 63), (72, 95))),
    (64, ((72, 103),)),
)


def _bits(value: int, first: int, last: int) -> int:
    return (value >> (127 - last)) & ((1 << (last - first + 1)) - 1)


def _nat64_local(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address a local-use NAT64 address can stand for. The prefix length is the
    operator's choice, so every layout whose reserved bits (the u octet, the suffix) are zero
    counts; the /96 layout always fits, but reads 0.0.0.0 from a shorter layout's address."""
    value = int(address)
    found: list[ipaddress.IPv4Address] = []
    for _, ranges in _RFC6052_LAYOUTS:
        end = ranges[-1][1]
        if _bits(value, 64, 71) or (end < 127 and _bits(value, end + 1, 127)):
            continue
        embedded = 0
        for first, last in ranges:
            embedded = (embedded << (last - first + 1)) | _bits(value, first, last)
        found.append(ipaddress.IPv4Address(embedded))
    last_32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if int(last_32) or not found:
        found.append(last_32)
    return found


def embedded_addresses(address: IPAddress) -> tuple[list[ipaddress.IPv4Address], bool]:
    """The IPv4 addresses `address` embeds, and whether it is a pure translation of them (then it
    is judged as them alone; a tunnel's own address is judged as well)."""
    if isinstance(address, ipaddress.IPv4Address):
        return [], False
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped], True
    if address in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)], True
    if address in _NAT64_LOCAL:
        return _nat64_local(address), True
    found: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client), the client already un-XORed
    if address in _COMPATIBLE and int(address) > 1:  # :: and ::1 are IPv6's own
        found.append(ipaddress.IPv4Address(int(address)))
    if (int(address) >> 32) & _ISATAP_MASK == _ISATAP_ID:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found, False


class BlockedAddressError(httpx.ConnectError):
    """Raised at connect time: the host resolved to a refused address."""


class UrlGuard:
    """The address policy. `allow` lists networks opened explicitly (e.g. "127.0.0.0/8" for tests)."""

    def __init__(self, allow: Iterable[str] = (), *, resolver: Optional[Resolver] = None) -> None:
        self.allow = tuple(ipaddress.ip_network(network) for network in allow)
        #: Name -> addresses; `resolve` (the system resolver) unless a test gives its own DNS.
        self.resolve: Resolver = resolver or resolve

    def refused(self, address: IPAddress) -> Optional[str]:
        """Why the address is refused, or None. An embedded address is named in the reason."""
        if any(address in network for network in self.allow):
            return None
        embedded, translation = embedded_addresses(address)
        for inner in embedded:
            reason = self._refused_plain(inner)
            if reason is not None:
                return f"an address embedding {reason} ({inner})"
        if translation:
            return None
        return self._refused_plain(address)

    def _refused_plain(self, address: IPAddress) -> Optional[str]:
        if any(address in network for network in self.allow):
            return None
        if address in _METADATA:
            return "a cloud metadata address"
        for reason, flag in (
            ("a loopback address", address.is_loopback),
            ("a link-local address", address.is_link_local),
            ("a private address", address.is_private),
            ("a reserved address", address.is_reserved or address.is_multicast or address.is_unspecified),
        ):
            if flag:
                return reason
        if not address.is_global:
            return "a non-global address"
        return None

    def check_url(self, url: str) -> str:
        """The URL, if http(s) with a host whose addresses are all allowed; else InvalidInterruptError."""
        try:
            parts = urlsplit(url)
            port = parts.port  # raises on a port out of range or not a number
        except ValueError as exc:  # e.g. "http://[::1" or "http://host:99999/"
            raise InvalidInterruptError(f"url is malformed: {exc}", field="url") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInterruptError("url must be an http(s) URL with a host", field="url")
        if parts.username or parts.password:
            raise InvalidInterruptError("url must not carry credentials", field="url")
        try:
            addresses = self.resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80))
        except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
            raise InvalidInterruptError(f"url host does not resolve: {exc}", field="url") from exc
        if not addresses:
            raise InvalidInterruptError("url host resolves to no address", field="url")
        for address in addresses:
            reason = self.refused(address)
            if reason is not None:
                raise InvalidInterruptError(f"url resolves to {address}, {reason}", field="url")
        return url


def literal_address(host: str) -> Optional[IPAddress]:
    """The address a host spells directly, including legacy numeric forms (2130706433, 0x7f.1, 127.1)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that resolves the host, refuses blocked addresses and connects to the
    checked address (keeping the Host header and TLS server name of the original URL)."""

    def __init__(self, guard: UrlGuard, inner: Optional[httpx.AsyncBaseTransport] = None) -> None:
        self.guard = guard
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await asyncio.get_running_loop().run_in_executor(None, self.guard.resolve, host, port)
        except (OSError, UnicodeError) as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        if not addresses:
            raise httpx.ConnectError(f"{host} resolves to no address", request=request)
        for address in addresses:
            reason = self.guard.refused(address)
            if reason is not None:
                raise BlockedAddressError(f"{host} resolves to {address}, {reason}", request=request)
        target = str(addresses[0])
        if target != host:
            request.url = request.url.copy_with(host=target)
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

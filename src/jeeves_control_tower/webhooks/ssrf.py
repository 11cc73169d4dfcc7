"""Refusing webhook URLs that reach inside the network (SSRF), at registration and at connect time.

Registration checks the URL's literal address or resolves its name; the transport resolves again
when it connects, checks every address, and connects to the checked address itself, so a name
that later resolves elsewhere (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Optional
from urllib.parse import urlsplit

import httpx

from jeeves_protocols import InvalidInterruptError

__all__ = ["UrlGuard", "GuardedTransport", "BlockedAddressError"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints outside the link-local range (AWS IPv6, Alibaba).
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


class BlockedAddressError(httpx.ConnectError):
    """Raised at connect time: the host resolved to a refused address."""


class UrlGuard:
    """The address policy. `allow` lists networks opened explicitly (e.g. "127.0.0.0/8" for tests)."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow = tuple(ipaddress.ip_network(network) for network in allow)

    def refused(self, address: IPAddress) -> Optional[str]:
        """Why the address is refused, or None."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInterruptError("url must be an http(s) URL with a host", field="url")
        if parts.username or parts.password:
            raise InvalidInterruptError("url must not carry credentials", field="url")
        try:
            addresses = resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as exc:
            raise InvalidInterruptError(f"url host does not resolve: {exc}", field="url") from exc
        for address in addresses:
            reason = self.refused(address)
            if reason is not None:
                raise InvalidInterruptError(f"url resolves to {reason} ({address})", field="url")
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
            addresses = await asyncio.get_running_loop().run_in_executor(None, resolve, host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        for address in addresses:
            reason = self.guard.refused(address)
            if reason is not None:
                raise BlockedAddressError(f"{host} resolves to {reason} ({address})", request=request)
        target = str(addresses[0])
        if target != host:
            request.url = request.url.copy_with(host=target)
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

"""What every HTTP channel reads off a request the same way: the client's address, believing
X-Forwarded-For only from configured proxies."""

from __future__ import annotations

import ipaddress
from typing import Iterable

from aiohttp import web

from core.errors import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())
    except ValueError as exc:
        raise ConfigurationError(f"trusted_proxies: {exc}") from None


def client_address(request: web.BaseRequest, trusted: tuple[Network, ...]) -> str:
    """The address of the client: the connection's peer, or, when that peer is a trusted proxy, the
    right-most X-Forwarded-For entry that is not itself a trusted proxy."""
    peer = request.remote or ""
    if not trusted or not _is_in(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a proxy that forwards garbage: trust nothing it says
    return peer


def _is_in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)

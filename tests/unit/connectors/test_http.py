"""The client's address: X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from connectors.http import client_address, parse_networks
from core.errors import ConfigurationError


def request(peer: str, forwarded: str | None = None):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 1234) if name == "peername" else default
    return make_mocked_request("GET", "/", headers={"X-Forwarded-For": forwarded} if forwarded else {}, transport=transport)


def test_without_trusted_proxies_the_peer_is_the_client():
    req = request("203.0.113.5", "198.51.100.1")
    assert req.remote == "203.0.113.5"
    assert client_address(req, ()) == "203.0.113.5"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client():
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_address(request("10.0.0.2", "198.51.100.1, 203.0.113.7, 10.0.0.9"), trusted) == "203.0.113.7"
    # A client that is not the proxy cannot forge its address with the header.
    assert client_address(request("203.0.113.5", "198.51.100.1"), trusted) == "203.0.113.5"
    # A trusted proxy forwarding garbage: the proxy's own address, nothing the header says.
    assert client_address(request("10.0.0.2", "not-an-ip"), trusted) == "10.0.0.2"


def test_a_bad_proxy_entry_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        parse_networks(["10.0.0.0/33"])

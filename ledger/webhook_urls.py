"""Which URLs a webhook may be sent to: no SSRF into the network.

In production an endpoint's URL must be `https` and its host must resolve only to
public addresses (never loopback, private, link-local, multicast, reserved or
unspecified ones). A development run (`FUNDCENTER_ENV=development`) also allows
`http` and any address, so that a receiver on 127.0.0.1 can be tested. The check
runs when an endpoint is created and again before every delivery (a name may
resolve elsewhere later).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from .domain.webhooks import URL_LENGTH_MAX, UrlRefused

Resolver = Callable[[str, int], list[str]]  # (host, port) -> the addresses it resolves to


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as error:
        raise UrlRefused(f"the host {host!r} does not resolve: {error}") from None
    return [str(info[4][0]) for info in infos]


def check_url(url: object, *, development: bool, resolver: Resolver = resolve) -> str:
    """The URL, if a webhook may be sent there; else UrlRefused."""
    if not isinstance(url, str) or not url or len(url) > URL_LENGTH_MAX:
        raise UrlRefused(f"url must be a string of 1 to {URL_LENGTH_MAX} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"url is malformed: {error}") from None
    schemes = ("https", "http") if development else ("https",)
    if parts.scheme not in schemes:
        raise UrlRefused(f"url must be {' or '.join(schemes)}: got {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise UrlRefused("url has no host")
    if parts.username or parts.password:
        raise UrlRefused("url must not carry credentials")
    if development:
        return url
    for address in resolver(parts.hostname, port or 443):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise UrlRefused(f"url host {parts.hostname!r} resolves to a non-public address ({ip}): refused in production")
    return url

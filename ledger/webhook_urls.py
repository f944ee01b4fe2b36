"""Which URLs a webhook may be sent to: no SSRF into the network.

In production an endpoint's URL must be `https` and its host must resolve only to
public addresses (never loopback, private, link-local, multicast, reserved or
unspecified ones). A development run (`FUNDCENTER_ENV=development`) also allows
`http` and any address, so that a receiver on 127.0.0.1 can be tested. The check
runs when an endpoint is created and again before every delivery (a name may
resolve elsewhere later).

DNS rebinding: a name that resolves to a public address when checked and to a
private one when connected to would get round a check followed by a plain request.
So in production each delivery attempt resolves the host once (`pin`), checks every
address it got, and connects to the first of them: the URL's host is replaced by
that address, while the `Host` header and the TLS server name (SNI, and so the
certificate's check) stay the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .domain.webhooks import URL_LENGTH_MAX, UrlRefused

Resolver = Callable[[str, int], list[str]]  # (host, port) -> the addresses it resolves to


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as error:
        raise UrlRefused(f"the host {host!r} does not resolve: {error}") from None
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Pinned:
    """Where one delivery attempt connects: `url` (its host the checked address, in production), with
    `headers` (Host) and the TLS server name (`sni_hostname`) of the name it was given."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    sni_hostname: str | None = None


def pin(url: str, *, development: bool, resolver: Resolver = resolve) -> Pinned:
    """The URL checked, resolved once, and pinned to the address checked (see the module's docstring);
    in development, the URL as it is (no check to pin). UrlRefused if a webhook may not go there."""
    addresses: list[str] = []

    def resolve_once(host: str, port: int) -> list[str]:
        addresses.extend(resolver(host, port))
        return addresses

    checked = check_url(url, development=development, resolver=resolve_once)
    parts = urlsplit(checked)
    host = parts.hostname
    if development or not addresses or host is None:
        return Pinned(checked)
    address = addresses[0].split("%")[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]  # the name (and port) as the URL gave it
    return Pinned(urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, host)


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
    addresses = resolver(parts.hostname, port or 443)
    if not addresses:
        raise UrlRefused(f"the host {parts.hostname!r} resolves to no address")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise UrlRefused(f"url host {parts.hostname!r} resolves to a non-public address ({ip}): refused in production")
    return url

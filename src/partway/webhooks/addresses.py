"""Where a subscription may send requests. A tenant chooses its subscription's URL, so without
limits partway could be made to POST into the operator's own network (cloud metadata, admin
ports). The rules, from `webhook_allowed_schemes` and `webhook_allowed_hosts`:

- the scheme must be allowed (default: https only);
- with no allowed hosts, any host name; otherwise the host must match an entry: `*`, a name
  (`hooks.example.com`), a wildcard (`*.example.com`: its subdomains), or for an IP literal an
  address or network (`10.0.0.0/8`, `127.0.0.1`);
- every address the host resolves to must be public (global), or inside a listed network:
  loopback, private, link-local and other special addresses are refused unless listed.

Addresses are checked when subscribing and again at every delivery, since DNS answers change;
a delivery connects to the address it checked, not to a fresh lookup."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedUrl(ValueError):
    """A subscription URL or address outside what the operator allows; the message says why."""


@dataclass(frozen=True)
class UrlPolicy:
    schemes: frozenset[str]
    any_name: bool  # no entries, or `*`
    names: frozenset[str]
    suffixes: tuple[str, ...]  # `.example.com` for `*.example.com`
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, schemes: Iterable[str], hosts: Iterable[str]) -> UrlPolicy:
        entries = [h.strip().lower() for h in hosts]
        names, suffixes, networks = set(), [], []
        for entry in entries:
            if entry == "*":
                continue
            if entry.startswith("*."):
                suffixes.append(entry[1:])
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not entry or "/" in entry or ":" in entry:
                    raise ValueError(f"not a host, *.domain or IP network: {entry!r}") from None
                names.add(entry)
        return cls(
            frozenset(s.lower() for s in schemes),
            not entries or "*" in entries,
            frozenset(names),
            tuple(suffixes),
            tuple(networks),
        )

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host and port if its scheme and host are allowed; else RefusedUrl."""
        parts = urlsplit(url)
        if parts.scheme not in self.schemes:
            allowed = ", ".join(sorted(self.schemes)) or "none"
            raise RefusedUrl(f"scheme {parts.scheme or '(none)'!r} is not allowed ({allowed})")
        host = (parts.hostname or "").lower()
        if not host:
            raise RefusedUrl(f"{url!r} has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise RefusedUrl(f"{url!r} has a bad port") from None
        if not self._host_allowed(host):
            raise RefusedUrl(f"host {host} is not in webhook_allowed_hosts")
        return host, port

    def _host_allowed(self, host: str) -> bool:
        literal = _literal(host)
        if literal is not None:
            return self.any_name or any(literal in n for n in self.networks)
        return self.any_name or host in self.names or any(host.endswith(s) for s in self.suffixes)

    def check_address(self, address: Address) -> None:
        """RefusedUrl unless the address is public or inside a listed network."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
        if any(address in n for n in self.networks):
            return
        if not address.is_global or address.is_multicast:
            raise RefusedUrl(
                f"address {address} is not public (loopback, private, link-local or reserved) "
                "and not in webhook_allowed_hosts"
            )


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_resolved(policy: UrlPolicy, infos: Sequence[tuple[Any, ...]]) -> list[Address]:
    """The addresses of getaddrinfo's answer, each allowed; RefusedUrl if any is not (a name
    with one private address among public ones is refused: which one is used is not ours)."""
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise RefusedUrl("the host has no address")
    for address in addresses:
        policy.check_address(address)
    return addresses


def check_now(policy: UrlPolicy, url: str) -> list[Address]:
    """At subscribe: the URL allowed and its host resolved to allowed addresses."""
    host, port = policy.check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RefusedUrl(f"cannot resolve {host} ({exc.strerror})") from None
    return check_resolved(policy, infos)


async def check_for_delivery(policy: UrlPolicy, url: str) -> Address:
    """At delivery: the address to connect to, checked now (DNS may have changed)."""
    host, port = policy.check_url(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RefusedUrl(f"cannot resolve {host} ({exc.strerror})") from None
    return check_resolved(policy, infos)[0]

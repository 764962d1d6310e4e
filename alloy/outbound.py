"""Outbound URL checks: no request to private, loopback, link-local or metadata hosts.

Authors and end users set URLs the server POSTs to (stream URLs, the HTTP
action). Without this check such a URL could reach services inside the
deployment's network, such as a cloud metadata endpoint. An address inside a
network listed in OUTBOUND_ALLOWED_NETWORKS is allowed anyway.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

# Cloud metadata services outside the private and link-local ranges.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


class OutboundURLError(ValueError):
    """An outbound URL is malformed or resolves to an address that is not allowed."""


def outbound_url_check(url: str) -> None:
    """Raise OutboundURLError unless every address of the URL's host is public.

    NOTE: the host is resolved again when the request is sent, so a DNS
    answer that changes in between (DNS rebinding) is not caught here.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        hostname = None
    if hostname is None or parts.scheme not in ("http", "https"):
        raise OutboundURLError(f"{url!r} is not an http or https URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundURLError(f"{url!r} has an invalid port: {exc}.") from exc
    outbound_host_check(hostname, port)


def outbound_host_check(hostname: str, port: int) -> list[str]:
    """Resolve ``hostname`` and raise OutboundURLError unless every address is public.

    An address inside a network of OUTBOUND_ALLOWED_NETWORKS is allowed too.
    Returns the addresses, so that a connection that is not HTTP (such as a
    warehouse's database) can use one and not resolve the name a second time.
    """
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise OutboundURLError(
            f"The host {hostname!r} could not be resolved: {exc}."
        ) from exc
    allowed = [
        ipaddress.ip_network(network, strict=False)
        for network in settings.OUTBOUND_ALLOWED_NETWORKS
    ]
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _is_internal(address) and not any(address in net for net in allowed):
            raise OutboundURLError(
                f"The host {hostname!r} resolves to {address}, a private, "
                "loopback, link-local or metadata address; add its network to "
                "OUTBOUND_ALLOWED_NETWORKS to allow it."
            )
        addresses.append(str(address))
    return addresses


def _is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or address in METADATA_ADDRESSES
    )

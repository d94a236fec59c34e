"""The namespaces cosid's own types live in."""

from __future__ import annotations

from cosid.state.registry import NamespaceDefinition

RUNTIME = NamespaceDefinition(
    "runtime", "What the controllers observe and how far they got.", durable=False, open=False
)
SYSCTL = NamespaceDefinition(
    "sysctl", "sysctl specs, and the values cosid found before it first wrote them.", durable=True
)
HOSTNAME = NamespaceDefinition(
    "hostname",
    "The hostname spec, and the names cosid found before it first set them.",
    durable=True,
)
MOTD = NamespaceDefinition(
    "motd", "The MOTD spec, and what /etc/motd held before cosid first wrote it.", durable=True
)
DNS = NamespaceDefinition(
    "dns",
    "The resolver spec, and the resolver file cosid found before it first wrote it.",
    durable=True,
)
MODULES = NamespaceDefinition(
    "modules",
    "Kernel module specs, and which modules were loaded before cosid loaded them.",
    durable=True,
)
MOUNTS = NamespaceDefinition("mounts", "Mount specs.", durable=True)
NETWORK = NamespaceDefinition(
    "network", "Link, address and route specs, and which links cosid created.", durable=True
)

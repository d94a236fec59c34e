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

"""DNS drivers: the `DnsDriver` Protocol and its errors (`driver`), the driver that writes
/etc/resolv.conf under the root prefix (`resolvconf`), following its symlink with `chase`, and
the one that configures systemd-resolved (`resolved`)."""

from cosid.drivers.dns.driver import (
    DnsDriver,
    DnsError,
    DnsNotAFileError,
    DnsPermissionError,
    DnsReadError,
    DnsReadOnlyError,
    DnsSymlinkDanglingError,
    DnsSymlinkError,
    DnsSymlinkLoopError,
    DnsSymlinkOutsideRootError,
    DnsUnsupportedError,
    DnsWriteError,
    RegularFile,
    ResolvConf,
    SymlinkPolicy,
)

__all__ = [
    "DnsDriver",
    "DnsError",
    "DnsNotAFileError",
    "DnsPermissionError",
    "DnsReadError",
    "DnsReadOnlyError",
    "DnsSymlinkDanglingError",
    "DnsSymlinkError",
    "DnsSymlinkLoopError",
    "DnsSymlinkOutsideRootError",
    "DnsUnsupportedError",
    "DnsWriteError",
    "RegularFile",
    "ResolvConf",
    "SymlinkPolicy",
]

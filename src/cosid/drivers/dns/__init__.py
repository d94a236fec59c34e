"""DNS drivers: the `DnsDriver` Protocol and its errors (`driver`), and the driver that writes
/etc/resolv.conf under the root prefix (`resolvconf`), following its symlink with `chase`."""

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
    "DnsWriteError",
    "RegularFile",
    "ResolvConf",
    "SymlinkPolicy",
]

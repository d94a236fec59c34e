"""The kernel hostname driver: sethostname(2) and setdomainname(2), and ``<root>/etc/hostname``.

No hostname binary, no D-Bus: the kernel's names are read and set with the C library's calls
(`cosid.drivers.libc`), which act on the UTS namespace of the calling thread, so every call
stays on the caller's thread (the methods never hand work to another one). The kernel does not
announce a change of name, so drift there is found by the controller's resync; the file is in
`watched_paths`, so the runtime notices its edits at once (inotify).

/etc/hostname is replaced whole and atomically (`cosid.drivers.files`), so a reader (or a
crash) sees the old name or the new one, never a mix; the new file keeps the old one's mode
and owner (0644 root for a new one). ``<root>/etc`` is opened without following any symlink
and the file is named relative to that directory, never followed: a symlinked /etc/hostname
is refused (`HostnameSymlinkError`), for reading and writing, rather than replaced. Writes are
rare (a new spec or a repair), so the few milliseconds of fsync are spent inline.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from cosid.drivers import files, libc
from cosid.drivers.errors import describe_os_error
from cosid.drivers.hostname.driver import (
    HostnameInvalidNameError,
    HostnamePermissionError,
    HostnameReadError,
    HostnameState,
    HostnameSymlinkError,
    HostnameWriteError,
)
from cosid.resources.hostname import file_content

FILE_NAME = "hostname"
FILE_WHAT = "/etc/hostname"
MAX_FILE_BYTES = 4096
"""Reads stop here: hostname(5) is one short line, and a private tree is not trusted."""
_ENCODING = "utf-8"
_FORBIDDEN_IN_NAMES = ("\x00", "\n", "\r")


class KernelHostnameDriver:
    """`HostnameDriver` over the kernel's UTS names and the /etc/hostname under `root`.

    `root` is resolved once, when the driver is made; below it, no symlink is followed.
    """

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self.etc = os.path.join(os.path.realpath(root), "etc")
        self.watched_paths = (Path(self.etc, FILE_NAME),)

    async def read(self) -> HostnameState:
        try:
            hostname = libc.gethostname()
            domain = libc.getdomainname()
        except OSError as error:
            raise HostnameReadError("hostname", describe_os_error(error), error.errno) from None
        return HostnameState(
            hostname=hostname.decode(_ENCODING, errors="replace"),
            domain=domain.decode(_ENCODING, errors="replace"),
            file=self._read_file(),
        )

    async def write(self, hostname: str, domain: str | None) -> None:
        set_kernel_name("hostname", libc.sethostname, hostname)
        if domain is not None:
            set_kernel_name("domain", libc.setdomainname, domain)
        await self.write_file(file_content(hostname))

    async def write_file(self, content: str | None) -> None:
        try:
            directory = files.open_directory(self.etc, create=content is not None)
        except FileNotFoundError:
            return  # no <root>/etc, so no file: nothing to remove
        except OSError as error:
            raise _file_error(error) from None
        try:
            if content is None:
                files.remove(directory, FILE_NAME)
            else:
                files.replace(directory, FILE_NAME, content.encode(_ENCODING))
        except OSError as error:
            raise _file_error(error) from None
        finally:
            os.close(directory)

    def _read_file(self) -> str | None:
        try:
            directory = files.open_directory(self.etc)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _file_read_error(error) from None
        try:
            fd = os.open(
                FILE_NAME,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=directory,
            )
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _file_read_error(error) from None
        finally:
            os.close(directory)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise HostnameReadError(FILE_WHAT, "is not a regular file")
            data = os.read(fd, MAX_FILE_BYTES)
        except OSError as error:
            raise _file_read_error(error) from None
        finally:
            os.close(fd)
        return data.decode(_ENCODING, errors="replace")


def set_kernel_name(what: str, call: Callable[[bytes], None], name: str) -> None:
    for char in _FORBIDDEN_IN_NAMES:
        if char in name:
            raise HostnameInvalidNameError(what, f"must not contain {char!r}")
    data = name.encode(_ENCODING, errors="surrogateescape")
    try:
        call(data)
    except OSError as error:
        raise _kernel_error(what, len(data), error) from None


def _kernel_error(what: str, size: int, error: OSError) -> HostnameWriteError:
    code = error.errno
    if code == errno.EINVAL:
        return HostnameInvalidNameError(
            what, f"the kernel refused the name ({size} bytes): {describe_os_error(error)}", code
        )
    if code == errno.EPERM:
        return HostnamePermissionError(
            what,
            f"may not be set by cosid (CAP_SYS_ADMIN is needed): {describe_os_error(error)}",
            code,
        )
    return HostnameWriteError(what, describe_os_error(error), code)


def _file_error(error: OSError) -> HostnameWriteError:
    code = error.errno
    if isinstance(error, files.NotARegularFileError):
        return HostnameWriteError(FILE_WHAT, "is not a regular file")
    if code == errno.ELOOP:
        return HostnameSymlinkError(
            FILE_WHAT, "leads through a symlink, which cosid does not follow", code
        )
    if code in (errno.EACCES, errno.EPERM):
        return HostnamePermissionError(
            FILE_WHAT, f"may not be written by cosid: {describe_os_error(error)}", code
        )
    return HostnameWriteError(FILE_WHAT, describe_os_error(error), code)


def _file_read_error(error: OSError) -> HostnameReadError:
    if error.errno == errno.ELOOP:
        return HostnameSymlinkError(
            FILE_WHAT, "leads through a symlink, which cosid does not follow", error.errno
        )
    return HostnameReadError(FILE_WHAT, describe_os_error(error), error.errno)

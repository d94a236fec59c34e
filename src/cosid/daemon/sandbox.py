"""`cosid --sandbox`: the daemon in namespaces of its own, so trying cosid cannot change the host.

Entered first thing in `main`, while the process still has one thread: namespaces belong to
threads, and the kernel refuses a user namespace to a threaded process, so every thread gRPC
and asyncio start later must inherit the sandbox rather than predate it.

- network: a fresh network namespace with only the loopback, brought up here;
- mounts: a copy of the host's mount table, made private, so nothing mounted or unmounted in the
  sandbox propagates to the host (files are still the host's: hence the private root prefix,
  under which drivers write /etc/hostname, /etc/motd and the like);
- UTS: a hostname of its own, `cosid-sandbox`;
- user (only without CAP_SYS_ADMIN, that is when not root): the caller's uid and gid mapped to
  root inside, which is what lets an ordinary user create the other namespaces and manage them
  (bring links up, write the per-network-namespace keys under /proc/sys/net). The kernel keeps
  such a process away from everything that is not namespaced (global sysctls, modules, the
  host's files beyond the user's own). Run as root, the daemon keeps root's powers over those:
  the namespaces and the root prefix redirect what cosid means to change, they do not confine it.

Everything goes through syscalls (`unshare`, `mount`, `sethostname`, an ioctl) and /proc files;
the daemon runs no programs.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from cosid.drivers import libc

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
CAP_SYS_ADMIN = 21
_IFREQ = struct.Struct("16sH22x")  # struct ifreq on Linux: name, then ifr_flags in a 24-byte union

SANDBOX_HOSTNAME = "cosid-sandbox"
ROOT_DIRECTORIES = ("etc",)

_USER_NAMESPACE_HINT = (
    "--sandbox needs a user namespace when not run as root, and this system does not allow "
    "this user to create one (see the sysctls user.max_user_namespaces, "
    "kernel.unprivileged_userns_clone and kernel.apparmor_restrict_unprivileged_userns); "
    "allow them, or run cosid as root"
)


class SandboxError(Exception):
    """The sandbox cannot be entered; the message says why."""


@dataclass(frozen=True)
class Sandbox:
    """What the daemon runs in: namespace inodes as `ls -i /proc/<pid>/ns` shows them."""

    hostname: str
    root: Path
    user_namespace: bool
    net_ns: int
    mnt_ns: int
    uts_ns: int

    def log_fields(self) -> dict[str, object]:
        return {
            "hostname": self.hostname,
            "root": str(self.root),
            "user_namespace": self.user_namespace,
            "net_ns": self.net_ns,
            "mnt_ns": self.mnt_ns,
            "uts_ns": self.uts_ns,
        }


def enter(root: Path, hostname: str = SANDBOX_HOSTNAME) -> Sandbox:
    """Move this (single-threaded) process into the sandbox, with `root` as its file prefix."""
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise SandboxError(
            f"the sandbox must be entered before any thread starts ({threads} are running)"
        )
    make_root(root)
    uid, gid = os.geteuid(), os.getegid()
    user_namespace = needs_user_namespace()
    flags = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS
    if user_namespace:
        flags |= CLONE_NEWUSER
    _unshare(flags, user_namespace)
    if user_namespace:
        _map_to_root(uid, gid)
    _mount_private()
    _sethostname(hostname)
    _loopback_up()
    return Sandbox(
        hostname=socket.gethostname(),
        root=root,
        user_namespace=user_namespace,
        net_ns=namespace_inode("net"),
        mnt_ns=namespace_inode("mnt"),
        uts_ns=namespace_inode("uts"),
    )


def make_root(root: Path) -> None:
    """The private root prefix and the directories drivers write into."""
    try:
        for directory in ROOT_DIRECTORIES:
            (root / directory).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SandboxError(f"cannot create the sandbox root {root}: {error}") from None


def needs_user_namespace() -> bool:
    """Without CAP_SYS_ADMIN (an ordinary user, or a confined root) namespaces can only be
    created inside a user namespace of one's own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return not int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1
    return True


def namespace_inode(kind: str, pid: int | str = "self") -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def _unshare(flags: int, user_namespace: bool) -> None:
    if libc.LIBC.unshare(flags) == 0:
        return
    error = libc.last_error()
    if user_namespace and error.errno in (errno.EPERM, errno.ENOSPC, errno.EUSERS):
        raise SandboxError(f"cannot create namespaces: {error.strerror}; {_USER_NAMESPACE_HINT}")
    raise SandboxError(f"cannot create namespaces: {error.strerror}")


def _map_to_root(uid: int, gid: int) -> None:
    """Be root inside the new user namespace, as uid and gid outside (the one mapping a process
    may write for itself; setgroups must be denied before the gid map)."""
    try:
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1\n")
        Path("/proc/self/setgroups").write_text("deny\n")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1\n")
    except OSError as error:
        raise SandboxError(
            f"cannot map uid {uid} and gid {gid} into the user namespace: {error.strerror}; "
            f"{_USER_NAMESPACE_HINT}"
        ) from None


def _mount_private() -> None:
    if libc.LIBC.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise SandboxError(
            f"cannot make the sandbox's mounts private: {libc.last_error().strerror}"
        )


def _sethostname(hostname: str) -> None:
    try:
        libc.sethostname(hostname.encode())
    except OSError as error:
        raise SandboxError(f"cannot set the sandbox's hostname: {error.strerror}") from None


def _loopback_up() -> None:
    """The new network namespace's only link, `lo`, starts down; bring it up like any host."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = bytearray(_IFREQ.pack(b"lo", 0))
            fcntl.ioctl(sock, SIOCGIFFLAGS, request)
            _, flags = _IFREQ.unpack(request)
            fcntl.ioctl(sock, SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))
    except OSError as error:
        raise SandboxError(f"cannot bring up the sandbox's loopback: {error.strerror}") from None

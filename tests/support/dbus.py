"""A private system bus, and real systemd services on it, for the tests of the D-Bus drivers.

`private_bus` starts a dbus-daemon of the system type on a socket in the test's directory (a
generated config: allow everything, except what the test denies; no service directory, so
nothing is bus-activated and a service is there only when a test starts it). Address it with
`PrivateBus.address`, as cosid's `DBUS_SYSTEM_BUS_ADDRESS` would.

`private_hostnamed` starts systemd-hostnamed on that bus where it cannot change the host: in a
UTS namespace of its own (its sethostname(2) sets that one's name) and a mount namespace of its
own whose /etc is an overlay of the host's with a tmpfs on top (its /etc/hostname and the
temporary file it renames over it go there). Both go with the process. The test sees that
namespace's name with `nsenter ... hostname` and its file through /proc/<pid>/root, never
through anything of cosid's.

`private_resolved` starts systemd-resolved (unpacked from Debian's package into the VM kit,
never installed on the host: its install rewrites /etc/resolv.conf) on that bus, in mount and
network namespaces of its own. Its /etc is an overlay of the host's with a tmpfs on top: it
gains the ``systemd-resolve`` user (as ``nobody``'s uid, which the host's dbus-daemon knows),
and /etc/resolv.conf is the link to resolved's stub, as on a node that runs it (resolved
imports the servers of any other file as global ones). A directory of the test's is bound on
its /etc/systemd/resolved.conf.d, and /run is a tmpfs, so what it writes there
(stub-resolv.conf) and its stub listener on 127.0.0.53 stay private. `Resolved.restart` is
what systemd's RestartUnit would do.

Every process started here is stopped when its block ends, whatever happened.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.requirements import namespaces_unavailable
from tests.vm.kit import kit

DBUS_DAEMON = "/usr/bin/dbus-daemon"
HOSTNAMED = "/lib/systemd/systemd-hostnamed"
HOSTNAMED_SERVICE = "org.freedesktop.hostname1"
RESOLVED_SERVICE = "org.freedesktop.resolve1"
RESOLVED_IN_KIT = "usr/lib/systemd/systemd-resolved"
"""Where the VM kit's packages layer has systemd-resolved (`tests.vm.kit`)."""
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
TOOL_TIMEOUT = 5.0

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
{denials}  </policy>
</busconfig>
"""

_HOSTNAMED_SCRIPT = """set -e
mount -t tmpfs -o mode=0700 cosid-test "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay cosid-test -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
printf '%s\\n' "$2" > /etc/hostname
hostname "$2"
exec "$3"
"""
"""Run by ``unshare --uts --mount --propagation private``: nothing it mounts or names leaves
the namespaces, which die with hostnamed."""


_RESOLVED_SCRIPT = """set -e
mount -t tmpfs -o mode=0700 cosid-test "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay cosid-test -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
echo 'systemd-resolve:x:65534:65534::/:/usr/sbin/nologin' >> /etc/passwd
echo 'systemd-resolve:x:65534:' >> /etc/group
ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
mkdir -p /etc/systemd/resolved.conf.d
mount --bind "$2" /etc/systemd/resolved.conf.d
mount -t tmpfs cosid-test /run
mkdir -p /run/systemd/resolve /run/dbus
chown 65534:65534 /run/systemd/resolve
touch /run/dbus/system_bus_socket
mount --bind "$3" /run/dbus/system_bus_socket
exec "$4"
"""
"""Run by ``unshare --mount --net --propagation private``: nothing it mounts, writes under /run
or binds leaves the namespaces, which die with resolved. The bus socket is bound to the
well-known path, since resolved runs as ``nobody``, who may not enter the test's directory."""


@dataclass(frozen=True)
class PrivateBus:
    address: str
    socket: Path


@dataclass(frozen=True)
class Hostnamed:
    """A systemd-hostnamed in namespaces of its own, seen from outside."""

    pid: int

    def hostname(self) -> str:
        """Its UTS namespace's hostname, as the `hostname` tool prints it there."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid), "-u", "hostname"],
            capture_output=True,
            text=True,
            check=True,
            timeout=TOOL_TIMEOUT,
        ).stdout.rstrip("\n")

    @property
    def hostname_file(self) -> Path:
        """Its /etc/hostname (in its mount namespace, through /proc)."""
        return Path(f"/proc/{self.pid}/root/etc/hostname")

    def file(self) -> str | None:
        try:
            return self.hostname_file.read_text()
        except FileNotFoundError:
            return None

    def set_hostname(self, name: str) -> None:
        """Set its namespace's hostname with the `hostname` tool, behind hostnamed's back."""
        subprocess.run(
            ["nsenter", "-t", str(self.pid), "-u", "hostname", name],
            capture_output=True,
            check=True,
            timeout=TOOL_TIMEOUT,
        )

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """hostnamed frozen (SIGSTOP): it owns its name but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.pid, signal.SIGCONT)


class Resolved:
    """A systemd-resolved in namespaces of its own, reading its drop-ins from `drop_ins`."""

    def __init__(self, bus: PrivateBus, directory: Path, drop_ins: Path, program: Path) -> None:
        self.bus = bus
        self.directory = directory
        self.drop_ins = drop_ins
        self.program = program
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it owns its name on the bus."""
        self.starts += 1
        scratch = self.directory / f"start-{self.starts}"
        scratch.mkdir(parents=True)
        environment = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        environment["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/run/dbus/system_bus_socket"
        environment["SYSTEMD_LOG_LEVEL"] = "warning"
        log = self.directory / f"start-{self.starts}.log"
        with log.open("w") as errors:
            self._process = subprocess.Popen(
                [
                    *("unshare", "--mount", "--net", "--propagation", "private"),
                    *("sh", "-c", _RESOLVED_SCRIPT, "sh", str(scratch), str(self.drop_ins)),
                    *(str(self.bus.socket), str(self.program)),
                ],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
        try:
            _await_owner(self.bus, RESOLVED_SERVICE, self._process)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {log.read_text().strip()}") from None

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process)
            self._process = None

    def restart(self) -> None:
        """Stop it and start it again: it rereads its configuration, as under RestartUnit."""
        self.stop()
        self.start()

    def global_dns(self) -> str:
        """What ``busctl`` says of its Manager's DNS and Domains properties (not cosid's
        code)."""
        return self._busctl(
            "get-property", "/org/freedesktop/resolve1", "Manager", "DNS", "Domains"
        )

    @property
    def pid(self) -> int:
        """Its process id while it runs: its network namespace is /proc/<pid>/ns/net."""
        assert self._process is not None, "resolved is not running"
        return self._process.pid

    def link_dns(self, index: int) -> str:
        """What ``busctl`` says of the DNS, Domains and DefaultRoute properties of its link
        `index` (not cosid's code)."""
        found = self._busctl(
            "call", "/org/freedesktop/resolve1", "Manager", "GetLink", "i", str(index)
        )
        path = found.split('"')[1]  # o "/org/freedesktop/resolve1/link/_32"
        return self._busctl("get-property", path, "Link", "DNS", "Domains", "DefaultRoute")

    def revert_link(self, index: int) -> None:
        """Make it forget the per-link settings of link `index`, as a restart would."""
        self._busctl("call", "/org/freedesktop/resolve1", "Manager", "RevertLink", "i", str(index))

    def _busctl(self, verb: str, path: str, interface: str, *arguments: str) -> str:
        return subprocess.run(
            [
                *(shutil.which("busctl") or "busctl", f"--address={self.bus.address}"),
                *(verb, RESOLVED_SERVICE, path, f"org.freedesktop.resolve1.{interface}"),
                *arguments,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=TOOL_TIMEOUT,
        ).stdout


def resolved_program() -> Path:
    """systemd-resolved in the VM kit (unpacked there, never installed on the host; the kit is
    made first if need be)."""
    return kit().packages / RESOLVED_IN_KIT


def unavailable() -> str | None:
    """Why a private bus with hostnamed cannot be run here, or None if it can."""
    for program in (DBUS_DAEMON, HOSTNAMED):
        if not os.access(program, os.X_OK):
            return f"{program} is not installed"
    return namespaces_unavailable("UTS and mount", ("unshare", "nsenter", "hostname", "busctl"))


@contextmanager
def private_bus(directory: Path, deny: Iterable[str] = ()) -> Iterator[PrivateBus]:
    """A system-type dbus-daemon listening in `directory`; `deny` holds policy rules' attributes
    (``send_destination="..." send_member="..."``) the bus refuses with AccessDenied."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "system_bus_socket"
    config = directory / "system.conf"
    denials = "".join(f"    <deny {rule}/>\n" for rule in deny)
    config.write_text(_BUS_CONFIG.format(socket=path, denials=denials))
    log = directory / "dbus-daemon.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [DBUS_DAEMON, f"--config-file={config}", "--nofork", "--nosyslog", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        address = _first_line(process, START_TIMEOUT, log)
        yield PrivateBus(address=address, socket=path)
    finally:
        _stop(process)


@contextmanager
def private_hostnamed(
    bus: PrivateBus, directory: Path, hostname: str = "cosid-test"
) -> Iterator[Hostnamed]:
    """systemd-hostnamed on `bus`, its /etc/hostname and kernel name starting as `hostname`;
    `directory` is where its namespace mounts its tmpfs."""
    directory.mkdir(parents=True, exist_ok=True)
    environment = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    environment["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
    environment["SYSTEMD_LOG_LEVEL"] = "warning"
    process = subprocess.Popen(
        [
            "unshare",
            "--uts",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _HOSTNAMED_SCRIPT,
            "sh",
            str(directory),
            hostname,
            HOSTNAMED,
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _await_owner(bus, HOSTNAMED_SERVICE, process)
        yield Hostnamed(process.pid)
    finally:
        _stop(process)


@contextmanager
def private_resolved(bus: PrivateBus, directory: Path, drop_ins: Path) -> Iterator[Resolved]:
    """systemd-resolved on `bus`, reading its drop-ins from `drop_ins` (made when missing);
    `directory` holds each start's tmpfs mount point."""
    program = resolved_program()
    if not os.access(program, os.X_OK):
        pytest.skip(f"{program} is not unpacked (tests/vm/kit.py makes it)")
    drop_ins.mkdir(parents=True, exist_ok=True)
    resolved = Resolved(bus, directory, drop_ins, program)
    try:
        resolved.start()
        yield resolved
    finally:
        resolved.stop()


@contextmanager
def host_unchanged() -> Iterator[None]:
    """Fails the test if the host's hostname or /etc/hostname moved meanwhile."""
    before = socket.gethostname(), _host_file()
    yield
    assert (socket.gethostname(), _host_file()) == before, "a test changed the host's hostname"


def skip_if_unavailable() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)


def _host_file() -> str | None:
    try:
        return Path("/etc/hostname").read_text()
    except FileNotFoundError:
        return None


def _first_line(process: subprocess.Popen[str], timeout: float, log: Path) -> str:
    """The first line the process prints, within `timeout`; its log tells why there is none."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().strip() if ready else ""
    if not line:
        raise RuntimeError(f"{DBUS_DAEMON} printed no address: {log.read_text().strip()}")
    return line


def _await_owner(bus: PrivateBus, service: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until `service` is owned on `bus` (asked with busctl, not with cosid's code)."""
    busctl = shutil.which("busctl") or "busctl"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{service} exited at start (status {process.returncode})")
        owned = subprocess.run(
            [busctl, f"--address={bus.address}", "status", service],
            capture_output=True,
            timeout=TOOL_TIMEOUT,
        )
        if owned.returncode == 0:
            return
        time.sleep(0.02)
    raise RuntimeError(f"{service} did not appear on {bus.address}")


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)  # a frozen one cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()

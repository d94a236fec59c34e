"""The guest's initramfs: a static busybox, the few modules its root needs, and an init that
builds the root and hands over to systemd.

The guest's root is the host's own filesystem, shared read-only over virtio-9p, under two
read-only layers of ours (the guest's configuration and the kernel's modules) and a tmpfs
for writes, joined by overlayfs: a real Debian userland with systemd, dbus, Python and the
checkout's virtualenv at the same paths as on the host, with nothing to build or install, and
nothing the guest does can reach the host's files. The state directory is a separate
read-write share, so it outlives a reboot of the guest; the checkout is one more read-only
share. The init also gives the NIC QEMU's user network's fixed address (no DHCP client, no
udev), so the host's forwarded ports reach the guest as soon as systemd listens, and fresh
tmpfs on /tmp and /var/tmp (the host's own would be walked through 9p by the boot's cleanup).

The Debian kernel has 9p, overlayfs and virtio-net as modules, so the init loads them (from
the package, decompressed here: busybox's insmod hands the kernel a plain image) before it
mounts anything. The archive is written in the kernel's `newc` cpio format by hand: a few
dozen lines instead of a host tool.
"""

from __future__ import annotations

import gzip
import io
import lzma
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT_MODULES: tuple[str, ...] = ("netfs", "9pnet", "9pnet_virtio", "9p", "overlay")
ROOT_MODULES += ("failover", "net_failover", "virtio_net")
"""Loaded in this order: each after the ones it depends on."""

SHARES = {"host": "hostroot", "kernel": "kernel-layer", "config": "config-layer"}
"""Mount tags of the read-only 9p shares the root is made of, lowest first."""
STATE_SHARE = "state"
STATE_DIRECTORY = "/var/lib/cosid"
CHECKOUT_SHARE = "checkout"
CHECKOUT_DIRECTORY = "/opt/cosid"
"""The checkout (read-only): cosid's source and virtualenv, and the agent, at a path the
unit's PrivateTmp and ProtectHome leave visible wherever the checkout lives on the host."""

INIT = f"""#!/bin/busybox sh
# cosid test VM: build the root from the 9p shares, then start systemd as PID 1.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {{ echo "cosid-vm init: $*" > /dev/console; sleep 2; poweroff -f; }}
for module in {" ".join(ROOT_MODULES)}; do
    insmod /modules/$module.ko || fail "cannot load $module"
done
share() {{ mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,$3 "$1" "$2"; }}
mkdir -p /layers/host /layers/kernel /layers/config /rw /newroot
share {SHARES["host"]} /layers/host ro,cache=loose || fail "cannot mount the host's root"
share {SHARES["kernel"]} /layers/kernel ro,cache=loose || fail "cannot mount the kernel layer"
share {SHARES["config"]} /layers/config ro,cache=loose || fail "cannot mount the config layer"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay \\
    -o lowerdir=/layers/config:/layers/kernel:/layers/host,upperdir=/rw/upper,workdir=/rw/work \\
    /newroot || fail "cannot build the root"
mkdir -p /newroot{STATE_DIRECTORY}
share {STATE_SHARE} /newroot{STATE_DIRECTORY} rw,cache=mmap || fail "cannot mount the state"
# The host may be a container: its marker would make systemd treat the VM as one too.
rm -f /newroot/.dockerenv
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs -o mode=1777 tmpfs /newroot/var/tmp
mkdir -p /newroot{CHECKOUT_DIRECTORY}
share {CHECKOUT_SHARE} /newroot{CHECKOUT_DIRECTORY} ro,cache=loose || fail "no checkout"
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd
"""


@dataclass(frozen=True)
class Entry:
    name: str
    mode: int
    data: bytes = b""


def build(busybox: Path, modules: Path, target: Path) -> None:
    """Write the gzip-compressed initramfs to `target`: `busybox` (a static binary), the
    root's modules from `modules` (a /lib/modules/<release> directory) and the init."""
    files = _module_files(modules)
    entries = [
        Entry(directory, stat.S_IFDIR | 0o755)
        for directory in ("bin", "dev", "proc", "sys", "modules")
    ]
    entries.append(Entry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()))
    entries.append(Entry("init", stat.S_IFREG | 0o755, INIT.encode()))
    for name in ROOT_MODULES:
        image = files[name].read_bytes()
        if files[name].suffix == ".xz":
            image = lzma.decompress(image)
        entries.append(Entry(f"modules/{name}.ko", stat.S_IFREG | 0o644, image))
    target.write_bytes(gzip.compress(_cpio(entries), compresslevel=1))


def _module_files(modules: Path) -> dict[str, Path]:
    """The root's modules by name, found through modules.dep."""
    files = {}
    for line in (modules / "modules.dep").read_text().splitlines():
        path = line.partition(":")[0]
        files[Path(path).name.partition(".ko")[0]] = modules / path
    missing = [name for name in ROOT_MODULES if name not in files]
    if missing:
        raise RuntimeError(f"the kernel package has no modules {missing}")
    return {name: files[name] for name in ROOT_MODULES}


def _cpio(entries: Iterable[Entry]) -> bytes:
    """The entries as a `newc` archive (the format the kernel unpacks an initramfs from)."""
    archive = io.BytesIO()
    for number, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        fields = (number, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, 0, 0, len(name), 0)
        archive.write(b"070701" + b"".join(b"%08X" % field for field in fields))
        archive.write(name)
        _pad(archive)
        archive.write(entry.data)
        _pad(archive)
    return archive.getvalue()


def _pad(archive: io.BytesIO) -> None:
    archive.write(b"\0" * (-archive.tell() % 4))

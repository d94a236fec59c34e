"""What the test VM boots: a Debian kernel, our initramfs, and a layer of packages the host
does not have, made once and kept in `.cache/vm/<release>/` (later runs download nothing).

- The kernel: the generic flavour's image (it has 9p), its modules with Debian's depmod
  index, so cosid in the guest loads real modules (`dummy numdummies=2`).
- Packages the guest has and the host must not: systemd-resolved (its install would rewrite
  the host's /etc/resolv.conf), at the very version of the host's systemd, unpacked into the
  layer rather than installed.
- busybox-static, for the initramfs only (tests/vm/initramfs.py).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support import debian

CACHE = debian.CACHE / "vm"
GUEST_PACKAGES = ("systemd-resolved",)
"""Unpacked into the packages layer, at the host's systemd version."""


@dataclass(frozen=True)
class Kit:
    release: str
    kernel: Path
    busybox: Path
    """A static busybox, for the initramfs (built per boot: it holds our init script)."""
    packages: Path
    """The layer above the host's root: /lib/modules/<release> and the guest's packages."""


def kit() -> Kit:
    """The cached kit, made first if need be; raises with apt's or dpkg's words otherwise."""
    with debian.locked(CACHE / ".lock"):
        return _cached() or _prepare()


def _cached() -> Kit | None:
    found = sorted(p for p in CACHE.iterdir() if (p / "complete").exists())
    return _kit_in(found[-1]) if found else None


def _merge_usr(layer: Path) -> None:
    """Move what packages put in /lib, /bin, /sbin into /usr, as Debian 12's merged-/usr
    root has them: a real `lib` directory in a layer would hide the host's `lib -> usr/lib`
    symlink beneath it, and with it every library."""
    for top in ("bin", "sbin", "lib", "lib64"):
        if not (layer / top).is_dir():
            continue
        for path in sorted((layer / top).rglob("*"), reverse=True):
            merged = layer / "usr" / path.relative_to(layer)
            if path.is_dir() and not path.is_symlink():
                merged.mkdir(parents=True, exist_ok=True)
                path.rmdir()
            else:
                merged.parent.mkdir(parents=True, exist_ok=True)
                path.rename(merged)
        (layer / top).rmdir()


def _kit_in(directory: Path) -> Kit:
    return Kit(
        release=directory.name,
        kernel=directory / "vmlinuz",
        busybox=directory / "busybox",
        packages=directory / "packages",
    )


def _prepare() -> Kit:
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".work-") as work_name:
        work = Path(work_name)
        image = debian.image_package("generic")
        systemd = debian.installed_version("systemd")
        guest = [f"{name}={systemd}" for name in GUEST_PACKAGES]
        debs = debian.download([image, "kmod", "busybox-static", *guest], work)
        debian.unpack(debs[image], work / "image")
        [modules] = (work / "image" / "lib" / "modules").iterdir()
        release = modules.name
        debian.depmod(work / "image", release, debs["kmod"], work)
        made = work / release
        layer = made / "packages"
        (layer / "usr" / "lib" / "modules").mkdir(parents=True)
        modules.rename(layer / "usr" / "lib" / "modules" / release)
        for name in GUEST_PACKAGES:
            debian.unpack(debs[name], layer)
        _merge_usr(layer)
        debian.unpack(debs["busybox-static"], work / "busybox")
        shutil.copy2(work / "image" / "boot" / f"vmlinuz-{release}", made / "vmlinuz")
        shutil.copy2(work / "busybox" / "bin" / "busybox", made / "busybox")
        (made / "complete").touch()
        made.rename(CACHE / release)
    return _kit_in(CACHE / release)

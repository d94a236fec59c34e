"""Debian packages for the test setup: downloaded with apt (never installed on the host),
unpacked with dpkg-deb, kept in the checkout's gitignored `.cache/` so later runs download
nothing. The module fixtures and the test VM are built from them."""

from __future__ import annotations

import fcntl
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CACHE = REPOSITORY / ".cache"

KERNEL_FLAVOURS = {"cloud": "linux-image-6.12-cloud-amd64", "generic": "linux-image-6.12-amd64"}
"""Meta packages of Debian 12's 6.12 kernels (their modules are xz-compressed), each
depending on its current image package: the cloud flavour is the smallest download; the
generic one also has 9p, which the test VM's root is shared over."""


def run(*command: str, cwd: Path | None = None) -> str:
    """Run a setup command; CalledProcessError carries its own words (stderr)."""
    done = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)
    return done.stdout


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`: other test runs of this checkout wait for one setup."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def image_package(flavour: str) -> str:
    """The image package the flavour's meta package names now (asking apt to update its
    lists once, should it not know the meta package yet)."""
    meta = KERNEL_FLAVOURS[flavour]
    for attempt in range(2):
        found = subprocess.run(["apt-cache", "depends", meta], capture_output=True, text=True)
        names = re.findall(r"Depends: (linux-image-\S+)", found.stdout)
        if names:
            return str(names[0])
        if attempt == 0:
            run("apt-get", "update", "-q")
    raise RuntimeError(f"apt knows no package {meta}: {found.stderr.strip()}")


def installed_version(package: str) -> str:
    """The version of a package installed on the host (to fetch its siblings of that version)."""
    return run("dpkg-query", "-W", "-f=${Version}", package).strip()


def download(packages: list[str], into: Path) -> dict[str, Path]:
    """Fetch `packages` (names, or `name=version`) into `into`; returns name -> .deb file."""
    run("apt-get", "-q", "-o", "APT::Sandbox::User=root", "download", *packages, cwd=into)
    files = {}
    for package in packages:
        name = package.partition("=")[0]
        [deb] = list(into.glob(f"{name}_*.deb"))
        files[name] = deb
    return files


def unpack(deb: Path, target: Path) -> None:
    """Extract a package's files under `target` (no maintainer scripts run)."""
    run("dpkg-deb", "-x", str(deb), str(target))


def depmod(image_root: Path, release: str, kmod_deb: Path, work: Path) -> None:
    """Write modules.dep, modules.alias... for `release` under `image_root`, with Debian's own
    depmod (from the kmod package, unpacked beside it, not installed)."""
    unpack(kmod_deb, work / "kmod")
    subprocess.run(
        ["depmod", "-b", str(image_root), release],
        executable=work / "kmod" / "bin" / "kmod",  # kmod is depmod when called by that name
        check=True,
        capture_output=True,
        text=True,
    )

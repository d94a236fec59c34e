"""The sysctl benchmark's hands inside a network namespace: finds keys to set, reads them, and
sets them the two ways cosid is compared to, timing only the setting.

Run as `nsenter -t <pid> -n python -m tests.bench.netns_sysctl COMMAND` (Python 3.11 has no
`os.setns`): /proc/sys/net shows the network namespace of the process that opens a file, so
every key here is that namespace's. Settings travel as JSON, a list of [key, value] pairs
(dotted keys), on stdin and stdout. Standard library only: start-up is not timed, but every
command pays it.

Commands:
  discover COUNT     COUNT keys that can be changed, with their current values (`discover`)
  read               the current value of each key given
  write-loop         open, write and close each key's file in turn; prints the seconds taken
  sysctl-processes   one `sysctl -q -w key=value` process per key, one after the other, as a
                     script would run them; prints the seconds taken
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path("/proc/sys")
FAMILIES = ("net/core", "net/ipv4", "net/ipv6", "net/unix")
"""The kernel's own protocols, in every network namespace of every kernel (bridge, mptcp or
netfilter add keys only where their modules are loaded)."""
EXCLUDED_NAMES = frozenset({"disable_ipv6"})
"""Keys whose changed value takes the namespace's networking away."""
READ_WRITE = stat.S_IRUSR | stat.S_IWUSR

Settings = list[tuple[str, str]]


def path_of(key: str) -> Path:
    """The file of a dotted key. Discovery keeps only keys whose components hold no dot, so
    the dots are exactly the separators."""
    return ROOT / key.replace(".", "/")


def read(key: str) -> str:
    return path_of(key).read_text().strip()


def write(key: str, value: str) -> None:
    descriptor = os.open(path_of(key), os.O_WRONLY)
    try:
        os.write(descriptor, value.encode())
    finally:
        os.close(descriptor)


def integer_keys() -> dict[str, int]:
    """The readable and writable keys of FAMILIES whose value is one integer, sorted."""
    found: dict[str, int] = {}
    for family in FAMILIES:
        for path in sorted((ROOT / family).rglob("*")):
            relative = str(path.relative_to(ROOT))
            mode = path.lstat().st_mode
            if (
                "." in relative
                or path.name in EXCLUDED_NAMES
                or not stat.S_ISREG(mode)
                or mode & READ_WRITE != READ_WRITE
            ):
                continue
            try:
                found[relative.replace("/", ".")] = int(path.read_text())
            except (OSError, ValueError):  # write-only after all, or not one integer
                continue
    return found


def takes_another_value(key: str, value: int) -> bool:
    """Whether the kernel takes `value + 1` for `key` (it refuses values out of range); the key
    is left at `value`."""
    try:
        write(key, str(value + 1))
    except OSError:
        return False
    write(key, str(value))
    return True


def set_all(values: dict[str, int]) -> set[str]:
    """Writes every value in order, then reads each back: the keys that do not show theirs."""
    for key, value in values.items():
        write(key, str(value))
    return {key for key, value in values.items() if read(key) != str(value)}


def changeable(found: dict[str, int]) -> dict[str, int]:
    """The keys that show their value plus one and then their own value again when all are
    set in order. That leaves out keys the kernel rounds (milliseconds kept in jiffies) and
    keys that are views of another (neigh's `unres_qlen` of `unres_qlen_bytes`: set together,
    the later undoes the earlier). Every key is left at its value."""
    touched = {key: value for key, value in found.items() if takes_another_value(key, value)}
    kept = dict(touched)
    while clashing := set_all({key: value + 1 for key, value in kept.items()}) | set_all(kept):
        kept = {key: value for key, value in kept.items() if key not in clashing}
    if set_all(touched):
        raise RuntimeError("the probed keys did not all take their own values back")
    return kept


def discover(count: int) -> Settings:
    """`count` keys spread evenly over the sorted changeable ones (a mix of the families, not
    the first ones in order), with their current values: what each way of setting changes to
    the value plus one and back."""
    keys = changeable(integer_keys())
    if len(keys) < count:
        raise RuntimeError(f"only {len(keys)} changeable keys in this network namespace")
    ordered = list(keys)
    chosen = (ordered[index * len(ordered) // count] for index in range(count))
    return [(key, str(keys[key])) for key in chosen]


def timed(settings: Settings, set_one: Callable[[str, str], object]) -> float:
    started = time.perf_counter()
    for key, value in settings:
        set_one(key, value)
    return time.perf_counter() - started


def sysctl_processes(settings: Settings) -> float:
    sysctl = shutil.which("sysctl")  # looked up once, as a shell caches it
    if sysctl is None:
        raise RuntimeError("sysctl (procps) is not installed")
    return timed(
        settings,
        lambda key, value: subprocess.run([sysctl, "-q", "-w", f"{key}={value}"], check=True),
    )


def received() -> Settings:
    return [(key, value) for key, value in json.load(sys.stdin)]


def main(argv: list[str]) -> None:
    command, *arguments = argv
    result: object
    if command == "discover":
        result = discover(int(arguments[0]))
    elif command == "read":
        result = [(key, read(key)) for key, _ in received()]
    elif command == "write-loop":
        result = timed(received(), write)
    elif command == "sysctl-processes":
        result = sysctl_processes(received())
    else:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])

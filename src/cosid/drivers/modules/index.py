"""The module index depmod(8) writes to /lib/modules/<release>: which file a module is, what it
needs, which aliases name it, which modules are built into the kernel. modprobe(8) resolves
names with it; so does cosid, from the same files.

- ``modules.dep``: a line per module, ``<file>: <file> <file> ...``, files relative to the
  directory, every dependency listed (not only the direct ones). Required.
- ``modules.alias``: ``alias <pattern> <module>`` lines; patterns are shell globs
  (``pci:v00008086d*``). Optional.
- ``modules.builtin``: a file per module built into the kernel image. Optional.

The text forms, not the ``.bin`` ones: depmod writes both, and the text is the documented
format. In module names and alias patterns ``-`` and ``_`` are the same character (outside a
glob's brackets), so both sides are compared with ``_``. Files must be relative paths without
``..``, as depmod writes them; the driver opens them without following symlinks.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cosid.drivers.errors import describe_os_error
from cosid.drivers.modules.driver import IndexedModule
from cosid.drivers.modules.files import read_bounded
from cosid.resources.modules import normalise

DEPENDENCIES: Final = "modules.dep"
ALIASES: Final = "modules.alias"
BUILTIN: Final = "modules.builtin"
INDEX_FILES: Final = (DEPENDENCIES, ALIASES, BUILTIN)
MAX_INDEX_BYTES: Final = 64 << 20
"""Reads stop here: a full distribution kernel's modules.alias is a few MiB."""

_MODULE_FILE: Final = re.compile(r"(?P<name>[^/]+?)\.ko(?:\.(?:xz|zst|gz))?\Z")
_GLOB: Final = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class _Entry:
    file: str
    dependencies: tuple[str, ...]
    """Names, as modules.dep lists them: each may need the ones after it."""


def module_name(file: str) -> str:
    """The module a file holds (``kernel/net/8021q/8021q.ko.xz`` is ``8021q``); ValueError for
    a path that is not a module file relative to the index."""
    if os.path.isabs(file) or os.path.normpath(file) != file or ".." in file.split("/"):
        raise ValueError(f"{file!r} is not a relative path without '..'")
    found = _MODULE_FILE.search(os.path.basename(file))
    if found is None:
        raise ValueError(f"{file!r} is not a module file (*.ko, *.ko.xz, *.ko.zst, *.ko.gz)")
    return normalise(found["name"])


def normalise_alias(pattern: str) -> str:
    """An alias pattern with ``-`` written ``_``, except inside a glob's brackets (``[a-z]``)."""
    out: list[str] = []
    in_brackets = False
    for char in pattern:
        if char == "[":
            in_brackets = True
        elif char == "]":
            in_brackets = False
        out.append("_" if char == "-" and not in_brackets else char)
    return "".join(out)


class ModuleIndex:
    """The parsed index of one modules directory."""

    def __init__(
        self,
        entries: dict[str, _Entry],
        aliases: list[tuple[str, str]],
        builtin: frozenset[str],
    ) -> None:
        self._entries = entries
        self._exact_aliases: dict[str, list[str]] = {}
        self._glob_aliases: list[tuple[str, str]] = []
        for pattern, module in aliases:
            if _GLOB.search(pattern):
                self._glob_aliases.append((pattern, module))
            else:
                self._exact_aliases.setdefault(pattern, []).append(module)
        self._builtin = builtin

    @classmethod
    def parse(cls, dependencies: str, aliases: str = "", builtin: str = "") -> ModuleIndex:
        """The index from the three files' text; ValueError names the file and line."""
        return cls(
            _parse_dependencies(dependencies), _parse_aliases(aliases), _parse_builtin(builtin)
        )

    def file_of(self, module: str) -> str | None:
        entry = self._entries.get(module)
        return entry.file if entry else None

    def is_builtin(self, module: str) -> bool:
        return module in self._builtin

    def dependencies_of(self, module: str) -> tuple[IndexedModule, ...]:
        """Every module `module` needs, each after the ones it needs itself (a depth-first walk
        of each module's own line, so an index listing them in any order is loaded right).
        ValueError for a dependency without a line of its own, or a cycle."""
        order: list[IndexedModule] = []
        placed: set[str] = set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in placed:
                return
            if name in path:
                raise ValueError(
                    f"{DEPENDENCIES} has a dependency cycle: {' -> '.join((*path, name))}"
                )
            entry = self._entries.get(name)
            if entry is None:
                raise ValueError(
                    f"{DEPENDENCIES} lists {name} as a dependency of {path[-1]}, "
                    "but has no line for it"
                )
            for dependency in reversed(entry.dependencies):
                visit(dependency, (*path, name))
            placed.add(name)
            order.append(IndexedModule(name, entry.file))

        visit(module, ())
        return tuple(order[:-1])

    def alias_targets(self, alias: str) -> tuple[str, ...]:
        """The modules an alias names (exact aliases first, then matching patterns), each once."""
        targets = list(self._exact_aliases.get(alias, ()))
        targets += [
            module for pattern, module in self._glob_aliases if fnmatch.fnmatchcase(alias, pattern)
        ]
        return tuple(dict.fromkeys(targets))


def _lines(text: str, file: str) -> Iterator[tuple[str, str]]:
    """Each line that is not blank or a comment, with its place for messages."""
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield f"{file} line {number}", line


def _parse_dependencies(text: str) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for where, line in _lines(text, DEPENDENCIES):
        file, separator, rest = line.partition(":")
        if not separator:
            raise ValueError(f"{where} has no ':'")
        try:
            name = module_name(file.strip())
            dependencies = tuple(module_name(dependency) for dependency in rest.split())
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        entries.setdefault(name, _Entry(file.strip(), dependencies))  # the first line wins
    return entries


def _parse_aliases(text: str) -> list[tuple[str, str]]:
    aliases: list[tuple[str, str]] = []
    for where, line in _lines(text, ALIASES):
        words = line.split()
        if len(words) != 3 or words[0] != "alias":
            raise ValueError(f"{where} is not 'alias <pattern> <module>'")
        aliases.append((normalise_alias(words[1]), normalise(words[2])))
    return aliases


def _parse_builtin(text: str) -> frozenset[str]:
    names: set[str] = set()
    for where, line in _lines(text, BUILTIN):
        try:
            names.add(module_name(line))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return frozenset(names)


class IndexFiles:
    """The index of ``<root>/lib/modules/<release>``, parsed again only when a file changes.

    ``<root>/lib/modules/<release>`` is resolved on each read (on merged-/usr systems /lib is
    a symlink to usr/lib); below it, no symlink is followed.
    """

    def __init__(self, root: Path, release: str) -> None:
        if not release or "/" in release or release in (".", ".."):
            raise ValueError(f"{release!r} is not a kernel release")
        self.root = root
        self.path = f"/lib/modules/{release}"
        """The directory as the node sees it (the root prefix left out): for messages."""
        self._cached: tuple[tuple[object, ...], ModuleIndex] | None = None

    @property
    def directory(self) -> str:
        """The directory under the root prefix, symlinks on the way to it resolved."""
        return os.path.realpath(self.root / self.path.lstrip("/"))

    def read(self) -> ModuleIndex:
        """The index; ValueError says which file is missing, unreadable or malformed."""
        directory = self.directory
        signature = tuple(_signature(f"{directory}/{name}") for name in INDEX_FILES)
        if self._cached is not None and self._cached[0] == signature:
            return self._cached[1]
        if signature[0] is None:
            raise ValueError(
                f"{self.path}/{DEPENDENCIES} does not exist (depmod makes it, when the "
                "kernel's modules are installed)"
            )
        texts = [
            self._read(directory, name, present is not None)
            for name, present in zip(INDEX_FILES, signature, strict=True)
        ]
        index = ModuleIndex.parse(*texts)
        self._cached = (signature, index)
        return index

    def _read(self, directory: str, name: str, present: bool) -> str:
        if not present:
            return ""
        try:
            return read_bounded(f"{directory}/{name}", MAX_INDEX_BYTES).decode(errors="replace")
        except OSError as error:
            raise ValueError(
                f"{self.path}/{name} cannot be read: {describe_os_error(error)}"
            ) from None


def _signature(path: str) -> tuple[int, int, int] | None:
    """What changes when depmod rewrites a file (it writes a new one and renames it over)."""
    try:
        status = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)

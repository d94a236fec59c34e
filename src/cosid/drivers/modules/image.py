"""A module file as finit_module(2) takes it: a file descriptor of the ELF image, or of the
compressed file with a flag asking the kernel to decompress it.

Distributions compress modules: Debian and Ubuntu with xz, Fedora and Arch with zstd, some
with gzip. Like kmod, cosid hands the kernel the compressed file itself when the kernel
undoes that compression (MODULE_INIT_COMPRESSED_FILE, Linux 5.17 with
CONFIG_MODULE_DECOMPRESS; /sys/module/compression names the one it undoes). Otherwise it
decompresses the file itself into a memfd (memfd_create(2): an anonymous file in memory) and
hands the kernel that: xz with the standard library's lzma, gzip with zlib. Python 3.11 has no
zstd (``compression.zstd`` arrives in 3.14), so a zstd module on a kernel that cannot undo
zstd is refused with `ModuleCompressionError`, saying what it would need.

A module's signature is part of the image before compression, so a decompressed image checks
the same as the file would have.
"""

from __future__ import annotations

import lzma
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from cosid.drivers.files import read_all
from cosid.drivers.modules.driver import ModuleCompressionError, ModuleReadError

MODULE_INIT_COMPRESSED_FILE: Final = 4
"""finit_module's flag: the file is compressed, the kernel decompresses it."""
MAX_IMAGE_BYTES: Final = 512 << 20
"""A decompressed image may be this large; the largest modules are a few tens of MiB."""

_COMPRESSIONS: Final = {".xz": "xz", ".zst": "zstd", ".gz": "gzip"}


def compression_of(file: str) -> str | None:
    """``xz``, ``zstd`` or ``gzip`` for a compressed module file; None for a plain ``.ko``."""
    return _COMPRESSIONS.get(os.path.splitext(file)[1])


def _xz(data: bytes) -> tuple[bytes, bool]:
    decompressor = lzma.LZMADecompressor()
    return decompressor.decompress(data, max_length=MAX_IMAGE_BYTES + 1), decompressor.eof


def _gzip(data: bytes) -> tuple[bytes, bool]:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    return decompressor.decompress(data, MAX_IMAGE_BYTES + 1), decompressor.eof


_DECOMPRESSORS: Final[dict[str, Callable[[bytes], tuple[bytes, bool]]]] = {
    "xz": _xz,
    "gzip": _gzip,
}
"""What cosid decompresses itself: the image (at most MAX_IMAGE_BYTES + 1 of it) and whether
the compressed stream ended."""


@contextmanager
def module_image(
    fd: int, module: str, file: str, kernel_decompresses: str | None
) -> Iterator[tuple[int, int]]:
    """The descriptor and flags to hand finit_module for the module file open at `fd`.

    `kernel_decompresses` is the compression the kernel undoes itself (None: none). A memfd
    made here is closed on leaving. Raises ModuleCompressionError, or ModuleReadError for a
    file that does not decompress; OSError when it cannot be read.
    """
    compression = compression_of(file)
    if compression is None:
        yield fd, 0
        return
    if compression == kernel_decompresses:
        yield fd, MODULE_INIT_COMPRESSED_FILE
        return
    decompress = _DECOMPRESSORS.get(compression)
    if decompress is None:
        kernel = (
            f"the kernel decompresses only {kernel_decompresses} modules itself"
            if kernel_decompresses
            else "the kernel does not decompress modules itself (that needs Linux 5.17 or "
            f"later built with CONFIG_MODULE_DECOMPRESS and {compression})"
        )
        raise ModuleCompressionError(
            module,
            f"{file} is {compression}-compressed: {kernel}, and cosid cannot decompress "
            f"{compression} (Python 3.11 has no {compression})",
        )
    image = _decompressed(module, file, compression, decompress, read_all(fd, MAX_IMAGE_BYTES))
    memory = os.memfd_create(f"{module}.ko", os.MFD_CLOEXEC)
    try:
        view = memoryview(image)
        while view:
            view = view[os.write(memory, view) :]
        os.lseek(memory, 0, os.SEEK_SET)
        yield memory, 0
    finally:
        os.close(memory)


def _decompressed(
    module: str,
    file: str,
    compression: str,
    decompress: Callable[[bytes], tuple[bytes, bool]],
    data: bytes,
) -> bytes:
    try:
        image, ended = decompress(data)
    except (lzma.LZMAError, zlib.error) as error:
        raise ModuleReadError(module, f"{file} is not valid {compression}: {error}") from None
    if len(image) > MAX_IMAGE_BYTES:
        raise ModuleReadError(module, f"{file} decompresses to more than {MAX_IMAGE_BYTES} bytes")
    if not ended:
        raise ModuleReadError(module, f"{file} is truncated: its {compression} stream ends early")
    return image

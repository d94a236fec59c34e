"""Module images for finit_module: a real Debian module (xz) decompressed into a memfd, or the
compressed file itself with MODULE_INIT_COMPRESSED_FILE when the kernel undoes it; what is
refused, and why."""

from __future__ import annotations

import gzip
import lzma
import os
from pathlib import Path

import pytest

from cosid.drivers.modules import ModuleCompressionError, ModuleReadError
from cosid.drivers.modules.image import MODULE_INIT_COMPRESSED_FILE, compression_of, module_image
from tests.drivers.modules_fixtures import debian_modules, modinfo

DUMMY = "kernel/drivers/net/dummy.ko.xz"


@pytest.fixture
def xz_file() -> Path:
    return debian_modules().directory / DUMMY


@pytest.fixture
def image(xz_file: Path) -> bytes:
    return lzma.decompress(xz_file.read_bytes())


def open_file(path: Path) -> int:
    return os.open(path, os.O_RDONLY)


def contents(fd: int) -> bytes:
    return os.pread(fd, os.fstat(fd).st_size, 0)


def test_compression_is_named_by_the_suffix() -> None:
    assert compression_of(DUMMY) == "xz"
    assert compression_of("extra/a.ko.zst") == "zstd"
    assert compression_of("extra/a.ko.gz") == "gzip"
    assert compression_of("extra/a.ko") is None


def test_an_xz_module_is_decompressed_into_a_memfd(xz_file: Path, image: bytes) -> None:
    fd = open_file(xz_file)
    try:
        with module_image(fd, "dummy", DUMMY, None) as (handed, flags):
            assert handed != fd
            assert flags == 0
            assert os.readlink(f"/proc/self/fd/{handed}").startswith("/memfd:dummy.ko")
            assert os.lseek(handed, 0, os.SEEK_CUR) == 0
            assert contents(handed) == image
            assert modinfo(contents(handed))[0] == "dummy"
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(handed)  # closed on leaving
    finally:
        os.close(fd)


@pytest.mark.parametrize("compression", ["xz", "zstd", "gzip"])
def test_a_kernel_that_decompresses_gets_the_file_itself(
    tmp_path: Path, xz_file: Path, compression: str
) -> None:
    """The kernel reads the file; for zstd cosid never reads it at all, so any bytes do here."""
    suffix = {"xz": ".xz", "zstd": ".zst", "gzip": ".gz"}[compression]
    file = tmp_path / f"dummy.ko{suffix}"
    file.write_bytes(xz_file.read_bytes())
    fd = open_file(file)
    try:
        with module_image(fd, "dummy", file.name, compression) as (handed, flags):
            assert (handed, flags) == (fd, MODULE_INIT_COMPRESSED_FILE)
    finally:
        os.close(fd)


def test_a_plain_module_is_handed_as_it_is(tmp_path: Path, image: bytes) -> None:
    file = tmp_path / "dummy.ko"
    file.write_bytes(image)
    fd = open_file(file)
    try:
        with module_image(fd, "dummy", "dummy.ko", "xz") as (handed, flags):
            assert (handed, flags) == (fd, 0)
    finally:
        os.close(fd)


def test_a_gzip_module_is_decompressed_too(tmp_path: Path, image: bytes) -> None:
    file = tmp_path / "dummy.ko.gz"
    file.write_bytes(gzip.compress(image))
    fd = open_file(file)
    try:
        with module_image(fd, "dummy", file.name, "xz") as (handed, flags):
            assert flags == 0
            assert contents(handed) == image
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (
            None,
            "dummy.ko.zst is zstd-compressed: the kernel does not decompress modules itself "
            "(that needs Linux 5.17 or later built with CONFIG_MODULE_DECOMPRESS and zstd), "
            "and cosid cannot decompress zstd (Python 3.11 has no zstd)",
        ),
        ("xz", "the kernel decompresses only xz modules itself, and cosid cannot"),
    ],
)
def test_zstd_needs_a_kernel_that_decompresses_it(
    tmp_path: Path, kernel: str | None, message: str
) -> None:
    file = tmp_path / "dummy.ko.zst"
    file.write_bytes(b"never read")
    fd = open_file(file)
    try:
        with (
            pytest.raises(ModuleCompressionError) as raised,
            module_image(fd, "dummy", file.name, kernel),
        ):
            pass
    finally:
        os.close(fd)
    assert raised.value.reason == "CompressionNotSupported"
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (0, "dummy.ko.xz is not valid xz"),  # garbage, not the module
        (2, "dummy.ko.xz is truncated: its xz stream ends early"),  # the first half
    ],
)
def test_a_broken_file_is_refused(tmp_path: Path, xz_file: Path, keep: int, message: str) -> None:
    file = tmp_path / "dummy.ko.xz"
    whole = xz_file.read_bytes()
    file.write_bytes(whole[: len(whole) // keep] if keep else b"not xz at all")
    fd = open_file(file)
    try:
        with pytest.raises(ModuleReadError) as raised, module_image(fd, "dummy", file.name, None):
            pass
    finally:
        os.close(fd)
    assert raised.value.reason == "ReadFailed"
    assert message in str(raised.value)

"""Content-addressed, compressed, atomically written blobs (raw snapshots, normalized texts).

A blob's name is the sha256 of its uncompressed bytes, so identical pages are stored once and
`tracker verify` can prove every blob is intact. Writes go to a temporary file in the same
folder and are renamed into place: a crash leaves either the whole blob or nothing.

Blobs live one folder deep, ``root/ab/<sha256>.z``: 256 folders hold a store of any realistic
size, where the earlier two-level layout (``root/ab/cd/``, still read) created a new folder
for nearly every blob of a store under ~100k blobs, and folder creation was a tenth of the CPU
of a first check cycle.

Blobs are zstd frames (level 3: a third of zlib's time on policy HTML, and smaller). Stores
written before hold zlib streams under the same names; the two are told apart by their first
bytes, so old and new blobs live side by side and nothing has to be rewritten.

A new version of a page is mostly the previous one, so a blob may be stored as a *delta*: a
zstd frame compressed with its base blob's bytes as the dictionary, behind a header naming the
base (``PTD1`` + the base's raw sha256). A changed 40 KB policy page then costs ~0.3 KB
instead of ~13 KB, at the same compression speed. Bases are always whole blobs (chains are
one link deep), so reading a delta costs one extra blob read however long a history gets, and
a damaged base can only take down the deltas written against it: a delta is stored only when
it is at most half the size of its base's file, so a page that drifted far from its base
starts a new base. Callers name the base they expect to resemble (the previous version's
blob); :mod:`tracker.verify` keeps every base a kept blob depends on.

A base is a single point of failure for its deltas, and the store is evidence: so about one
new version in :data:`KEYFRAME_EVERY` is stored whole anyway, and later deltas build on it. A
lost or damaged file then takes a handful of captures with it, not a page's whole history,
for ~1 KB per version on average. Which ones is decided by the blob's own name, so writing
the same content twice decides the same way.

Durability against power loss needs the bytes on disk before a database row points at them.
``put(..., sync=True)`` writes and fsyncs a blob file at once (a single write: accept,
renormalize, repair). Bulk writers (a check cycle) pass ``sync=False``: their blobs are
buffered and go into one SQLite file, ``blobs.sqlite3`` in the same folder
(:mod:`tracker.blob_pack`, which says why), in one transaction when they call
:meth:`BlobStore.sync` before committing the rows. Readers look in both places, so stores
written before hold their files and nothing has to be moved.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import zstandard

from .blob_pack import BlobPack, pack_for

#: zstd level 3 (its default): ~0.15 ms for a 40 KB page, where zlib took ~0.45 ms.
COMPRESSION_LEVEL = 3
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: A delta blob: this, the base blob's 32-byte sha256, then a zstd frame whose dictionary is the
#: base's bytes. Neither a zstd frame nor a zlib stream (its first byte would be 0x?8) starts so.
DELTA_MAGIC = b"PTD1"
_DELTA_HEADER = len(DELTA_MAGIC) + 32
#: A delta is kept only when its file is at most this share of its base's file.
DELTA_MAX_SHARE = 0.5
#: About one blob in this many is stored whole even when a delta would do (see above).
KEYFRAME_EVERY = 16
_codecs = threading.local()  # zstd contexts are not thread-safe; one pair per thread


def compress(data: bytes) -> bytes:
    compressor = getattr(_codecs, "compressor", None)
    if compressor is None:
        compressor = _codecs.compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
    return compressor.compress(data)


def decompress(stored: bytes) -> bytes:
    """A whole blob's bytes from its file: a zstd frame, or a zlib stream of an older store."""
    if not stored.startswith(_ZSTD_MAGIC):
        return zlib.decompress(stored)
    decompressor = getattr(_codecs, "decompressor", None)
    if decompressor is None:
        decompressor = _codecs.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(stored)  # the frame header carries the size


def compress_delta(data: bytes, base: bytes) -> bytes:
    """A zstd frame of ``data`` that only ``base`` (as raw-content dictionary) can expand."""
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(level=COMPRESSION_LEVEL, dict_data=dictionary).compress(data)


def decompress_delta(frame: bytes, base: bytes) -> bytes:
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(frame)


def _base_named(stored: bytes) -> str | None:
    """The base a stored blob's delta header names, or None for a whole blob."""
    if stored.startswith(DELTA_MAGIC) and len(stored) >= _DELTA_HEADER:
        return stored[len(DELTA_MAGIC):_DELTA_HEADER].hex()
    return None


class BlobError(Exception):
    """A blob is missing or does not match its name."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Blobs under ``root/ab/<sha256>.z`` (compressed; ``root/ab/cd/`` is read too) and in
    ``root/blobs.sqlite3`` (those written in bulk)."""

    SUFFIX = ".z"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        # Stores come and go (one per analyzed page) but share their folder's buffered blobs:
        # one name per folder, however it was spelled, so a sync stores all of them.
        self._pack_key = os.path.abspath(self._root)

    @property
    def _pack(self) -> BlobPack:
        return pack_for(self._pack_key)

    def path(self, digest: str) -> Path:
        """Where the blob's file is (or would be): its legacy two-level location if only that
        exists. Blobs written in bulk have no file: see :meth:`written_at`."""
        location = self._location(digest)
        if not os.path.exists(location) and os.path.exists(self._legacy(digest)):
            return Path(self._legacy(digest))
        return Path(location)

    def exists(self, digest: str) -> bool:
        return (os.path.exists(self._location(digest)) or os.path.exists(self._legacy(digest))
                or self._in_pack(digest))

    def written_at(self, digest: str) -> float | None:
        """When the blob was last written or re-used (Unix time), None if it is not stored."""
        for location in self._files(digest):
            try:
                return os.stat(location).st_mtime
            except FileNotFoundError:
                continue
        try:
            return self._pack.written(digest)
        except sqlite3.Error:
            return None

    def put(self, data: bytes, sync: bool = True, like: str | None = None,
            like_data: bytes | None = None) -> str:
        """Store ``data`` (idempotent) and return its sha256.

        ``sync``: write a file and fsync it now; else buffer the blob for :meth:`sync`, which
        a bulk writer calls before committing rows that name it (see the module docstring).

        ``like`` names a stored blob ``data`` probably resembles (the previous version's):
        ``data`` is then stored as a delta against it, or against its base when it is a delta
        itself, if that pays (see the module docstring). ``like_data``, when given, must be the
        bytes of ``like``; it saves reading them back. A missing or unreadable ``like`` only
        means a whole blob is written.

        Plain ``os`` calls on strings: this runs twice per new page, and pathlib and mkstemp
        cost more than compressing the page.
        """
        digest = sha256_hex(data)
        target = self._location(digest)
        for existing in (target, self._legacy(digest)):
            if os.path.exists(existing):
                # Refresh its age: `verify --repair` only deletes orphans idle for a while, and
                # this blob is about to be referenced again.
                os.utime(existing)
                return digest
        pack = self._pack
        stored = self._packed(digest)
        if stored is not None:  # re-added: its time is refreshed (see BlobPack.add)
            pack.add(digest, stored)
            if sync:
                self.sync()
            return digest
        compressed = None
        if like is not None and like != digest and int(digest[-4:], 16) % KEYFRAME_EVERY:
            compressed = self._delta(data, like, like_data)
        if compressed is None:
            compressed = compress(data)
        if not sync:
            pack.add(digest, compressed)
            return digest
        self._write_file(target, digest, compressed)
        return digest

    def _write_file(self, target: str, digest: str, compressed: bytes) -> None:
        """Write a blob file atomically (a temporary file renamed into place) and fsync it."""
        folder = os.path.dirname(target)
        temporary = f"{folder}/.tmp-{digest[:16]}-{os.getpid()}-{threading.get_ident()}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                view = memoryview(compressed)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _delta(self, data: bytes, like: str, like_data: bytes | None) -> bytes | None:
        """``data`` as a delta blob file against ``like``'s whole base, or None if not worth it."""
        base = self.base_of(like) or like  # a delta's base: chains stay one link deep
        try:
            if base == like and like_data is not None:  # only its size is left to read
                base_size, base_data = self._stored_size(base), like_data
            else:
                stored = self._read(base)
                if stored.startswith(DELTA_MAGIC):
                    return None  # not written by this store; do not build on it
                base_size, base_data = len(stored), decompress(stored)
        except (OSError, BlobError, zlib.error, zstandard.ZstdError):
            return None
        if sha256_hex(base_data) != base:
            return None  # a damaged base (or wrong like_data) must not become a dictionary
        frame = compress_delta(data, base_data)
        if _DELTA_HEADER + len(frame) > DELTA_MAX_SHARE * base_size:
            return None
        return DELTA_MAGIC + bytes.fromhex(base) + frame

    def _stored_size(self, digest: str) -> int:
        """The size of a blob as stored (FileNotFoundError when there is none)."""
        for location in self._files(digest):
            try:
                return os.path.getsize(location)
            except FileNotFoundError:
                continue
        try:
            info = self._pack.info(digest, _DELTA_HEADER)
        except sqlite3.Error as exc:
            raise OSError(f"cannot read {self._pack.path}: {exc}") from None
        if info is None:
            raise FileNotFoundError(digest)
        return info[0]

    def base_of(self, digest: str) -> str | None:
        """The base blob a delta blob needs, or None for a whole (or missing) blob."""
        for location in self._files(digest):
            try:
                with open(location, "rb") as file:
                    header = file.read(_DELTA_HEADER)
            except FileNotFoundError:
                continue
            except OSError:
                return None
            return _base_named(header)
        try:
            info = self._pack.info(digest, _DELTA_HEADER)
        except sqlite3.Error:
            return None
        return None if info is None else _base_named(info[1])

    def _read(self, digest: str) -> bytes:
        """The blob's contents as stored (FileNotFoundError when there is none)."""
        for location in self._files(digest):
            try:
                with open(location, "rb") as file:
                    return file.read()
            except FileNotFoundError:
                continue
        try:
            stored = self._pack.stored(digest)
        except sqlite3.Error as exc:  # a damaged or locked blobs.sqlite3: say which blob
            raise BlobError(f"blob {digest[:12]} cannot be read from {self._pack.path}: "
                            f"{exc}") from None
        if stored is None:
            raise FileNotFoundError(digest)
        return stored

    def _in_pack(self, digest: str) -> bool:
        """Whether blobs.sqlite3 (or this process's buffer) holds the blob; an unreadable file
        holds nothing readable (reads say why, :meth:`sync` fails loudly)."""
        try:
            return self._pack.contains(digest)
        except sqlite3.Error:
            return False

    def _packed(self, digest: str) -> bytes | None:
        """The blob's stored bytes from blobs.sqlite3 or this process's buffer, if there."""
        try:
            return self._pack.stored(digest)
        except sqlite3.Error:
            return None

    def _files(self, digest: str) -> tuple[str, str]:
        """Where a blob's file may be: the flat layout first, then the legacy one."""
        return self._location(digest), self._legacy(digest)

    def _location(self, digest: str) -> str:
        return f"{self._root}/{digest[:2]}/{digest}{self.SUFFIX}"

    def _legacy(self, digest: str) -> str:
        """The two-level location used by stores written before the flat layout."""
        return f"{self._root}/{digest[:2]}/{digest[2:4]}/{digest}{self.SUFFIX}"

    def put_text(self, text: str) -> str:
        return self.put(text.encode("utf-8"))

    def sync(self) -> None:
        """Store every blob put with ``sync=False`` durably (before rows reference them).

        Raises :class:`BlobError` when they cannot be stored: the rows that would name them
        must not be committed. They stay buffered, all of them: pages analyzed meanwhile, to
        be recorded in the next batch, need theirs, and the next sync stores them all (those
        of the failed pages then as orphans, which `verify --repair` deletes). A process whose
        store keeps failing holds them until it exits (a `check`) or a sync succeeds.
        """
        pack = self._pack
        try:
            pack.commit()
        except sqlite3.Error as exc:
            raise BlobError(f"cannot store blobs in {pack.path}: {exc}") from None

    def close(self) -> None:
        """Close this process's connection to the bulk blobs (before a fork, or at exit)."""
        self._pack.close()

    def get(self, digest: str) -> bytes:
        stored = self._stored(digest)
        if not stored.startswith(DELTA_MAGIC):
            return self._expand(digest, stored)
        base = stored[len(DELTA_MAGIC):_DELTA_HEADER].hex()
        try:
            base_stored = self._stored(base)
            if base_stored.startswith(DELTA_MAGIC):
                raise BlobError(f"blob {base[:12]} is a delta too (not written by this tracker)")
            base_data = self._expand(base, base_stored)
        except BlobError as exc:
            # The base is named by the delta's own header: a damaged header names a blob that
            # never existed, and that looks the same as a lost base.
            hint = " (or this delta's header is damaged)" if "is missing" in str(exc) else ""
            raise BlobError(f"blob {digest[:12]} is a delta whose base {exc}{hint}") from None
        try:
            return decompress_delta(stored[_DELTA_HEADER:], base_data)
        except zstandard.ZstdError:
            raise BlobError(f"blob {digest[:12]} is corrupt (cannot decompress)") from None

    def _stored(self, digest: str) -> bytes:
        try:
            return self._read(digest)
        except FileNotFoundError:
            raise BlobError(f"blob {digest[:12]} is missing from {self.root}") from None

    @staticmethod
    def _expand(digest: str, stored: bytes) -> bytes:
        try:
            return decompress(stored)
        except (zlib.error, zstandard.ZstdError):
            raise BlobError(f"blob {digest[:12]} is corrupt (cannot decompress)") from None

    def get_text(self, digest: str) -> str:
        return self.get(digest).decode("utf-8")

    def verify(self, digest: str) -> str | None:
        """None when the blob exists and matches its name, else what is wrong."""
        try:
            data = self.get(digest)
        except BlobError as exc:
            return str(exc)
        if sha256_hex(data) != digest:
            return f"blob {digest[:12]} does not match its sha256"
        return None

    def all_digests(self, files_only: bool = False) -> Iterator[str]:
        """Every stored blob (BlobError if blobs.sqlite3 cannot be read), or only the files."""
        if not self.root.exists():
            return
        for pattern in ("*/*", "*/*/*"):  # the flat layout, then the legacy one
            for path in self.root.glob(pattern + self.SUFFIX):
                name = path.name[: -len(self.SUFFIX)]
                if len(name) == 64 and not name.startswith("."):  # not a .tmp- leftover
                    yield name
        if files_only:
            return
        try:
            packed = self._pack.digests()
        except sqlite3.Error as exc:
            raise BlobError(f"cannot read {self._pack.path}: {exc}") from None
        yield from packed

    def temp_files(self) -> Iterator[Path]:
        """Leftovers of interrupted writes (safe to delete)."""
        if self.root.exists():
            yield from self.root.glob("*/.tmp-*")
            yield from self.root.glob("*/*/.tmp-*")

    def delete(self, digest: str) -> None:
        for location in self._files(digest):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(location)
        try:
            self._pack.delete(digest)
        except sqlite3.Error as exc:
            raise BlobError(f"cannot delete blob {digest[:12]} from {self._pack.path}: "
                            f"{exc}") from None

"""Store integrity: does the database agree with the blob store, and can what broke be rebuilt?

The check pipeline writes blobs *before* the database transaction that references them, so a
crash can leave blobs no row points to (harmless, reported as warnings) but never a row pointing
to a missing blob. Anything else found here means the store was damaged from outside (a disk
problem, a hand-edited database, a half-restored backup) and is an error.

:func:`verify_store` only reads. :func:`repair_store` rebuilds what the blobs still determine:
a lost normalized text is re-derived from its raw snapshot, dangling change rows are dropped
and the missing change between two consecutive versions is recomputed (never alerted). A lost
raw snapshot cannot be rebuilt: the page as it was fetched then is gone, and that is said.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col, select

from .blob_pack import FILE_NAME
from .blobs import BlobError, BlobStore, sha256_hex
from .models import Alert, Change, Snapshot, Target, Version
from .normalize import NORMALIZER_VERSION
from .store import Store

ERROR = "error"
WARNING = "warning"

#: Blobs and temp files younger than this may belong to a check still in progress (blobs are
#: written before the transaction that references them): --repair leaves them alone.
REPAIR_GRACE_SECONDS = 600.0

# Issue kinds (stable: they are part of the JSON output scripts rely on).
RAW_BLOB_MISSING = "raw_blob_missing"
RAW_BLOB_CORRUPT = "raw_blob_corrupt"
TEXT_BLOB_MISSING = "text_blob_missing"
TEXT_BLOB_CORRUPT = "text_blob_corrupt"
SNAPSHOT_WITHOUT_TARGET = "snapshot_without_target"
VERSION_WITHOUT_SNAPSHOT = "version_without_snapshot"
VERSION_WITHOUT_TARGET = "version_without_target"
DANGLING_CHANGE = "dangling_change"
MISSING_CHANGE = "missing_change"
DUPLICATE_VERSION = "duplicate_version"
ORPHAN_BLOB = "orphan_blob"
TEMP_FILE = "temp_file"
BLOB_PACK_UNREADABLE = "blob_pack_unreadable"

REPAIRABLE = {TEXT_BLOB_MISSING, TEXT_BLOB_CORRUPT, DANGLING_CHANGE, MISSING_CHANGE,
              ORPHAN_BLOB, TEMP_FILE}


@dataclass(frozen=True)
class Issue:
    """One problem: what kind, which row (or blob/file), and a sentence a person can act on."""

    kind: str
    severity: str
    table: str | None
    id: int | str | None
    detail: str

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE

    def to_dict(self) -> dict:
        return {**asdict(self), "repairable": self.repairable}


@dataclass(frozen=True)
class Repair:
    """What --repair did (``done``) or why it could not (``done`` False)."""

    kind: str
    table: str | None
    id: int | str | None
    done: bool
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def healthy(self) -> bool:
        """Warnings (orphan blobs, temp files) are leftovers of crashes, not damage."""
        return not self.errors

    def to_dict(self) -> dict:
        return {"healthy": self.healthy, "errors": len(self.errors),
                "warnings": len(self.warnings), "counts": self.counts,
                "issues": [i.to_dict() for i in self.issues]}


# --- reading --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Snap:
    id: int
    target_id: int
    sha256: str
    content_type: str
    charset: str | None


@dataclass(frozen=True)
class _Ver:
    id: int
    target_id: int
    snapshot_id: int
    text_sha256: str
    normalizer_version: int
    captured_at: datetime


@dataclass(frozen=True)
class _Chg:
    id: int
    target_id: int
    from_version_id: int
    to_version_id: int


@dataclass
class _Rows:
    """The columns verification needs, read in one transaction (a consistent picture)."""

    targets: dict[int, str]
    snapshots: dict[int, _Snap]
    versions: dict[int, _Ver]
    changes: dict[int, _Chg]

    @classmethod
    def read(cls, session: Session) -> _Rows:
        targets = {tid: name for tid, name in session.exec(select(Target.id, Target.name))}
        snapshots = {row[0]: _Snap(*row) for row in session.exec(select(
            Snapshot.id, Snapshot.target_id, Snapshot.sha256, Snapshot.content_type,
            Snapshot.charset))}
        versions = {row[0]: _Ver(*row) for row in session.exec(select(
            Version.id, Version.target_id, Version.snapshot_id, Version.text_sha256,
            Version.normalizer_version, Version.captured_at))}
        changes = {row[0]: _Chg(*row) for row in session.exec(select(
            Change.id, Change.target_id, Change.from_version_id, Change.to_version_id))}
        return cls(targets, snapshots, versions, changes)

    def referenced(self) -> set[str]:
        return {s.sha256 for s in self.snapshots.values()} | \
            {v.text_sha256 for v in self.versions.values()}

    def chains(self) -> dict[int, list[_Ver]]:
        """Each target's versions in capture order (the order `versions_of` uses)."""
        by_target: dict[int, list[_Ver]] = defaultdict(list)
        for version in self.versions.values():
            by_target[version.target_id].append(version)
        for chain in by_target.values():
            chain.sort(key=lambda v: (v.captured_at, v.id))
        return by_target

    def target_name(self, target_id: int) -> str:
        return self.targets.get(target_id, f"target {target_id}")


_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _blob_digests(blobs: BlobStore) -> set[str]:
    """Digests of the blobs on disk; ``all_digests`` also yields ``.tmp-*.z`` temp files
    (pathlib's glob matches dot files), which are reported as temp files, not as blobs."""
    return {d for d in blobs.all_digests() if _DIGEST.match(d)}


def _listed_blobs(blobs: BlobStore) -> tuple[set[str], list[Issue]]:
    """The blobs on disk, and an issue if blobs.sqlite3 cannot be read (its blobs then count
    as missing: only a backup brings them back)."""
    try:
        return _blob_digests(blobs), []
    except BlobError as exc:
        files = {d for d in blobs.all_digests(files_only=True) if _DIGEST.match(d)}
        return files, [Issue(BLOB_PACK_UNREADABLE, ERROR, "blobs", FILE_NAME,
                             f"{exc}; the blobs it holds are reported missing (restore it "
                             "from a backup)")]


def _bases(blobs: BlobStore, digests: set[str]) -> set[str]:
    """The blobs that delta blobs among ``digests`` are stored against: never orphans while
    those are kept (an orphan delta keeps its base too, until it is deleted itself)."""
    return {base for digest in digests if (base := blobs.base_of(digest)) is not None}


def _short(digest: str) -> str:
    return digest[:12]


# --- verification ---------------------------------------------------------------------------

def verify_store(store: Store) -> Report:
    """Check every rule; never writes. Blobs are listed before rows are read, so a blob being
    written by a concurrent check is at worst reported as an orphan, never as missing."""
    on_disk, unreadable = _listed_blobs(store.blobs)
    temp_files = sorted(store.blobs.temp_files())
    with Session(store.engine) as session:
        rows = _Rows.read(session)
    report = Report(counts={
        "targets": len(rows.targets), "snapshots": len(rows.snapshots),
        "versions": len(rows.versions), "changes": len(rows.changes),
        "blobs": len(on_disk), "temp_files": len(temp_files)})
    report.issues += unreadable
    report.issues += _orphan_rows(rows)
    report.issues += _chain_issues(rows)
    report.issues += _blob_issues(store.blobs, rows, on_disk)
    orphans = sorted(on_disk - rows.referenced() - _bases(store.blobs, on_disk))
    report.counts["orphan_blobs"] = len(orphans)
    report.issues += [Issue(ORPHAN_BLOB, WARNING, "blobs", digest,
                            f"blob {_short(digest)} is referenced by no row (harmless leftover "
                            "of an interrupted check; --repair deletes it)")
                      for digest in orphans]
    report.issues += [Issue(TEMP_FILE, WARNING, "blobs", str(path.relative_to(store.blobs.root)),
                            "temporary file of an interrupted blob write (--repair deletes it)")
                      for path in temp_files]
    return report


def _orphan_rows(rows: _Rows) -> list[Issue]:
    issues = []
    for snap in rows.snapshots.values():
        if snap.target_id not in rows.targets:
            issues.append(Issue(SNAPSHOT_WITHOUT_TARGET, ERROR, "snapshots", snap.id,
                                f"snapshot {snap.id} belongs to target {snap.target_id}, "
                                "which does not exist"))
    for ver in rows.versions.values():
        if ver.snapshot_id not in rows.snapshots:
            issues.append(Issue(VERSION_WITHOUT_SNAPSHOT, ERROR, "versions", ver.id,
                                f"version {ver.id} of {rows.target_name(ver.target_id)} "
                                f"points to snapshot {ver.snapshot_id}, which does not exist "
                                "(its provenance is lost; cannot be repaired)"))
        if ver.target_id not in rows.targets:
            issues.append(Issue(VERSION_WITHOUT_TARGET, ERROR, "versions", ver.id,
                                f"version {ver.id} belongs to target {ver.target_id}, "
                                "which does not exist"))
    for chg in rows.changes.values():
        missing = [str(v) for v in (chg.from_version_id, chg.to_version_id)
                   if v not in rows.versions]
        if missing:
            issues.append(Issue(DANGLING_CHANGE, ERROR, "changes", chg.id,
                                f"change {chg.id} of {rows.target_name(chg.target_id)} links "
                                f"version(s) {', '.join(missing)}, which do not exist "
                                "(--repair removes it)"))
    return issues


def _chain_issues(rows: _Rows) -> list[Issue]:
    """Consecutive versions must differ, and each consecutive pair must have its change."""
    pairs = {(c.from_version_id, c.to_version_id) for c in rows.changes.values()}
    issues = []
    for target_id, chain in rows.chains().items():
        name = rows.target_name(target_id)
        for old, new in zip(chain, chain[1:], strict=False):
            if old.text_sha256 == new.text_sha256:
                issues.append(Issue(DUPLICATE_VERSION, ERROR, "versions", new.id,
                                    f"{name}: version {new.id} has the same text as the version "
                                    f"just before it ({old.id}); `tracker renormalize {name}` "
                                    "merges them"))
            elif (old.id, new.id) not in pairs:
                issues.append(Issue(MISSING_CHANGE, ERROR, "versions", new.id,
                                    f"{name}: no change row between consecutive versions "
                                    f"{old.id} and {new.id} (--repair recomputes it)"))
    return issues


def _blob_issues(blobs: BlobStore, rows: _Rows, on_disk: set[str]) -> list[Issue]:
    problems: dict[str, str | None] = {}

    def problem(digest: str) -> str | None:
        if digest not in problems:
            problems[digest] = "missing" if digest not in on_disk and not blobs.exists(digest) \
                else _damage(blobs, digest)
        return problems[digest]

    issues = []
    for snap in rows.snapshots.values():
        what = problem(snap.sha256)
        if what:
            kind = RAW_BLOB_MISSING if what == "missing" else RAW_BLOB_CORRUPT
            issues.append(Issue(kind, ERROR, "snapshots", snap.id,
                                f"snapshot {snap.id} of {rows.target_name(snap.target_id)}: raw "
                                f"blob {_short(snap.sha256)} is {what}; cannot be repaired (the "
                                "page as fetched then is lost)"))
    for ver in rows.versions.values():
        what = problem(ver.text_sha256)
        if what:
            kind = TEXT_BLOB_MISSING if what == "missing" else TEXT_BLOB_CORRUPT
            issues.append(Issue(kind, ERROR, "versions", ver.id,
                                f"version {ver.id} of {rows.target_name(ver.target_id)}: text "
                                f"blob {_short(ver.text_sha256)} is {what} (--repair re-derives "
                                f"it from snapshot {ver.snapshot_id})"))
    return issues


def _damage(blobs: BlobStore, digest: str) -> str | None:
    """None for a sound blob, else "corrupt", naming the base when the damage is the base's."""
    if blobs.verify(digest) is None:
        return None
    base = blobs.base_of(digest)
    if base is not None and blobs.verify(base) is not None:
        return f"corrupt (stored as a delta on blob {_short(base)}, which is damaged or missing)"
    return "corrupt"


# --- repair ---------------------------------------------------------------------------------

def repair_store(store: Store, report: Report,
                 grace: float = REPAIR_GRACE_SECONDS) -> list[Repair]:
    """Fix the repairable issues of ``report``; each step re-reads the rows it changes."""
    by_kind: dict[str, list[Issue]] = defaultdict(list)
    for issue in report.issues:
        by_kind[issue.kind].append(issue)
    repairs: list[Repair] = []
    text_issues = by_kind[TEXT_BLOB_MISSING] + by_kind[TEXT_BLOB_CORRUPT]
    if text_issues:
        repairs += _rederive_texts(store, {int(i.id or 0): i.kind for i in text_issues})
    if by_kind[DANGLING_CHANGE]:
        repairs += _drop_dangling_changes(store, [int(i.id or 0)
                                                  for i in by_kind[DANGLING_CHANGE]])
    if by_kind[DANGLING_CHANGE] or by_kind[MISSING_CHANGE]:
        repairs += _add_missing_changes(store)
    if by_kind[TEMP_FILE]:
        repairs += _delete_temp_files(store.blobs, grace)
    if by_kind[ORPHAN_BLOB]:
        repairs += _delete_orphan_blobs(store, [str(i.id) for i in by_kind[ORPHAN_BLOB]], grace)
    return repairs


def _rederive_texts(store: Store, kinds: dict[int, str]) -> list[Repair]:
    """Normalize the raw snapshot again; keep the result only if it is the very same text."""
    from .analysis import document_from_body

    repairs = []
    done: set[str] = set()
    with Session(store.engine) as session:
        items = []
        for version_id in kinds:
            version = session.get(Version, version_id)
            snapshot = session.get(Snapshot, version.snapshot_id) if version else None
            target = session.get(Target, version.target_id) if version else None
            items.append((version_id, version, snapshot, target))
    for version_id, version, snapshot, target in items:
        def result(ok: bool, detail: str, vid: int = version_id) -> Repair:
            return Repair(kinds[vid], "versions", vid, ok, detail)

        if version is None or snapshot is None or target is None:
            repairs.append(result(False, f"version {version_id}: its snapshot or target row is "
                                         "gone; nothing to re-derive the text from"))
            continue
        if version.text_sha256 in done:
            repairs.append(result(True, f"version {version_id}: text blob "
                                        f"{_short(version.text_sha256)} re-derived"))
            continue
        try:
            raw = store.blobs.get(snapshot.sha256)
        except BlobError as exc:
            repairs.append(result(False, f"version {version_id}: cannot re-derive its text: "
                                         f"raw snapshot {snapshot.id} is unusable ({exc})"))
            continue
        document = document_from_body(raw, snapshot.content_type, snapshot.charset,
                                      tuple(json.loads(target.select_json)),
                                      tuple(json.loads(target.remove_json)))
        data = document.to_text().encode("utf-8")
        if sha256_hex(data) != version.text_sha256:
            repairs.append(result(False, _mismatch(version, target.name)))
            continue
        store.blobs.delete(version.text_sha256)  # a corrupt file would block put()
        store.blobs.put(data)
        done.add(version.text_sha256)
        repairs.append(result(True, f"version {version_id}: text blob "
                                    f"{_short(version.text_sha256)} re-derived from snapshot "
                                    f"{snapshot.id}"))
    return repairs


def _mismatch(version: Version, name: str) -> str:
    if version.normalizer_version != NORMALIZER_VERSION:
        return (f"version {version.id}: cannot re-derive its text: the normalizer changed "
                f"(version made by normalizer {version.normalizer_version}, this is "
                f"{NORMALIZER_VERSION}) and now gives a different text; run "
                f"`tracker renormalize {name}` to re-derive all of {name}'s versions")
    return (f"version {version.id}: cannot re-derive its text: normalizing snapshot "
            f"{version.snapshot_id} again gives a different text (were {name}'s select/remove "
            f"selectors changed?); `tracker renormalize {name}` re-derives all its versions")


def _drop_dangling_changes(store: Store, change_ids: list[int]) -> list[Repair]:
    repairs = []
    with store.session() as session:
        for change_id in change_ids:
            change = session.get(Change, change_id)
            if change is None:
                continue
            ends = [session.get(Version, v) for v in (change.from_version_id,
                                                      change.to_version_id)]
            if all(ends):  # repaired meanwhile (cannot happen, but never drop a good row)
                continue
            session.exec(update(Alert).where(col(Alert.change_id) == change_id)  # type: ignore[call-overload]
                         .values(change_id=None))
            session.delete(change)
            repairs.append(Repair(DANGLING_CHANGE, "changes", change_id, True,
                                  f"change {change_id} removed (it linked missing versions)"))
    return repairs


def _add_missing_changes(store: Store) -> list[Repair]:
    """Recompute the change of each consecutive pair that has none (marked never-alert)."""
    from .analysis import compare_texts
    from .history import ALERT_SUPPRESSED, make_change, versions_of

    repairs = []
    with store.session() as session:
        pairs = {(c.from_version_id, c.to_version_id) for c in session.exec(select(Change))}
        for target_id in session.exec(select(Target.id)):
            chain = versions_of(session, target_id)
            for old, new in zip(chain, chain[1:], strict=False):
                if (old.id, new.id) in pairs or old.text_sha256 == new.text_sha256:
                    continue
                try:
                    comparison = compare_texts(store.blobs.get_text(old.text_sha256),
                                               store.blobs.get_text(new.text_sha256))
                except BlobError as exc:
                    repairs.append(Repair(MISSING_CHANGE, "versions", new.id, False,
                                          f"change {old.id} -> {new.id} not recomputed: {exc}"))
                    continue
                make_change(session, target_id, old, new, comparison, new.source,
                            alert_state=ALERT_SUPPRESSED)
                repairs.append(Repair(MISSING_CHANGE, "versions", new.id, True,
                                      f"change {old.id} -> {new.id} recomputed (not alerted)"))
    return repairs


def _is_old(path: Path, grace: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime >= grace
    except FileNotFoundError:
        return False


def _delete_temp_files(blobs: BlobStore, grace: float) -> list[Repair]:
    repairs = []
    for path in blobs.temp_files():
        name = str(path.relative_to(blobs.root))
        if not _is_old(path, grace):
            repairs.append(Repair(TEMP_FILE, "blobs", name, False,
                                  f"kept {name}: younger than {grace:.0f}s, a write may be "
                                  "in progress"))
            continue
        path.unlink(missing_ok=True)
        repairs.append(Repair(TEMP_FILE, "blobs", name, True, f"deleted {name}"))
    return repairs


def _delete_orphan_blobs(store: Store, digests: list[str], grace: float) -> list[Repair]:
    """Delete old unreferenced blobs while holding the write lock.

    References are re-read inside a write transaction, so no check can commit a row pointing
    to a blob between that read and the deletion; the age limit covers the blob a running
    check has written but not yet committed.
    """
    repairs = []
    with store.session() as session:
        referenced = set(session.exec(select(Snapshot.sha256))) | \
            set(session.exec(select(Version.text_sha256)))
        # Bases of every delta on disk now, orphans included: deltas written since the report
        # (by a check, against the blob a committed row names) must keep theirs.
        needed = _bases(store.blobs, _listed_blobs(store.blobs)[0])
        for digest in digests:
            if digest in referenced or digest in needed:
                continue
            written = store.blobs.written_at(digest)
            if written is None:
                continue  # deleted meanwhile
            if time.time() - written < grace:
                repairs.append(Repair(ORPHAN_BLOB, "blobs", digest, False,
                                      f"kept orphan blob {_short(digest)}: younger than "
                                      f"{grace:.0f}s, a check may be about to reference it"))
                continue
            store.blobs.delete(digest)
            repairs.append(Repair(ORPHAN_BLOB, "blobs", digest, True,
                                  f"deleted orphan blob {_short(digest)}"))
    return repairs

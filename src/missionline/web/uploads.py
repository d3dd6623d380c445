"""Imports by upload: size-limited, type-checked files in a private folder, then one import.

Each upload gets a new folder ``<workspace>/.uploads/<random>/`` (owner-only), removed when the
import ends. A file keeps only a cleaned base name (letters, digits, ``.``, ``_``, ``-``; the
importer matches tables and mapping patterns by name), never a path the client chose. Its
type is checked by extension and by content: Parquet's ``PAR1`` magic at both ends, gzip's
magic for ``.gz``, UTF-8 text without NUL bytes for CSV/TSV and for the mapping YAML. The
import itself is ``Workspace.import_files``: validated first, one transaction, nothing written
on any error; problems are reported with the uploaded file's name, row and column.
"""

from __future__ import annotations

import codecs
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from fastapi import UploadFile

from missionline.data.importer import LoadReport
from missionline.data.staging import DATA_SUFFIXES, PARQUET_SUFFIXES
from missionline.errors import MissionlineError, Problem

if TYPE_CHECKING:
    from missionline.web.state import AppState

UPLOADS = ".uploads"
MAPPING_SUFFIXES = (".yaml", ".yml")
CHUNK = 1 << 20
SNIFF = 64 << 10
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(MissionlineError):
    """An upload refused before import: too large (413) or not the type it claims (415)."""

    def __init__(self, message: str, status: int = 415) -> None:
        super().__init__(message)
        self.status = status


def safe_name(filename: str | None, suffixes: tuple[str, ...]) -> str:
    """The cleaned base name of an uploaded file, or an error naming the accepted types."""
    base = PurePosixPath(PureWindowsPath(filename or "").name).name
    name = UNSAFE.sub("_", base).lstrip("._")[-120:]
    if not name.lower().endswith(suffixes):
        raise UploadError(
            f"{base or 'a file'}: unsupported file type (expected one of {', '.join(suffixes)})"
        )
    return name


def _save(upload: UploadFile, path: Path, limit: float, total: int) -> int:
    """Copy an upload to ``path`` in chunks; fail once the batch passes ``limit`` bytes."""
    with path.open("xb") as out:
        while chunk := upload.file.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise UploadError(f"the upload is larger than {limit / 1e6:g} MB", 413)
            out.write(chunk)
    return total


def _utf8_text(head: bytes) -> bool:
    """Whether the first bytes read as UTF-8 text (a character cut at the end is fine)."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def check_content(path: Path, shown: str) -> None:
    """Refuse a file whose content does not match its extension."""
    name = path.name.lower()
    with path.open("rb") as f:
        head = f.read(SNIFF)
        if name.endswith(PARQUET_SUFFIXES):
            f.seek(max(0, path.stat().st_size - 4))
            valid = head[:4] == b"PAR1" and f.read(4) == b"PAR1"
        elif name.endswith(".gz"):
            valid = head[:2] == b"\x1f\x8b"
        else:
            valid = _utf8_text(head)
    if not valid:
        raise UploadError(f"{shown}: the content is not what a {Path(name).suffix} file holds")


@contextmanager
def upload_folder(workspace: Path) -> Iterator[Path]:
    """A new private folder for one upload, removed afterwards."""
    root = workspace / UPLOADS
    root.mkdir(mode=0o700, exist_ok=True)
    folder = root / secrets.token_hex(16)
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _store(
    uploads: Sequence[UploadFile], mapping: UploadFile | None, folder: Path, state: AppState
) -> tuple[list[Path], Path | None]:
    """Save and check every upload; return the data files and the mapping file."""
    settings = state.settings
    limit, total = settings.upload_limit_mb * 1e6, 0
    files = [u for u in uploads if u.filename]
    if not files:
        raise UploadError("choose at least one CSV or Parquet file to import", 400)
    paths = []
    for upload in files:
        path = folder / safe_name(upload.filename, DATA_SUFFIXES)
        if path.exists():
            raise UploadError(f"{path.name}: the same file name twice in one upload", 400)
        total = _save(upload, path, limit, total)
        check_content(path, path.name)
        paths.append(path)
    if mapping is None or not mapping.filename:
        return paths, None
    map_path = folder / f"mapping-{secrets.token_hex(4)}{Path(mapping.filename).suffix.lower()}"
    safe_name(mapping.filename, MAPPING_SUFFIXES)
    _save(mapping, map_path, settings.mapping_limit_kb * 1e3, 0)
    check_content(map_path, mapping.filename)
    return paths, map_path


def _shown(exc: MissionlineError, folder: Path, mapping: str | None) -> MissionlineError:
    """The error with the private folder left out of every file name and message."""

    def clean(text: str) -> str:
        text = text.replace(f"{folder}/", "")
        return re.sub(r"mapping-[0-9a-f]{8}\.ya?ml", mapping or "the mapping", text)

    problems = [
        replace(p, message=clean(p.message), file=clean(p.file) if p.file else None)
        for p in exc.problems
    ]
    shown = type(exc)(clean(exc.message), problems)
    return shown


def import_uploads(
    state: AppState, uploads: Sequence[UploadFile], mapping: UploadFile | None, replace_: bool
) -> LoadReport:
    """Check, save and import uploaded files (imports run one at a time); errors name files."""
    mapping_name = mapping.filename if mapping is not None else None
    with upload_folder(state.pool.folder) as folder:
        paths, map_path = _store(uploads, mapping, folder, state)
        with state.pool.importing() as ws:
            try:
                report = ws.import_files(paths, map_path, replace_)
            except MissionlineError as exc:
                raise _shown(exc, folder, mapping_name) from None
    if state.after_import is not None:
        state.after_import()
    return report


def problem_json(problem: Problem) -> dict[str, Any]:
    """One finding as JSON: where (file, line, column) and what."""
    return asdict(problem)


def load_json(report: LoadReport) -> dict[str, Any]:
    """The JSON answer to an import: rows per table and the warnings."""
    return {
        "tables": [asdict(t) for t in report.tables],
        "warnings": [problem_json(w) for w in report.warnings],
    }

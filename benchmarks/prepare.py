"""Build benchmark inputs in a separate process, so their memory never counts against a measure.

``python -m benchmarks.prepare files LEADS SEED FMT`` writes the company's files;
``python -m benchmarks.prepare workspace LEADS SEED`` imports them into a workspace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import data_dir


def files_folder(leads: int, seed: int, fmt: str) -> Path:
    """Where the company's files live."""
    return data_dir() / f"company-{leads}-{seed}-{fmt}"


def workspace_folder(leads: int, seed: int) -> Path:
    """Where the imported workspace lives."""
    return data_dir() / f"workspace-{leads}-{seed}"


def ensure(kind: str, leads: int, seed: int, fmt: str = "parquet") -> Path:
    """Return the prepared folder, building it in a child process when missing."""
    folder = files_folder(leads, seed, fmt) if kind == "files" else workspace_folder(leads, seed)
    marker = folder / ".complete"
    if not marker.exists():
        args = [sys.executable, "-m", "benchmarks.prepare", kind, str(leads), str(seed), fmt]
        subprocess.run(args, check=True)
    return folder


def _files(leads: int, seed: int, fmt: str) -> None:
    from missionline.demo.generator import generate_company, write_company

    folder = files_folder(leads, seed, fmt)
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    company = generate_company(leads=leads, seed=seed)
    write_company(company, folder, fmt)  # type: ignore[arg-type]
    events = company.tables["stage_events"].num_rows
    elapsed = time.perf_counter() - started
    print(
        f"generated {events:,} stage events in {elapsed:.0f} s "
        f"({events / elapsed:,.0f} events/s) into {folder}",
        file=sys.stderr,
    )
    (folder / ".complete").touch()


def _workspace(leads: int, seed: int) -> None:
    from missionline.workspace import Workspace

    files = ensure("files", leads, seed, "parquet")
    folder = workspace_folder(leads, seed)
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    with Workspace.init(folder, "demo") as ws:
        ws.import_files([files])
    print(f"imported the company in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    (folder / ".complete").touch()


if __name__ == "__main__":
    kind, leads, seed, fmt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    _files(leads, seed, fmt) if kind == "files" else _workspace(leads, seed)

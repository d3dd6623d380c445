"""Imports by upload: checked type and size, private file names, errors by row and column."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from missionline.web.uploads import UPLOADS, UploadError, safe_name
from test_web_support import client_as, csrf_token, fixture_workspace, web_app

MAPPING = b"""
files:
  - match: "crm-*.csv"
    tables:
      people:
        person_id: Lead ID
        created_at: {from: Created, format: "%d/%m/%Y"}
        source_channel: Source
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app over the fixture company, with a 20 kB upload limit."""
    application = web_app(fixture_workspace(tmp_path_factory.mktemp("up")), upload_limit_mb=0.02)
    yield application
    application.state.missionline.pool.close()


@pytest.fixture(scope="module")
def analyst(app: FastAPI) -> TestClient:
    """A logged-in analyst."""
    return client_as(app, "analyst")


def upload(client: TestClient, *files: tuple[str, bytes], mapping: bytes | None = None) -> object:
    """Post files (and a mapping) through the Data page's form."""
    parts = [("files", (name, content, "application/octet-stream")) for name, content in files]
    if mapping is not None:
        parts.append(("mapping", ("crm.yaml", mapping, "application/yaml")))
    return client.post("/data/import", data={"csrf_token": csrf_token(client)}, files=parts)


def people_count(client: TestClient) -> str:
    """The people row count as the Data page shows it."""
    text = client.get("/data").text
    return text.split('<td class="text">people</td><td>')[1].split("<")[0]


def test_errors_show_file_row_and_column_and_nothing_is_written(analyst: TestClient) -> None:
    """One bad cell among good rows: the page lists it, and no row of the file is loaded."""
    before = people_count(analyst)
    bad = b"person_id,created_at,source_channel\nn1,2024-05-01,web\nn2,tomorrow,web\n"
    response = upload(analyst, ("people.csv", bad))
    assert response.status_code == 400  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert "nothing was written" in text
    assert '<td class="text">people.csv</td><td>3</td><td class="text">created_at</td>' in text
    assert "tomorrow" in text and UPLOADS not in text
    assert people_count(analyst) == before


def test_a_valid_upload_is_imported_and_reported(analyst: TestClient, app: FastAPI) -> None:
    """Good rows load; the page reports inserted rows and the private folder is gone."""
    good = b"person_id,created_at,source_channel\nn3,2024-05-01,web\n"
    text = upload(analyst, ("people.csv", good)).text  # type: ignore[attr-defined]
    assert "Imported." in text
    assert '<td class="text">people</td><td>1</td><td>1</td>' in text
    assert not any((app.state.missionline.pool.folder / UPLOADS).iterdir())


def test_a_crm_export_loads_with_an_uploaded_mapping(analyst: TestClient) -> None:
    """A file the mapping matches is read through it (column names, date format)."""
    export = b"Lead ID,Created,Source\nm1,03/06/2024,events\n"
    text = upload(analyst, ("crm-june.csv", export), mapping=MAPPING).text  # type: ignore[attr-defined]
    assert "Imported." in text
    broken = upload(analyst, ("crm-june.csv", export), mapping=b"files: [{match: 3")
    assert broken.status_code == 400  # type: ignore[attr-defined]
    assert "mapping-" not in broken.text  # type: ignore[attr-defined]


def test_a_parquet_file_is_accepted_and_a_fake_one_refused(analyst: TestClient) -> None:
    """Parquet is recognised by its magic bytes, not only by its name."""
    table = pa.table({"person_id": ["pq1"], "created_at": ["2024-06-01"]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    assert "Imported." in upload(analyst, ("people.parquet", buffer.getvalue())).text  # type: ignore[attr-defined]
    fake = upload(analyst, ("people.parquet", b"person_id\nx\n"))
    assert fake.status_code == 415  # type: ignore[attr-defined]
    assert "not what a .parquet file holds" in fake.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("people.exe", b"MZ", 415, "unsupported file type"),
        ("people.csv", b"\x00\x01\x02binary", 415, "not what a .csv file holds"),
        ("people.csv.gz", b"plain text", 415, "not what a .gz file holds"),
        ("people.csv", b"person_id\n" + b"x" * 30_000, 413, "larger than 0.02 MB"),
    ],
)
def test_wrong_types_and_oversized_files_are_refused(
    analyst: TestClient, name: str, content: bytes, status: int, message: str
) -> None:
    """Type by extension and content; size by the configured limit."""
    response = upload(analyst, (name, content))
    assert response.status_code == status  # type: ignore[attr-defined]
    assert message in response.text  # type: ignore[attr-defined]


def test_a_streamed_body_over_the_limit_is_cut_off(app: FastAPI, analyst: TestClient) -> None:
    """Without a Content-Length the body is counted as it arrives and refused past the limit."""

    def chunks() -> Iterator[bytes]:
        yield (
            b'--zzz\r\nContent-Disposition: form-data; name="files"; filename="people.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\nperson_id\n"
        )
        for _ in range(100):
            yield b"x" * 10_000

    response = analyst.post(
        "/data/import",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413


def test_client_paths_never_reach_the_file_system(analyst: TestClient, tmp_path: Path) -> None:
    """A name with directories is reduced to a clean base name inside the private folder."""
    good = b"person_id,created_at\nn9,2024-05-01\n"
    text = upload(analyst, ("../../../outside/people.csv", good)).text  # type: ignore[attr-defined]
    assert "Imported." in text
    assert safe_name("..\\..\\people.csv", (".csv",)) == "people.csv"
    assert safe_name("../.hidden people (1).csv", (".csv",)) == "hidden_people_1_.csv"
    with pytest.raises(UploadError):
        safe_name("people.csv/..", (".csv",))
    with pytest.raises(UploadError):
        safe_name(None, (".csv",))

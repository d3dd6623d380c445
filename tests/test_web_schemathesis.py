"""Schemathesis over the OpenAPI document: generated requests never cause a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from missionline.web.api import COMMANDS
from test_web_support import USERS, fixture_workspace, web_app

OPERATIONS = len(COMMANDS) + 1  # every command, and the import


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The API's own OpenAPI document, loaded from the app with an analyst's token."""
    app = web_app(fixture_workspace(tmp_path_factory.mktemp("schema")))
    with app.state.missionline.pool.store_writer() as store:
        headers = {"Authorization": f"Bearer {store.add_token(USERS['analyst'])[1]}"}
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=headers), headers
    app.state.missionline.pool.close()


def operations(schema: Any) -> list[Any]:
    """Every operation of the document."""
    return [result.ok() for result in schema.get_all_operations()]


def test_the_document_has_every_operation(loaded: tuple[Any, dict[str, str]]) -> None:
    """The document lists every command and the import (so the fuzzing covers them)."""
    labels = {op.label for op in operations(loaded[0])}
    assert len(labels) == OPERATIONS and "POST /api/v1/imports" in labels


@pytest.mark.parametrize("index", range(OPERATIONS))
def test_no_server_error(loaded: tuple[Any, dict[str, str]], index: int) -> None:
    """Any request the document allows gets an answer below 500 (mistakes are 4xx)."""
    schema, headers = loaded
    operation = sorted(operations(schema), key=lambda op: op.label)[index]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    check()

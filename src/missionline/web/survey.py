"""The questionnaire reached by an invitation link: ``/survey/<token>``, no login needed.

An admin creates the link (``missionline survey invite`` or the Alignment page); it names one
respondent and function, works once and expires (30 days by default). The form is the plan's
instrument, one 1-5 choice per statement, protected by a double-submit CSRF cookie; a complete
form is stored with :func:`missionline.alignment.survey.record_response`, after which the link
only thanks. The token is stored hashed (see :mod:`missionline.web.store`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from missionline.alignment.survey import instrument, record_response
from missionline.plan.models import Plan
from missionline.web import csrf
from missionline.web.invites import PATH
from missionline.web.state import AppState, app_state
from missionline.web.store import Invite

THANKS = "Thank you: your answers are recorded. This link cannot be used again."
REFUSALS = {
    None: (404, "This invitation link is not valid; ask for a new one."),
    "used": (410, THANKS),
    "expired": (410, "This invitation has expired; ask for a new one."),
}

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    token: str,
    invite: Invite | None,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
    given: dict[str, int] | None = None,
) -> HTMLResponse:
    """The questionnaire form (or its closing message), with a fresh double-submit cookie."""
    state = app_state(request)
    form_token = csrf.login_token(request, csrf.SURVEY_COOKIE)
    response = state.templates.TemplateResponse(
        request,
        "survey.html.j2",
        {
            "company": state.pool.plan.company,
            "invite": invite,
            "token": token,
            "statements": instrument(state.pool.plan),
            "csrf_token": form_token,
            "done": done,
            "error": error,
            "given": given or {},
        },
        status_code=status,
    )
    response.set_cookie(
        csrf.SURVEY_COOKIE,
        form_token,
        httponly=True,
        samesite="strict",
        secure=state.settings.secure_cookies,
        path=PATH,
    )
    return response


def _refused(request: Request, token: str, invite: Invite | None) -> HTMLResponse | None:
    """The closing page of an unknown, used or expired invitation; None when it is live."""
    reason = None if invite is None else invite.refusal()
    if invite is not None and reason is None:
        return None
    status, message = REFUSALS[reason]
    return _page(request, token, invite, status, done=message)


def _lookup(state: AppState, token: str) -> Invite | None:
    with state.pool.store() as store:
        return store.invite(token)


@router.get(PATH + "/{token}", response_class=HTMLResponse)
def survey_form(request: Request, token: str) -> HTMLResponse:
    """The questionnaire of a live invitation, or why it cannot be answered."""
    invite = _lookup(app_state(request), token)
    return _refused(request, token, invite) or _page(request, token, invite)


def _answers(form: Any, plan: Plan) -> tuple[dict[str, int], list[str]]:
    """The 1-5 answers in the form, and the statements left unanswered (or off the scale)."""
    given, missing = {}, []
    for statement in instrument(plan):
        value = str(form.get(f"q_{statement.id}") or "")
        if value in {"1", "2", "3", "4", "5"}:
            given[statement.id] = int(value)
        else:
            missing.append(statement.id)
    return given, missing


def _submit(state: AppState, token: str, answers: dict[str, int]) -> bool:
    """Store the answers and use up the invitation, atomically; False when it is not live.

    The store's lock is held throughout, so two submissions of one link cannot both count.
    """
    with state.pool.store_writer() as store:
        invite = store.invite(token)
        if invite is None or invite.refusal() is not None:
            return False
        with state.pool.importing() as ws:
            record_response(ws, invite.respondent, invite.function, answers)
        store.use_invite(token)
    return True


@router.post(PATH + "/{token}", response_class=HTMLResponse)
async def survey_submit(request: Request, token: str) -> HTMLResponse:
    """Record a complete questionnaire once; an incomplete one comes back with what is missing."""
    form = await request.form()
    csrf.check_login(request, str(form.get(csrf.FIELD) or ""), csrf.SURVEY_COOKIE)
    state = app_state(request)
    invite = await run_in_threadpool(_lookup, state, token)
    refused = _refused(request, token, invite)
    if refused is not None:
        return refused
    answers, missing = _answers(form, state.pool.plan)
    if missing:
        error = f"Please answer every statement ({len(missing)} left: {', '.join(missing)})."
        return _page(request, token, invite, 400, error=error, given=answers)
    if not await run_in_threadpool(_submit, state, token, answers):
        return _refused(request, token, await run_in_threadpool(_lookup, state, token)) or _page(
            request, token, invite, 410, done=THANKS
        )
    return _page(request, token, invite, done=THANKS)

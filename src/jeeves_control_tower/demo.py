"""`jeeves demo`: a simulated agent that asks a human one thing of each main kind and waits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from jeeves_protocols import FlowInterrupt, InterruptKind, InterruptResponse

from .client import RemoteInterruptService

Report = Callable[[str, dict[str, Any]], None]


def summarize(answer: InterruptResponse) -> Any:
    """The gist of an answer: its text, else approved/rejected, else its decision."""
    if answer.text is not None:
        return answer.text
    return answer.approved if answer.approved is not None else answer.decision


async def run_demo(remote: RemoteInterruptService, user_id: str, timeout: float, report: Report) -> None:
    run = uuid.uuid4().hex[:8]
    session = f"demo-{run}"
    asked = [
        await remote.create_clarification(
            f"{session}-1",
            user_id,
            session,
            "Which environment should I deploy to?",
            context={"options": ["staging", "production"]},
        ),
        await remote.create_confirmation(
            f"{session}-2",
            user_id,
            session,
            "Delete 3 stale branches?",
            action_data={"branches": ["old-ui", "tmp-fix", "spike"]},
        ),
        await remote.create_interrupt(
            InterruptKind.AGENT_REVIEW,
            f"{session}-3",
            user_id,
            session,
            message="Review my plan before I run it",
            data={"plan": ["migrate", "deploy", "verify"]},
            ttl=timedelta(seconds=max(timeout, 60)),
        ),
        await remote.create_interrupt(
            InterruptKind.CHECKPOINT,
            f"{session}-4",
            user_id,
            session,
            message="Halfway there: 50 of 100 files converted",
            ttl=timedelta(seconds=max(timeout, 60)),
        ),
    ]
    for interrupt in asked:
        report(
            f"asked {interrupt.kind.value:<13} {interrupt.id}: {interrupt.question or interrupt.message}",
            {"event": "asked", "interrupt": interrupt.to_dict()},
        )
    report(
        f"waiting for {user_id} to answer in session {session} ...", {"event": "waiting", "session": session}
    )

    async def wait(interrupt: FlowInterrupt) -> FlowInterrupt:
        return await remote.wait_for_response(interrupt.id, timeout)

    waits = [asyncio.ensure_future(wait(interrupt)) for interrupt in asked]
    try:
        for finished in asyncio.as_completed(waits):
            done = await finished
            answer = done.response
            shown = summarize(answer) if answer is not None else None
            report(
                f"{done.kind.value:<13} -> {done.status.value}: {shown!r}"
                + (f" (by {answer.responder_id})" if answer is not None else ""),
                {"event": "answered", "interrupt": done.to_dict()},
            )
    finally:
        # The first timeout (or failure) ends the demo: the other waits end with it, quietly,
        # instead of each leaving a "Task exception was never retrieved" behind.
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)

"""A response_schema comes from an agent and an answer from a responder: neither may make the
server reach the network, crash (5xx) or stall. Each case is one a hostile pass found against a
stock validator. The timeouts bound a hang (a failure here); they measure no speed."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from jeeves_control_tower.services import InterruptService
from jeeves_control_tower.services.approvals import hash_action
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import (
    ApprovalMismatchError,
    ApprovalNotGrantedError,
    InterruptKind,
    InterruptResponse,
    InterruptStatus,
    InvalidInterruptError,
    InvalidResponseError,
)
from tests.integration.test_api import assert_problem, body
from tests.support.api_server import running_api


async def ask(service: InterruptService, schema: Any, data: Any = None) -> Any:
    return await service.create_confirmation("r", "alice", "s", "Go?", action_data=data, response_schema=schema)


async def answer(service: InterruptService, interrupt_id: str, data: Any) -> Any:
    return await service.respond_or_raise(interrupt_id, InterruptResponse(approved=True, data=data), "alice")


@pytest.fixture
async def service() -> Any:
    async with InterruptService(sweep_interval=0) as running:
        yield running


async def test_a_reference_can_only_point_inside_the_schema(service: InterruptService) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        for schema in (
            {"properties": {"a": {"$ref": f"http://127.0.0.1:{port}/x"}}},
            {"$id": f"http://127.0.0.1:{port}/", "$ref": "latest/meta-data"},
            {"$ref": "other.json#/a"},
            {"$dynamicRef": "#meta"},
            {"$defs": {"a": {"$anchor": "here"}}, "$ref": "#here"},
        ):
            with pytest.raises(InvalidInterruptError) as refused:
                await ask(service, schema)
            assert refused.value.field == "response_schema"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked: nothing was fetched
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ({"$ref": "#"}, "refers to itself"),
        ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "refers to itself"),
        ({"$ref": "#/$defs/nope"}, "points to nothing"),
        ({"properties": {"s": {"pattern": "(a)\\1"}}}, "RE2"),
        ({"unevaluatedProperties": False}, "unevaluatedProperties"),
        ({"$schema": "http://example.com/my-meta"}, r"unknown \$schema"),
        ({"enum": ["x" * 40_000]}, "larger than"),
    ],
)
async def test_a_schema_that_cannot_be_evaluated_safely_is_refused_at_creation(
    service: InterruptService, schema: dict[str, Any], why: str
) -> None:
    with pytest.raises(InvalidInterruptError, match=why):
        await ask(service, schema)


async def test_an_exponential_schema_is_refused_before_anything_runs(service: InterruptService) -> None:
    definitions: dict[str, Any] = {"d0": {"type": "integer"}}
    for level in range(1, 31):
        below = {"$ref": f"#/$defs/d{level - 1}"}
        definitions[f"d{level}"] = {"allOf": [below, below]}
    with pytest.raises(InvalidInterruptError, match="more than 1,000 subschemas"):
        await ask(service, {"$defs": definitions, "properties": {"a": {"$ref": "#/$defs/d30"}}})


@pytest.mark.timeout(20)
async def test_patterns_run_in_linear_time(service: InterruptService) -> None:
    asked = await ask(service, {"properties": {"s": {"pattern": "(a+)+$"}},
                                "patternProperties": {"(b+)+$": {"type": "integer"}}})
    with pytest.raises(InvalidResponseError, match="does not match"):
        await answer(service, asked.id, {"s": "a" * 50_000 + "!"})
    with pytest.raises(InvalidResponseError):
        await answer(service, asked.id, {"b" * 30 + "b": "not an integer"})
    assert (await answer(service, asked.id, {"s": "aaa", "b" * 40 + "!": "free"})).status is InterruptStatus.RESOLVED


@pytest.mark.timeout(20)
async def test_unique_items_and_unique_enums_are_checked_in_one_pass(service: InterruptService) -> None:
    enum = [{"a": n} for n in range(4_000)]
    slow_before = await ask(service, {"$schema": "http://json-schema.org/draft-04/schema#",
                                      "properties": {"pick": {"enum": enum[:1500]}}})
    assert slow_before.policy["response_schema"]["properties"]["pick"]["enum"][0] == {"a": 0}
    asked = await ask(service, {"properties": {"a": {"uniqueItems": True}}})
    mixed = [*range(20_000), "x", 1.0]  # 1.0 repeats 1, as JSON Schema counts numbers
    with pytest.raises(InvalidResponseError, match="non-unique"):
        await answer(service, asked.id, {"a": mixed})
    assert (await answer(service, asked.id, {"a": [*range(20_000), "x"]})).status is InterruptStatus.RESOLVED


async def test_multiple_of_divides_exactly_even_for_huge_numbers(service: InterruptService) -> None:
    asked = await ask(service, {"properties": {"n": {"multipleOf": 0.01}}})
    with pytest.raises(InvalidResponseError, match="not a multiple"):
        await answer(service, asked.id, {"n": 0.015})
    huge = await ask(service, {"properties": {"n": {"multipleOf": 1e-308}}})
    assert (await answer(service, huge.id, {"n": 10**3000})).status is InterruptStatus.RESOLVED
    cents = await ask(service, {"properties": {"n": {"multipleOf": 0.01}}})
    assert (await answer(service, cents.id, {"n": 19.99})).status is InterruptStatus.RESOLVED


async def test_the_action_is_hashed_as_given_and_numbers_as_numbers(service: InterruptService) -> None:
    nested = {"action": "delete", "target": "prod"}  # an action that has an "action" key itself
    asked = await service.create_confirmation("r", "alice", "s", "Delete?", action_data={"action": nested})
    await service.respond_or_raise(asked.id, InterruptResponse(approved=True), "alice")
    assert (await service.verify_approval(asked.id, nested)).id == asked.id
    with pytest.raises(ApprovalMismatchError):
        await service.verify_approval(asked.id, {"action": nested})  # wrapped: another object
    amount = await service.create_confirmation("r", "alice", "s", "Pay?", action_data={"action": {"amount": 900}})
    await service.respond_or_raise(amount.id, InterruptResponse(approved=True), "alice")
    for same in ({"amount": 900.0}, {"amount": 9e2}):
        assert (await service.verify_approval(amount.id, same)).id == amount.id
    assert hash_action({"b": 1, "a": [2.0]}) == hash_action({"a": [2], "b": 1.0})
    for nothing in (None, [], "x"):
        with pytest.raises(InvalidInterruptError, match="action must be a JSON object"):
            await service.verify_approval(amount.id, nothing)  # type: ignore[arg-type]
    checkpoint = await service.create_interrupt(InterruptKind.CHECKPOINT, "r", "alice", "s", message="done")
    await service.respond_or_raise(checkpoint.id, InterruptResponse(approved=True), "alice")
    with pytest.raises(ApprovalNotGrantedError, match="approves no action"):
        await service.consume(checkpoint.id, {})


async def test_over_http_a_hostile_schema_is_a_422_and_a_missing_action_too(tmp_path: Any) -> None:
    async with running_api(SQLiteDatabase(tmp_path / "h.db")) as api:
        agent = api.client("agent")
        refused = await agent.post("/v1/interrupts", json=body("confirmation", response_schema={"$ref": "#"}))
        assert assert_problem(refused, 422, "invalid_input")["field"] == "response_schema"
        created = await agent.post("/v1/interrupts", json=body("confirmation", data={"action": {"x": 1}}))
        interrupt_id = created.json()["id"]
        for sent in ({}, {"action": None}, {"action": [1]}):
            assert_problem(await agent.post(f"/v1/interrupts/{interrupt_id}/verify", json=sent), 422, "invalid_input")
        await asyncio.sleep(0)


# -- a second hostile pass --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        # A property may be named like a keyword that holds data ("enum", "default"): it is a subschema.
        ({"properties": {"enum": {"$ref": "http://127.0.0.1:9/x.json"}}}, "only references inside"),
        ({"properties": {"default": {"$id": "http://127.0.0.1:9/", "$ref": "y.json"}}}, "only references inside"),
        ({"properties": {"enum": {"$ref": "#/properties/enum"}}}, "refers to itself"),
        # The pointer is percent-decoded before it is split, as the validator reads it.
        ({"default/x": {}, "default": {"x": {"$ref": "http://127.0.0.1:9/"}}, "$ref": "#/default%2Fx"},
         "only references inside"),
        ({"properties": {"a": {"items": {"anyOf": [False] * 5_000}}}}, "more than 1,000 subschemas"),
        ({"properties": {"s": {"pattern": "[\\p{L}\\p{N}]{300}z"}}}, "too large to match cheaply"),
    ],
)
async def test_what_a_second_pass_slipped_past_is_refused_at_creation(
    service: InterruptService, schema: dict[str, Any], why: str
) -> None:
    with pytest.raises(InvalidInterruptError, match=why):
        await ask(service, schema)


async def test_an_exponential_schema_under_a_data_named_property_is_refused(service: InterruptService) -> None:
    definitions: dict[str, Any] = {"a30": {"type": "integer"}}
    for level in range(30):
        below = {"$ref": f"#/properties/enum/$defs/a{level + 1}"}
        definitions[f"a{level}"] = {"allOf": [below, below]}
    schema = {"properties": {"enum": {"$ref": "#/properties/enum/$defs/a0", "$defs": definitions}}}
    with pytest.raises(InvalidInterruptError, match="more than 1,000 subschemas"):
        await ask(service, schema)


@pytest.mark.timeout(30)
async def test_a_costly_answer_is_refused_within_a_budget(service: InterruptService) -> None:
    asked = await ask(service, {"properties": {"a": {"items": {"anyOf": [{"const": n} for n in range(1, 901)]}}}})
    with pytest.raises(InvalidResponseError, match="would take more than 200,000 steps") as refused:
        await answer(service, asked.id, {"a": [0] * 10_000})
    assert refused.value.field == "data"
    assert (await answer(service, asked.id, {"a": [5, 17]})).status is InterruptStatus.RESOLVED


async def test_draft_3_divisible_by_divides_exactly(service: InterruptService) -> None:
    schema = {"$schema": "http://json-schema.org/draft-03/schema#", "properties": {"n": {"divisibleBy": 0.1}}}
    asked = await ask(service, schema)
    with pytest.raises(InvalidResponseError, match="not a multiple"):
        await answer(service, asked.id, {"n": 0.15})
    assert (await answer(service, asked.id, {"n": 10**3000})).status is InterruptStatus.RESOLVED


async def test_an_extension_must_move_the_deadline(service: InterruptService, tmp_path: Any) -> None:
    from datetime import timedelta

    asked = await service.create_confirmation("r", "alice", "s", "Go?")
    with pytest.raises(InvalidInterruptError, match="more than 36,500 days from now"):
        await service.extend(asked.id, timedelta(days=36_500))  # an hour's ttl plus the most allowed
    await service.extend(asked.id, timedelta(days=36_499))
    with pytest.raises(InvalidInterruptError, match="more than 36,500 days from now"):
        await service.extend(asked.id, timedelta(days=1))
    async with running_api(SQLiteDatabase(tmp_path / "x.db")) as api:
        created = await api.client("agent").post("/v1/interrupts", json=body("confirmation"))
        tiny = await api.client("agent").post(f"/v1/interrupts/{created.json()['id']}/extend",
                                              json={"by_seconds": 1e-300})
        assert assert_problem(tiny, 422, "invalid_input")["field"] == "by_seconds"

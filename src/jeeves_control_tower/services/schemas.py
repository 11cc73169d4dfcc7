"""Response schemas: the JSON Schema an answer's `data` must match, made safe to evaluate.

A schema comes from an agent, an answer from a responder, and the server evaluates one against
the other. A stock validator would let either of them take the server down or reach past it, so
a schema is checked once, at creation, and evaluated with a hardened validator:

- no network and no other document: a `$ref` must point into the schema itself (`#/...`), and
  `$id`, anchors and dynamic or recursive references are refused; the validator is given a
  registry that retrieves nothing, so no reference can reach a URL either way;
- bounded work: at most MAX_SCHEMA_BYTES of JSON, and at most MAX_SCHEMA_EXPANSION subschemas
  with every reference followed, which refuses a schema that refers to itself (a loop) or grows
  exponentially (`allOf` of references to `allOf`s);
- regular expressions (`pattern`, `patternProperties`, and the property names `additionalProperties`
  checks against them) run on RE2, which matches in linear time: no backtracking to exploit;
- `uniqueItems` compares canonical JSON in one pass (the stock check is quadratic on mixed
  types), also for the meta-schema check at creation (a draft-04 `enum` must be unique);
- `multipleOf` divides exactly (fractions), so a 4,000-digit integer is an answer, not a crash;
- `unevaluatedProperties` / `unevaluatedItems`, which re-walk every subschema per property, are
  refused.

Evaluation runs off the event loop (`asyncio.to_thread` in the service): even a bounded check of
a large answer never stalls other requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from fractions import Fraction
from functools import lru_cache
from typing import Any, Optional, cast
from urllib.parse import unquote

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information
from jsonschema import ValidationError, validators
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from jeeves_protocols import InvalidInterruptError, InvalidResponseError

from . import validation as check

__all__ = ["MAX_SCHEMA_BYTES", "MAX_SCHEMA_EXPANSION", "require_schema", "schema_problem"]

#: The largest response_schema, as compact JSON.
MAX_SCHEMA_BYTES = 32 * 1024
#: The most subschemas one evaluation may involve, every `$ref` followed.
MAX_SCHEMA_EXPANSION = 1_000
#: Keywords that would reach past the schema, or re-walk it per property.
_REFUSED_KEYWORDS = frozenset({
    "$id", "id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor",
    "unevaluatedProperties", "unevaluatedItems",
})
_NOT_A_SCHEMA = object()
_LATEST = validators.Draft202012Validator


def require_schema(schema: Any) -> dict[str, Any]:
    """A copy of `schema` that is a JSON Schema safe to evaluate (see the module), or
    InvalidInterruptError naming what is wrong, with field "response_schema"."""
    copied = check.json_data(schema, "response_schema")
    if len(json.dumps(copied, separators=(",", ":"))) > MAX_SCHEMA_BYTES:
        _refuse(f"is larger than {MAX_SCHEMA_BYTES:,} bytes as JSON")
    # No $schema: the latest draft. One that names no draft jsonschema knows is refused, not guessed.
    fallback = cast(Any, _NOT_A_SCHEMA) if "$schema" in copied else _LATEST
    base = validators.validator_for(copied, default=fallback)
    if base is _NOT_A_SCHEMA:
        _refuse(f"names an unknown $schema {copied.get('$schema')!r}")
    _check_references_and_size(copied)
    meta = _hardened(base.META_SCHEMA)(base.META_SCHEMA)
    error = best_match(meta.iter_errors(copied))
    if error is not None:
        where = "/".join(str(part) for part in error.path)
        _refuse(f"is not a valid JSON Schema{f' at {where}' if where else ''}: {error.message}")
    for where, pattern in _patterns(copied):
        try:
            re2.compile(pattern)
        except re2.error as exc:
            _refuse(f"has a pattern RE2 cannot run at {where}: {exc}")
    return copied


def schema_problem(
    interrupt_id: str, schema: dict[str, Any], data: dict[str, Any]
) -> Optional[InvalidResponseError]:
    """Why `data` does not match `schema` (naming the failing path), or None if it does."""
    try:
        validator = _hardened(schema)(schema, registry=_NO_OTHER_DOCUMENTS)
        error = best_match(validator.iter_errors(data))
    except (Unresolvable, SchemaError, RecursionError, OverflowError, ValueError, re2.error) as exc:
        # Not reachable for a schema require_schema accepted; a row written by another tool may hold one.
        return InvalidResponseError(
            f"interrupt {interrupt_id!r}'s response_schema cannot check an answer: {type(exc).__name__}",
            field="data",
            interrupt_id=interrupt_id,
        )
    if error is None:
        return None
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    return InvalidResponseError(
        f"response.data{path} does not match interrupt {interrupt_id!r}'s response_schema: {error.message}",
        field=f"data{path}",
        interrupt_id=interrupt_id,
    )


def _refuse(problem: str) -> Any:
    raise InvalidInterruptError(f"response_schema {problem}", field="response_schema")


# -- checks at creation --------------------------------------------------------------------------


def _check_references_and_size(root: dict[str, Any]) -> None:
    """Refuse keywords that reach past the schema, references that do not resolve inside it, and
    a schema whose evaluation would involve more than MAX_SCHEMA_EXPANSION subschemas."""
    visited = 0
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        visited += 1
        if visited > MAX_SCHEMA_EXPANSION:
            _refuse(
                f"refers to itself, or involves more than {MAX_SCHEMA_EXPANSION:,} subschemas "
                "with its references followed"
            )
        refused = _REFUSED_KEYWORDS.intersection(node)
        if refused:
            _refuse(f"uses {sorted(refused)[0]}: only references inside the schema (#/...) are allowed")
        for key, value in node.items():
            if key == "$ref":
                stack.append(_resolve_local(root, value))
            elif key not in ("enum", "const", "default", "examples"):  # values, not subschemas
                stack.append(value)


def _resolve_local(root: dict[str, Any], reference: Any) -> Any:
    if not isinstance(reference, str) or not reference.startswith("#"):
        _refuse(f"has $ref {reference!r}: only references inside the schema (#/...) are allowed")
    pointer = reference[1:]
    if pointer and not pointer.startswith("/"):
        _refuse(f"has $ref {reference!r}: anchors are not allowed, only JSON pointers (#/...)")
    node: Any = root
    for raw in pointer.split("/")[1:]:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            _refuse(f"has $ref {reference!r}, which points to nothing in it")
    return node


def _patterns(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every regular expression of the schema, with where it is."""
    if isinstance(node, list):
        for position, item in enumerate(node):
            yield from _patterns(item, f"{where}/{position}")
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield f"{where}/pattern", value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from ((f"{where}/patternProperties", name) for name in value)
            if key not in ("enum", "const", "default", "examples"):
                yield from _patterns(value, f"{where}/{key}")


# -- the hardened validator ----------------------------------------------------------------------


def _retrieve_nothing(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs class: its stubs miss the field


#: References resolve inside the schema or not at all: nothing is fetched, from anywhere.
_NO_OTHER_DOCUMENTS: Registry[Any] = Registry(retrieve=_retrieve_nothing)  # type: ignore[call-arg]


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        matcher = _compiled(pattern)
        for name, value in instance.items():
            if matcher.search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    matchers = [_compiled(pattern) for pattern in schema.get("patternProperties", {})]
    extras = [name for name in instance if name not in declared and not any(m.search(name) for m in matchers)]
    if validator.is_type(allowed, "object"):
        for name in extras:
            yield from validator.descend(instance[name], allowed, path=name)
    elif allowed is False and extras:
        listed = ", ".join(repr(name) for name in sorted(extras))
        yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


def _unique_items(validator: Validator, unique: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = canonical_json(item)
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


def _multiple_of(validator: Validator, divisor: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    # str(): a float divisor means the decimal it was written as (0.01), not its binary neighbour.
    if Fraction(str(instance)) % Fraction(str(divisor)) != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


_OVERRIDES = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
    "multipleOf": _multiple_of,
}


@lru_cache(maxsize=16)
def _hardened_class(base: type[Validator]) -> type[Validator]:
    keywords = {name: rule for name, rule in _OVERRIDES.items() if name in base.VALIDATORS}
    hardened: type[Validator] = validators.extend(base, keywords)  # type: ignore[no-untyped-call]
    return hardened


def _hardened(schema: Mapping[str, Any]) -> type[Validator]:
    return _hardened_class(validators.validator_for(schema))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces, UTF-8 text, and every integral number written as an
    integer (900.0 and 9e2 are 900, as JSON Schema and JavaScript read them)."""
    normalised = _integral(value)
    return json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value

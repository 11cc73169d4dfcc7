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

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from functools import lru_cache
from typing import Any, Optional, TypeVar, cast
from urllib.parse import unquote

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information
from jsonschema import ValidationError, validators
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from jeeves_protocols import InvalidInterruptError, InvalidResponseError

from . import validation as check

__all__ = [
    "MAX_CHECK_STEPS",
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_EXPANSION",
    "in_schema_thread",
    "require_schema",
    "schema_problem",
]


async def in_schema_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on the schema checks' own threads (see _SCHEMA_THREADS)."""
    return await asyncio.get_running_loop().run_in_executor(_SCHEMA_THREADS, function, *args)

#: The largest response_schema, as compact JSON.
MAX_SCHEMA_BYTES = 32 * 1024
#: The most subschemas one evaluation may involve, every `$ref` followed.
MAX_SCHEMA_EXPANSION = 1_000
#: The most work one check may do, in keyword evaluations (a pattern or an enum counts for the
#: size of what it compares): past it the answer (or schema) is refused as too costly, in well
#: under a second, instead of holding a thread for minutes (900 `anyOf` branches over 10,000 items).
MAX_CHECK_STEPS = 200_000
#: The largest RE2 program a pattern may compile to (`[\\p{L}]{300}` is 400,000 instructions).
MAX_PATTERN_PROGRAM = 5_000
#: Schema checks run here, off the event loop and apart from the default executor (which
#: webhook DNS lookups use): a burst of costly checks can neither stall nor starve anything else.
_SCHEMA_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jeeves-schema")
_budget = threading.local()
#: Keywords that would reach past the schema, or re-walk it per property.
_REFUSED_KEYWORDS = frozenset({
    "$id", "id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor",
    "unevaluatedProperties", "unevaluatedItems",
})
T = TypeVar("T")
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
    nodes = _check_references_and_size(copied)
    meta = _hardened(base.META_SCHEMA)(base.META_SCHEMA)
    _budget.steps = 0
    try:
        error = best_match(meta.iter_errors(copied))
    except _TooCostly:
        _refuse(f"is too costly to check against its meta-schema (over {MAX_CHECK_STEPS:,} steps)")
    if error is not None:
        where = "/".join(str(part) for part in error.path)
        _refuse(f"is not a valid JSON Schema{f' at {where}' if where else ''}: {error.message}")
    for pattern in _patterns(nodes):
        try:
            program = re2.compile(pattern).programsize
        except re2.error as exc:
            _refuse(f"has a pattern RE2 cannot run ({pattern[:60]!r}): {exc}")
        if program > MAX_PATTERN_PROGRAM:
            _refuse(
                f"has a pattern too large to match cheaply ({pattern[:60]!r}: {program:,} RE2 "
                f"instructions, at most {MAX_PATTERN_PROGRAM:,})"
            )
    return copied


def schema_problem(
    interrupt_id: str, schema: dict[str, Any], data: dict[str, Any]
) -> Optional[InvalidResponseError]:
    """Why `data` does not match `schema` (naming the failing path), or None if it does."""
    _budget.steps = 0
    try:
        validator = _hardened(schema)(schema, registry=_NO_OTHER_DOCUMENTS)
        error = best_match(validator.iter_errors(data))
    except _TooCostly:
        return InvalidResponseError(
            f"checking this answer against interrupt {interrupt_id!r}'s response_schema would take more than "
            f"{MAX_CHECK_STEPS:,} steps: answer with less data, or ask for a simpler schema",
            field="data",
            interrupt_id=interrupt_id,
        )
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

#: Keywords whose value maps names to subschemas.
_SUBSCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
#: Keywords whose value is a subschema, or a list of them (draft 3's `type` and `disallow` may
#: hold schemas among type names, `extends` one schema or several).
_SUBSCHEMAS = frozenset({
    "items", "prefixItems", "additionalItems", "additionalProperties", "allOf", "anyOf", "oneOf", "not",
    "if", "then", "else", "contains", "propertyNames", "extends", "type", "disallow",
})


def _schema_nodes(root: dict[str, Any]) -> list[Any]:
    """Every subschema an evaluation can reach (booleans too), references followed, as many times
    as they are reached; refused past MAX_SCHEMA_EXPANSION (a loop never ends, so it is refused).
    Only keywords are read as keywords: a property named "enum" is a subschema like any other."""
    nodes: list[Any] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, (dict, bool)):
            continue  # a type name among draft 3's types, or a value no validator reads as a schema
        nodes.append(node)
        if len(nodes) > MAX_SCHEMA_EXPANSION:
            _refuse(
                f"refers to itself, or involves more than {MAX_SCHEMA_EXPANSION:,} subschemas "
                "with its references followed"
            )
        if isinstance(node, bool):
            continue
        for keyword, value in node.items():
            if keyword == "$ref":
                stack.append(_resolve_local(root, value))
            elif keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
                stack.extend(value.values())
            elif keyword in _SUBSCHEMAS:
                stack.extend(value if isinstance(value, list) else [value])
    return nodes


def _check_references_and_size(root: dict[str, Any]) -> list[Any]:
    """Refuse keywords that reach past the schema, references that do not resolve inside it, and
    a schema whose evaluation would involve more than MAX_SCHEMA_EXPANSION subschemas; the
    subschemas it has."""
    nodes = _schema_nodes(root)
    for node in nodes:
        refused = _REFUSED_KEYWORDS.intersection(node) if isinstance(node, dict) else ()
        if refused:
            _refuse(f"uses {sorted(refused)[0]}: only references inside the schema (#/...) are allowed")
    return nodes


def _resolve_local(root: dict[str, Any], reference: Any) -> Any:
    """The node a `#/...` reference names, decoded as the validator decodes it: the fragment
    percent-decoded first, then split, then ~1 and ~0 unescaped."""
    if not isinstance(reference, str) or not reference.startswith("#"):
        _refuse(f"has $ref {reference!r}: only references inside the schema (#/...) are allowed")
    pointer = unquote(reference[1:])
    if pointer and not pointer.startswith("/"):
        _refuse(f"has $ref {reference!r}: anchors are not allowed, only JSON pointers (#/...)")
    node: Any = root
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and part.isascii() and int(part) < len(node):
            node = node[int(part)]
        else:
            _refuse(f"has $ref {reference!r}, which points to nothing in it")
    return node


def _patterns(nodes: list[Any]) -> Iterator[str]:
    """Every regular expression among the subschemas."""
    for node in nodes:
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        if isinstance(node.get("patternProperties"), dict):
            yield from node["patternProperties"]


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
    "divisibleBy": _multiple_of,  # draft 3's name for it
}


class _TooCostly(Exception):
    """Internal: a check spent its MAX_CHECK_STEPS."""


def _cost(keyword: str, value: Any, instance: Any, schema: Any) -> int:
    """What one keyword evaluation counts for: 1, plus the size of what it compares or scans (a
    pattern: the text times its RE2 program; names matched against patterns: both counts)."""
    if keyword in ("enum", "const") and isinstance(value, (list, dict, str)):
        return 1 + len(value)
    if keyword == "pattern" and isinstance(instance, str) and isinstance(value, str):
        program: int = _compiled(value).programsize
        return 1 + len(instance) * program // 100_000
    if isinstance(instance, dict) and keyword in ("patternProperties", "additionalProperties"):
        patterns = schema.get("patternProperties") if isinstance(schema, dict) else None
        return 1 + len(instance) * (1 + len(patterns if isinstance(patterns, dict) else ())) // 16
    if isinstance(instance, (list, dict)):
        return 1 + len(instance) // 64
    return 1


def _counted(keyword: str, rule: Callable[..., Any]) -> Callable[..., Any]:
    def counted(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        _budget.steps = spent = getattr(_budget, "steps", 0) + _cost(keyword, value, instance, schema)
        if spent > MAX_CHECK_STEPS:
            raise _TooCostly
        return rule(validator, value, instance, schema)

    return counted


@lru_cache(maxsize=16)
def _hardened_class(base: type[Validator]) -> type[Validator]:
    overrides = {name: rule for name, rule in _OVERRIDES.items() if name in base.VALIDATORS}
    rules = {**base.VALIDATORS, **overrides}
    keywords = {name: _counted(name, rule) for name, rule in rules.items()}
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

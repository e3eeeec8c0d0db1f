"""Contract checks against Amazon's own API models (Swagger 2.0), for any test that needs them.

Amazon publishes a Swagger 2.0 model per Amazon Business API; the project keeps them outside
the repository in ``../shared/api-models`` (see its README) and never copies them. This module
loads them, finds an operation by its ``operationId`` in whichever model declares it, and
checks

* a **response**: :func:`validate_response` validates the JSON body against the schema the
  operation declares for that HTTP status (JSON Schema Draft 4, ``$ref`` resolved against the
  whole model, ``x-`` extension keys ignored, ``date-time`` strings checked as RFC 3339,
  Swagger's ``discriminator`` honoured: an object whose discriminator property names a subtype
  defined in the model is also validated against that subtype; names the model does not
  define, such as the Ordering API's ``ProductIdentifier``, are not checked further);
* a **request**: :func:`validate_request` checks required parameters, the type, format, enum
  and bounds of query and path parameters, required headers, and the body against its schema.

Failures raise :class:`AssertionError` whose message names the operation and the JSON path of
every failing value, so a pytest failure says exactly which field broke the contract.

Documented leniencies (each one is Amazon's rule or a gap in the models, not a convenience):

* ``getTransactions`` and ``getOrdersByOrderDate``: a next-page request may carry
  ``nextPageToken`` alone, although the models mark the dates as required ("To get the next
  page of results, include nextPageToken as the only parameter").
* Query ``date-time`` parameters accept ISO 8601 without a UTC offset (Amazon's own examples
  send ``2020-08-01T00:00:00``); ``date-time`` values in bodies must be RFC 3339.
* An error status the operation does not declare (several models omit 401, for instance) is
  validated against the error schema the operation declares for its other error statuses.
* A response declared without a schema (``cancelReport`` 200) must have an empty body.

Use :func:`require_api_models` at the start of a test (or in a fixture) so the test skips with
a clear reason where the models are not available.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from jsonschema import (  # type: ignore[import-untyped]  # no stubs; not worth a dependency
    Draft4Validator,
    FormatChecker,
    ValidationError,
    validators,
)

__all__ = [
    "API_MODELS_DIR",
    "NEXT_PAGE_TOKEN_ALONE",
    "OperationSpec",
    "operation_ids",
    "operation_spec",
    "require_api_models",
    "validate_http_request",
    "validate_request",
    "validate_response",
]

#: ``<project root>/../shared/api-models``: Amazon's Swagger files, kept outside the project.
API_MODELS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "api-models"

#: Operations whose next-page request may carry only ``nextPageToken`` (Amazon's rule).
NEXT_PAGE_TOKEN_ALONE = frozenset({"getTransactions", "getOrdersByOrderDate"})

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
#: Keys whose values are maps of *names* (where an ``x-`` prefix is a name, not an extension).
_NAME_MAPS = frozenset(
    {
        "properties",
        "definitions",
        "parameters",
        "responses",
        "paths",
        "headers",
        "patternProperties",
        "securityDefinitions",
    }
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def require_api_models() -> None:
    """Skip the calling test when Amazon's models are not at :data:`API_MODELS_DIR`."""
    if not API_MODELS_DIR.is_dir() or not any(API_MODELS_DIR.glob("*.json")):
        pytest.skip(
            f"Amazon's API models are not available at {API_MODELS_DIR} "
            "(contract tests need ../shared/api-models next to the project)"
        )


# ---------------------------------------------------------------------------------------------
# Loading the models
# ---------------------------------------------------------------------------------------------


def _strip_extensions(node: Any, parent_key: str | None = None) -> Any:
    """``node`` without Swagger ``x-`` extension keys (keys in name maps are kept)."""
    if isinstance(node, dict):
        keep_all = parent_key in _NAME_MAPS
        return {
            key: _strip_extensions(value, key)
            for key, value in node.items()
            if keep_all or not str(key).startswith("x-")
        }
    if isinstance(node, list):
        return [_strip_extensions(item) for item in node]
    return node


@dataclass(frozen=True)
class OperationSpec:
    """One operation of a model: where it is declared and what it declares."""

    operation_id: str
    model_file: str
    method: str
    path: str
    operation: dict[str, Any]
    path_item: dict[str, Any]
    document: dict[str, Any]

    @property
    def parameters(self) -> list[dict[str, Any]]:
        """Path-level and operation-level parameters, ``$ref`` resolved (operation wins)."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*self.path_item.get("parameters", []), *self.operation.get("parameters", [])]:
            param = _resolve(self.document, raw)
            merged[(str(param.get("in")), str(param.get("name")))] = param
        return list(merged.values())

    def response(self, status: int) -> tuple[dict[str, Any] | None, bool]:
        """``(response object, declared?)`` for ``status``; see the module docs for fallbacks."""
        responses: dict[str, Any] = self.operation.get("responses", {})
        declared = responses.get(str(status))
        if declared is not None:
            return _resolve(self.document, declared), True
        if "default" in responses:
            return _resolve(self.document, responses["default"]), True
        if status >= 400:
            for code, candidate in responses.items():
                if code.isdigit() and int(code) >= 400:
                    return _resolve(self.document, candidate), False
        return None, False


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/parameters/X``, ``#/responses/Y``...) to its target."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        target: Any = document
        for part in str(node["$ref"]).lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
        seen += 1
    return node


@cache
def _models() -> dict[str, OperationSpec]:
    require_api_models()
    specs: dict[str, OperationSpec] = {}
    for model in sorted(API_MODELS_DIR.glob("*.json")):
        document = _strip_extensions(json.loads(model.read_text(encoding="utf-8")))
        for path, path_item in document.get("paths", {}).items():
            for method in _HTTP_METHODS:
                operation = path_item.get(method)
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                op_id = operation["operationId"]
                if op_id in specs:
                    raise AssertionError(f"{op_id} is declared by two models")
                specs[op_id] = OperationSpec(
                    op_id, model.name, method.upper(), path, operation, path_item, document
                )
    return specs


def operation_ids() -> list[str]:
    """Every operationId declared by the models, sorted."""
    return sorted(_models())


def operation_spec(operation_id: str) -> OperationSpec:
    """The declaration of ``operation_id``; AssertionError for an operation no model has."""
    try:
        return _models()[operation_id]
    except KeyError:
        raise AssertionError(
            f"no model in {API_MODELS_DIR} declares operation {operation_id!r}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Schema validation
# ---------------------------------------------------------------------------------------------


def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


def _is_iso8601_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value and "t" not in value:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_is_rfc3339)
_FORMATS.checks("date")(_is_date)

_active = threading.local()


def _discriminator_keyword(definitions: Mapping[str, Any]) -> Any:
    """Swagger 2.0 polymorphism: also validate against the subtype the discriminator names."""

    def discriminator(
        validator: Any, property_name: str, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if not isinstance(instance, dict) or not isinstance(instance.get(property_name), str):
            return
        subtype = instance[property_name]
        if subtype not in definitions:  # a subtype the model does not define: nothing to add
            return
        key = (id(instance), subtype)
        active: set[tuple[int, str]] = getattr(_active, "keys", set())
        _active.keys = active
        if key in active:  # the subtype's allOf leads back to this base: already on it
            return
        active.add(key)
        try:
            yield from validator.descend(instance, {"$ref": f"#/definitions/{subtype}"})
        finally:
            active.discard(key)

    return discriminator


@cache
def _validator_class(model_file: str) -> Any:
    document = next(s.document for s in _models().values() if s.model_file == model_file)
    keyword = _discriminator_keyword(document.get("definitions", {}))
    return validators.extend(Draft4Validator, {"discriminator": keyword})


def _validator(spec: OperationSpec, schema: dict[str, Any]) -> Any:
    """A validator for ``schema`` whose ``#/...`` references resolve in the whole model.

    The schema is merged into a copy of the model's top level (without ``paths``): a Draft 4
    ``$ref`` ignores its siblings, and an inline schema finds ``#/definitions/...`` at the root.
    """
    root = {k: v for k, v in spec.document.items() if k != "paths"}
    root.update(copy.deepcopy(schema))
    return _validator_class(spec.model_file)(root, format_checker=_FORMATS)


def _where(error: ValidationError) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def _check_schema(label: str, spec: OperationSpec, schema: dict[str, Any], value: Any) -> None:
    errors = sorted(
        _validator(spec, schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
    )
    if errors:
        lines = [f"{label} does not match Amazon's model:"]
        for error in errors[:10]:
            lines.append(f"  at {_where(error)}: {error.message}")
        if len(errors) > 10:
            lines.append(f"  ... and {len(errors) - 10} more")
        raise AssertionError("\n".join(lines))


def validate_response(operation_id: str, status: int, body: Any) -> None:
    """Assert that ``body`` (parsed JSON) is what ``operation_id`` declares for ``status``."""
    spec = operation_spec(operation_id)
    response, _declared = spec.response(status)
    if response is None:
        declared = ", ".join(spec.operation.get("responses", {}))
        raise AssertionError(
            f"{operation_id} declares no response for HTTP {status} (it declares {declared})"
        )
    schema = response.get("schema")
    if schema is None:
        if body not in (None, "", b""):
            raise AssertionError(
                f"{operation_id} {status} declares no body, but the answer has one: {body!r:.200}"
            )
        return
    _check_schema(f"{operation_id} response {status}", spec, schema, body)


# ---------------------------------------------------------------------------------------------
# Request validation
# ---------------------------------------------------------------------------------------------


def _split_array(param: Mapping[str, Any], raw: str) -> list[str]:
    fmt = param.get("collectionFormat", "csv")
    separator = {"csv": ",", "ssv": " ", "tsv": "\t", "pipes": "|", "multi": ","}.get(fmt, ",")
    return [part for part in raw.split(separator)] if raw != "" else []


def _check_scalar(label: str, schema: Mapping[str, Any], raw: str) -> list[str]:
    """Problems of one query/path/header value (a string on the wire) against ``schema``."""
    problems: list[str] = []
    kind = schema.get("type", "string")
    value: Any = raw
    if kind == "integer":
        try:
            value = int(raw)
        except ValueError:
            return [f"{label}={raw!r} is not an integer"]
    elif kind == "number":
        try:
            value = float(raw)
        except ValueError:
            return [f"{label}={raw!r} is not a number"]
    elif kind == "boolean":
        if raw not in ("true", "false"):
            return [f"{label}={raw!r} is not true or false"]
        value = raw == "true"
    fmt = schema.get("format")
    if fmt == "date-time" and not _is_iso8601_datetime(raw):
        problems.append(f"{label}={raw!r} is not an ISO 8601 date-time")
    if fmt == "date" and not _is_date(raw):
        problems.append(f"{label}={raw!r} is not a date (YYYY-MM-DD)")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{label}={raw!r} is not one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{label}={raw!r} is below the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(f"{label}={raw!r} is above the maximum {schema['maximum']}")
    if "minLength" in schema and len(raw) < schema["minLength"]:
        problems.append(f"{label}={raw!r} is shorter than {schema['minLength']}")
    if "maxLength" in schema and len(raw) > schema["maxLength"]:
        problems.append(f"{label}={raw!r} is longer than {schema['maxLength']}")
    if "pattern" in schema and not re.search(schema["pattern"], raw):
        problems.append(f"{label}={raw!r} does not match {schema['pattern']}")
    return problems


def _check_parameter(param: Mapping[str, Any], raw: str) -> list[str]:
    label = f"{param.get('in')} parameter {param.get('name')}"
    if param.get("type") != "array":
        return _check_scalar(label, param, raw)
    items = _split_array(param, raw)
    problems: list[str] = []
    if "minItems" in param and len(items) < param["minItems"]:
        problems.append(f"{label} has {len(items)} items, fewer than {param['minItems']}")
    if "maxItems" in param and len(items) > param["maxItems"]:
        problems.append(f"{label} has {len(items)} items, more than {param['maxItems']}")
    item_schema = dict(param.get("items", {}))
    if "enum" in param and "enum" not in item_schema:  # Product Search puts it on the array
        item_schema["enum"] = param["enum"]
    for index, item in enumerate(items):
        problems += _check_scalar(f"{label}[{index}]", item_schema, item)
    return problems


def validate_request(
    operation_id: str,
    *,
    query: Mapping[str, str],
    path_params: Mapping[str, str],
    body: Any,
    headers: Mapping[str, str],
) -> None:
    """Assert that a request is what ``operation_id`` declares.

    ``query`` holds one string per parameter (an array parameter as its comma-separated wire
    form), ``body`` the parsed JSON body or ``None``; header names are matched case-blind.
    Undeclared query parameters are reported too: Amazon ignores or rejects them, and either
    way they show a client bug.
    """
    spec = operation_spec(operation_id)
    header_values = {k.lower(): v for k, v in headers.items()}
    token_alone = operation_id in NEXT_PAGE_TOKEN_ALONE and bool(query.get("nextPageToken"))
    problems: list[str] = []
    declared_query: set[str] = set()
    for param in spec.parameters:
        where, name = param.get("in"), str(param.get("name"))
        required = bool(param.get("required"))
        if where == "body":
            if body is None:
                if required:
                    problems.append("the request body is required")
                continue
            try:
                _check_schema(f"{operation_id} request body", spec, param.get("schema", {}), body)
            except AssertionError as exc:
                problems.append(str(exc))
            continue
        source: Mapping[str, str]
        if where == "query":
            declared_query.add(name)
            source = query
        elif where == "path":
            source = path_params
        elif where == "header":
            source = header_values
            name = name.lower()
        else:
            continue
        if name not in source:
            if required and not (token_alone and where == "query"):
                problems.append(f"required {where} parameter {param.get('name')} is missing")
            continue
        problems += _check_parameter(param, source[name])
    for name in sorted(set(query) - declared_query):
        problems.append(f"query parameter {name} is not declared by the model")
    if problems:
        raise AssertionError(
            f"{operation_id} request does not match Amazon's model:\n  " + "\n  ".join(problems)
        )


def validate_http_request(
    operation_id: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | str | None,
) -> None:
    """:func:`validate_request` for a request as sent (for instance a
    ``requests.PreparedRequest``: ``method``, ``url``, ``headers``, ``body``).

    Checks the method and path against the operation's template, extracts the path
    parameters and the query, and parses a JSON body.
    """
    spec = operation_spec(operation_id)
    if method.upper() != spec.method:
        raise AssertionError(f"{operation_id} is {spec.method}, not {method.upper()}")
    parts = urlsplit(url)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(spec.path))
    match = re.search(f"{pattern}/?$", parts.path)
    if match is None:
        raise AssertionError(f"{operation_id}: path {parts.path} does not match {spec.path}")
    collected: dict[str, list[str]] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        collected.setdefault(key, []).append(value)
    query = {k: ",".join(v) for k, v in collected.items()}
    parsed: Any = None
    if body:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise AssertionError(f"{operation_id}: the body is not JSON: {exc}") from None
    validate_request(
        operation_id,
        query=query,
        path_params={k: unquote(v) for k, v in match.groupdict().items()},
        body=parsed,
        headers=dict(headers),
    )

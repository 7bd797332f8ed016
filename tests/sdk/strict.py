"""Strict checks of raw provider answers against an SDK's own models.

An SDK reads answers leniently (unknown keys dropped, "1" accepted for 1); these checks do
not: every key must be one the model declares, at every depth, and every value must have the
model's type without coercion (pydantic strict mode over the JSON text). Models are pydantic
models (Stytch, ZITADEL) or dataclasses (WorkOS).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from functools import cache
from typing import Any

import pydantic


def strictly(model: Any, payload: Any) -> Any:
    """`payload` validated strictly as `model`; fails on an undeclared key or a wrong type."""
    unknown = list(undeclared(model, payload, model.__name__))
    assert not unknown, f"keys {model.__name__} does not declare: {unknown}"
    return _adapter(model).validate_json(json.dumps(payload), strict=True)


def undeclared(annotation: Any, value: Any, where: str) -> typing.Iterator[str]:
    """Paths of keys in `value` that `annotation` (a model, list, dict or union) lacks."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from undeclared(typing.get_args(annotation)[0], value, where)
    elif origin in (typing.Union, types.UnionType):
        # The value is checked against the union's model members; None and scalars pass.
        for member in typing.get_args(annotation):
            if _fields(member) is not None or typing.get_origin(member):
                yield from undeclared(member, value, where)
    elif origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation) or (Any,)
        for index, element in enumerate(value):
            yield from undeclared(item, element, f"{where}[{index}]")
    elif origin is dict and isinstance(value, dict):
        _, item = typing.get_args(annotation) or (str, Any)
        for key, element in value.items():
            yield from undeclared(item, element, f"{where}.{key}")
    elif isinstance(value, dict) and (fields := _fields(annotation)) is not None:
        for key, element in value.items():
            if key not in fields:
                yield f"{where}.{key}"
            else:
                yield from undeclared(fields[key], element, f"{where}.{key}")


@cache
def _fields(annotation: Any) -> dict[str, Any] | None:
    """Wire key → annotation for a pydantic model or a dataclass; None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        keys: dict[str, Any] = {}
        for name, info in annotation.model_fields.items():
            for key in [name, *_aliases(info)]:
                keys[key] = info.annotation
        return keys
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        module = sys.modules[annotation.__module__]
        hints = typing.get_type_hints(annotation, vars(module), include_extras=True)
        return {f.name: hints[f.name] for f in dataclasses.fields(annotation)}
    return None


@cache
def _adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(model)


def _aliases(info: Any) -> list[str]:
    found = [info.alias] if info.alias else []
    alias = info.validation_alias
    if isinstance(alias, str):
        found.append(alias)
    elif isinstance(alias, pydantic.AliasChoices):
        found += [choice for choice in alias.choices if isinstance(choice, str)]
    return found


def typed(model: Any, payload: Any) -> Any:
    """`payload` with the model's keys and types (strictly), tolerating keys it adds.

    For error bodies, where providers add detail (WorkOS's `entity_id`) the spec leaves out.
    """
    return _adapter(model).validate_json(json.dumps(payload), strict=True)

"""Strict checks of raw provider answers against an SDK's own pydantic models.

An SDK validates leniently (unknown keys dropped, "1" accepted for 1); these checks do not:
every key must be one the model declares, at every depth, and every value must have the
model's type without coercion (pydantic strict mode over the JSON text).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pydantic


def strictly[M: pydantic.BaseModel](model: type[M], payload: Any) -> M:
    """`payload` validated strictly as `model`; fails on an undeclared key or a wrong type."""
    unknown = list(undeclared(model, payload, model.__name__))
    assert not unknown, f"keys {model.__name__} does not declare: {unknown}"
    return model.model_validate_json(json.dumps(payload), strict=True)


def undeclared(annotation: Any, value: Any, where: str) -> typing.Iterator[str]:
    """Paths of keys in `value` that `annotation` (a model, list, dict or union) lacks."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from undeclared(typing.get_args(annotation)[0], value, where)
    elif origin in (typing.Union, types.UnionType):
        # The value is checked against the union's model members; None and scalars pass.
        models = [a for a in typing.get_args(annotation) if _is_model(a) or typing.get_origin(a)]
        for member in models:
            yield from undeclared(member, value, where)
    elif origin is list and isinstance(value, list):
        (item,) = typing.get_args(annotation) or (Any,)
        for index, element in enumerate(value):
            yield from undeclared(item, element, f"{where}[{index}]")
    elif origin is dict and isinstance(value, dict):
        _, item = typing.get_args(annotation) or (str, Any)
        for key, element in value.items():
            yield from undeclared(item, element, f"{where}.{key}")
    elif _is_model(annotation) and isinstance(value, dict):
        fields = annotation.model_fields
        names = {name: name for name in fields}
        for name, info in fields.items():
            names.update((alias, name) for alias in _aliases(info))
        for key, element in value.items():
            if key not in names:
                yield f"{where}.{key}"
            else:
                yield from undeclared(fields[names[key]].annotation, element, f"{where}.{key}")


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _aliases(info: Any) -> list[str]:
    found = [info.alias] if info.alias else []
    alias = info.validation_alias
    if isinstance(alias, str):
        found.append(alias)
    elif isinstance(alias, pydantic.AliasChoices):
        found += [choice for choice in alias.choices if isinstance(choice, str)]
    return found

"""Definitions as code: YAML files checked against a JSON Schema, errors that name file, line and field.

Tags, profile settings (and later segments, journeys, KPIs) are YAML reviewed in git. A bad file must
say exactly where it is wrong, so every error carries ``file:line:column``, the field path and what was
expected. Anchors/aliases are refused: they are how "billion laughs" files blow up a loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml
from pydantic import BaseModel, ValidationError

from siyu.core.errors import SiyuError

MAX_DEFINITION_BYTES = 1_000_000
M = TypeVar("M", bound=BaseModel)


class DefinitionError(SiyuError):
    """A definition file is unreadable or invalid; ``str()`` reads like a compiler error."""

    code = "bad_definition"

    def __init__(self, message: str, *, file: str, line: int | None = None, column: int | None = None,
                 field: str | None = None) -> None:
        where = file + (f":{line}" if line else "") + (f":{column}" if line and column else "")
        super().__init__(f"{where}: " + (f"{field}: " if field else "") + message)
        self.file, self.line, self.column, self.field = file, line, column, field


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML file into plain data plus its node tree (for line numbers)."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(f"cannot read: {exc.strerror}", file=name) from None
    if len(raw) > MAX_DEFINITION_BYTES:
        raise DefinitionError(f"file is {len(raw):,} bytes; the limit is {MAX_DEFINITION_BYTES:,}", file=name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"not UTF-8 (byte {exc.start}); save the file as UTF-8", file=name) from None
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise DefinitionError("YAML anchors and aliases are not allowed in definitions", file=name,
                                      line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise DefinitionError(f"YAML syntax: {exc.problem}", file=name,
                              line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"YAML syntax: {exc}", file=name) from None
    return data, node


def node_at(node: yaml.Node | None, path: Sequence[str | int]) -> yaml.Node | None:
    """The deepest YAML node along ``path`` (keys and list indexes), for pointing at a line."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(step)), None)
            if found is None:
                return node
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return node
    return node


def field_path(path: Sequence[str | int]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(top level)"


def _fail(name: str, node: yaml.Node | None, path: Sequence[str | int], message: str) -> DefinitionError:
    at = node_at(node, path)
    mark = at.start_mark if at is not None else None
    return DefinitionError(message, file=name, line=mark.line + 1 if mark else None,
                           column=mark.column + 1 if mark else None, field=field_path(path))


def validate_data(data: Any, model: type[M], *, name: str, node: yaml.Node | None = None) -> M:
    """Check ``data`` against ``model``'s JSON Schema, then build the model (cross-field rules)."""
    validator = jsonschema.Draft202012Validator(model.model_json_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        error = _through_discriminator(error)
        raise _fail(name, node, list(error.absolute_path), error.message)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _fail(name, node, _data_path(data, first["loc"]), first["msg"].removeprefix("Value error, ")) from None


def _data_path(data: Any, loc: tuple[Any, ...]) -> list[str | int]:
    """pydantic's error location without the steps that are not in the data (union tags such as 'rule')."""
    path: list[str | int] = []
    for step in loc:
        in_dict = isinstance(data, dict) and step in data
        in_list = isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data)
        if not (in_dict or in_list):
            continue
        data = data[step]
        path.append(step)
    return path


def _through_discriminator(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """A tagged union (``kind: rule | statistical …``) fails as "not valid under any of the given schemas";
    report the unknown tag, or the error inside the branch the tag names, instead."""
    schema: Any = error.schema
    disc = schema.get("discriminator") if isinstance(schema, dict) else None
    if error.validator != "oneOf" or not disc or not isinstance(error.instance, dict):
        return error
    key, mapping = disc["propertyName"], disc["mapping"]
    value = error.instance.get(key)
    if value not in mapping:
        return jsonschema.ValidationError(
            f"{value!r} is not one of {', '.join(sorted(mapping))}" if value is not None else f"{key!r} is missing",
            path=[*error.absolute_path, key] if value is not None else list(error.absolute_path))
    branch = [i for i, s in enumerate(schema["oneOf"]) if s.get("$ref") == mapping[value]]
    inner = [e for e in error.context or [] if e.relative_schema_path and e.relative_schema_path[0] in branch]
    best = jsonschema.exceptions.best_match(inner)
    return _through_discriminator(best) if best is not None else error


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read ``path`` and return it as ``model``, or raise a DefinitionError pointing at the line."""
    data, node = read_yaml(path)
    return validate_data({} if data is None else data, model, name=str(path), node=node)

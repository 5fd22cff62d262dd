# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

A small JSON Schema (2020-12) validator for the schemas the collection ships (the baseline document
schema), so that the controller needs no extra Python package. It implements the keywords those
schemas use: type, enum, const, pattern, minLength, maxLength, minimum, maximum, items, minItems,
maxItems, uniqueItems, properties, required, additionalProperties (false), $ref (to #/$defs/...),
allOf, anyOf, oneOf, not, if/then. A keyword it does not know makes it refuse the schema (so a schema
edit cannot be silently ignored). tests/unit/test_baseline.py holds it to the jsonschema package.

A schema may carry "x-error": the message to give when its pattern, oneOf, anyOf or not fails.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t

Path = tuple  # the location of a value: keys and indexes from the document's root

_KNOWN = frozenset({
    "$schema", "$id", "$defs", "$ref", "title", "description", "x-error", "type", "enum", "const", "pattern",
    "minLength", "maxLength", "minimum", "maximum", "items", "minItems", "maxItems", "uniqueItems", "properties",
    "required", "additionalProperties", "allOf", "anyOf", "oneOf", "not", "if", "then",
})
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class SchemaError(Exception):
    """The schema itself uses something this validator does not implement."""


def _type_of(value: t.Any) -> str:
    """The JSON type name of a value (a boolean is not an integer); '' for what JSON has no type for."""
    for name in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _TYPES[name](value):
            return name
    return ""


def _describe(value: t.Any) -> str:
    name = _type_of(value)
    if name:
        return _a(name)
    if isinstance(value, (dt.date, dt.datetime)):
        return "a date (YAML reads an unquoted 2027-01-31 as a date: quote it)"
    return "a %s, which JSON has no type for" % type(value).__name__


def _show(value: t.Any) -> str:
    """A short quote of a value; a list or mapping is described, never printed whole (YAML aliases can make
    a small file hold a structure far too big to print)."""
    if isinstance(value, list):
        return "a list of %d item%s" % (len(value), "" if len(value) == 1 else "s")
    if isinstance(value, dict):
        return "a mapping of %d key%s" % (len(value), "" if len(value) == 1 else "s")
    text = repr(value[:200] if isinstance(value, str) else value)
    return text if len(text) <= 80 else text[:77] + "..."


class Validator:
    def __init__(self, schema: dict) -> None:
        self.root = schema
        self._check(schema)

    def _check(self, schema: t.Any) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise SchemaError("a schema must be a mapping, got %s" % _describe(schema))
        unknown = set(schema) - _KNOWN
        if unknown:
            raise SchemaError("unsupported schema keyword(s): %s" % ", ".join(sorted(unknown)))
        for key in ("items", "not", "if", "then"):
            if key in schema:
                self._check(schema[key])
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, []):
                self._check(sub)
        for key in ("properties", "$defs"):
            for sub in schema.get(key, {}).values():
                self._check(sub)
        if isinstance(schema.get("additionalProperties"), dict):
            self._check(schema["additionalProperties"])

    def _resolve(self, ref: str) -> dict:
        if not ref.startswith("#/"):
            raise SchemaError("only local references are supported: %s" % ref)
        node: t.Any = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def errors(self, value: t.Any, schema: t.Any = None, path: Path = ()) -> list[tuple[Path, str]]:
        """Every problem found, as (path, message), deepest first within each branch."""
        schema = self.root if schema is None else schema
        if schema is True:
            return []
        if schema is False:
            return [(path, "is not allowed here")]
        out: list[tuple[Path, str]] = []
        if "$ref" in schema:
            out += self.errors(value, self._resolve(schema["$ref"]), path)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_TYPES[name](value) for name in types):
                return out + [(path, "must be %s, got %s" % (" or ".join(_a(n) for n in types), _describe(value)))]
        if "const" in schema and not _same(value, schema["const"]):
            out.append((path, "must be %s, got %s" % (_show(schema["const"]), _show(value))))
        if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
            out.append((path, "must be one of %s, got %s" % (", ".join(str(e) for e in schema["enum"]), _show(value))))
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                out.append((path, "must not be empty" if schema["minLength"] == 1 else
                            "must be at least %d characters long" % schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                out.append((path, "must be at most %d characters long, got %d" % (schema["maxLength"], len(value))))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append((path, "%s %s" % (_show(value), schema.get("x-error") or "does not match " + schema["pattern"])))
        if _TYPES["number"](value):
            if "minimum" in schema and value < schema["minimum"]:
                out.append((path, "must be at least %s, got %s" % (schema["minimum"], value)))
            if "maximum" in schema and value > schema["maximum"]:
                out.append((path, "must be at most %s, got %s" % (schema["maximum"], value)))
        if isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                out.append((path, "must have at least %d item%s" % (schema["minItems"], "" if schema["minItems"] == 1 else "s")))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                out.append((path, "must have at most %d items, got %d" % (schema["maxItems"], len(value))))
            if schema.get("uniqueItems"):
                seen: list = []
                for item in value:
                    if any(_same(item, s) for s in seen):
                        out.append((path, "lists %s more than once" % _show(item)))
                        break
                    seen.append(item)
            if "items" in schema:
                for index, item in enumerate(value):
                    out += self.errors(item, schema["items"], path + (index,))
        if isinstance(value, dict):
            for name in schema.get("required", []):
                if name not in value:
                    out.append((path, "needs the field '%s'" % name))
            props = schema.get("properties", {})
            for name, item in value.items():
                if name in props:
                    out += self.errors(item, props[name], path + (name,))
                elif schema.get("additionalProperties") is False:
                    known = ", ".join(sorted(props))
                    out.append((path, "unknown field %s; accepted: %s" % (_show(name), known)))
        for sub in schema.get("allOf", []):
            out += self.errors(value, sub, path)
        if "if" in schema and not self.errors(value, schema["if"], path) and "then" in schema:
            out += self.errors(value, schema["then"], path)
        if "anyOf" in schema:
            branches = [self.errors(value, sub, path) for sub in schema["anyOf"]]
            if all(branches):
                out += self._branch_failure(schema, branches, path, "anyOf")
        if "oneOf" in schema:
            branches = [self.errors(value, sub, path) for sub in schema["oneOf"]]
            passing = [b for b in branches if not b]
            if not passing:
                out += self._branch_failure(schema, branches, path, "oneOf")
            elif len(passing) > 1:
                out.append((path, schema.get("x-error") or "matches more than one of the accepted forms"))
        if "not" in schema and not self.errors(value, schema["not"], path):
            out.append((path, schema.get("x-error") or "has a combination of fields that is not allowed"))
        return out

    @staticmethod
    def _branch_failure(schema: dict, branches: list, path: Path, word: str) -> list[tuple[Path, str]]:
        if schema.get("x-error"):
            return [(path, schema["x-error"])]
        best = min(branches, key=len)
        return best if best else [(path, "does not match any accepted form (%s)" % word)]


def _a(name: str) -> str:
    return {"object": "a mapping", "array": "a list", "string": "text", "integer": "an integer",
            "number": "a number", "boolean": "a boolean (true or false)", "null": "null"}[name]


def _same(a: t.Any, b: t.Any) -> bool:
    """JSON equality: True is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b

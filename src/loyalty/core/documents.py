"""Reading documents — a program, a file of campaigns — from YAML or JSON text (JSON is YAML), or from a JSON body
already parsed at the HTTP door. Each is read once and bounded before anything works through it: at most
`limits.MAX_DOCUMENT_BYTES` of text, `limits.MAX_DEPTH` levels of nesting, `limits.DOCUMENT_TEXT` characters in
any one string and `MAX_VALUES` values in all (YAML aliases can repeat a list many times over without growing
the file), no NUL character (PostgreSQL cannot store it) and no key given twice in a mapping (YAML would keep the
last one silently)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput

MAX_VALUES = 1_000_000


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__()
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing to compose a node deeper than `limits.MAX_DEPTH` (composing recurses)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        try:
            if self.depth > limits.MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def read_text(text: str, source: str) -> dict[str, Any]:
    """The mapping a YAML or JSON text holds, with JSON's types only (YAML's dates and the like become text)."""
    if len(text) > limits.MAX_DOCUMENT_BYTES:
        raise InvalidInput(FieldProblem("", f"{source} is larger than {limits.MAX_DOCUMENT_BYTES} characters"))
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_nodes(node, source)
        document = loader.construct_document(node) if node is not None else None
    except _TooDeep as error:
        raise InvalidInput(
            FieldProblem("", f"{source} nests more than {limits.MAX_DEPTH} levels{_at(error)}")
        ) from None
    except yaml.YAMLError as error:
        raise InvalidInput(FieldProblem("", f"{source} is not valid YAML or JSON{_at(error)}")) from None
    finally:
        loader.dispose()
    if not isinstance(document, dict):
        raise InvalidInput(FieldProblem("", f"{source} must hold a mapping at its top level"))
    return read_value(_plain(document), source)


def _at(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _check_nodes(root: Node, source: str) -> None:
    """Refuse a key given twice in a mapping (by its path), and more than MAX_VALUES values once aliases are
    followed. Iterative, as documents are walked everywhere in this module."""
    problems: list[FieldProblem] = []
    stack: list[tuple[Node, str]] = [(root, "")]
    values = 0
    while stack:
        node, path = stack.pop()
        values += 1
        if values > MAX_VALUES:
            raise InvalidInput(FieldProblem("", f"{source} holds more than {MAX_VALUES} values"))
        if isinstance(node, MappingNode):
            seen: set[object] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                where = f"{path}.{key}" if path else str(key)
                if key is not None and key != "<<":  # "<<" merges another mapping, whose keys this one may override
                    if key in seen:
                        line = key_node.start_mark.line + 1
                        problems.append(FieldProblem(where, f"is given more than once (again at line {line})"))
                    seen.add(key)
                stack.append((value_node, where))
        elif isinstance(node, SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    if problems:
        raise InvalidInput(sorted(problems, key=lambda p: p.path))


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    """JSON's types only: what YAML reads natively (dates, times) becomes text; keys become text, as in JSON."""
    plain: dict[str, Any] = json.loads(json.dumps(document, default=str))  # depth is bounded by the loader
    return plain


def read_value(document: dict[str, Any], source: str = "document") -> dict[str, Any]:
    """A parsed document checked for its size and text (see the module), with numbers written with a decimal point
    turned into decimal strings, so 5.5% stays exactly 5.5."""
    problems: list[FieldProblem] = []
    stack: list[tuple[Any, int, str]] = [(document, 1, "")]
    values = 0
    while stack:
        node, depth, path = stack.pop()
        values += 1
        if depth > limits.MAX_DEPTH or values > MAX_VALUES:
            bound = f"nests more than {limits.MAX_DEPTH} levels" if depth > limits.MAX_DEPTH else "is too large"
            raise InvalidInput(FieldProblem("", f"{source} {bound}"))
        if isinstance(node, str):
            if "\x00" in node:
                problems.append(FieldProblem(path, "must not contain NUL characters"))
            elif len(node) > limits.DOCUMENT_TEXT:
                problems.append(FieldProblem(path, f"must be at most {limits.DOCUMENT_TEXT} characters"))
        elif isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                stack.append((key, depth, where))
                stack.append((value, depth + 1, where))
        elif isinstance(node, list):
            stack.extend((value, depth + 1, f"{path}[{i}]") for i, value in enumerate(node))
    if problems:
        raise InvalidInput(sorted(problems, key=lambda p: p.path))
    exact: dict[str, Any] = _exact(document)
    return exact


def _exact(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value

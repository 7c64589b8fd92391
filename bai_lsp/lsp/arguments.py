"""Reading a command's single object argument into its attrs class (protocol.py) with cattrs.

Validation is declared by the field types alone, so a new command needs no parsing code.
A bad argument is refused with the key path of the first bad field in the user's words:
``backendai.runSelection: 'range.start.line' must be a non-negative integer, got -1.``
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, override
from lsprotocol import types

from bai_lsp.domain.errors import InvalidParamsError

Args = TypeVar("Args")

#: How an object of these LSP types is described when it is malformed as a whole.
_SHAPES: dict[type, str] = {
    types.Range: "an LSP range ({start, end} positions of {line, character})",
    types.Position: "an LSP position ({line, character})",
}


class WrongValue(ValueError):
    """One field's value is not what its type allows (``wording`` says what it must be)."""

    def __init__(self, wording: str, value: object) -> None:
        super().__init__(wording)
        self.wording = wording
        self.value = value


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise WrongValue("a string", value)
    return value


def _strict_int(value: object, _: type) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise WrongValue("an integer", value)
    return value


def _literal(cls: Any) -> Callable[[object, type], object]:
    allowed = typing.get_args(cls)
    wording = " or ".join(f'"{a}"' if isinstance(a, str) else repr(a) for a in allowed)

    def structure(value: object, _: type) -> object:
        if not isinstance(value, type(allowed[0])) or value not in allowed:
            raise WrongValue(wording, value)
        return value

    return structure


def _position(value: object, _: type) -> types.Position:
    if not isinstance(value, Mapping):
        raise WrongValue(_SHAPES[types.Position], value)
    fields = {}
    for key in ("line", "character"):
        if key not in value or value[key] is None:
            raise _missing_at(key)
        item = value[key]
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < 2**31:
            raise _at(key, WrongValue("a non-negative integer", item))
        fields[key] = item
    return types.Position(**fields)


def _at(key: str, exc: Exception) -> Exception:
    exc.add_note(f"@key {key}")
    return exc


def _missing_at(key: str) -> Exception:
    return _at(key, KeyError(key))


def _object_hook(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, type], Any]]:
    def factory(cls: Any) -> Callable[[Any, type], Any]:
        renames = {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}
        inner = make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]
        shape = _SHAPES.get(cls, "an object")

        def structure(value: Any, _: type) -> Any:
            if not isinstance(value, Mapping):
                raise WrongValue(shape, value)
            present = {k: v for k, v in value.items() if v is not None}  # null = left out
            return inner(present, cls)

        return structure

    return factory


def _list_hook(converter: cattrs.Converter) -> Callable[[Any], Callable[[Any, type], Any]]:
    """A list must be a JSON array (a string is not a list of its characters)."""

    def factory(cls: Any) -> Callable[[Any, type], Any]:
        (item,) = typing.get_args(cls) or (Any,)

        def structure(value: Any, _: type) -> Any:
            if not isinstance(value, list):
                raise WrongValue("a list", value)
            out = []
            for i, element in enumerate(value):
                try:
                    out.append(element if item is Any else converter.structure(element, item))
                except Exception as exc:
                    raise _at(str(i), exc) from None
            return out

        return structure

    return factory


def _dict_structure(value: Any, _: type) -> Any:
    """An object argument stays as sent (its values are checked where they are used)."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise WrongValue("an object", value)
    return dict(value)


@functools.cache
def _converter() -> cattrs.Converter:
    """One strict converter: no coercion (``"8000"`` is not an integer), camelCase keys."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(types.Position, _position)
    converter.register_structure_hook_func(
        lambda t: typing.get_origin(t) is Literal, lambda v, t: _literal(t)(v, t)
    )
    converter.register_structure_hook_factory(attrs.has, _object_hook(converter))
    converter.register_structure_hook_factory(
        lambda t: typing.get_origin(t) is list, _list_hook(converter)
    )
    converter.register_structure_hook_func(lambda t: typing.get_origin(t) is dict, _dict_structure)
    return converter


def _first_problem(exc: BaseException, path: list[str]) -> tuple[list[str], BaseException]:
    """The key path and the leaf exception of the first thing cattrs found wrong."""
    keys: list[str] = []
    for note in getattr(exc, "__notes__", ()):  # innermost first: our hooks note, then cattrs
        name = getattr(note, "name", None)
        if name is None and isinstance(note, str) and note.startswith("@key "):
            name = note.removeprefix("@key ")
        if isinstance(name, str):
            keys.append(to_camel(name))
        elif isinstance(name, int):
            keys.append(str(name))
    path = [*path, *reversed(keys)]
    if isinstance(exc, ClassValidationError | IterableValidationError) and exc.exceptions:
        return _first_problem(exc.exceptions[0], path)
    return path, exc


def describe(command: str, exc: BaseException) -> str:
    """The user's sentence for a refused argument."""
    path, leaf = _first_problem(exc, [])
    key = ".".join(path) or "the argument"
    if len(path) > 1 and path[0] in ("range", "position"):
        # Inside an LSP object: say which object first, then which of its fields.
        lead = f"{command}: {path[0]!r} is not an LSP {path[0]}"
        if isinstance(leaf, KeyError):
            return f"{lead}: it has no {key!r} field."
        if isinstance(leaf, WrongValue):
            return f"{lead}: {key!r} must be {leaf.wording}, got {leaf.value!r:.60}."
    if isinstance(leaf, KeyError):
        return f"{command}: the argument has no {key!r} field."
    if isinstance(leaf, WrongValue):
        return f"{command}: {key!r} must be {leaf.wording}, got {leaf.value!r:.60}."
    return f"{command}: {key!r} is not valid ({leaf})."


def parse_args(cls: type[Args], command: str, arguments: Sequence[Any]) -> Args:
    """Read a command's single object argument, with an error that names the bad field."""
    if not arguments:
        raw: Any = {}
    elif len(arguments) == 1:
        raw = arguments[0]
    else:
        raise InvalidParamsError(f"{command} takes one object argument, got {len(arguments)}.")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidParamsError(f"{command} takes one object argument, got {raw!r:.60}.")
    try:
        return _converter().structure(raw, cls)
    except Exception as exc:
        raise InvalidParamsError(describe(command, exc)) from None

"""The command-line options made from the settings' dataclass fields.

Every setting is a field of a config dataclass (ModelConfig, TrainConfig, LMConfig, a task's sizes) declared
with `option(default, "what it is")` (model/config.py). `add_options` turns such a class into argparse options
`--field-name`, so that the same setting has the same flag and the same help in every command.
"""

import argparse
import dataclasses
import types
import typing

NONE = "none"  # what a user types for None: `--steps none`


def add_options(parser: argparse.ArgumentParser, cls, skip=(), shown_defaults: dict | None = None) -> list[str]:
    """Add one option `--field-name` per field of the dataclass `cls` (but `skip`); returns the field names.

    An option the user does not give is absent from the parsed namespace (see `given`), so a command can lay
    what was typed over a recipe or a preset. `shown_defaults` {name: text} replaces the field's own default
    in the help, where the command takes the default from elsewhere.
    """
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip or "help" not in f.metadata:
            continue
        shown = (shown_defaults or {}).get(f.name, _show(f.default))
        help_text = f"{f.metadata['help']} (default: {shown})".replace("%", "%%")  # argparse formats help with %
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=help_text, **_parse_as(f))
        names.append(f.name)
    return names


def given(args: argparse.Namespace, names) -> dict:
    """{name: value} of the options among `names` that the user gave."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def _parse_as(f: dataclasses.Field) -> dict:
    """The argparse keywords that parse a field of type bool, int, float, str, `X | None` or a pair of floats."""
    kind, optional = _base_type(f.type)
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if typing.get_origin(kind) is tuple:
        return {"type": float, "nargs": len(typing.get_args(kind)), "metavar": "X"}
    parse = _or_none(kind) if optional else kind
    keywords = {"type": parse, "metavar": kind.__name__.upper()}
    if "choices" in f.metadata:
        keywords = {"type": parse, "choices": f.metadata["choices"] + ((None,) if optional else ())}
    return keywords


def _base_type(annotation) -> tuple[type, bool]:
    """`int` -> (int, False); `int | None` -> (int, True)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _or_none(kind: type):
    def parse(text: str):
        return None if text.lower() == NONE else kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


def _show(default) -> str:
    if default is dataclasses.MISSING:
        return "required"
    if default is None:
        return NONE
    if isinstance(default, tuple):
        return " ".join(map(str, default))
    return str(default)

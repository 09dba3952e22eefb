"""Flags of the ``bcml`` commands made from the typed settings, and the settings read back.

Every settings field becomes a ``--flag`` with the field's own help and default, so ``--help``
shows every knob and cannot drift from the settings. A flag not given is ``None``, so the
environment and a ``--config`` file still apply (flag > env > file > default).
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

Handler = Callable[[argparse.Namespace], int]


def add_settings_arguments(
    parser: argparse.ArgumentParser, cls: type[BaseSettings], skip: Sequence[str] = ()
) -> None:
    """One ``--flag`` per settings field, its help and default taken from the field itself.

    Flags default to ``None`` ("not given") so the environment and config file still apply.
    Help text is escaped for argparse (a ``%`` in a description is printed as it is).
    """
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML file with any of these settings."
    )
    for name, info in cls.model_fields.items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        default = info.default
        shown = "" if default is None else f" (default: {default})"
        env = f"{cls.model_config.get('env_prefix', '')}{name.upper()}"
        help_text = f"{info.description}{shown} [env {env}]".replace("%", "%%")
        if _is_bool(info.annotation):
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(
                flag,
                type=_arg_type(info.annotation),
                default=None,
                metavar=name.upper(),
                help=help_text,
            )


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def _arg_type(annotation: Any) -> Callable[[str], Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = inner[0]
    if annotation in (int, float, Path):
        return annotation  # type: ignore[no-any-return]
    return str


S = TypeVar("S", bound=BaseSettings)


def load_settings_from(args: argparse.Namespace, cls: type[S]) -> S:
    """The command's settings: flags (``None``: not given) > env > ``--config`` > defaults."""
    from breast_cancer_ml.settings import load_settings

    flags = {name: getattr(args, name, None) for name in cls.model_fields}
    return load_settings(cls, args.config, **flags)


def settings_command(
    sub: Any,
    name: str,
    cls: type[BaseSettings],
    handler: Handler,
    *,
    help: str,
    description: str,
    skip: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A subcommand whose flags are ``cls``'s settings fields (except ``skip``)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    add_settings_arguments(parser, cls, skip=skip)
    parser.set_defaults(handler=handler)
    return parser


def mlflow_verbosity(args: argparse.Namespace) -> None:
    """Default: MLflow says only warnings (our summary is the output); ``-v``: all of it."""
    from breast_cancer_ml.adapters.tracking import quiet_mlflow

    quiet_mlflow(quiet=not getattr(args, "verbose", 0))


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="also show MLflow's own messages (database set-up, registry, progress bars).",
    )

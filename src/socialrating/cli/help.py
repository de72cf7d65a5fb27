"""Help pages in the plain, classic form: ``Usage: socialrating ingest [OPTIONS] FILE``.

Typer's own help renders types as ``<str>`` and ``<bool>`` and required arguments as
``{file}``; these classes write every command's and group's help from the parameters'
names, metavars, help, defaults and environment variables instead, with no Rich import.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from typer.core import TyperCommand, TyperGroup

# A value's placeholder when the option declares no metavar, by its annotation.
METAVARS: dict[Any, str] = {
    str: "TEXT",
    int: "INTEGER",
    float: "NUMBER",
    Path: "PATH",
    dt.date: "DATE",
}


# The order a newcomer meets the commands in (the README's tour); others follow by name.
ORDER = (
    "rulebook", "init", "subjects", "institutions", "parameters", "ingest", "verify",
    "score", "runs", "file", "show", "appeals", "review", "check", "check-batch", "lists",
    "keys", "serve", "demo", "simulate", "calibrate", "check", "schema", "import", "create", "list", "revoke",
)  # fmt: skip


def metavar(param: Any) -> str:
    """The placeholder of an argument or option value: its metavar, else one by its type."""
    if param.metavar:
        return str(param.metavar)
    if param.param_type_name == "argument":
        return str(param.name).upper()
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return METAVARS.get(annotation, "VALUE")


def summary(command: Any) -> str:
    """A command's summary: the first paragraph of its help, on one line."""
    return " ".join((command.help or "").split("\n\n")[0].split())


def _extras(param: Any) -> str:
    parts = []
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        parts.append(
            f"{low}..{high}"
            if low is not None and high is not None
            else f"at least {low}"
            if low is not None
            else f"at most {high}"
        )
    if param.envvar:
        parts.append(f"env var: {param.envvar}")
    is_flag = getattr(param, "is_flag", False)
    if getattr(param, "show_default", True) and param.default not in (None, "") and not is_flag:
        parts.append(f"default: {param.default}")
    if param.required:
        parts.append("required")
    return f"  [{'; '.join(parts)}]" if parts else ""


def _rows(params: list[Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    arguments, options = [], []
    for p in params:
        if getattr(p, "hidden", False):
            continue
        help_text = " ".join((p.help or "").split()) + _extras(p)
        if p.param_type_name == "argument":
            arguments.append((metavar(p), help_text.strip()))
        else:
            names = ", ".join([*p.opts, *p.secondary_opts])
            value = "" if getattr(p, "is_flag", False) else f" {metavar(p)}"
            options.append((names + value, help_text.strip()))
    return arguments, options


def _usage(ctx: Any, params: list[Any], tail: str = "") -> str:
    return " ".join(["[OPTIONS]", *_arguments(params), *([tail] if tail else [])])


def _arguments(params: list[Any]) -> list[str]:
    pieces = []
    for p in params:
        if p.param_type_name == "argument" and not getattr(p, "hidden", False):
            name = metavar(p)
            pieces.append(name if p.required else f"[{name}]")
    return pieces


class Command(TyperCommand):
    """A command whose ``--help`` names values plainly (``FILE``, ``--db PATH``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # The usage line that errors print too ("Usage: socialrating show [OPTIONS] SUBJECT").
        return [self.options_metavar or "[OPTIONS]", *_arguments(self.get_params(ctx))]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        formatter.write_usage(ctx.command_path, _usage(ctx, params))
        self.format_help_text(ctx, formatter)
        arguments, options = _rows(params)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        self.format_epilog(ctx, formatter)


class Group(TyperGroup):
    """A group of commands, with help in the same plain form as its commands."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        formatter.write_usage(ctx.command_path, _usage(ctx, params, "COMMAND [ARGS]..."))
        self.format_help_text(ctx, formatter)
        _, options = _rows(params)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)
        commands = []
        names = self.list_commands(ctx)
        rank: dict[str, int] = {}
        for i, name in enumerate(ORDER):
            rank.setdefault(name, i)
        for name in sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n)):
            command = self.get_command(ctx, name)
            if command is not None and not getattr(command, "hidden", False):
                commands.append((name, summary(command)))
        if commands:
            with formatter.section("Commands"):
                formatter.write_dl(commands)
        self.format_epilog(ctx, formatter)

"""The generated parts of the docs: the command reference and the settings table.

``docs/cli.md`` holds each command's own ``--help`` and a table of every
setting built from the settings model and the comments in
``config/default.toml``, so the docs cannot drift from the code (sqlite-utils
does the same with cog). Each generated part sits between two markers::

    <!-- BEGIN GENERATED commands: `make docs` rewrites this part -->
    ...
    <!-- END GENERATED commands -->

``make docs`` (``python -m etl.docgen``) rewrites them; ``--check`` (and the
test suite) fails when a page is stale and names that command.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from etl.settings import Settings, default_config_path

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
README = ROOT / "README.md"
REGENERATE = "make docs"
HELP_WIDTH = 88
"""Columns of the generated ``--help`` (fixed, so the page does not depend on a terminal)."""

NOT_IN_THE_FILE = {
    "since": "first creation date to sync; unset: `window_months` back",
    "until": "last creation date to sync; unset: today, Bangkok time",
    "google_service_account_json": (
        "the service-account JSON key, from the environment only (a secret: never in a "
        "file, never logged); without it `GOOGLE_APPLICATION_CREDENTIALS`, then Google's "
        "application-default credentials (gcloud, Workload Identity Federation)"
    ),
}
"""Settings that ``config/default.toml`` does not set, so has no comment for."""

FLAG_FOR = {"report_oldest_tickets": "--oldest"}
"""Flags whose name is not the setting's (``--out`` sets ``out``, ``--oldest`` this)."""


def main_help() -> str:
    return _help([])


def command_help(name: str) -> str:
    return _help([name])


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(
        _app(), [*args, "--help"], prog_name="etl", terminal_width=HELP_WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"etl {' '.join(args)} --help failed: {result.output}")
    return result.output.rstrip() + "\n"


def _app() -> Any:
    from etl.cli import app

    return app


def command_names() -> list[str]:
    """The commands in the order ``etl --help`` lists them."""
    return list(typer.main.get_command(_app()).commands)  # type: ignore[attr-defined]


def commands_part() -> str:
    """``etl --help``, then each command's ``--help``, under a heading of its own."""
    parts = ["```text\n$ etl --help\n" + main_help() + "```\n"]
    for name in command_names():
        parts.append(f"### `etl {name}`\n\n```text\n$ etl {name} --help\n{command_help(name)}```\n")
    return "\n".join(parts)


def setting_comments(toml_text: str) -> dict[str, str]:
    """Each key's comment in ``config/default.toml``: the comment block just above it.

    A key right under another key shares its comment (``read_timeout`` under
    ``connect_timeout``); a commented-out key (``# spreadsheet_id = ...``)
    counts as a key; a ``[table]`` header takes the comment above it.
    """
    comments: dict[str, str] = {}
    block: list[str] = []
    previous: str | None = None
    in_table = False
    for raw in toml_text.splitlines():
        line = raw.strip()
        table = re.fullmatch(r"\[(\w+)\]", line)
        key = re.fullmatch(r"#?\s*(\w+)\s*=.*", line)
        if table:
            comments[table.group(1)] = " ".join(block)
            in_table, block, previous = True, [], None
        elif key and not in_table:
            name = key.group(1)
            comments[name] = " ".join(block) if block else comments.get(previous or "", "")
            block, previous = [], name
        elif line.startswith("#"):
            block.append(line.lstrip("#").strip())
            previous = None
        elif not line:
            block, previous = [], None
    return comments


def _flags_by_setting() -> dict[str, list[str]]:
    """Setting -> the command-line flags that set it, from the commands themselves."""
    flags: dict[str, set[str]] = {}
    for command in typer.main.get_command(_app()).commands.values():  # type: ignore[attr-defined]
        for param in command.params:
            for flag in param.opts:
                if not flag.startswith("--"):
                    continue
                key = flag[2:].replace("-", "_")
                key = next((k for k, f in FLAG_FOR.items() if f == flag), key)
                if key in Settings.model_fields:
                    flags.setdefault(key, set()).add(flag)
    return {key: sorted(value) for key, value in flags.items()}


def _default(key: str, defaults: dict[str, Any]) -> str:
    if key == "state_groups":
        return "<br>".join(
            f"`{group}`: {', '.join(states)}" for group, states in defaults[key].items()
        )
    if key == "tabs":
        return "each tab's id"
    value = defaults.get(key, Settings.model_fields[key].default)
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    return f"`{value}`"


def settings_part() -> str:
    """One row per setting, in the model's order: default, how to set it, meaning."""
    text = default_config_path().read_text(encoding="utf-8")
    defaults = tomllib.loads(text)
    comments = setting_comments(text)
    flags = _flags_by_setting()
    rows = ["| setting | default | also set by | meaning |", "|---|---|---|---|"]
    for key in Settings.model_fields:
        meaning = comments.get(key) or NOT_IN_THE_FILE.get(key, "")
        if not meaning:
            raise ValueError(
                f"setting {key} has no comment in config/default.toml: "
                "add one above the key (the settings table in docs/cli.md is made from it)"
            )
        nested = {"state_groups": "__<GROUP>", "tabs": "__<TAB>"}.get(key, "")
        env = f"`ETL_{key.upper()}{nested}`"
        how = ", ".join([env, *(f"`{flag}`" for flag in flags.get(key, []))])
        cell = meaning.replace("|", "\\|")
        rows.append(f"| `{key}` | {_default(key, defaults)} | {how} | {cell} |")
    return "\n".join(rows) + "\n"


def demo_summary_part() -> str:
    """What ``make demo`` prints, from a real run of the demo and its report (offline)."""
    report = ["report", "--out", "output/demo", "--html", "output/demo/report.html"]
    printed = []
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        for args in (["demo"], report):
            result = CliRunner().invoke(_app(), args, prog_name="etl")
            if result.exit_code != 0:
                raise RuntimeError(f"etl {args[0]} failed: {result.output}")
            printed.append(result.stdout.rstrip())
    return "```text\n$ make demo\n" + "\n".join(printed) + "\n```\n"


PARTS: dict[Path, dict[str, Callable[[], str]]] = {
    README: {"demo-summary": demo_summary_part},
    CLI_DOC: {"commands": commands_part, "settings": settings_part},
}

VARYING = re.compile(r"^(  duration +|wrote .*, )[^\n]*$", flags=re.MULTILINE)
"""What differs from run to run (seconds, the report's size): a stale check ignores it."""


def _same(text: str, other: str) -> bool:
    return VARYING.sub(r"\1...", text) == VARYING.sub(r"\1...", other)


def _marker(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN GENERATED {name}:[^>]*-->\n)(.*?)(<!-- END GENERATED {name} -->)",
        flags=re.DOTALL,
    )


def rendered(path: Path) -> str:
    """``path``'s text with every generated part made afresh."""
    text = path.read_text(encoding="utf-8")
    for name, make in PARTS[path].items():
        found = _marker(name).search(text)
        if found is None:
            raise ValueError(f"{path} has no generated part {name!r}")
        fresh = f"{found.group(1)}\n{make()}\n{found.group(3)}"
        text = text[: found.start()] + fresh + text[found.end() :]
    return text


def stale() -> list[str]:
    """The pages whose generated parts differ from what the code makes now."""
    return [
        str(path.relative_to(ROOT))
        for path in PARTS
        if not _same(rendered(path), path.read_text(encoding="utf-8"))
    ]


def write() -> Iterator[Path]:
    for path in PARTS:
        text = rendered(path)
        if not _same(text, path.read_text(encoding="utf-8")):
            path.write_text(text, encoding="utf-8")
            yield path


def main(argv: list[str]) -> int:
    if "--check" in argv:
        pages = stale()
        if pages:
            print(f"error: {', '.join(pages)} out of date: run `{REGENERATE}` and commit.")
            return 1
        print("docs match the code.")
        return 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

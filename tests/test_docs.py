"""README.md is the command reference: these tests fail when it falls behind the code.

Every command has a ``### `etl NAME``` section; every option of a command is
in that section or in the section of options shared by the sync commands;
every exit code and every setting is in its table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from etl.cli import app
from etl.errors import ExitCode
from etl.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHARED_HEADING = "### Output options of `sync`, `backfill`, `demo`, `init`, `doctor`, `report`"
COMMANDS: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def section(heading: str) -> str:
    """The README text from ``heading`` to the next heading of the same or higher level."""
    start = README.find(heading)
    assert start >= 0, f"README.md has no section {heading!r}"
    following = re.search(r"^#{1,3} ", README[start + len(heading) :], flags=re.MULTILINE)
    end = start + len(heading) + following.start() if following else len(README)
    return README[start:end]


def options_of(command: Any) -> list[str]:
    """The command's option flags (typer ships its own click, so no isinstance here)."""
    return [
        flag
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
        for flag in param.opts + param.secondary_opts
        if flag != "--help"
    ]


def test_quick_start_stays_at_the_top() -> None:
    quick_start = section("## Quick start")
    assert README.index("## Quick start") < README.index("## Commands")
    assert "make run" in quick_start
    assert "make test" in quick_start


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_section(name: str) -> None:
    assert f"### `etl {name}`" in README


@pytest.mark.parametrize(
    ("name", "flag"),
    [(name, flag) for name, command in sorted(COMMANDS.items()) for flag in options_of(command)],
)
def test_every_option_is_documented(name: str, flag: str) -> None:
    own = section(f"### `etl {name}`")
    shared = section(SHARED_HEADING)
    pattern = re.compile(rf"`{re.escape(flag)}(?![\w-])")
    assert pattern.search(own) or pattern.search(shared), (
        f"`etl {name} {flag}` is not documented in README.md"
    )


def test_the_check_itself_notices_a_missing_option() -> None:
    """Guard against a vacuous test: options are found, and a longer flag is no match."""
    assert {"--district", "--since", "--quiet", "-q", "--log-format"} <= set(
        options_of(COMMANDS["sync"])
    )
    pattern = re.compile(rf"`{re.escape('--out')}(?![\w-])")
    assert not pattern.search("`--output DIR`")
    assert pattern.search("`--out DIR`")


@pytest.mark.parametrize("code", list(ExitCode))
def test_every_exit_code_is_documented(code: ExitCode) -> None:
    assert f"| `{int(code)}` |" in section("### Exit codes")


@pytest.mark.parametrize("key", sorted(Settings.model_fields))
def test_every_setting_is_documented(key: str) -> None:
    docs = README + "".join(
        path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))
    )
    assert re.search(rf"`{re.escape(key)}[`.]", docs), f"setting {key} is not documented"


# -- docs/deploy.md follows the workflow it explains ---------------------------

DEPLOY = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
SYNC_YML = (ROOT / ".github" / "workflows" / "sync.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name", sorted(set(re.findall(r"\$\{\{\s*(?:vars|secrets)\.(\w+)", SYNC_YML)))
)
def test_every_variable_and_secret_the_workflow_reads_is_explained(name: str) -> None:
    assert f"`{name}`" in DEPLOY, f"docs/deploy.md does not say how to set {name}"


def test_deploy_states_the_schedule_and_timeout_of_the_workflow() -> None:
    minute, hour = re.search(r'cron: "(\d+) (\d+) ', SYNC_YML).groups()  # type: ignore[union-attr]
    bangkok = f"{(int(hour) + 7) % 24:02d}:{int(minute):02d}"
    assert f"{int(hour):02d}:{int(minute):02d} UTC = {bangkok} Bangkok" in DEPLOY
    assert f"at {bangkok} Bangkok time" in DEPLOY
    timeout = re.search(r"timeout-minutes: (\d+)", SYNC_YML.split("jobs:")[1]).group(1)  # type: ignore[union-attr]
    assert f"after\n{timeout} minutes" in DEPLOY or f"after {timeout} minutes" in DEPLOY


def test_commands_in_deploy_exist_with_their_options() -> None:
    commands = re.findall(
        r"`(?:\.venv/bin/)?etl (\w+)((?: --[\w-]+(?: [^`\s-][^`\s]*)?)*)`", DEPLOY
    )
    commands += re.findall(r"\.venv/bin/etl (\w+)([^\n]*)", DEPLOY)
    assert {"init", "doctor", "sync"} <= {name for name, _ in commands}
    for name, rest in commands:
        assert name in COMMANDS, f"docs/deploy.md runs etl {name}, which does not exist"
        for flag in re.findall(r"--[\w-]+", rest):
            assert flag in options_of(COMMANDS[name]), f"etl {name} has no {flag}"


def test_the_output_options_heading_names_the_commands_that_take_them() -> None:
    named = set(re.findall(r"`(\w[\w-]*)`", SHARED_HEADING))
    taking = {name for name, command in COMMANDS.items() if "--quiet" in options_of(command)}
    assert named == taking

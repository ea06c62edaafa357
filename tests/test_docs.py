"""The docs follow the code: these tests fail when they fall behind it.

``docs/cli.md`` carries each command's own ``--help`` and a settings table
made from the settings model; the README carries a real demo run's summary.
``make docs`` regenerates them, and the first test says so when they are stale.
The rest guard what is written by hand: exit codes, the tab table, links.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from etl import docgen
from etl.cli import app
from etl.errors import ExitCode
from etl.settings import Settings
from etl.tabs import ACTIONS, RUNS_TAB, STATE_TAB, TABS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
COMMANDS: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def section(text: str, heading: str) -> str:
    """``text`` from ``heading`` to the next heading of the same or higher level."""
    start = text.find(heading)
    assert start >= 0, f"no section {heading!r}"
    level = len(heading) - len(heading.lstrip("#"))
    following = re.search(rf"^#{{1,{level}}} ", text[start + len(heading) :], flags=re.MULTILINE)
    end = start + len(heading) + following.start() if following else len(text)
    return text[start:end]


def options_of(command: Any) -> list[str]:
    """The command's option flags (typer ships its own click, so no isinstance here)."""
    return [
        flag
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
        for flag in param.opts + param.secondary_opts
        if flag != "--help"
    ]


def test_generated_docs_are_current() -> None:
    stale = docgen.stale()
    assert not stale, (
        f"{', '.join(stale)} out of date with the code: run `{docgen.REGENERATE}` and commit"
    )


def test_quick_start_stays_at_the_top_and_short() -> None:
    quick_start = section(README, "## Quick start")
    assert README.index("## Quick start") < README.index("## What a sync writes")
    assert "make run" in quick_start
    assert "make test" in quick_start
    assert re.findall(r"^make \w+", section(README, "## Quick start").split("```")[1], re.M) == [
        "make run",
        "make test",
    ]
    assert len(README.encode()) < 16_000, "the reference belongs in docs/cli.md"
    for reference in ("## Commands", "## Settings", "| `retry_budget`"):
        assert reference not in README, f"{reference!r} belongs in docs/cli.md"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_is_in_the_reference(name: str) -> None:
    own = section(CLI_DOC, f"### `etl {name}`")
    assert f"$ etl {name} --help" in own
    for flag in options_of(COMMANDS[name]):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", own), f"{name} {flag}"


def test_the_check_itself_notices_a_missing_option() -> None:
    """Guard against a vacuous test: options are found, and a longer flag is no match."""
    assert {"--district", "--since", "--quiet", "-q", "--log-format"} <= set(
        options_of(COMMANDS["sync"])
    )
    pattern = re.compile(rf"(?<![\w-]){re.escape('--out')}(?![\w-])")
    assert not pattern.search("--output DIR")
    assert pattern.search("--out DIR")


@pytest.mark.parametrize("code", list(ExitCode))
def test_every_exit_code_is_documented(code: ExitCode) -> None:
    assert f"| `{int(code)}` |" in section(CLI_DOC, "## Exit codes")


def test_every_setting_is_in_the_table_exactly_once() -> None:
    table = section(CLI_DOC, "## Settings")
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", table, flags=re.MULTILINE)
    keys = [key for key, _ in rows]
    assert sorted(keys) == sorted(Settings.model_fields)
    assert len(keys) == len(set(keys))
    for key, rest in rows:
        meaning = rest.split(" | ")[-1]
        assert len(meaning) > 10, f"setting {key} has no meaning in the table"


def test_setting_comments_are_read_as_the_file_groups_them() -> None:
    text = """# The host.
host = "x"

# Timeouts: connect, read.
connect = 1
read = 2
# Retries.
retries = 3
# about the next block
# spare = 1

[groups]
a = ["b"]
"""
    comments = docgen.setting_comments(text)
    assert comments["host"] == "The host."
    assert comments["connect"] == comments["read"] == "Timeouts: connect, read."
    assert comments["retries"] == "Retries."
    assert comments["spare"] == "about the next block"
    assert "a" not in comments


def test_readme_tab_table_names_every_tab() -> None:
    table = section(README, "## What a sync writes")
    named = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE))
    assert named == {*TABS, ACTIONS.name, RUNS_TAB, STATE_TAB}


def test_links_in_the_docs_lead_somewhere() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", text)
        targets += re.findall(r'<img src="([^"]+)"', text)
        for target in targets:
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
    assert "shared notes" not in (ROOT / "docs" / "extraction.md").read_text(encoding="utf-8")


def test_help_shows_flags_without_a_value_and_the_choices_of_a_value() -> None:
    sync = CliRunner().invoke(app, ["sync", "--help"], terminal_width=100).output
    assert re.search(r"^  --dry-run +Show", sync, flags=re.MULTILINE)
    assert "<bool>" not in sync
    assert "--feed v1|search" in sync
    assert "--log-format text|json" in sync
    assert "--since YYYY-MM-DD" in sync


def test_help_texts_say_what_each_command_does_with_the_option() -> None:
    def help_of(command: str) -> str:
        text = CliRunner().invoke(app, [command, "--help"], terminal_width=200).output
        return " ".join(text.split())

    assert "(default: output/demo/)" in help_of("demo")
    for command in ("init", "doctor"):
        assert "--spreadsheet-id ID" in help_of(command)
        assert "instead of local files" not in help_of(command)
    assert "Log every page" not in help_of("report")


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"etl (traffy-etl) {metadata.version('traffy-etl')}\n"


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


def test_the_shared_options_name_the_commands_that_take_them() -> None:
    shared = section(CLI_DOC, "## Options every command shares").split("\n\n")[1]
    named = set(re.findall(r"`(\w[\w-]*)`", shared))
    taking = {name for name, command in COMMANDS.items() if "--quiet" in options_of(command)}
    assert named == taking


def test_the_scheduled_sync_keeps_the_report_and_deploy_says_where() -> None:
    import yaml

    steps = yaml.safe_load(SYNC_YML)["jobs"]["sync"]["steps"]
    names = [s.get("name", "") for s in steps]
    make = steps[names.index("Make the executives' report")]
    keep = steps[names.index("Keep the report")]
    assert names.index("Sync") < names.index("Make the executives' report")
    assert make["run"].startswith("etl report --html report/report.html")
    assert keep["uses"].startswith("actions/upload-artifact@")
    assert keep["with"]["path"] == "report/"  # report.html; city-wide, a page per district
    assert make["if"] == keep["if"] == "success() && !inputs.dry_run"
    where = section(DEPLOY, "## The report after each sync")
    assert f"`{keep['with']['name']}`" in where
    assert f"{keep['with']['retention-days']} days" in where
    assert "**Artifacts**" in where


def test_log_lines_count_in_english() -> None:
    from etl.logs import counted

    assert counted(1, "row") == "1 row"
    assert counted(0, "page") == "0 pages"
    assert counted(19888, "row") == "19888 rows"


def test_sheets_costs_quote_the_latest_bench_run() -> None:
    """docs/sheets.md's cost table is the bench's scenario 3, number for number."""
    bench = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    measured = {
        (size, what): (int(requests), int(cells.replace(",", "")))
        for size, what, requests, cells in re.findall(
            r"^3 sheets ([\d,]+): (first load|next day, 50 changed|next day, no change)[^\n]*?"
            r"(\d+) +([\d,]+) +-$",
            bench,
            flags=re.MULTILINE,
        )
    }
    assert len(measured) == 6
    sheets = (ROOT / "docs" / "sheets.md").read_text(encoding="utf-8")
    row = (
        r"^\| (first load of ([\d,]+) tickets|next day, 50 tickets changed|next day, no change)"
        r"[^|]*\| (\d+) \| ([\d,]+) \|$"
    )
    rows = re.findall(row, sheets, flags=re.MULTILINE)
    assert len(rows) == 6
    size = ""
    for label, first_size, requests, cells in rows:
        size = first_size or size
        what = "first load" if first_size else label.replace(" tickets", "")
        assert measured[(size, what)] == (int(requests), int(cells.replace(",", ""))), label


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_value_says_what_it_takes(name: str) -> None:
    """``--out DIR``, not ``--out <path>``: typer's type names mean nothing to a user."""
    text = CliRunner().invoke(app, [name, "--help"], terminal_width=200).output
    vague = re.findall(r"^\s+(?:-\w, )?(--[\w-]+) <\w+>", text, flags=re.MULTILINE)
    assert not vague, f"etl {name}: give {', '.join(vague)} a metavar= (e.g. NAME, DIR, N)"

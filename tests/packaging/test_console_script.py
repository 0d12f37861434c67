"""The `mltrail` console script (mltrail._entry:main) on an SDK-only install: a one-line
hint to install the CLI, not a traceback. .ci/check_packages.sh checks the same on a real
wheel in a fresh virtualenv; these tests hide the CLI's libraries instead."""

import subprocess
import sys

import pytest

ENTRY = "import sys; sys.argv = ['mltrail', *sys.argv[1:]]; from mltrail._entry import main; main()"


def run_console_script(
    *args: str, hidden: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    # A None in sys.modules makes `import name` fail as if the package were not installed.
    hide = "".join(f"sys.modules[{name!r}] = None; " for name in hidden)
    return subprocess.run(
        [sys.executable, "-c", f"import sys; {hide}{ENTRY}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestWithoutTheCli:
    @pytest.mark.parametrize("missing", ["typer", "rich"])
    def test_one_line_hint_and_exit_2(self, missing: str) -> None:
        result = run_console_script("--help", hidden=(missing,))
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert "pip install 'mltrail[cli]'" in lines[0]
        assert missing in lines[0]

    def test_other_missing_modules_are_not_blamed_on_the_cli(self) -> None:
        result = run_console_script("--help", hidden=("httpx",))
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert "mltrail[cli]" not in result.stderr


class TestWithTheCli:
    def test_runs_the_cli(self) -> None:
        result = run_console_script("--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("mltrail ")

"""The README tour and every provider-spec snippet, run as users run them: a file, ``-c``,
stdin and ``runpy`` as ``__main__``, with ``local_cpu n_nodes=2`` (warm worker processes).

Each run must exit 0 with nothing on stderr (no bootstrapping error, no re-run of the
script, no leaked semaphores, no noise at exit), exact totals and counts equal to
``QVMMode.LOCAL`` with the same seed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from programs import FOOTER, MYPROJECT_PROVIDERS, programs

pytestmark = pytest.mark.slow

FORMS = ("file", "-c", "stdin", "runpy")
RUNNER = """\
#!/bin/sh
half=$(( $2 / 2 ))
echo "0000=$half"
echo "1111=$(( $2 - half ))"
"""


@pytest.fixture(scope="module")
def user_home(tmp_path_factory):
    """A folder with the user's package (``myproject``) and a fake ``dgx-runner`` on PATH."""
    home = tmp_path_factory.mktemp("user")
    (home / "myproject").mkdir()
    (home / "myproject" / "__init__.py").write_text("")
    (home / "myproject" / "providers.py").write_text(textwrap.dedent(MYPROJECT_PROVIDERS))
    runner = home / "bin" / "dgx-runner"
    runner.parent.mkdir()
    runner.write_text(RUNNER)
    runner.chmod(runner.stat().st_mode | stat.S_IXUSR)
    return home


def run_program(text: str, form: str, home, out) -> subprocess.CompletedProcess[str]:
    script = home / f"program-{form.strip('-')}.py"
    script.write_text(text)
    command = {
        "file": [sys.executable, str(script)],
        "-c": [sys.executable, "-c", text],
        "stdin": [sys.executable, "-"],
        "runpy": [sys.executable, "-c", f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"],
    }[form]
    env = {**os.environ, "QCOS_TEST_OUT": str(out), "PYTHONPATH": str(home),
           "PATH": f"{home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(command, input=text if form == "stdin" else None, capture_output=True, text=True,
                          cwd=home, env=env, timeout=600)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", sorted(programs()))
def test_program_runs_in_every_form(name, form, user_home, tmp_path):
    out = tmp_path / "report.json"
    done = run_program(programs()[name] + FOOTER, form, user_home, out)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    stderr = done.stderr
    if name in ("spec-custom-rest-lumi", "spec-execute-health"):
        # their hosts do not exist: saying so is the one thing expected on stderr
        stderr = "".join(line for line in stderr.splitlines(keepends=True)
                         if not (line.startswith("REST endpoint http://") or
                                 (line.startswith("provider '") and " is unhealthy, its " in line)))
    assert stderr == "", stderr[-3000:]
    if name == "readme-tour":  # the tour prints its result once (a re-run script would print it again)
        assert done.stdout.count("dgx-node") + done.stdout.count("local-cpu") >= 1
        assert len(done.stdout.strip().splitlines()) == 1, done.stdout
    report = json.loads(out.read_text())
    for cluster, result in report.items():
        assert result["totals"] == [3000] * 12, cluster
        assert result["counts"] == result["local"], cluster
    assert set(report["local_cpu x2"]["nodes"]) <= {"local-cpu-0", "local-cpu-1"}
    assert report["local_cpu x2"]["nodes"], "no chunk ran on the local nodes"

"""timm's own tests/test_models.py, run against our models (tests/models/timm_suite_plugin.py says
which and what is excluded). .ci/run fetches the file from the installed timm's sdist into
.ci/timm-tests/ (TIMM_TESTS overrides the folder); without it this test is skipped, saying how to fetch."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import timm

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(os.environ.get("TIMM_TESTS", ROOT / ".ci" / "timm-tests"))
FETCH = (f"pip download --no-deps --no-binary :all: timm=={timm.__version__} and extract its "
         f"tests/test_models.py into {TESTS} (.ci/run does)")


def outcomes(junit: Path) -> Counter:
    """(test name, outcome) counts of a junit XML report."""
    counts = Counter()
    for case in ET.parse(junit).iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        counts[(case.get("name").split("[")[0], kinds[0] if kinds else "passed")] += 1
    return counts


@pytest.mark.slow
def test_timm_test_models_passes_for_our_models(tmp_path):
    source = TESTS / "test_models.py"
    if not source.is_file():
        pytest.skip(f"timm's tests/test_models.py is not fetched: {FETCH}")
    junit = tmp_path / "junit.xml"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = [sys.executable, "-m", "pytest", str(source), "-p", "timm_suite_plugin", "-p", "no:cacheprovider",
           "-q", "-rfEs", "-W", "ignore::pytest.PytestUnknownMarkWarning", f"--junitxml={junit}",
           "--rootdir", str(TESTS), "-c", os.devnull]
    run = subprocess.run(cmd, cwd=TESTS, env=env, capture_output=True, text=True, timeout=900)
    table = "\n".join(f"{n:45s} {o:8s} {c}" for (n, o), c in sorted(outcomes(junit).items())) if junit.exists() else ""
    print(table)
    assert run.returncode == 0, f"{table}\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"

"""timm's own tests/test_models.py, run against our models (tests/models/timm_suite_plugin.py says
which and what is excluded). The file is fetched once from the installed timm's sdist on the package
registry into .ci/timm-tests/ (git-ignored; TIMM_TESTS overrides the folder); timm's code is not part
of this repository. Only a machine that cannot reach the registry skips the test, saying why."""

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import timm

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(os.environ.get("TIMM_TESTS", ROOT / ".ci" / "timm-tests"))
FETCH = (f"pip download --no-deps --no-binary :all: timm=={timm.__version__} and extract its "
         f"tests/test_models.py into {TESTS}")


def fetch_timm_tests() -> Path:
    """-> TESTS/test_models.py of the installed timm, downloaded from its sdist when not there yet."""
    source = TESTS / "test_models.py"
    if source.is_file():
        return source
    TESTS.mkdir(parents=True, exist_ok=True)
    download = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                               f"timm=={timm.__version__}", "-d", str(TESTS)], capture_output=True, text=True)
    if download.returncode != 0:
        pytest.skip(f"cannot fetch timm's tests (no package registry?): {FETCH}\n{download.stderr[-1000:]}")
    with tarfile.open(TESTS / f"timm-{timm.__version__}.tar.gz") as sdist:
        member = sdist.getmember(f"timm-{timm.__version__}/tests/test_models.py")
        source.write_bytes(sdist.extractfile(member).read())
    return source


def outcomes(junit: Path) -> Counter:
    """(test name, outcome) counts of a junit XML report."""
    counts = Counter()
    for case in ET.parse(junit).iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        counts[(case.get("name").split("[")[0], kinds[0] if kinds else "passed")] += 1
    return counts


@pytest.mark.slow
def test_timm_test_models_passes_for_our_models(tmp_path):
    source = fetch_timm_tests()
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

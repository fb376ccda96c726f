"""The C++ engine's own test driver (csrc/tests/test_index.cpp), built and run under
AddressSanitizer and UndefinedBehaviorSanitizer: memory errors, leaks and undefined behaviour
in the index code fail the suite, not only wrong results."""

import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import RUN_SUMMARY

CSRC_TESTS = Path(__file__).parents[2] / "csrc" / "tests"


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("g++") is None, reason="needs make and g++")
def test_engine_passes_under_asan_and_ubsan(tmp_path):
    done = subprocess.run(
        ["make", "-C", str(CSRC_TESTS), "check", f"BUILD={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "all engine tests passed" in output
    assert "ERROR: AddressSanitizer" not in output and "runtime error:" not in output
    summary = next(line for line in reversed(output.splitlines()) if "all engine tests passed" in line)
    RUN_SUMMARY.append(f"C++ engine under ASan and UBSan (make -C csrc/tests check): {summary.strip()}")

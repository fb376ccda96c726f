"""Run `splade` verbs in one process, one JSON line per case: its exit code and stderr.

    python tests/fuzz/runner.py CASES.json

A case that kills the process (a signal) or hangs is the one after the last line printed; an
exception that escapes `main` is reported as a traceback. Used by tests/fuzz/test_fuzz.py.
"""

import contextlib
import io
import json
import logging
import sys
import traceback

from splade_core.cli import main

if __name__ == "__main__":
    logging.basicConfig(stream=io.StringIO())  # main's log lines are not what is judged
    cases = json.loads(open(sys.argv[1]).read())
    for number, argv in enumerate(cases):
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            code, err = None, io.StringIO(traceback.format_exc())
        print(json.dumps({"case": number, "code": code, "stderr": err.getvalue()}), flush=True)

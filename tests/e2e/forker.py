"""A process that runs `matcher` commands in forked children, so a test can kill one mid-command.

Started once (``python -m tests.e2e.forker``), it imports the CLI and the libraries an ingest
uses, then reads one JSON request a line from stdin:

- ``{"run": [argument, ...], "log": path}``: fork a child that runs ``matcher ARGUMENTS`` (the
  real ``service.cli.main``) with its output in ``log``; answer ``{"pid": pid}`` at once.
- ``{"reap": pid}``: wait for that child; answer ``{"status": exit code, or -signal}``.

A child starts its command without paying the imports again (seconds of a fresh
``python -m service.cli`` on a loaded machine), so a kill lands in the command's own phases.
A child is reaped only when asked, so its pid cannot be reused before the test has killed it.
"""

from __future__ import annotations

import json
import os
import sys


def preload() -> None:
    """Import what an ingest uses, so that a child spends its time in the command itself."""
    import faiss  # noqa: F401
    import numpy  # noqa: F401

    import matcher.engine
    import matcher.ingest.readers  # noqa: F401
    import service.cli  # noqa: F401
    from matcher.index.lexical import lexical_tokens

    lexical_tokens("warm up 热身")  # jieba's dictionary


def child(arguments: list[str], log: str) -> None:
    """Run one command in this (forked) process and leave with its exit code."""
    code = 1
    try:
        with open(log, "ab") as handle:
            os.dup2(handle.fileno(), 1)
            os.dup2(handle.fileno(), 2)
        from service.cli import main

        main(arguments, prog_name="matcher")
        code = 0
    except SystemExit as leaving:
        code = leaving.code if isinstance(leaving.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    preload()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "run" in request:
            pid = os.fork()
            if pid == 0:
                child(request["run"], request["log"])
            print(json.dumps({"pid": pid}), flush=True)
        elif "reap" in request:
            _, status = os.waitpid(int(request["reap"]), 0)
            code = os.waitstatus_to_exitcode(status)
            print(json.dumps({"status": code}), flush=True)


if __name__ == "__main__":
    serve()

"""A child process run in its own process group and stopped as a group on every way out.

Lambda freezes a warm container with its stray processes and thaws them at the next invocation (AWS
Lambda Developer Guide, "Understanding the Lambda execution environment lifecycle"), so a helper
QScanner starts must not outlive its scan: killing only the direct child, as `subprocess.run` does on
a timeout, leaves the helper running and holding CPU, memory and /tmp.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from typing import IO

# Seconds a group has between SIGTERM and SIGKILL once its deadline has passed: time to flush a file.
TERM_GRACE_S = 2.0


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to a process group; a group with no process left is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the group, give its leader `grace_s` seconds, then SIGKILL the group and reap the leader."""
    signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _text(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")


def run_in_group(
    argv: list[str], env: dict[str, str], timeout: float, grace_s: float = TERM_GRACE_S
) -> subprocess.CompletedProcess[str]:
    """Run `argv` (never a shell) as the leader of a new session; whatever happens, no process of it survives.

    Output goes to anonymous files rather than pipes: a helper that inherited a pipe would keep it
    open after the leader exits, and reading to its end would wait for the helper.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(  # argv is a list built by the caller, never a shell
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(process, grace_s)
            raise subprocess.TimeoutExpired(argv, timeout, output=_text(out), stderr=_text(err)) from None
        finally:
            # The leader's own exit leaves its helpers running: the group goes with it.
            signal_group(process.pid, signal.SIGKILL)
            if process.poll() is None:
                process.wait()
        return subprocess.CompletedProcess(argv, code, _text(out), _text(err))

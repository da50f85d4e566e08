"""The one error type the CLI turns into a clear message and an exit code (never a traceback)."""

from __future__ import annotations


class StreamsegError(Exception):
    """A problem the user can act on: what is wrong, and how to fix it."""

    exit_code = 1

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix

    def __str__(self) -> str:
        return self.problem + (f"\n  fix: {self.fix}" if self.fix else "")


class InputError(StreamsegError):
    """The input, background or options are unusable."""

    exit_code = 2


class OutputError(StreamsegError):
    """The output cannot be written (place, permissions, disk space, encoder)."""

    exit_code = 3


class Interrupted(StreamsegError):
    """Ctrl-C or SIGTERM: stopped cleanly, partial output removed."""

    exit_code = 130

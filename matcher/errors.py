"""Named exceptions of the matcher; the service and the CLI map each ``code`` once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class MatcherError(Exception):
    """Base class: a stable machine-readable ``code``, a message and structured ``details``."""

    code = "matcher_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(MatcherError):
    code = "invalid_config"


class InvalidInput(MatcherError):
    """A parameter of a request or command is wrong (type, range, unknown name)."""

    code = "invalid_parameter"


class TooLarge(MatcherError):
    """A text or a batch exceeds its configured limit."""

    code = "payload_too_large"


class NotFound(MatcherError):
    code = "not_found"


class Unavailable(MatcherError):
    """The model or an index cannot be used right now (missing, not built yet)."""

    code = "unavailable"


class Busy(MatcherError):
    """Another writer held the data folder's write lock for longer than this write may wait.

    Nothing was changed; the same write may be sent again after ``retry_after`` seconds.
    """

    code = "busy"

    def __init__(self, message: str, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class IndexMismatch(Unavailable):
    """A stored index was built with another model or dimension than the configured one."""

    code = "index_mismatch"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input row: where it is and what is wrong."""

    file: str
    row: int | None
    field: str | None
    code: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field is not None:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class ValidationFailed(MatcherError):
    """An input file or batch has problems; it was rejected whole and nothing was written."""

    code = "validation_failed"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        source = problems[0].file if problems else "input"
        count = len(problems)
        lines = "\n".join(f"  - {problem}" for problem in problems[:50])
        more = f"\n  ... and {count - 50} more" if count > 50 else ""
        super().__init__(
            f"{source}: {count} problem{'s' if count != 1 else ''}; nothing was changed\n{lines}{more}",
            details={"problems": [asdict(problem) for problem in problems]},
        )

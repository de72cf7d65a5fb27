"""The one exception tree of socialrating.

::

    SocialRatingError                 root; every error the library raises on purpose
    ├── SettingsError                 a setting has a bad value
    ├── RulebookError                 a rulebook failed validation (carries every Problem)
    ├── LedgerError                   the ledger refused or cannot do something
    │   ├── BatchRejected             a batch had bad rows; nothing was stored (carries every Problem)
    │   ├── NotInitialised            the database has no ledger yet (run `socialrating init`)
    │   └── LedgerFormatError         the database was written in another ledger format
    ├── UnknownSubject                no subject with that code
    ├── UnknownInstitution            no institution with that code under the rulebook
    ├── UnknownService                the rulebook has no such service
    ├── UnknownList                   the rulebook has no such list
    ├── NoSnapshot                    no scoring run to decide from
    ├── ScoringError                  the scoring plan cannot run as asked
    └── AppealError                   an appeal or a review was refused; nothing was stored
        └── UnknownAppeal             no appeal with that number

Errors that carry problems list them all: one bad row never hides the next.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, pointing at where it is.

    Attributes:
        source: the file (or other input) the problem is in.
        line: the 1-based line (or row) number, when known.
        field: the field or dotted path, when known.
        reason: what is wrong, naming the bad value.
    """

    source: str
    line: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "reason": self.reason,
        }


class SocialRatingError(Exception):
    """Root of every error socialrating raises on purpose."""


class SettingsError(SocialRatingError):
    """A setting has a bad value."""


class ProblemsError(SocialRatingError):
    """An error that carries every problem found, not only the first."""

    def __init__(self, summary: str, problems: list[Problem]) -> None:
        self.summary = summary
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{summary}\n{shown}{more}" if problems else summary)


class RulebookError(ProblemsError):
    """A rulebook failed validation; ``problems`` lists every problem found."""


class LedgerError(SocialRatingError):
    """The ledger refused or cannot do something."""


class BatchRejected(LedgerError, ProblemsError):
    """A batch had bad rows and nothing of it was stored; ``problems`` lists every bad row."""

    def __init__(self, summary: str, problems: list[Problem]) -> None:
        ProblemsError.__init__(self, summary, problems)


class NotInitialised(LedgerError):
    """The database holds no ledger yet."""


class LedgerFormatError(LedgerError):
    """The database was written in a ledger format this version does not read."""


class UnknownSubject(SocialRatingError):
    """No subject with the given code is registered."""


class UnknownInstitution(SocialRatingError):
    """No institution with the given code under the active rulebook."""


class UnknownService(SocialRatingError):
    """The rulebook has no such service."""


class UnknownList(SocialRatingError):
    """The rulebook has no such list."""


class NoSnapshot(SocialRatingError):
    """No scoring run to decide from."""


class ScoringError(SocialRatingError):
    """The scoring plan cannot run as asked."""


class AppealError(SocialRatingError):
    """An appeal or a review was refused (no such record, not the subject's, already under
    appeal or voided, reviewed already, an empty reason); nothing was stored."""


class UnknownAppeal(AppealError):
    """No appeal with the given number."""

"""Due process: a subject appeals a record, a reviewer upholds or voids it.

Appeals, reviews and voids are ledger entries that refer to the entries they concern
(``cases`` describes them); nothing is edited or deleted. A voided record stops counting
at once (the scoring plan's ``voided`` status), and the subject's statement lists every
appeal with its deadline, its review and its effect.

Its public names are imported on first use (see ``socialrating.lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.lazy import exports

__all__ = [
    "Appeal",
    "appeal",
    "deadline",
    "file_appeal",
    "latest_record",
    "list_appeals",
    "review_appeal",
]

__getattr__ = exports(
    __name__,
    {
        "Appeal": "socialrating.appeals.cases",
        "appeal": "socialrating.appeals.cases",
        "list_appeals": "socialrating.appeals.cases",
        "deadline": "socialrating.appeals.deadlines",
        "file_appeal": "socialrating.appeals.filing",
        "latest_record": "socialrating.appeals.filing",
        "review_appeal": "socialrating.appeals.filing",
    },
)

if TYPE_CHECKING:
    from socialrating.appeals.cases import Appeal, appeal, list_appeals
    from socialrating.appeals.deadlines import deadline
    from socialrating.appeals.filing import file_appeal, latest_record, review_appeal

"""The access log: every read of one subject's data, which the subject can see."""

from __future__ import annotations

from socialrating.ledger.store import Store
from socialrating.service.policy import Principal


def log_access(
    store: Store, principal: Principal, action: str, subject_id: int, detail: str = ""
) -> None:
    """Write that ``principal`` read ``subject_id``'s data for ``action``."""
    store.run(
        "INSERT INTO access_log VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?)",
        [principal.key_id, principal.role.value, action, subject_id, detail],
    )


def log_accesses(
    store: Store, principal: Principal, action: str, codes: list[str], detail: str = ""
) -> None:
    """Write that ``principal`` read the data of each registered subject of ``codes``."""
    store.run(
        """INSERT INTO access_log SELECT now()::TIMESTAMP, ?, ?, ?, subject_id, ?
           FROM subjects WHERE list_contains(?, code)""",
        [principal.key_id, principal.role.value, action, detail, codes],
    )


def access_of(store: Store, subject_id: int, limit: int = 100) -> list[dict[str, object]]:
    """Who read this subject's data, when and for what, latest first."""
    return [
        {
            "at": f"{at:%Y-%m-%d %H:%M:%S}",
            "key_id": key,
            "role": role,
            "action": action,
            "detail": detail,
        }
        for at, key, role, action, detail in store.rows(
            f"""SELECT read_at, key_id, role, action, detail FROM access_log
                WHERE subject_id = {int(subject_id)} ORDER BY read_at DESC LIMIT {int(limit)}"""
        )
    ]

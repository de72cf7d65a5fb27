"""Rulebooks in the database: install a version (registering its codes) from its effective
date, and read the version in force on a day with the versions before it.

Activation is a ledger entry (kind ``rulebook``, evidence = the content hash), so the
ledger itself says which rulebook was in force from when.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from socialrating.errors import LedgerError, NotInitialised
from socialrating.ledger.store import PLAN_CACHE_DDL, Store, openings
from socialrating.model import EntryKind
from socialrating.rulebook.rulebook import Rulebook, RulebookHeader
from socialrating.rulebook.schema import RulebookSpec

if TYPE_CHECKING:
    import pyarrow as pa

# Installing and loading a rulebook need Arrow and the loader; reading a stored one (a
# decision's look-up) does not, so those are imported where they are used.


def install_rulebook(store: Store, rb: Rulebook) -> None:
    """Store a rulebook and register its institutions and parameters (new codes get new ids)."""
    import pyarrow as pa

    from socialrating.model import utc_now

    if store.scalar("SELECT count(*) FROM rulebooks WHERE hash = ?", [rb.hash]):
        return
    from socialrating.ledger.integrity import record_compiled, record_registries

    con = store.con
    institutions = _institutions_table(rb)
    params = _params_table(rb)
    categories = pa.table(
        {"category": list(rb.category_ids), "category_id": list(rb.category_ids.values())}
    )
    con.register("new_institutions", institutions)
    con.register("new_params", params)
    con.register("new_categories", categories)
    try:
        with store.transaction():
            store.run(
                """INSERT INTO institutions
                SELECT (SELECT coalesce(max(institution_id), 0) FROM institutions)
                       + row_number() OVER (ORDER BY ord), n.code, n.name, n.class
                FROM new_institutions n ANTI JOIN institutions i ON i.code = n.code"""
            )
            store.run(
                """INSERT INTO parameters
                SELECT (SELECT coalesce(max(parameter_id), 0) FROM parameters)
                       + row_number() OVER (ORDER BY ord), n.code
                FROM new_params n ANTI JOIN parameters p ON p.code = n.code"""
            )
            compile_tables(store, rb, registered=True)
            for table in ("parameters", "institutions", "permissions"):
                store.run(f"INSERT INTO rulebook_{table} SELECT * FROM temp.compiled_{table}")
                store.run(f"DROP TABLE temp.compiled_{table}")
            store.run(
                "INSERT INTO rulebooks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    rb.hash,
                    rb.spec.name,
                    rb.spec.version,
                    rb.spec.effective,
                    rb.yaml_text,
                    rb.catalogue_name,
                    rb.catalogue_bytes,
                    utc_now(),
                ],
            )
            record_registries(store, ("institutions", "parameters"))
            record_compiled(store, rb.hash)
            keep_spec(store, rb.hash, rb.spec)
    finally:
        for name in ("new_institutions", "new_params", "new_categories"):
            con.unregister(name)


def compile_tables(store: Store, rb: Rulebook, registered: bool = False) -> None:
    """Compile ``rb`` into the temp tables ``compiled_parameters``, ``compiled_institutions``
    and ``compiled_permissions`` (the rows of ``rulebook_parameters``, ``_institutions``
    and ``_permissions`` for it), by the registry ids its codes have.

    ``registered``: the relations ``new_params``, ``new_institutions`` and
    ``new_categories`` are registered already (``install_rulebook``); else they are made
    here, and the registries must hold every code (``verify`` compiles a stored rulebook
    again to compare).
    """
    if not registered:
        import pyarrow as pa

        con = store.con
        con.register("new_institutions", _institutions_table(rb))
        con.register("new_params", _params_table(rb))
        con.register(
            "new_categories",
            pa.table(
                {"category": list(rb.category_ids), "category_id": list(rb.category_ids.values())}
            ),
        )
    try:
        for table in ("parameters", "institutions", "permissions"):
            store.run(
                f"CREATE OR REPLACE TEMP TABLE compiled_{table} AS "
                f"SELECT * FROM main.rulebook_{table} LIMIT 0"
            )
        store.run(
            """INSERT INTO temp.compiled_parameters BY NAME
            SELECT ? AS rulebook_hash, p.parameter_id, c.category_id,
                   n.* EXCLUDE (code, tags, institutions, ord)
            FROM new_params n JOIN parameters p ON p.code = n.code
            JOIN new_categories c ON c.category = n.category""",
            [rb.hash],
        )
        store.run(
            """INSERT INTO temp.compiled_institutions
            SELECT ?, i.institution_id, n.class
            FROM new_institutions n JOIN institutions i ON i.code = n.code""",
            [rb.hash],
        )
        store.run(
            """INSERT INTO temp.compiled_permissions
            SELECT ?, p.parameter_id, i.institution_id
            FROM (SELECT code, unnest(string_split(institutions, ';')) AS inst FROM new_params) n
            JOIN parameters p ON p.code = n.code JOIN institutions i ON i.code = n.inst""",
            [rb.hash],
        )
    finally:
        if not registered:
            for name in ("new_institutions", "new_params", "new_categories"):
                store.con.unregister(name)


def _institutions_table(rb: Rulebook) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "code": [i.code for i in rb.spec.institutions],
            "name": [i.name for i in rb.spec.institutions],
            "class": [i.class_.value for i in rb.spec.institutions],
            "ord": list(range(len(rb.spec.institutions))),
        }
    )


def _params_table(rb: Rulebook) -> pa.Table:
    import pyarrow as pa

    return rb.parameters.append_column("ord", pa.array(range(rb.parameters.num_rows), pa.int64()))


MAX_REASON = 2000
"""Characters of a backdating reason: a paragraph, not a file."""


def activate_rulebook(
    store: Store,
    rb: Rulebook,
    *,
    backdate: str | None = None,
    today: dt.date | None = None,
) -> bool:
    """Install ``rb`` as the version of the rulebook in force from its effective date.

    Versions coexist: a run as of a day takes the version in force on that day, and
    values each record by the version in force on the day of its fact (``in_force``).
    The activation is one ledger entry (kind ``rulebook``, day = the effective date,
    evidence = the content hash), so the ledger says which version was in force when,
    and a run sees either all of it or none.

    Once a version is installed, another may not take effect before ``today`` (default:
    today, UTC), which would value again what was already scored, unless ``backdate``
    gives the reason; the reason is stored in the entry (its ``act``).

    Returns False if ``rb`` already is the version from its effective date.

    Raises:
        LedgerError: a date in the past without a reason, or a bad reason.
    """
    from socialrating.model import utc_now

    today = today or utc_now().date()
    versions = timeline(store)
    if dict(versions).get(rb.effective_day) == rb.hash:
        return False
    reason = None if backdate is None else _reason(backdate)
    if versions and rb.spec.effective < today and reason is None:
        raise LedgerError(
            f"rulebook {rb.spec.name} {rb.spec.version} takes effect on {rb.spec.effective}, "
            f"before today ({today}): installing it would value again what was scored under "
            "the versions in force since. Give it a later effective date, or install it "
            "with --backdate REASON (the reason goes into the ledger)"
        )
    install_rulebook(store, rb)
    path = store.path
    if store.in_transaction:
        _UNKEPT.add(path)
    _ACTIVATING[path] = _ACTIVATING.get(path, 0) + 1
    try:
        _activate(store, rb, reason)
    finally:  # committed or rolled back: the timeline is read again
        _ACTIVATIONS[path] = _ACTIVATIONS.get(path, 0) + 1
        _ACTIVATING[path] -= 1
    return True


def _activate(store: Store, rb: Rulebook, reason: str | None) -> None:
    from socialrating.ledger.append import append_rows
    from socialrating.model import utc_now

    with store.transaction():
        store.run(
            f"""CREATE OR REPLACE TEMP TABLE activation AS
            SELECT 0 AS line, {int(EntryKind.RULEBOOK)} AS kind, NULL::INTEGER AS parameter_id,
                   NULL::BIGINT AS subject_id, ? AS day, NULL::DOUBLE AS quantity,
                   NULL::SMALLINT AS severity, NULL::DOUBLE AS confidence,
                   NULL::BIGINT AS counterpart_id, ? AS evidence, NULL::BIGINT AS refers_to,
                   ?::VARCHAR AS act, NULL::VARCHAR AS level,
                   ? AS idem_key""",
            [rb.effective_day, rb.hash, reason, f"rulebook:{rb.hash}:{utc_now().isoformat()}"],
        )
        append_rows(store, "activation", None, f"rulebook {rb.spec.name} {rb.spec.version}")


def _reason(text: str) -> str:
    said = text.strip()
    if not said:
        raise LedgerError(
            "the reason for backdating is empty: say why the rulebook applies to the past"
        )
    if len(said) > MAX_REASON:
        raise LedgerError(
            f"the reason for backdating has {len(said):,} characters: at most {MAX_REASON:,}"
        )
    if any(ord(c) < 32 and c not in "\n\t" for c in said):
        raise LedgerError("the reason for backdating holds a control character")
    return said


def timeline(store: Store, upto_entry: int | None = None) -> list[tuple[int, str]]:
    """The versions of the rulebook: (effective day, content hash), by day.

    Each activation entry (up to entry ``upto_entry``, when given: what a run that saw
    the ledger up to it saw) puts its version in force from its day; of several for one
    day, the latest counts.
    """
    # Every batch an institution sends asks for it: kept while this process holds the
    # database for writing (no other process can write it meanwhile), until it activates
    # a version itself; not what a transaction reads (it may be rolled back), nor while an
    # activation is under way.
    path = store.path
    key = (path, openings(path), _ACTIVATIONS.get(path, 0))
    kept = (
        upto_entry is None
        and not store.read_only
        and not store.in_transaction
        and path != ":memory:"
        and path not in _UNKEPT
    )
    if kept and not _ACTIVATING.get(path) and key in _TIMELINES:
        return list(_TIMELINES[key])
    upto = "" if upto_entry is None else f" AND entry_id <= {int(upto_entry)}"
    by_day: dict[int, str] = {}
    for day, rulebook_hash in store.rows(
        f"SELECT day, evidence FROM entries WHERE kind = ?{upto} ORDER BY entry_id",
        [int(EntryKind.RULEBOOK)],
    ):
        by_day[int(day)] = str(rulebook_hash)
    versions = sorted(by_day.items())
    # Kept only if no activation began meanwhile (it would count one more).
    same = key == (path, openings(path), _ACTIVATIONS.get(path, 0))
    if kept and same and not _ACTIVATING.get(path):
        for old in [k for k in _TIMELINES if k[0] == path]:
            _TIMELINES.pop(old, None)  # another thread may have
        _TIMELINES[key] = versions
    return list(versions)


_TIMELINES: dict[tuple[str, int, int], list[tuple[int, str]]] = {}
"""Per database path, opening and count of activations: its ``timeline`` (a scan of the
whole ledger's entry kinds: 1 ms a million entries, for every batch)."""
_ACTIVATIONS: dict[str, int] = {}
"""Per database path, how many activations this process has finished (committed or
rolled back): each one makes the timeline be read again."""
_ACTIVATING: dict[str, int] = {}
"""Per database path, how many activations are under way (the timeline is not kept)."""
_UNKEPT: set[str] = set()
"""Databases whose timeline this process no longer keeps: an activation there was part of
a larger transaction, which commits when this module does not see it."""


def in_force(store: Store, day: int | dt.date, upto_entry: int | None = None) -> RulebookHeader:
    """The version of the rulebook in force on ``day``, with the versions before it (its
    ``earlier``), by which a run as of ``day`` values the records of their days.

    Before the first version's effective date, the first version (no record counts).
    ``upto_entry``: as the ledger stood at that entry (a run's ``last_entry``).

    Raises:
        NotInitialised: no rulebook has been activated.
    """
    from socialrating.model import day_number

    day = day if isinstance(day, int) else day_number(day)
    versions = timeline(store, upto_entry)
    if not versions:
        raise NotInitialised("no rulebook is active: run `socialrating init --rulebook FILE`")
    k = version_on(versions, day)
    return with_earlier(store, stored_rulebook(store, versions[k][1]), versions, k)


def run_rulebook(store: Store, run_id: int) -> RulebookHeader:
    """The rulebook run ``run_id`` scored by, with the versions before it that valued older
    records, as the ledger held them at the run's last entry (a version installed since,
    even one backdated to before the run, is not the run's); a rulebook given to the run
    (``score_run(rulebook=…)``) stands alone.

    Raises:
        NoSnapshot: no such run.
    """
    from socialrating.errors import NoSnapshot

    row = store.one("SELECT rulebook_hash, as_of, last_entry FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise NoSnapshot(f"no scoring run {run_id}")
    rb = in_force(store, row[1], int(row[2]))
    return rb if rb.hash == row[0] else stored_rulebook(store, str(row[0]))


def version_on(versions: list[tuple[int, str]], day: int) -> int:
    """The position in ``versions`` (a ``timeline``) of the version in force on ``day``:
    the last to take effect by then; before the first, the first."""
    return max((i for i, (start, _) in enumerate(versions) if start <= day), default=0)


Header = TypeVar("Header", bound=RulebookHeader)


def with_earlier(store: Store, head: Header, versions: list[tuple[int, str]], k: int) -> Header:
    """``head``, the version at position ``k`` of ``versions``, with the versions before
    it and the days each was in force (its ``earlier``)."""
    from socialrating.rulebook.rulebook import Period

    earlier = tuple(
        Period(stored_rulebook(store, h), start, versions[i + 1][0])
        for i, (start, h) in enumerate(versions[:k])
    )
    return replace(head, earlier=earlier) if earlier else head


def active_hash(store: Store) -> str | None:
    """The content hash of the version in force today (UTC), or None if none was activated.

    Institutions send records, and keys are checked, by its codes."""
    from socialrating.model import day_number, utc_now

    versions = timeline(store)
    if not versions:
        return None
    return versions[version_on(versions, day_number(utc_now().date()))][1]


_HEADERS: dict[str, RulebookHeader] = {}


def stored_rulebook(store: Store, rulebook_hash: str) -> RulebookHeader:
    """The spec and hash of a stored rulebook, by its hash or a unique prefix of it.

    Its parameter table stays in the database, where the scoring plan joins it. A stored
    rulebook never changes (its hash is its content), so it is parsed once per process.
    """
    if rulebook_hash in _HEADERS:  # a full hash, parsed before: no query
        return _HEADERS[rulebook_hash]
    rows = store.rows(
        "SELECT hash FROM rulebooks WHERE starts_with(hash, ?) LIMIT 2", [rulebook_hash]
    )
    if len(rows) != 1:
        found = "no" if not rows else "more than one"
        raise LedgerError(f"{found} stored rulebook has a hash starting {rulebook_hash!r}")
    full_hash = rows[0][0]
    if full_hash not in _HEADERS:
        _HEADERS[full_hash] = RulebookHeader(spec=_stored_spec(store, full_hash), hash=full_hash)
    return _HEADERS[full_hash]


def spec_key(rulebook_hash: str) -> str:
    """The ``plan_cache`` key of a stored rulebook's validated spec, as JSON: by rulebook
    and version of the schema (``spec_version``). The third part names what is cached,
    as for a plan."""
    return f"{rulebook_hash}|-|spec|{spec_version()}"


@functools.cache
def spec_version() -> str:
    """A digest of the rulebook schema's source and of the module its types come from: a
    spec kept by another schema is not read."""
    import hashlib
    from pathlib import Path

    import socialrating.model as model
    import socialrating.rulebook.schema as schema

    h = hashlib.sha256()
    for module in (schema, model):
        h.update(Path(str(module.__file__)).read_bytes())
    return h.hexdigest()[:16]


def spec_from_text(text: str) -> RulebookSpec:
    """A stored rulebook's spec, from its YAML text."""
    import yaml  # only here: a process that reads a kept spec never imports it

    return RulebookSpec.model_validate(
        yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    )


def _stored_spec(store: Store, rulebook_hash: str) -> RulebookSpec:
    """A stored rulebook's spec, once its text is proved to hash to the rulebook's hash:
    from its JSON kept in ``plan_cache`` (validating it takes milliseconds, where the
    seed's YAML takes about 80 ms to parse), once that is proved to be what the ledger
    recorded of it; else from its text, and then kept (unless the store is read-only or
    in a transaction).

    Raises:
        IntegrityError: the kept JSON or the text was edited.
    """
    from pydantic import ValidationError

    from socialrating.ledger.integrity import trusted_cached

    text = _checked_text(store, rulebook_hash)  # a rulebook edited is refused either way
    key = spec_key(rulebook_hash)
    cached = store.has_table("plan_cache")
    kept = store.one("SELECT sql FROM plan_cache WHERE key = ?", [key]) if cached else None
    if kept is not None:
        what = f"the kept spec of rulebook {rulebook_hash[:12]}"
        try:
            return RulebookSpec.model_validate_json(trusted_cached(store, key, str(kept[0]), what))
        except ValidationError:  # kept by a schema this one no longer reads: the text
            return spec_from_text(text)
    spec = spec_from_text(text)
    if not store.read_only and not store.in_transaction:
        keep_spec(store, rulebook_hash, spec)
    return spec


def kept_spec_differs(store: Store, rulebook_hash: str, kept: str) -> bool:
    """Whether a kept spec (JSON) is not what the stored rulebook's text says (``verify``:
    compared as specs, so that another pydantic's JSON of the same spec is no difference)."""
    import yaml
    from pydantic import ValidationError

    text = store.scalar("SELECT yaml_text FROM rulebooks WHERE hash = ?", [rulebook_hash])
    try:
        return text is None or RulebookSpec.model_validate_json(kept) != spec_from_text(text)
    except (ValidationError, yaml.YAMLError):
        return True


def keep_spec(store: Store, rulebook_hash: str, spec: RulebookSpec) -> None:
    """Keep a stored rulebook's validated spec as JSON in ``plan_cache``, with the digest
    the ledger records of it (a later process reads it instead of parsing the YAML)."""
    from socialrating.ledger.integrity import record_plan

    key = spec_key(rulebook_hash)
    with store.transaction():
        store.run(PLAN_CACHE_DDL)
        if store.scalar("SELECT count(*) FROM plan_cache WHERE key = ?", [key]):
            return
        text = spec.model_dump_json()
        store.run("INSERT INTO plan_cache VALUES (?, ?)", [key, text])
        record_plan(store, key, text)


def stored_hash(text: object, catalogue_name: str | None, catalogue_bytes: object) -> str:
    """The content hash of a stored rulebook's text and catalogue (a ``rulebooks`` row's
    ``yaml_text``, ``catalogue_name`` and ``catalogue_bytes``)."""
    from socialrating.rulebook.rulebook import content_hash

    return content_hash(str(text).encode(), catalogue_name, bytes(catalogue_bytes or b""))  # type: ignore[call-overload]


def _checked_text(store: Store, rulebook_hash: str) -> str:
    """A stored rulebook's text, once its text and catalogue are proved to hash to its hash.

    Raises:
        IntegrityError: they do not (the database was edited).
    """
    from socialrating.ledger.integrity import EDITED, IntegrityError

    text, cat_name, cat_bytes = store.one(
        "SELECT yaml_text, catalogue_name, catalogue_bytes FROM rulebooks WHERE hash = ?",
        [rulebook_hash],
    ) or (None, None, None)
    if text is None or stored_hash(text, cat_name, cat_bytes) != rulebook_hash:
        raise IntegrityError(
            f"stored rulebook {rulebook_hash[:12]} no longer hashes to its hash: {EDITED}"
        )
    return str(text)


def active_rulebook(store: Store) -> RulebookHeader:
    """The active rulebook.

    Raises:
        NotInitialised: no rulebook has been activated.
    """
    h = active_hash(store)
    if h is None:
        raise NotInitialised("no rulebook is active: run `socialrating init --rulebook FILE`")
    return stored_rulebook(store, h)


def stored_rulebook_full(store: Store, rulebook_hash: str) -> Rulebook:
    """A stored rulebook with its catalogue, loaded and validated again from its stored files."""
    from socialrating.rulebook.loader import load_rulebook_from_bytes

    row = store.one(
        "SELECT name, yaml_text, catalogue_name, catalogue_bytes FROM rulebooks WHERE hash = ?",
        [rulebook_hash],
    )
    if row is None:
        raise LedgerError(f"no stored rulebook with hash {rulebook_hash!r}")
    name, text, cat_name, cat_bytes = row
    return load_rulebook_from_bytes(
        f"{name}.yaml", text.encode(), cat_name, bytes(cat_bytes or b"")
    )


def list_rulebooks(store: Store) -> list[dict[str, Any]]:
    """Every stored rulebook, latest installed first: hash, name, version, effective date,
    when it was installed, the days it is in force (``in_force_from`` and, once a later
    version took over, ``in_force_until``, the day before it did), whether it is the
    version in force today (``active``), and how many runs scored by it."""
    from socialrating.model import day_date

    active = active_hash(store)
    versions = timeline(store)
    periods = {
        h: (start, versions[i + 1][0] if i + 1 < len(versions) else None)
        for i, (start, h) in enumerate(versions)
    }
    found = []
    for h, name, version, effective, installed, runs in store.rows(
        """SELECT b.hash, b.name, b.version, b.effective, b.installed_at,
                  (SELECT count(*) FROM runs r WHERE r.rulebook_hash = b.hash)
           FROM rulebooks b ORDER BY b.installed_at DESC, b.hash"""
    ):
        start, end = periods.get(h, (None, None))
        found.append(
            {
                "hash": str(h),
                "name": str(name),
                "version": str(version),
                "effective": effective.isoformat() if effective else None,
                "installed_at": f"{installed:%Y-%m-%d %H:%M:%S}" if installed else None,
                "in_force_from": None if start is None else day_date(start).isoformat(),
                "in_force_until": None if end is None else day_date(end - 1).isoformat(),
                "active": h == active,
                "runs": int(runs),
            }
        )
    return found


def rulebook_by_reference(store: Store, reference: str) -> Rulebook:
    """A stored rulebook, whole, by a unique prefix of its hash, or ``active``.

    Raises:
        LedgerError: no stored rulebook (or more than one) has a hash starting so.
        NotInitialised: ``active``, and no rulebook was activated.
    """
    if reference == "active":
        return stored_rulebook_full(store, active_rulebook(store).hash)
    return stored_rulebook_full(store, stored_rulebook(store, reference).hash)

"""Read and edit an organization's catalogs (categories, skills, customer types, work-order types).

Everyone reads them; administrators add, rename, retire, restore and reorder entries
(enforced by row-level security too, migration 0008). Rows refer to an entry by its key,
so a rename shows everywhere at once; nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain.catalogs import CATALOGS, Catalog, key_for, key_problem, name_problem
from desk_desktop.services.common import Actor, DeskError, NotFound, PermissionDenied, ValidationFailed, audit


class CatalogNameTaken(ValidationFailed):
    pass


@dataclass(frozen=True)
class Entry:
    key: str
    name: str
    active: bool
    position: int


@dataclass(frozen=True)
class Catalogs:
    """All four catalogs of one organization, as read at one moment (for forms and lists)."""

    entries: dict[str, tuple[Entry, ...]]  # catalog word → entries in order, retired ones too

    def choices(self, catalog: Catalog, *, keep: Iterable[str] = ()) -> tuple[Entry, ...]:
        """The entries offered for a new choice: the active ones, plus any of ``keep`` (what
        an existing record already uses, so editing it does not lose a retired entry)."""
        kept = set(keep)
        return tuple(e for e in self.entries[catalog.word] if e.active or e.key in kept)

    def name(self, catalog: Catalog, key: str) -> str:
        """The display name of ``key`` (the key itself if the catalog does not have it)."""
        for e in self.entries[catalog.word]:
            if e.key == key:
                return e.name
        return key

    def names(self, catalog: Catalog, keys: Iterable[str]) -> list[str]:
        return [self.name(catalog, k) for k in keys]

    def keys(self, catalog: Catalog) -> set[str]:
        return {e.key for e in self.entries[catalog.word]}


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only an administrator can change catalogs.")


def _read(uow: UnitOfWork, catalog: Catalog, org: int) -> tuple[Entry, ...]:
    rows = sql.rows(uow, f"SELECT key, name, active, position FROM {catalog.table} "
                         "WHERE organization_id = :org ORDER BY position, lower(name), key", {"org": org})
    return tuple(Entry(r.key, r.name, r.active, r.position) for r in rows)


def list_entries(*, uow: UnitOfWork, actor: Actor, catalog: Catalog) -> tuple[Entry, ...]:
    """The catalog's entries in order, retired ones included."""
    with uow:
        entries = _read(uow, catalog, actor.organization_id)
        uow.commit()
    return entries


def load_catalogs(*, uow: UnitOfWork, actor: Actor) -> Catalogs:
    """All four catalogs in one transaction."""
    with uow:
        entries = {c.word: _read(uow, c, actor.organization_id) for c in CATALOGS.values()}
        uow.commit()
    return Catalogs(entries)


def _taken(catalog: Catalog, name: str) -> CatalogNameTaken:
    return CatalogNameTaken(f"There is already a {catalog.singular} called '{name}' "
                            "(names are unique, whatever their case).", field="name")


def _entry(uow: UnitOfWork, catalog: Catalog, org: int, key: str, *, lock: bool = False) -> Entry:
    row = sql.one_or_none(uow, f"SELECT key, name, active, position FROM {catalog.table} "
                               f"WHERE organization_id = :org AND key = :key{' FOR UPDATE' if lock else ''}",
                          {"org": org, "key": key})
    if row is None:
        raise NotFound(f"There is no {catalog.singular} '{key}'. See: desk-desktop catalog list {catalog.word}")
    return Entry(row.key, row.name, row.active, row.position)


def resolve_key(entries: Iterable[Entry], text: str) -> str | None:
    """The key of the entry ``text`` names: its key, or its name without regard to case."""
    wanted = text.strip()
    for e in entries:
        if e.key == wanted or e.name.lower() == wanted.lower():
            return e.key
    return None


def add_entry(*, uow: UnitOfWork, actor: Actor, catalog: Catalog, name: str, key: str | None = None) -> Entry:
    """Add an entry at the end of the catalog. Its key is made from the name unless given."""
    _require_admin(actor)
    name = name.strip()
    problem = name_problem(catalog, name)
    if problem:
        raise ValidationFailed(problem, field="name")
    key = (key or key_for(name)).strip()
    problem = key_problem(catalog, key)
    if problem:
        raise ValidationFailed(problem, field="key")
    org = actor.organization_id
    with uow:
        row = sql.one(uow, f"""
            INSERT INTO {catalog.table} (organization_id, key, name, position)
            SELECT :org, :key, :name, coalesce(max(position), 0) + 1 FROM {catalog.table} WHERE organization_id = :org
            RETURNING key, name, active, position""", {"org": org, "key": key, "name": name},
            violations={f"pk_{catalog.table}": lambda: ValidationFailed(
                            f"There is already a {catalog.singular} with the key '{key}'.", field="key"),
                        f"uq_{catalog.table}_name": lambda: _taken(catalog, name)})
        audit(uow, actor=actor, action="catalog.added", entity="catalog", entity_id=None,
              summary=f"{catalog.singular.capitalize()} '{name}' added",
              details={"catalog": catalog.word, "key": key, "name": name})
        uow.record_change("catalog", None, org, "updated")
        uow.commit()
    return Entry(row.key, row.name, row.active, row.position)


def rename_entry(*, uow: UnitOfWork, actor: Actor, catalog: Catalog, key: str, name: str) -> Entry:
    """Give an entry a new display name; every record using it shows the new name at once."""
    _require_admin(actor)
    name = name.strip()
    problem = name_problem(catalog, name)
    if problem:
        raise ValidationFailed(problem, field="name")
    org = actor.organization_id
    with uow:
        old = _entry(uow, catalog, org, key, lock=True)
        sql.execute(uow, f"UPDATE {catalog.table} SET name = :name WHERE organization_id = :org AND key = :key",
                    {"org": org, "key": key, "name": name},
                    violations={f"uq_{catalog.table}_name": lambda: _taken(catalog, name)})
        audit(uow, actor=actor, action="catalog.renamed", entity="catalog", entity_id=None,
              summary=f"{catalog.singular.capitalize()} '{old.name}' renamed to '{name}'",
              details={"catalog": catalog.word, "key": key, "from": old.name, "to": name})
        uow.record_change("catalog", None, org, "updated")
        uow.commit()
    return Entry(key, name, old.active, old.position)


def set_active(*, uow: UnitOfWork, actor: Actor, catalog: Catalog, key: str, active: bool) -> Entry:
    """Retire an entry (``active=False``: no longer offered, kept on the records that use it)
    or bring it back."""
    _require_admin(actor)
    org = actor.organization_id
    with uow:
        old = _entry(uow, catalog, org, key, lock=True)
        if old.active != active:
            sql.execute(uow, f"UPDATE {catalog.table} SET active = :active WHERE organization_id = :org AND key = :key",
                        {"org": org, "key": key, "active": active})
            word = "restored" if active else "retired"
            audit(uow, actor=actor, action=f"catalog.{word}", entity="catalog", entity_id=None,
                  summary=f"{catalog.singular.capitalize()} '{old.name}' {word}",
                  details={"catalog": catalog.word, "key": key})
            uow.record_change("catalog", None, org, "updated")
        uow.commit()
    return Entry(old.key, old.name, active, old.position)


def reorder(*, uow: UnitOfWork, actor: Actor, catalog: Catalog, keys: list[str]) -> None:
    """Put the entries in the order of ``keys`` (every key of the catalog, once)."""
    _require_admin(actor)
    org = actor.organization_id
    with uow:
        known = {e.key for e in _read(uow, catalog, org)}
        if sorted(keys) != sorted(known):
            raise DeskError(f"The new order must list every {catalog.singular} once; the list changed meanwhile. "
                            "Reload and try again.")
        sql.execute(uow, f"UPDATE {catalog.table} SET position = :position WHERE organization_id = :org AND key = :key",
                    [{"org": org, "key": k, "position": i} for i, k in enumerate(keys, start=1)])
        audit(uow, actor=actor, action="catalog.reordered", entity="catalog", entity_id=None,
              summary=f"{catalog.plural.capitalize()} reordered", details={"catalog": catalog.word, "keys": keys})
        uow.record_change("catalog", None, org, "updated")
        uow.commit()

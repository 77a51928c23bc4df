"""The four catalogs an organization words its own way: which they are, and what a valid entry is.

Ticket categories, skills, customer types and work-order types are data per organization
(migration 0008). Each entry has a ``key`` that rows refer to and that never changes, a
display ``name`` (unique in its catalog, without regard to case), an ``active`` flag (a
retired entry stays on old records and leaves the choices) and a ``position``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_NAME_LENGTH = 80
MAX_KEY_LENGTH = 40
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class Catalog:
    word: str  # as typed on the command line: desk-desktop catalog list skills
    table: str
    singular: str
    plural: str


CATEGORIES = Catalog("categories", "ticket_categories", "category", "categories")
SKILLS = Catalog("skills", "skills", "skill", "skills")
CUSTOMER_TYPES = Catalog("customer-types", "customer_types", "customer type", "customer types")
WORK_ORDER_TYPES = Catalog("work-order-types", "work_order_types", "work-order type", "work-order types")

CATALOGS: dict[str, Catalog] = {c.word: c for c in (CATEGORIES, SKILLS, CUSTOMER_TYPES, WORK_ORDER_TYPES)}


def catalog_named(word: str) -> Catalog:
    """The catalog a command-line word names (``ValueError`` with the known words if none)."""
    try:
        return CATALOGS[word.strip().lower()]
    except KeyError:
        raise ValueError(f"There is no catalog '{word}'. Catalogs: {', '.join(CATALOGS)}.") from None


def key_for(name: str) -> str:
    """The key a new entry called ``name`` gets: ASCII letters and digits joined by ``_``
    ("Technical Support" → ``technical_support``, "Électricité" → ``electricite``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return key[:MAX_KEY_LENGTH].rstrip("_")


def name_problem(catalog: Catalog, name: str) -> str | None:
    """Why ``name`` cannot name an entry (None: it can). Uniqueness is the database's check."""
    name = name.strip()
    if not name:
        return f"Give the {catalog.singular} a name."
    if len(name) > MAX_NAME_LENGTH:
        return f"The name is too long (at most {MAX_NAME_LENGTH} characters)."
    return None


def key_problem(catalog: Catalog, key: str) -> str | None:
    """Why ``key`` cannot be a key (None: it can)."""
    if not key:
        return (f"The {catalog.singular} needs a key with at least one letter or digit: "
                "give one with --key (lower-case letters, digits and _).")
    if len(key) > MAX_KEY_LENGTH or not KEY_PATTERN.match(key):
        return (f"'{key}' cannot be a key: use lower-case letters, digits and _ "
                f"(at most {MAX_KEY_LENGTH}), starting with a letter or digit.")
    return None

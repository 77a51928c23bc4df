"""Catalogs are the organization's own words: renames show everywhere, retired entries stay
readable, names are unique, only administrators change them (service, CLI, raw SQL), and one
organization never sees another's. Connected AS real dispatcher login roles where it matters."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.domain.catalogs import CATEGORIES, SKILLS, WORK_ORDER_TYPES
from desk_desktop.services import admin, rules, tickets, workorders
from desk_desktop.services.catalogs import (
    CatalogNameTaken,
    add_entry,
    list_entries,
    load_catalogs,
    rename_entry,
    resolve_key,
    set_active,
)
from desk_desktop.services.common import PermissionDenied, ValidationFailed
from desk_desktop.services.rules import RuleDraft, RuleInvalid
from desk_desktop.services.session_info import current_actor, dispatcher_url
from tests.integration.workorder_helpers import add_customer


class Org:
    """One organization with an administrator (ann) and a plain dispatcher (alice)."""

    def __init__(self, test_server, url: str, tag: str) -> None:
        self.url = url
        self.admin_engine = make_engine(url)
        self.admin_uows = UnitOfWorkFactory(self.admin_engine)
        self.slug = f"{tag}-{uuid.uuid4().hex[:6]}"
        admin.add_organization(uow=self.admin_uows(), slug=self.slug, name=f"Org {tag}")
        self.logins = {who: f"t_{who}_{uuid.uuid4().hex[:8]}" for who in ("ann", "alice")}
        admin.add_dispatcher(uow=self.admin_uows(), org_slug=self.slug, login=self.logins["ann"],
                             display_name="Ann", is_admin=True)
        admin.add_dispatcher(uow=self.admin_uows(), org_slug=self.slug, login=self.logins["alice"],
                             display_name="Alice")
        self.engines = {who: make_engine(dispatcher_url(url, login), pool_size=2) for who, login in self.logins.items()}
        self.ann = current_actor(uow=self.uows("ann")())
        self.alice = current_actor(uow=self.uows("alice")())

    def uows(self, who: str) -> UnitOfWorkFactory:
        return UnitOfWorkFactory(self.engines[who])

    def url_of(self, who: str) -> str:
        return dispatcher_url(self.url, self.logins[who])

    def close(self) -> list[str]:
        for e in self.engines.values():
            e.dispose()
        self.admin_engine.dispose()
        return list(self.logins.values())


@pytest.fixture(scope="module")
def database(test_server):
    url = test_server.create_database("desk_catalogs")
    orgs: list[Org] = []
    try:
        yield url, lambda tag: orgs.append(Org(test_server, url, tag)) or orgs[-1]
    finally:
        roles = [r for o in orgs for r in o.close()]
        test_server.drop_database(url)
        if roles:
            test_server._admin("; ".join(f'DROP ROLE IF EXISTS "{r}"' for r in roles))


@pytest.fixture
def org(database):
    return database[1]("north")


def cli(capsys, url, *argv):
    code = main([*argv, "--json", "--database-url", url])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _ticket(org: Org, category: str) -> str:
    uows = org.uows("ann")
    cust = add_customer(uows(), org.ann, customer_type="business")
    with uows() as uow:
        ref = uow.session.execute(text("SELECT ref FROM customers WHERE id = :i"), {"i": cust}).scalar_one()
    return tickets.create_ticket(uow=uows(), actor=org.ann, subject="Router down", category=category,
                                 priority="high", customer_ref=ref).ticket.number


def test_renaming_a_category_shows_in_the_rule_and_the_ticket(org):
    uows = org.uows("ann")
    rule = rules.create_rule(uow=uows(), actor=org.ann, draft=RuleDraft(name="Heat", trigger_categories=("hvac",)))
    number = _ticket(org, "HVAC")  # a name works as well as a key
    rename_entry(uow=uows(), actor=org.ann, catalog=CATEGORIES, key="hvac", name="Heating & Cooling")
    assert rules.get_rule_or_raise(uow=uows(), actor=org.ann, rule_id=rule.id).trigger_summary == \
        "category Heating & Cooling"
    detail = tickets.get_ticket_or_raise(uow=uows(), actor=org.ann, number=number)
    assert detail.category == "hvac"  # rows keep the key …
    assert load_catalogs(uow=uows(), actor=org.ann).name(CATEGORIES, detail.category) == "Heating & Cooling"
    # … so the new name is accepted at once for new tickets, and the old one is not.
    _ticket(org, "heating & cooling")
    with pytest.raises(tickets.TicketInvalid, match="Unknown category 'HVAC'; choose one of: Heating & Cooling"):
        _ticket(org, "HVAC")


def test_the_seeds_example_rule_can_be_entered_and_unknown_keys_name_their_catalog(org, capsys):
    url = org.url_of("ann")
    for word, name in (("categories", "Technical Support"), ("categories", "Installation"),
                       ("skills", "Hardware")):
        code, data, err = cli(capsys, url, "catalog", "add", word, name)
        assert code == 0, err
    assert data["entry"] == {"key": "hardware", "name": "Hardware", "active": True, "position": 13}
    cats = load_catalogs(uow=org.uows("ann")(), actor=org.ann)
    keys = [resolve_key(cats.entries["categories"], n) for n in ("technical support", "INSTALLATION")]
    draft = RuleDraft(name="Example", trigger_categories=tuple(keys), required_skills=("networking", "hardware"),
                      auto_assign=True, assignment_logic="skill_match")
    view = rules.create_rule(uow=org.uows("ann")(), actor=org.ann, draft=draft)
    assert view.trigger_summary == "category Technical Support or Installation"
    assert "needing Networking, Hardware" in view.template_summary
    with pytest.raises(RuleInvalid) as err:
        rules.create_rule(uow=org.uows("ann")(), actor=org.ann,
                          draft=RuleDraft(name="Bad", trigger_categories=("gardening",), wo_type="demolition"))
    messages = {p.field: p.message for p in err.value.problems}
    assert messages["trigger_categories"].startswith("Unknown category: gardening — not in the organization's categories")
    assert "Unknown work-order type: demolition" in messages["wo_type"]


def test_a_retired_skill_stays_readable_on_old_records_and_leaves_the_choices(org):
    uows = org.uows("ann")
    rule = rules.create_rule(uow=uows(), actor=org.ann, draft=RuleDraft(
        name="Gas leaks", trigger_categories=("plumbing",), required_skills=("gas",), wo_type="emergency"))
    number = _ticket(org, "plumbing")  # the rule gives it a work order needing gas
    order = workorders.create_work_order(uow=uows(), actor=org.ann, work_type="Repair", priority="high",
                                         required_skills=["Gas"])  # by name
    set_active(uow=uows(), actor=org.ann, catalog=SKILLS, key="gas", active=False)
    cats = load_catalogs(uow=uows(), actor=org.ann)
    assert "gas" not in {e.key for e in cats.choices(SKILLS)}
    assert [e.name for e in cats.choices(SKILLS, keep=["gas"]) if e.key == "gas"] == ["Gas"]
    view = rules.get_rule_or_raise(uow=uows(), actor=org.ann, rule_id=rule.id)
    assert view.required_skills == ("gas",) and "needs Gas" in view.template_summary
    detail = tickets.get_ticket_or_raise(uow=uows(), actor=org.ann, number=number)
    assert detail.work_order.work_type == "emergency"
    with uows() as uow:
        assert uow.session.execute(text("SELECT required_skills FROM work_orders WHERE id = :i"),
                                   {"i": order.work_order_id}).scalar_one() == ["gas"]
        assert uow.session.execute(text("SELECT required_skills FROM work_orders w JOIN tickets t "
                                        "ON t.id = w.source_ticket_id WHERE t.number = :n"),
                                   {"n": number}).scalar_one() == ["gas"]
    # The rule can still be saved with the skill it already has; a new work order cannot pick it.
    rules.update_rule(uow=uows(), actor=org.ann, rule_id=rule.id, draft=view.to_draft())
    with pytest.raises(ValidationFailed, match="Unknown skill: gas — not among the organization's active skills"):
        workorders.create_work_order(uow=uows(), actor=org.ann, work_type="repair", priority="low",
                                     required_skills=["gas"])
    # … nor a new rule, nor an existing rule that did not have it.
    with pytest.raises(RuleInvalid, match=r"Retired skill: Gas — choose an active one"):
        rules.create_rule(uow=uows(), actor=org.ann, draft=RuleDraft(name="More gas", required_skills=("gas",)))
    other = rules.create_rule(uow=uows(), actor=org.ann, draft=RuleDraft(name="Water", required_skills=("plumbing",)))
    with pytest.raises(RuleInvalid, match=r"Retired skill: Gas"):
        rules.update_rule(uow=uows(), actor=org.ann, rule_id=other.id,
                          draft=replace(other.to_draft(), required_skills=("plumbing", "gas")))
    assert cats.name(WORK_ORDER_TYPES, "emergency") == "Emergency"


def test_names_are_unique_without_regard_to_case(org, capsys):
    with pytest.raises(CatalogNameTaken, match="There is already a skill called 'solar '|called 'SOLAR'"):
        add_entry(uow=org.uows("ann")(), actor=org.ann, catalog=SKILLS, name="SOLAR", key="solar2")
    with pytest.raises(CatalogNameTaken):
        rename_entry(uow=org.uows("ann")(), actor=org.ann, catalog=SKILLS, key="gas", name="  hvac ")
    code, _, err = cli(capsys, org.url_of("ann"), "catalog", "rename", "skills", "gas", "Plumbing")
    assert code == 1 and "There is already a skill called 'Plumbing'" in err
    assert [e.name for e in list_entries(uow=org.uows("ann")(), actor=org.ann, catalog=SKILLS)][:3] == \
        ["HVAC", "Electrical", "Plumbing"]


def test_the_cli_lists_adds_renames_retires_and_restores(org, capsys):
    url = org.url_of("ann")
    code, data, err = cli(capsys, url, "catalog", "add", "work-order-types", "Site survey", "--key", "survey")
    assert code == 0, err
    code, data, err = cli(capsys, url, "catalog", "rename", "work-order-types", "SITE SURVEY", "Survey")
    assert code == 0 and data["entry"]["name"] == "Survey", err
    code, data, err = cli(capsys, url, "catalog", "retire", "work-order-types", "survey")
    assert code == 0 and data["entry"]["active"] is False, err
    code, data, _ = cli(capsys, url, "catalog", "list", "work-order-types")
    assert "survey" not in [e["key"] for e in data["entries"]]
    code, data, _ = cli(capsys, url, "catalog", "list", "work-order-types", "--all")
    assert data["entries"][-1] == {"key": "survey", "name": "Survey", "active": False, "position": 7}
    code, data, err = cli(capsys, url, "catalog", "restore", "work-order-types", "Survey")
    assert code == 0 and data["entry"]["active"] is True, err
    code, _, err = cli(capsys, url, "catalog", "list", "colours")
    assert code == 1 and "There is no catalog 'colours'. Catalogs: categories, skills" in err
    code, _, err = cli(capsys, url, "catalog", "retire", "skills", "teleportation")
    assert code == 1 and "There is no skill 'teleportation'" in err


def test_a_dispatcher_cannot_change_catalogs_through_the_service_the_cli_or_sql(org, capsys):
    uows = org.uows("alice")
    for call in (lambda: add_entry(uow=uows(), actor=org.alice, catalog=SKILLS, name="Roofing"),
                 lambda: rename_entry(uow=uows(), actor=org.alice, catalog=SKILLS, key="gas", name="Gas works"),
                 lambda: set_active(uow=uows(), actor=org.alice, catalog=SKILLS, key="gas", active=False)):
        with pytest.raises(PermissionDenied, match="Only an administrator can change catalogs"):
            call()
    url = org.url_of("alice")
    for argv in (("add", "skills", "Roofing"), ("rename", "skills", "gas", "Gas works"), ("retire", "skills", "Gas"),
                 ("restore", "skills", "gas")):
        code, _, err = cli(capsys, url, "catalog", *argv)
        assert code == 1 and "Only an administrator can change catalogs." in err, argv
    code, data, _ = cli(capsys, url, "catalog", "list", "skills")  # reading is for everybody
    assert code == 0 and len(data["entries"]) == 12
    o = org.alice.organization_id
    with org.engines["alice"].connect() as conn:
        for table in ("ticket_categories", "skills", "customer_types", "work_order_types"):
            with pytest.raises(DBAPIError) as info, conn.begin():
                conn.execute(text(f"INSERT INTO {table} (organization_id, key, name) VALUES (:o, 'x', 'X')"), {"o": o})
            assert info.value.orig.sqlstate == "42501", info.value.orig
            for statement in (f"UPDATE {table} SET name = name || '!', active = false",
                              f"DELETE FROM {table}"):
                with conn.begin():
                    try:
                        changed = conn.execute(text(statement)).rowcount
                    except DBAPIError as exc:
                        assert exc.orig.sqlstate == "42501", exc.orig
                        changed = 0
                    assert changed == 0, statement
    cats = load_catalogs(uow=org.uows("ann")(), actor=org.ann)
    assert all(e.active and not e.name.endswith("!") for entries in cats.entries.values() for e in entries)
    assert len(cats.entries["skills"]) == 12


def test_another_organizations_catalog_is_invisible(database, org):
    other = database[1]("south")
    add_entry(uow=org.uows("ann")(), actor=org.ann, catalog=CATEGORIES, name="Secret North Work")
    theirs = list_entries(uow=other.uows("ann")(), actor=other.ann, catalog=CATEGORIES)
    assert "Secret North Work" not in [e.name for e in theirs] and len(theirs) == 9
    with other.engines["alice"].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ticket_categories WHERE organization_id = :o"),
                            {"o": org.ann.organization_id}).scalar_one() == 0
    # Their admin cannot rename ours either: nothing of ours is even found.
    with pytest.raises(Exception, match="There is no category 'secret_north_work'"):
        rename_entry(uow=other.uows("ann")(), actor=other.ann, catalog=CATEGORIES, key="secret_north_work", name="Mine")

"""Technicians and customers through the people service: validation, catalogs, audit, tenancy."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.domain.catalogs import SKILLS
from desk_desktop.services import admin, catalogs, people
from desk_desktop.services.common import NotFound
from desk_desktop.services.people import CustomerData, PeopleInvalid, SiteData, TechnicianData
from desk_desktop.services.session_info import current_actor, dispatcher_url
from tests.conftest import acting_as

HOURS = {"mon": [("08:00", "12:00"), ("13:00", "17:00")], "tue": [("09:00", "17:00")]}


def _tech(**kw) -> TechnicianData:
    base = dict(name="Ada Lovelace", email="ada@example.com", phone="+49 30 1234", skills={"networking": 4, "hvac": 2},
                working_hours=HOURS, home_base=(52.52, 13.405), max_open_work_orders=5)
    return TechnicianData(**{**base, **kw})


def test_a_technician_is_added_read_back_and_audited(uow_factory, org):
    with acting_as(uow_factory, org):
        tid = people.add_technician(uow=uow_factory(), actor=org, data=_tech())
        got = people.get_technician(uow=uow_factory(), actor=org, technician_id=tid)
        rows = people.search_technicians(uow=uow_factory(), actor=org, text="ada")
        with uow_factory() as uow:
            db = uow.session.execute(text("SELECT weekly_hours, skill_levels, working_hours FROM technicians "
                                          "WHERE id = :i"), {"i": tid}).one()
            audit = uow.session.execute(text("SELECT action FROM audit_log WHERE entity = 'technician' "
                                             "AND entity_id = :i"), {"i": tid}).scalars().all()
    assert got.id == tid
    assert got.data.skills == {"networking": 4, "hvac": 2}
    assert got.data.working_hours == HOURS
    assert got.data.home_base == pytest.approx((52.52, 13.405))
    assert (got.data.name, got.data.email, got.data.max_open_work_orders) == ("Ada Lovelace", "ada@example.com", 5)
    assert db.weekly_hours == 16 and db.skill_levels == {"networking": 4, "hvac": 2}
    assert db.working_hours == {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]}
    assert audit == ["technician.created"]
    assert [(r.id, r.skills, r.open_jobs) for r in rows] == [(tid, ("networking", "hvac"), 0)]
    assert rows[0].today_hours in ("08:00–12:00, 13:00–17:00", "09:00–17:00", "off")


def test_every_problem_of_a_technician_form_is_reported_at_once(uow_factory, org):
    bad = _tech(name=" ", email="not-an-address", skills={"networking": 7, "juggling": 3},
                working_hours={"mon": [("08:00", "12:00"), ("11:00", "14:00")], "tue": [("17:00", "09:00")],
                               "wed": [("8am", "noon")]},
                home_base=(95.0, 13.0), max_open_work_orders=-1)
    with acting_as(uow_factory, org), pytest.raises(PeopleInvalid) as info:
        people.add_technician(uow=uow_factory(), actor=org, data=bad)
    p = info.value.problems
    assert set(p) == {"name", "email", "skills.networking", "skills.juggling", "hours.mon", "hours.tue",
                      "hours.wed", "home_base", "max_open_work_orders"}
    assert "overlap" in p["hours.mon"] and "before the end" in p["hours.tue"] and "HH:MM" in p["hours.wed"]
    assert "1 to 5" in p["skills.networking"] and "no skill 'juggling'" in p["skills.juggling"]
    assert "-90..90" in p["home_base"]
    assert str(info.value) == "; ".join(p.values())
    with acting_as(uow_factory, org):
        assert people.search_technicians(uow=uow_factory(), actor=org) == ()


def test_update_changes_fields_and_skills_and_keeps_a_retired_skill(uow_factory, org):
    with acting_as(uow_factory, org):
        tid = people.add_technician(uow=uow_factory(), actor=org, data=_tech(skills={"fiber": 3, "hvac": 2}))
        catalogs.set_active(uow=uow_factory(), actor=org, catalog=SKILLS, key="fiber", active=False)
        people.update_technician(uow=uow_factory(), actor=org, technician_id=tid,
                                 data=_tech(name="Ada King", skills={"fiber": 4, "networking": 1}, working_hours=None,
                                            home_base=None, active=False))
        got = people.get_technician(uow=uow_factory(), actor=org, technician_id=tid)
        with pytest.raises(PeopleInvalid, match="retired") as info:
            people.add_technician(uow=uow_factory(), actor=org, data=_tech(name="Newbie", skills={"fiber": 2}))
        active_only = people.search_technicians(uow=uow_factory(), actor=org, include_inactive=False)
        everyone = people.search_technicians(uow=uow_factory(), actor=org, text="fib")
    assert set(info.value.problems) == {"skills.fiber"}
    assert got.data == _tech(name="Ada King", skills={"fiber": 4, "networking": 1}, working_hours=None,
                             home_base=None, active=False)
    assert active_only == ()
    assert [(r.name, r.today_hours, r.active) for r in everyone] == [("Ada King", "not set", False)]


def test_unknown_ids_are_not_found(uow_factory, org):
    with acting_as(uow_factory, org):
        with pytest.raises(NotFound, match="technician 999999"):
            people.get_technician(uow=uow_factory(), actor=org, technician_id=999999)
        with pytest.raises(NotFound, match="customer 999999"):
            people.update_customer(uow=uow_factory(), actor=org, customer_id=999999,
                                   data=CustomerData(ref="X", name="X", customer_type="business"))


def _customer(**kw) -> CustomerData:
    base = dict(ref="C-100", name="Müller GmbH", customer_type="business", email="info@mueller.example",
                phone="030 555", sites=(SiteData("S-100", "Head office", "Hauptstr. 1, Berlin", (52.5, 13.4)),
                                        SiteData("S-101", "Depot", "Lagerweg 2, Potsdam")))
    return CustomerData(**{**base, **kw})


def test_a_customer_with_sites_is_added_searched_and_updated(uow_factory, org):
    with acting_as(uow_factory, org):
        cid = people.add_customer(uow=uow_factory(), actor=org, data=_customer())
        got = people.get_customer(uow=uow_factory(), actor=org, customer_id=cid)
        by_site = people.search_customers(uow=uow_factory(), actor=org, text="lagerWEG")
        head, depot = got.data.sites
        people.update_customer(uow=uow_factory(), actor=org, customer_id=cid, data=_customer(
            name="Müller AG", customer_type="enterprise",
            sites=(SiteData("S-100", "Head office", "Neue Str. 5, Berlin", (52.51, 13.41), id=head.id),
                   SiteData("S-102", "Shop", "Markt 1, Spandau"))))
        after = people.get_customer(uow=uow_factory(), actor=org, customer_id=cid)
        with uow_factory() as uow:
            audit = uow.session.execute(text("SELECT action FROM audit_log WHERE entity = 'customer' "
                                             "AND entity_id = :i ORDER BY id"), {"i": cid}).scalars().all()
    assert [(s.ref, s.name, s.location) for s in got.data.sites] == [("S-100", "Head office", pytest.approx((52.5, 13.4))),
                                                                     ("S-101", "Depot", None)]
    assert [(r.id, r.ref, r.sites) for r in by_site] == [(cid, "C-100", 2)]
    assert (after.data.name, after.data.customer_type) == ("Müller AG", "enterprise")
    # The depot was not listed: it is kept (tickets refer to sites), never deleted.
    assert [(s.ref, s.address) for s in after.data.sites] == [
        ("S-100", "Neue Str. 5, Berlin"), ("S-101", "Lagerweg 2, Potsdam"), ("S-102", "Markt 1, Spandau")]
    assert after.data.sites[0].id == head.id and after.data.sites[1].id == depot.id
    assert audit == ["customer.created", "customer.updated"]


def test_customer_problems_name_their_fields(uow_factory, org):
    with acting_as(uow_factory, org):
        people.add_customer(uow=uow_factory(), actor=org, data=_customer())
        with pytest.raises(PeopleInvalid) as info:
            people.add_customer(uow=uow_factory(), actor=org, data=_customer(
                customer_type="martian", email="x", sites=(SiteData("S-100", "Again", "Somewhere"),
                                                           SiteData("S-200", "", "Here", (10.0, 200.0)),
                                                           SiteData("S-200", "Twin", "There"))))
    p = info.value.problems
    assert set(p) == {"ref", "customer_type", "email", "sites[0].ref", "sites[1].name", "sites[1].location",
                      "sites[2].ref"}
    assert "C-100" in p["ref"] and "taken" in p["ref"]
    assert "S-100" in p["sites[0].ref"] and "taken" in p["sites[0].ref"]
    assert "twice" in p["sites[2].ref"] and "-180..180" in p["sites[1].location"]
    assert "no customer type 'martian'" in p["customer_type"]


def test_a_retired_customer_type_stays_on_its_customer_but_is_not_offered(uow_factory, org):
    from desk_desktop.domain.catalogs import CUSTOMER_TYPES

    with acting_as(uow_factory, org):
        cid = people.add_customer(uow=uow_factory(), actor=org, data=_customer(customer_type="government"))
        catalogs.set_active(uow=uow_factory(), actor=org, catalog=CUSTOMER_TYPES, key="government", active=False)
        people.update_customer(uow=uow_factory(), actor=org, customer_id=cid,
                               data=_customer(customer_type="government", name="Renamed", sites=()))
        with pytest.raises(PeopleInvalid, match="retired"):
            people.add_customer(uow=uow_factory(), actor=org, data=_customer(ref="C-2", customer_type="government",
                                                                             sites=()))
        assert people.get_customer(uow=uow_factory(), actor=org, customer_id=cid).data.name == "Renamed"


@pytest.fixture
def two_orgs(test_server):
    """A database with organizations A and B and a (non-admin) dispatcher login in each."""
    url = test_server.create_database("desk_people_rls")
    suffix = uuid.uuid4().hex[:8]
    engine = make_engine(url)
    uows = UnitOfWorkFactory(engine)
    a = admin.add_organization(uow=uows(), slug=f"pa-{suffix}", name="A")
    b = admin.add_organization(uow=uows(), slug=f"pb-{suffix}", name="B")
    logins = {"a": f"p_a_{suffix}", "b": f"p_b_{suffix}"}
    admin.add_dispatcher(uow=uows(), org_slug=a.slug, login=logins["a"], display_name="Ann")
    admin.add_dispatcher(uow=uows(), org_slug=b.slug, login=logins["b"], display_name="Ben")
    engines = {k: make_engine(dispatcher_url(url, v), pool_size=2) for k, v in logins.items()}
    try:
        yield {k: UnitOfWorkFactory(e) for k, e in engines.items()}
    finally:
        for e in [*engines.values(), engine]:
            e.dispose()
        test_server.drop_database(url)
        test_server._admin("; ".join(f'DROP ROLE IF EXISTS "{r}"' for r in logins.values()))


def test_dispatchers_add_people_and_never_see_another_organizations(two_orgs):
    a_uows, b_uows = two_orgs["a"], two_orgs["b"]
    ann, ben = current_actor(uow=a_uows()), current_actor(uow=b_uows())
    assert not ann.is_admin  # dispatchers run it day to day
    a_tech = people.add_technician(uow=a_uows(), actor=ann, data=_tech(name="Alpha Tech"))
    people.add_customer(uow=a_uows(), actor=ann, data=_customer())
    b_tech = people.add_technician(uow=b_uows(), actor=ben, data=_tech(name="Bravo Tech"))
    # The same customer and site refs in another organization are no conflict.
    people.add_customer(uow=b_uows(), actor=ben, data=_customer(name="Bravo customer"))
    assert [r.name for r in people.search_technicians(uow=a_uows(), actor=ann)] == ["Alpha Tech"]
    assert [r.name for r in people.search_customers(uow=b_uows(), actor=ben)] == ["Bravo customer"]
    # Even a forged actor naming the other organization finds nothing there: RLS decides.
    forged = type(ann)(organization_id=ben.organization_id, name="forged")
    assert people.search_technicians(uow=a_uows(), actor=forged) == ()
    with pytest.raises(NotFound):
        people.get_technician(uow=a_uows(), actor=ann, technician_id=b_tech)
    with pytest.raises(NotFound):
        people.update_technician(uow=a_uows(), actor=forged, technician_id=b_tech, data=_tech(name="Hijacked"))
    assert people.get_technician(uow=b_uows(), actor=ben, technician_id=b_tech).data.name == "Bravo Tech"
    assert people.get_technician(uow=a_uows(), actor=ann, technician_id=a_tech).data.name == "Alpha Tech"

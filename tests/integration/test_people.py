"""Technicians as picker choices: this organization's, active ones by name unless asked otherwise."""

from __future__ import annotations

from desk_desktop.db.models import Technician
from desk_desktop.services import people
from desk_desktop.services.people import TechnicianChoice
from tests.conftest import acting_as, make_org


def _add(uow_factory, actor, *names_active):
    ids = {}
    with acting_as(uow_factory, actor), uow_factory() as uow:
        for name, active in names_active:
            t = Technician(organization_id=actor.organization_id, name=name, active=active)
            uow.session.add(t)
            uow.session.flush()
            ids[name] = t.id
        uow.commit()
    return ids


def test_active_technicians_of_the_organization_by_name(uow_factory, org):
    other = make_org(uow_factory(), slug="other", name="Other Co")
    ids = _add(uow_factory, org, ("Zoe Park", True), ("Amir Haddad", True), ("Bea Left", False))
    _add(uow_factory, other, ("Carl Elsewhere", True))
    with acting_as(uow_factory, org):
        assert people.list_technicians(uow=uow_factory(), actor=org) == (
            TechnicianChoice(ids["Amir Haddad"], "Amir Haddad"), TechnicianChoice(ids["Zoe Park"], "Zoe Park"))
        everyone = people.list_technicians(uow=uow_factory(), actor=org, active_only=False)
    assert [t.name for t in everyone] == ["Amir Haddad", "Bea Left", "Zoe Park"]

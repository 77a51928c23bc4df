"""A new organization set up from nothing on the command line (no demo data) is dispatched from:
its own catalog words, three technicians, two customers with sites, the platform's example rule,
and a ticket whose work order goes to the one technician with the right skills."""

from __future__ import annotations

import json
import uuid

import pytest

from desk_desktop.cli import main
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import rules
from desk_desktop.services.catalogs import load_catalogs, resolve_key
from desk_desktop.services.rules import RuleDraft
from desk_desktop.services.session_info import current_actor, dispatcher_url


@pytest.fixture
def server_url(test_server):
    url = test_server.create_database("desk_new_org")
    logins: list[str] = []
    yield url, logins
    test_server.drop_database(url)
    for login in logins:
        test_server._admin(f'DROP ROLE IF EXISTS "{login}"')


def cli(capsys, url: str, *argv: str) -> dict:
    code = main([*argv, "--json", "--database-url", url])
    out, err = capsys.readouterr()
    assert code == 0, f"desk-desktop {' '.join(argv)}: {err}"
    return json.loads(out)


def test_a_new_organization_is_set_up_and_dispatched_from_without_the_demo(server_url, capsys):
    url, logins = server_url
    slug, login = f"north-{uuid.uuid4().hex[:6]}", f"t_ann_{uuid.uuid4().hex[:8]}"
    logins.append(login)
    cli(capsys, url, "admin", "add-organization", "--slug", slug, "--name", "North District",
        "--timezone", "Europe/Berlin")
    cli(capsys, url, "admin", "add-dispatcher", "--org", slug, "--login", login, "--name", "Ann Admin", "--admin")
    ann = dispatcher_url(url, login)

    # Nothing to work with yet: no technicians, no customers.
    assert cli(capsys, ann, "technician", "list", "--all")["technicians"] == []
    assert cli(capsys, ann, "customer", "list")["customers"] == []

    # The organization's own words, next to the defaults it starts with.
    for catalog, name in (("categories", "Technical Support"), ("categories", "Installation"), ("skills", "Hardware")):
        cli(capsys, ann, "catalog", "add", catalog, name)
    skills = {e["key"]: e["name"] for e in cli(capsys, ann, "catalog", "list", "skills")["entries"]}
    assert skills["networking"] == "Networking" and skills["hardware"] == "Hardware"

    week = [f"--hours={d}=00:00-23:59" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    # Nearest to the site but without hardware skills; then the right one; then a weaker one.
    cli(capsys, ann, "technician", "add", "--name", "Nils Near", "--skill", "networking=5",
        "--home", "53.551,9.994", *week)
    cli(capsys, ann, "technician", "add", "--name", "Hanna Hardware", "--skill", "Networking=5",
        "--skill", "hardware=5", "--home", "53.57,10.03", *week)
    cli(capsys, ann, "technician", "add", "--name", "Walter Weak", "--skill", "networking=2",
        "--skill", "Hardware=2", "--home", "53.56,10.00", *week)
    cli(capsys, ann, "customer", "add", "--ref", "HH-001", "--name", "Hafen Logistik GmbH", "--type", "Business",
        "--site", "HQ|Head office|Am Sandtorkai 1, Hamburg|53.5436,9.9880",
        "--site", "DEPOT|Depot Billbrook|Billbrookdeich 10, Hamburg|53.5330,10.0900")
    cli(capsys, ann, "customer", "add", "--ref", "HH-002", "--name", "Elbe Praxis", "--type", "residential",
        "--site", "HOME|Praxis|Elbchaussee 5, Hamburg|53.5470,9.9390")
    listed = cli(capsys, ann, "customer", "list")["customers"]
    assert sorted(c["ref"] for c in listed) == ["HH-001", "HH-002"]

    # The platform's example rule, entered by the organization's administrator.
    engine = make_engine(ann)
    try:
        uows = UnitOfWorkFactory(engine)
        actor = current_actor(uow=uows())
        cats = load_catalogs(uow=uows(), actor=actor)
        draft = RuleDraft(name="Support and installation",
                          trigger_categories=tuple(resolve_key(cats.entries["categories"], n)
                                                   for n in ("Technical Support", "Installation")),
                          required_skills=("networking", "hardware"), auto_assign=True,
                          assignment_logic="skill_match")
        rule = rules.create_rule(uow=uows(), actor=actor, draft=draft)
    finally:
        engine.dispose()
    assert rule.trigger_summary == "category Technical Support or Installation"

    created = cli(capsys, ann, "ticket", "create", "--customer", "HH-001", "--site", "HQ",
                  "--category", "Technical Support", "--priority", "high", "--subject", "Switch in rack 2 dead")
    number = created["number"]
    assert (created["category"], created["category_name"]) == ("technical_support", "Technical Support")
    assert created["work_order"]["rule"] == "Support and installation"
    assert created["work_order"]["technician"] is None

    # The scheduler's assignment pass (as the server's scheduler runs it) picks the skilled one.
    assert main(["scheduler", "--once", "--jobs", "assign", "--database-url", url]) == 0
    capsys.readouterr()
    shown = cli(capsys, ann, "ticket", "show", number)
    assert shown["work_order"]["technician"] == "Hanna Hardware"

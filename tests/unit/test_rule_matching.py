"""Rule matching and validation (pure; hypothesis checks against a plain reference)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desk_desktop.domain.enums import Priority, values
from desk_desktop.domain.rules import (
    CompiledRules,
    MatchRule,
    RuleDraft,
    TicketFacts,
    evaluate_all,
    find_match,
    first_failed_condition,
    order_rules,
    trigger_summary,
    validate_rule,
)

# The keys every organization's catalogs start with (migration 0008's defaults).
CATS = ["hvac", "electrical", "plumbing", "network", "hardware", "software", "security", "appliance", "general"]
CTYPES = ["residential", "business", "enterprise", "government"]
PRIS = values(Priority)
TAGS = ["vip", "roof", "gold", "night", "warranty"]


def subset(items):
    return st.lists(st.sampled_from(items), unique=True, max_size=3)


rule_st = st.builds(
    lambda i, prio, active, cats, pris, tags, ctypes: MatchRule.build(
        id=i, name=f"r{i}", priority=prio, active=active, categories=cats, priorities=pris, tags=tags,
        customer_types=ctypes),
    st.integers(1, 10_000), st.integers(-5, 5), st.booleans(), subset(CATS), subset(PRIS), subset(TAGS),
    subset(CTYPES),
)
rules_st = st.lists(rule_st, max_size=25, unique_by=lambda r: r.id)
facts_st = st.builds(TicketFacts, category=st.sampled_from(CATS), priority=st.sampled_from(PRIS),
                     tags=st.lists(st.sampled_from(TAGS), max_size=3).map(tuple),
                     customer_type=st.sampled_from(CTYPES))


def reference_match(rules, facts):
    """The specification, written as plainly as possible."""
    def holds(r):
        return (r.active
                and (not r.category_list or facts.category in r.category_list)
                and (not r.priority_list or facts.priority in r.priority_list)
                and (not r.tag_list or any(t in r.tag_list for t in facts.tags))
                and (not r.customer_type_list or facts.customer_type in r.customer_type_list))
    best = None
    for r in rules:
        if holds(r) and (best is None or (r.priority, -r.id) > (best.priority, -best.id)):
            best = r
    return best


@settings(max_examples=300, deadline=None)
@given(rules_st, facts_st)
def test_first_match_is_highest_priority_then_lowest_id(rules, facts):
    expected = reference_match(rules, facts)
    assert find_match(order_rules(rules), facts) == expected
    assert CompiledRules(order_rules(rules)).match(facts) == expected


@settings(max_examples=200, deadline=None)
@given(rules_st, st.lists(facts_st, min_size=1, max_size=20))
def test_compiled_rules_agree_over_many_tickets(rules, many):
    compiled = CompiledRules(order_rules(rules))
    for facts in many:
        assert compiled.match(facts) == find_match(order_rules(rules), facts)


@settings(max_examples=200, deadline=None)
@given(rules_st, facts_st)
def test_dry_run_reports_winner_and_a_failed_condition_for_every_other_rule(rules, facts):
    ordered = order_rules(rules)
    winner, evaluations = evaluate_all(ordered, facts)
    assert winner == find_match(ordered, facts)
    assert [e.rule for e in evaluations] == ordered
    assert sum(e.matched for e in evaluations) == (1 if winner else 0)
    for e in evaluations:
        assert e.matched == (e.rule is winner)
        assert (e.failed_condition is None) == e.matched
        assert (first_failed_condition(e.rule, facts) is None) == (reference_match([e.rule], facts) is not None)


def test_empty_lists_mean_any():
    catch_all = MatchRule.build(id=1, name="all", priority=0)
    assert find_match([catch_all], TicketFacts("plumbing", "low", (), None)) is catch_all


def test_tags_match_on_any_overlap_case_insensitively():
    r = MatchRule.build(id=1, name="tags", priority=0, tags=["VIP", "gold"])
    assert find_match([r], TicketFacts("hvac", "low", ("roof", "vip"), "business")) is r
    assert find_match([r], TicketFacts("hvac", "low", ("roof",), "business")) is None
    assert first_failed_condition(r, TicketFacts("hvac", "low", (), "business")) == "tags (no tags) share none with VIP, gold"


def test_first_failed_condition_names_the_first_failing_list_in_order():
    r = MatchRule.build(id=1, name="x", priority=0, categories=["hvac"], priorities=["urgent"],
                        customer_types=["government"])
    f = TicketFacts("plumbing", "low", (), "business")
    assert first_failed_condition(r, f) == "category is 'plumbing', rule wants hvac"
    f = TicketFacts("hvac", "low", (), "business")
    assert first_failed_condition(r, f) == "priority is 'low', rule wants urgent"
    f = TicketFacts("hvac", "urgent", (), "business")
    assert first_failed_condition(r, f) == "customer type is 'business', rule wants government"
    inactive = MatchRule.build(id=2, name="off", priority=0, active=False)
    assert first_failed_condition(inactive, f) == "rule is inactive"


def test_valid_draft_has_no_problems():
    assert validate_rule(RuleDraft(name="ok", trigger_categories=("hvac",), required_skills=("hvac",))) == []


KNOWN = {"categories": {"hvac", "technical_support"}, "skills": {"hvac", "networking"},
         "customer-types": {"business"}, "work-order-types": {"repair"}}


def test_draft_problems_are_per_field_and_readable():
    d = RuleDraft(name="", trigger_categories=("hvac", "magic"), wo_type="nope", wo_duration_minutes=5,
                  schedule_offset_minutes=-1, assignment_logic="lottery", required_skills=("flying",),
                  trigger_customer_types=("alien",))
    problems = {p.field: p.message for p in validate_rule(d, known_keys=KNOWN)}
    assert set(problems) == {"name", "trigger_categories", "wo_type", "wo_duration_minutes", "trigger_customer_types",
                             "schedule_offset_minutes", "assignment_logic", "required_skills"}
    assert problems["trigger_categories"].startswith("Unknown category: magic — not in the organization's categories")
    assert "Unknown skill: flying" in problems["required_skills"]
    assert "Unknown work-order type: nope" in problems["wo_type"]
    assert "customer types" in problems["trigger_customer_types"]
    assert "between 15 minutes and 24 hours" in problems["wo_duration_minutes"]


def test_catalog_keys_are_checked_only_against_the_organizations_catalogs():
    d = RuleDraft(name="ok", trigger_categories=("technical_support",), required_skills=("networking",))
    assert validate_rule(d, known_keys=KNOWN) == []
    assert validate_rule(RuleDraft(name="ok", wo_type=""), known_keys=KNOWN)[0].message == "Choose the work-order type."


@given(st.integers(-10_000, 10_000))
def test_duration_bounds(minutes):
    problems = validate_rule(RuleDraft(name="d", wo_duration_minutes=minutes))
    assert (problems == []) == (15 <= minutes <= 1440)


def test_name_uniqueness_ignores_case_and_spaces():
    problems = validate_rule(RuleDraft(name="  Boiler "), other_names=["boiler"])
    assert [p.field for p in problems] == ["name"]


def test_normalized_draft_dedupes_and_lowercases():
    d = RuleDraft(name=" X ", trigger_tags=(" VIP", "vip", "", "Gold"), trigger_categories=("HVAC", "hvac")).normalized()
    assert d.name == "X" and d.trigger_tags == ("vip", "gold") and d.trigger_categories == ("hvac",)


def test_trigger_summary():
    assert trigger_summary([], [], [], []) == "every ticket"
    assert trigger_summary(["hvac"], ["high", "urgent"], [], ["business"]) == \
        "category hvac; priority high or urgent; customer business"

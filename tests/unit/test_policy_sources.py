"""Each policy value cites the article that sets it, or says it is skillcert's assumption awaiting the rule."""

from __future__ import annotations

import pytest

from shared.kernel.policy import ChangeKind, policy_for

PROVINCES = ("21", "31", "32", "33", "37", "45")
SEEDED = {"21", "45"}  # whose notices set the periods and who selects; the others follow Liaoning's procedure


@pytest.mark.parametrize("province", PROVINCES)
def test_periods_and_selection_cite_the_articles_that_set_them(province: str) -> None:
    policy = policy_for(province)
    periods, selection = policy.periods.source, policy.selection.source
    # L8 sets no acceptance period and L9's 10 working days are the city's selection report (audit row 24).
    assert "L8 10个工作日内受理" not in periods
    assert "G三(二)" in periods and "G三(五)" in periods
    assert selection and policy.selection.city_report_working_days == 10
    if province not in SEEDED:
        assert "assumption" in periods and "assumption" in selection
    if province == "21":
        assert "L9" in selection and "L5" in selection


@pytest.mark.parametrize("province", PROVINCES)
def test_the_licence_figure_is_only_where_a_notice_states_it(province: str) -> None:
    """L6(二)'s 2,000 person-times is Liaoning's (一般不少于: a warning); the other notices state none."""
    figure = policy_for(province).thresholds.licence_person_times
    if province == "21":
        assert figure is not None and figure.person_times == 2000 and "L6(二)" in figure.source
    else:
        assert figure is None


@pytest.mark.parametrize("province", PROVINCES)
def test_every_change_kind_has_its_cited_procedure(province: str) -> None:
    policy = policy_for(province)
    assert {procedure.kind for procedure in policy.changes} == set(ChangeKind)
    assert all(procedure.source for procedure in policy.changes)
    assert policy.change_procedure(ChangeKind.SCOPE).publicity  # L11: 按上述程序, publicity included

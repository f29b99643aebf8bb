"""The operations invariants of ``hall chaos`` catch what they are there to catch.

Worked by hand: an import the command acknowledged must be held whole under its id; rows of an
unfinished import must count as nothing; the ops service must have re-planned after the last import.
"""

from __future__ import annotations

from chaos.history import HeldImport, Import, check_counted, check_imports, check_planned


def _done(import_id: str, rows: int = 120, added: int = 120, already: int = 0) -> Import:
    return Import(f"{import_id}.csv", "done", rows=rows, import_id=import_id, added=added, already=already)


def test_imports_held_whole_pass_and_killed_or_refused_ones_are_not_looked_up() -> None:
    imports = [
        _done("a"),
        Import("b.csv", "killed", rows=90),
        _done("b2", rows=90, added=30, already=60),  # run again: the killed run had finished part of nothing
        Import("c.csv", "refused", rows=50, message="the hall's disk is full"),
    ]
    held = {"a": HeldImport("done", 120, 120), "b2": HeldImport("done", 90, 30), "x": HeldImport("staging", 90, 0)}
    assert check_imports(imports, held).held


def test_an_acknowledged_import_the_hall_does_not_hold_fails() -> None:
    result = check_imports([_done("a")], {})
    assert result.problems == ["a.csv (import a): acknowledged as done, not in the hall's database"]


def test_an_acknowledged_import_held_part_way_fails() -> None:
    result = check_imports([_done("a")], {"a": HeldImport("moving", 120, 80)})
    assert result.problems == [
        "a.csv (import a): acknowledged as done, the hall holds it moving",
        "a.csv (import a): said it added 120 row(s), the hall holds 80 under it",
    ]


def test_an_import_that_lost_or_double_counted_rows_fails() -> None:
    result = check_imports([_done("a", rows=120, added=100, already=10)], {"a": HeldImport("done", 110, 100)})
    assert result.problems == [
        "a.csv (import a): 120 row(s) in the file, the hall recorded 110",
        "a.csv (import a): 100 added + 10 already there is not the file's 120",
    ]


def test_rows_of_unfinished_imports_counted_as_history_fail() -> None:
    held = {"a": HeldImport("done", 120, 120), "k": HeldImport("moving", 90, 40), "s": HeldImport("staging", 10, 0)}
    assert check_counted(120, held).held
    assert check_counted(160, held).problems == [
        "the core counts 160 imported visit(s); finished imports hold 120 (unfinished imports hold 40 more)"
    ]


def test_a_plan_older_than_the_last_import_fails() -> None:
    assert check_planned(None, None).held  # nothing imported: nothing to re-plan
    assert check_planned(1000.0, 1003.5).held
    assert check_planned(1000.0, 990.0).problems == ["today's plan was saved 10.0 s before the last import finished"]
    assert check_planned(1000.0, None).problems == ["no plan for today was saved"]

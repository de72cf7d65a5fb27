"""docs/rulebook.md 1.8: the loader rejects "more than 62 direct-grade parameters".

loader.py never checks rulebook.MAX_DIRECT_GRADES: 63 load silently, and 64 crash in
compile_parameters (2**63 does not fit the int64 direct_bit column) instead of giving a
RulebookError.
"""

import pytest
from tests.scoring.edges.helpers import PILOT

from socialrating.errors import RulebookError
from socialrating.rulebook import load_rulebook


def _rulebook(n):
    extra = "".join(
        f"  - {{code: g{i}, category: courts, points: 0, institutions: [court], direct_grade: C}}\n"
        for i in range(n)
    )
    return PILOT + extra


@pytest.mark.parametrize("extra", [61, 62])  # pilot.yaml already has 3: 64 and 65 in all
def test_too_many_direct_grades_is_a_rulebook_error(tmp_path, extra):
    path = tmp_path / "rb.yaml"
    path.write_text(_rulebook(extra))
    with pytest.raises(RulebookError):
        load_rulebook(path)


def test_63_direct_grades_rejected(tmp_path):
    path = tmp_path / "rb.yaml"
    path.write_text(_rulebook(60))  # 63 in all
    with pytest.raises(RulebookError):
        load_rulebook(path)

"""The seed rulebook: the described system, loaded and checked against SPEC's figures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import ROOT, SEED

from socialrating.model import InstitutionClass
from socialrating.rulebook import Rulebook, load_rulebook


@pytest.fixture(scope="module")
def seed() -> Rulebook:
    return load_rulebook(SEED)


def test_seed_has_the_described_scale(seed: Rulebook) -> None:
    assert seed.parameters.num_rows == 160_000
    assert len(seed.spec.institutions) == 142
    classes = Counter(i.class_ for i in seed.spec.institutions)
    assert set(classes) == set(InstitutionClass)
    assert seed.spec.base_score == 1000
    assert seed.spec.effective.isoformat() == "2021-01-01"


def test_seed_citizen_bands_are_specs(seed: Rulebook) -> None:
    bands = [(b.grade, b.min) for b in seed.bands("citizen")]
    assert bands == [("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850), ("C", 600), ("D", None)]
    assert seed.grade_of(1000, "citizen") == "A"
    assert seed.grade_of(900, "citizen") == "B"


def test_seed_points_follow_the_county_pilots(seed: Rulebook) -> None:
    t = seed.parameters.to_pandas().set_index("code")
    explicit = t.iloc[: len(seed.spec.parameters)]
    assert (explicit.points < 0).any() and (explicit.points > 0).any()
    # every explicit deduction expires (credit repair), and tags name the area of life
    assert explicit[explicit.points < 0].expiry_days.notna().all()
    assert (t.tags != "").all()
    # cameras report only with a confidence threshold of at least the default
    assert (t.min_confidence >= seed.spec.camera.min_confidence).all()


def test_seed_catalogue_is_reproducible(tmp_path: Path) -> None:
    copy = tmp_path / "seed.yaml"
    shutil.copy(SEED, copy)
    script = ROOT / "scripts" / "make_seed_catalogue.py"
    subprocess.run(
        [sys.executable, str(script), "--rulebook", str(copy)], check=True, capture_output=True
    )
    committed = (SEED.parent / "seed-catalogue.csv.gz").read_bytes()
    assert (tmp_path / "seed-catalogue.csv.gz").read_bytes() == committed


# SPEC section 7: about 300 organisation requirements in six areas, taxes and hiring
# weighing most. The headline parameters use the older prefixes org.environment and
# org.labour; the requirements block uses org.env and org.safety.
ORG_AREAS = {
    "tax": ("org.tax.",),
    "hiring": ("org.hiring.",),
    "environment": ("org.env.", "org.environment."),
    "safety": ("org.safety.", "org.labour."),
    "quality": ("org.quality.",),
    "cyber": ("org.cyber.",),
}


def test_seed_has_about_300_organisation_requirements(seed: Rulebook) -> None:
    by_area: dict[str, list[int]] = {area: [] for area in ORG_AREAS}
    deductions: dict[str, list[int]] = {area: [] for area in ORG_AREAS}
    for p in seed.spec.parameters:
        area = next((a for a, prefixes in ORG_AREAS.items() if p.code.startswith(prefixes)), None)
        if area is None:
            continue
        assert p.subjects == "organisation", p.code
        assert p.expires_after_days is not None and 365 <= p.expires_after_days <= 1825
        by_area[area].append(p.points)
        if p.points < 0 and not p.per_unit:
            deductions[area].append(p.points)
    counts = {area: len(points) for area, points in by_area.items()}
    assert 290 <= sum(counts.values()) <= 310, counts
    assert min(counts.values()) >= 30, counts
    # every area has violations and a few positive findings
    assert all(any(x > 0 for x in pts) and any(x < 0 for x in pts) for pts in by_area.values())
    mean = {area: sum(d) / len(d) for area, d in deductions.items()}
    heaviest = max(mean[a] for a in ("environment", "safety", "quality", "cyber"))
    assert mean["tax"] < heaviest and mean["hiring"] < heaviest, mean
    # reported by state authorities only
    classes = seed.institution_classes
    for p in seed.spec.parameters:
        if p.code.startswith("org."):
            assert all(classes[i] is InstitutionClass.STATE for i in p.institutions), p.code

"""The HTML reports of `rulebook preview --html` and `rulebook audit --html` render in
Debian's chromium without a console error, with their tables and charts."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DATA
from tests.ledgers import cli_ledger
from tests.test_cli import ok

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]  # fmt: skip
PEOPLE = "code,kind,born,sex,region\n" + "".join(
    f"c{i},citizen,19{60 + i}-01-01,{'FM'[i % 2]},{['north', 'south'][i % 2]}\n" for i in range(24)
)
DEBTS = "key,subject,parameter,date\n" + "".join(
    f"k{i},c{i},debtor,2021-02-01\n" for i in range(0, 24, 2)
)


def watched(page: object) -> list[str]:
    """The console errors and uncaught exceptions of ``page``, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    return errors


@pytest.mark.browser
@pytest.mark.slow
def test_the_reports_render_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    db = cli_ledger(tmp_path, subjects=PEOPLE, batch=DEBTS)
    text = (DATA / "consequences.yaml").read_text(encoding="utf-8")
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(text.replace("points: -200,", "points: -500,", 1), encoding="utf-8")
    preview, audit = tmp_path / "preview.html", tmp_path / "audit.html"
    ok("rulebook", "preview", str(candidate), "--db", db, "--html", str(preview))
    ok("rulebook", "audit", "--db", db, "--html", str(audit))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for report, title, charts in (
                (preview, "Rulebook preview", 1),
                (audit, "Rulebook audit", 0),
            ):
                page = browser.new_page()
                errors = watched(page)
                page.goto(report.as_uri())
                assert page.title() == title
                assert page.locator("h1").inner_text() == title
                assert page.locator("table").count() >= 3
                assert page.locator("svg rect").count() >= charts
                shot = tmp_path / f"{report.stem}.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert errors == [], errors
                page.close()
            page = browser.new_page()
            page.goto(preview.as_uri())
            # The grade matrix: c0, c2, … are debtors (-200: C); at -500 they fall to D.
            matrix = page.locator("table").first.inner_text()
            assert "from \\ to" in matrix and "D" in matrix
            page.goto(audit.as_uri())
            assert "loan, by region" in page.content()
            assert page.locator("tr.flag").count() >= 1  # a region refused far more often
        finally:
            browser.close()

"""The published pages as a manager's browser and PDF reader see them.

HTML: headless Chromium (Debian's ``chromium``, driven by Playwright) loads each page
from ``file://``: no network request, no console error, every section heading present,
every image decoded. PDF: page count, section titles in the text, no blank page.
"""
from __future__ import annotations

import shutil

import pytest

SECTIONS = ("Headline", "Segmentation", "3C matrix and phase migration", "Channels and phases",
            "Coaching and ROI", "Action list", "Relationship maintenance", "Data quality")
ROLLUP_SECTIONS = ("Overview", "Territories side by side", "Regions", "Coaching flags")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (Debian package 'chromium'; .ci/run installs it)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def visit(browser, path):
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, errors


@pytest.mark.parametrize("report,sections", [("T01/report.html", SECTIONS),
                                             ("rollups/national/report.html", ROLLUP_SECTIONS)])
def test_report_page_offline_complete(browser, published, report, sections):
    page, requests, errors = visit(browser, published["out"] / report)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert errors == []
    headings = page.locator("h2").all_inner_texts()
    for section in sections:
        assert section in headings, (section, headings)
    images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert images and all(images)
    page.close()


def test_index_sorts_without_server(browser, published):
    page, requests, errors = visit(browser, published["out"] / "index.html")
    assert errors == [] and all(u.startswith("file:") for u in requests)
    first = lambda: page.locator("table.sortable tbody tr td:first-child").all_inner_texts()
    page.locator("table.sortable th", has_text="Territory").first.click()
    ascending = first()
    page.locator("table.sortable th", has_text="Territory").first.click()
    assert first() == list(reversed(ascending)) and ascending == sorted(ascending)
    assert page.locator("a", has_text="National report").count() == 1
    page.close()


@pytest.mark.parametrize("report,sections,min_pages", [("T02/report.pdf", SECTIONS, 5),
                                                       ("rollups/national/report.pdf", ROLLUP_SECTIONS, 1)])
def test_pdf_pages_text_and_no_blank_page(published, report, sections, min_pages):
    pdfium = pytest.importorskip("pypdfium2")
    import numpy as np

    pdf = pdfium.PdfDocument(str(published["out"] / report))
    assert len(pdf) >= min_pages
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    for section in sections:
        assert section in text, section
    for i in range(len(pdf)):
        pixels = np.asarray(pdf[i].render(scale=0.4).to_pil().convert("L"))
        assert (pixels < 200).mean() > 0.002, f"page {i + 1} is blank"

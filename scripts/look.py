"""Render one territory and take pictures of it, to look at a report as a manager would.

    python scripts/look.py [--territory T01] [--data data/demo] [--out reports/look]

Runs the batch for one territory (plus the roll-ups) into ``--out``, then writes
``look/html.png`` (a full-page screenshot of the HTML in headless Chromium) and
``look/pdf-<n>.png`` (every PDF page) next to it. Needs Debian's ``chromium`` for the
screenshot; the PDF pages come from pypdfium2.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def screenshot(html: Path, png: Path, width: int = 1200) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium not found: skipping the HTML screenshot (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(png), full_page=True)
        browser.close()
    print(f"wrote {png}")


def pdf_pages(pdf: Path, folder: Path, scale: float = 1.3) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    for i in range(len(document)):
        path = folder / f"pdf-{i + 1}.png"
        document[i].render(scale=scale).to_pil().save(path)
    print(f"wrote {len(document)} PDF page(s) to {folder}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--territory", default="T01")
    p.add_argument("--data", default=str(ROOT / "data" / "demo"))
    p.add_argument("--params", default=str(ROOT / "params" / "demo.yaml"))
    p.add_argument("--out", default=str(ROOT / "reports" / "look"))
    args = p.parse_args(argv)
    out = Path(args.out)
    cli = [sys.executable, "-m", "analysis.engine.cli", "run", "--data", args.data, "--params", args.params,
           "--out", str(out), "--territories", args.territory, "--quiet"]
    if subprocess.call(cli) != 0:
        return 1
    pictures = out / "look"
    pictures.mkdir(exist_ok=True)
    folder = out / args.territory
    screenshot(folder / "report.html", pictures / "html.png")
    pdf_pages(folder / "report.pdf", pictures)
    return 0


if __name__ == "__main__":
    sys.exit(main())

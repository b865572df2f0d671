"""privacy: pseudonymise: no real customer name anywhere under the output folder."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.engine.cli import main
from analysis.contract.privacy import pseudonym, pseudonymise


def test_pseudonyms_are_stable_and_typed():
    assert pseudonym("C001", "hcp") == pseudonym("C001", "hcp")
    assert pseudonym("C001", "hcp").startswith("HCP ") and pseudonym("C002", "pharmacy").startswith("Pharmacy ")
    assert pseudonym("C001", "hcp") != pseudonym("C002", "hcp")
    customers = pd.DataFrame({"customer_id": ["C001"], "customer_type": ["hcp"], "customer_name": ["Dr Real"],
                              "email": ["real@x.example"], "phone": [None]})
    out = pseudonymise(customers)
    assert out.loc[0, "customer_name"] == pseudonym("C001", "hcp")
    assert out.loc[0, "email"] == "filled" and pd.isna(out.loc[0, "phone"])


def _texts(folder):
    pdfium = pytest.importorskip("pypdfium2")
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".pdf":
            pdf = pdfium.PdfDocument(str(path))
            yield path, "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        elif path.suffix in (".html", ".csv", ".json", ".ipynb", ".md"):
            yield path, path.read_text(encoding="utf-8", errors="replace")


def test_no_real_name_in_any_output(published, tmp_path):
    profile = tmp_path / "private.yaml"
    profile.write_text("privacy: pseudonymise\n")
    out = tmp_path / "out"
    assert main(["run", "--data", str(published["data"]), "--params", str(profile), "--out", str(out),
                 "--territories", "T01", "--quiet"]) == 0
    names = pd.read_csv(published["data"] / "customers.csv")["customer_name"].tolist()
    checked = 0
    for path, text in _texts(out):
        checked += 1
        leaked = [n for n in names if n in text]
        assert not leaked, f"{path}: {leaked[:3]}"
    assert checked >= 10
    # and the pseudonyms are really used
    assert "HCP " in (out / "T01" / "report.html").read_text()

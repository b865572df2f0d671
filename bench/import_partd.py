"""Benchmark: `import cms-partd` on a generated file in the Part D layout.

    python bench/import_partd.py --rows 1000000
    python bench/import_partd.py --rows 5000000
    python bench/import_partd.py --rows 25000000        # the size of the national file

Generates (once, in chunks, cached under --dir) a file of --rows rows in the current
column layout of the CMS "Medicare Part D Prescribers - by Provider and Drug" file:
synthetic prescribers (NPIs starting with 9, which no real NPI does; made-up names),
about 22 rows each, sorted by NPI like the real file, about 12% of the rows in the three
markets (statins, oral anticoagulants, DPP-4), beneficiary counts blank where the real
file suppresses them. Then runs the import in a child process and prints the time, rows/s
and the child's peak RSS (its VmHWM): the memory should stay flat as --rows grows.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

HEADER = ["Prscrbr_NPI", "Prscrbr_Last_Org_Name", "Prscrbr_First_Name", "Prscrbr_City", "Prscrbr_State_Abrvtn",
          "Prscrbr_State_FIPS", "Prscrbr_Type", "Prscrbr_Type_Src", "Brnd_Name", "Gnrc_Name", "Tot_Clms",
          "Tot_30day_Fills", "Tot_Day_Suply", "Tot_Drug_Cst", "Tot_Benes", "GE65_Sprsn_Flag", "GE65_Tot_Clms",
          "GE65_Tot_30day_Fills", "GE65_Tot_Drug_Cst", "GE65_Tot_Day_Suply", "GE65_Bene_Sprsn_Flag",
          "GE65_Tot_Benes"]
#: (brand, generic, weight): market drugs about 12% of the rows.
DRUGS = [
    ("Simvastatin", "Simvastatin", 3.0), ("Atorvastatin Calcium", "Atorvastatin Calcium", 2.5),
    ("Crestor", "Rosuvastatin Calcium", 1.5), ("Pravastatin Sodium", "Pravastatin Sodium", 1.5),
    ("Lovastatin", "Lovastatin", 1.0), ("Vytorin", "Ezetimibe/Simvastatin", 0.3),
    ("Warfarin Sodium", "Warfarin Sodium", 1.0), ("Xarelto", "Rivaroxaban", 0.2),
    ("Pradaxa", "Dabigatran Etexilate Mesylate", 0.2), ("Eliquis", "Apixaban", 0.05),
    ("Januvia", "Sitagliptin Phosphate", 0.5), ("Janumet", "Sitagliptin Phos/Metformin Hcl", 0.2),
    ("Tradjenta", "Linagliptin", 0.1), ("Onglyza", "Saxagliptin Hcl", 0.1),
] + [(f"Otherdrug {i}", f"Othergeneric {i}", 88.0 / 60) for i in range(60)] + [("Nystatin", "Nystatin", 0.3)]
STATES = ["CA", "TX", "FL", "NY", "PA", "IL", "OH", "MI", "GA", "NC", "NJ", "VA", "WA", "AZ", "MA", "TN", "IN",
          "MO", "MD", "WI", "CO", "MN", "SC", "AL", "LA", "KY", "OR", "OK", "CT", "IA", "MS", "AR", "KS", "UT",
          "NV", "NM", "NE", "WV", "ID", "HI", "ME", "NH", "RI", "MT", "DE", "SD", "ND", "AK", "DC", "VT", "WY", "PR"]
SPECIALTIES = ["Family Practice", "Internal Medicine", "Nurse Practitioner", "Physician Assistant", "Cardiology",
               "Endocrinology", "General Practice", "Nephrology"]
CHUNK = 500_000
ROWS_PER_PRESCRIBER = 22
MARKETS = """year: 2013
units: fills
territories: census-division
markets:
  statins:
    generic: [atorvastatin, rosuvastatin, simvastatin, pravastatin, lovastatin, fluvastatin, pitavastatin]
    own: [Crestor]
  oral-anticoagulants:
    generic: [warfarin, dabigatran, rivaroxaban, apixaban]
    own: [Eliquis]
  dpp4:
    generic: [sitagliptin, saxagliptin, linagliptin, alogliptin]
    own: [Januvia, Janumet]
"""


def _text(values: np.ndarray, blank: np.ndarray | None = None) -> pa.Array:
    out = pa.array(values.astype(str))
    return out if blank is None else pa.array(np.where(blank, "", values.astype(str)))


def generate(path: Path, rows: int, seed: int = 2013) -> None:
    rng = np.random.default_rng(seed)
    brands = np.array([d[0] for d in DRUGS])
    generics = np.array([d[1] for d in DRUGS])
    weights = np.array([d[2] for d in DRUGS])
    weights /= weights.sum()
    tmp = path.with_suffix(".partial")
    schema = pa.schema([(name, pa.string()) for name in HEADER])
    with pa.OSFile(str(tmp), "wb") as sink, pa_csv.CSVWriter(sink, schema) as writer:
        done = 0
        while done < rows:
            n = min(CHUNK, rows - done)
            row = np.arange(done, done + n)
            prescriber = row // ROWS_PER_PRESCRIBER
            npi = (9_000_000_000 + prescriber).astype(np.int64)
            state = np.array(STATES)[(prescriber * 7919) % len(STATES)]
            drug = rng.choice(len(DRUGS), size=n, p=weights)
            claims = rng.integers(11, 400, size=n)
            fills = np.round(claims * rng.uniform(0.8, 2.5, size=n), 1)
            benes = rng.integers(1, 60, size=n)
            suppressed = benes <= 10
            columns = {
                "Prscrbr_NPI": _text(npi),
                "Prscrbr_Last_Org_Name": _text(np.char.add("Synthlast", (prescriber % 997).astype(str))),
                "Prscrbr_First_Name": _text(np.char.add("Synthfirst", (prescriber % 89).astype(str))),
                "Prscrbr_City": _text(np.char.add("Town ", (prescriber % 3001).astype(str))),
                "Prscrbr_State_Abrvtn": _text(state),
                "Prscrbr_State_FIPS": _text((prescriber % 56).astype(str)),
                "Prscrbr_Type": _text(np.array(SPECIALTIES)[prescriber % len(SPECIALTIES)]),
                "Prscrbr_Type_Src": _text(np.full(n, "S")), "Brnd_Name": _text(brands[drug]),
                "Gnrc_Name": _text(generics[drug]),
                "Tot_Clms": _text(claims), "Tot_30day_Fills": _text(fills), "Tot_Day_Suply": _text(claims * 30),
                "Tot_Drug_Cst": _text(np.round(claims * rng.uniform(2, 300, size=n), 2)),
                "Tot_Benes": _text(benes, suppressed), "GE65_Sprsn_Flag": _text(np.full(n, ""), None),
                "GE65_Tot_Clms": _text(claims // 2), "GE65_Tot_30day_Fills": _text(np.round(fills / 2, 1)),
                "GE65_Tot_Drug_Cst": _text(claims), "GE65_Tot_Day_Suply": _text(claims * 15),
                "GE65_Bene_Sprsn_Flag": _text(np.where(suppressed, "*", "")),
                "GE65_Tot_Benes": _text(benes, suppressed),
            }
            writer.write_table(pa.table(columns, schema=schema))
            done += n
    os.replace(tmp, path)


def child(source: str, markets: str, out: str) -> None:
    from analysis.contract.importers.cms_partd import import_partd
    report = import_partd(source, markets, out, force=True)
    print(report.summary())
    print(f"__SECONDS__ {report.seconds:.3f} __PEAK__ {_peak_kib()}")


def _peak_kib() -> int:
    """This process's peak RSS in KiB: VmHWM, which (unlike ru_maxrss) does not carry over the
    parent's peak when the child was started with vfork/exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default="/tmp/partd-bench", help="where the generated file and output go")
    parser.add_argument("--gzip", action="store_true", help="import a gzipped copy of the file")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"partd_synthetic_2013_{args.rows}.csv"
    if not source.is_file():
        start = time.perf_counter()
        generate(source, args.rows)
        print(f"generated {args.rows:,} rows ({source.stat().st_size / 1e9:.2f} GB) in "
              f"{time.perf_counter() - start:.1f}s: {source}")
    if args.gzip:
        zipped = source.with_suffix(".csv.gz")
        if not zipped.is_file():
            subprocess.run(["gzip", "-k", "-1", str(source)], check=True)
        source = zipped
    markets = folder / "markets.yaml"
    markets.write_text(MARKETS)
    out = folder / f"data_{args.rows}"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", str(source), str(markets), str(out)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(done.stdout + done.stderr)
    tail = done.stdout.split("__SECONDS__")[1].split("__PEAK__")
    seconds, peak_mb = float(tail[0]), int(tail[1]) / 1024
    print(done.stdout.split("__SECONDS__")[0].rstrip())
    print(f"rows {args.rows:,}  file {source.stat().st_size / 1e9:.2f} GB  import {seconds:.1f}s "
          f"(process {wall:.1f}s)  {args.rows / seconds:,.0f} rows/s  peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()

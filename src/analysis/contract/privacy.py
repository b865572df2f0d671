"""Privacy (DESIGN 5 ``privacy``): stable pseudonyms for customer names.

With ``privacy: pseudonymise`` every customer name is replaced, before any analysis,
by a pseudonym derived from the customer id (the same customer gets the same
pseudonym every month), so no output (report, table, index) can carry a real name.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

TYPE_LABELS = {"hcp": "HCP", "department": "Department", "hospital": "Hospital", "pharmacy": "Pharmacy",
               "distributor": "Distributor", "supplier": "Supplier", "peripheral": "Peripheral"}
#: Customer columns that identify a person or an institution and are dropped when
#: pseudonymising (the analyses use none of them).
IDENTIFYING = ("phone", "email", "city", "hometown", "university", "account_id", "department")


def pseudonym(customer_id: str, customer_type: str) -> str:
    """A readable, stable pseudonym such as ``HCP 3F9A2C``."""
    digest = hashlib.sha256(f"territory-reports:{customer_id}".encode()).hexdigest()[:6].upper()
    return f"{TYPE_LABELS.get(customer_type, 'Customer')} {digest}"


def pseudonymise(customers: pd.DataFrame) -> pd.DataFrame:
    """Customers with pseudonyms for names and identifying text columns blanked.

    Profile columns keep only whether they were filled (completeness still counts).
    """
    out = customers.copy()
    out["customer_name"] = [pseudonym(c, t) for c, t in zip(out["customer_id"], out["customer_type"])]
    for column in IDENTIFYING:
        if column in out:
            filled = out[column].notna() & (out[column].astype(str).str.strip() != "")
            out[column] = filled.map({True: "filled", False: None})
    return out


def apply(customers: pd.DataFrame, params: Mapping) -> pd.DataFrame:
    """The customers table as the run profile's ``privacy`` setting allows it to be shown."""
    return pseudonymise(customers) if params.get("privacy") == "pseudonymise" else customers

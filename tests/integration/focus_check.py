#!/usr/bin/env python3
"""focus_check.py CSV METADATA FROM TO - checks a FOCUS export against the MUST
rules of the FOCUS 1.2 specification (github.com/FinOps-Open-Cost-and-Usage-Spec
/FOCUS_Spec, tag v1.2, specification/) that apply to the columns tally writes.
Each check names the section it comes from. Prints one line per failure and
"ok" as the last line when every rule holds. Decimals are compared exactly
(decimal.Decimal), never as floats."""
import csv
import decimal
import json
import re
import sys

D = decimal.Decimal
fails = []


def fail(msg):
    if len(fails) < 40:
        fails.append(msg)


path, meta_path, range_from, range_to = sys.argv[1:5]
with open(path, newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = [dict(zip(header, r)) for r in reader]

# A null is an empty CSV cell.
def null(v):
    return v == ""


# ---- columns/*.md: "X MUST be present in a FOCUS dataset" (for the columns
# whose presence condition holds for tally: it publishes unit prices and price
# lists, supports tags and sub accounts) ------------------------------------------
MANDATORY = """BilledCost BillingAccountId BillingAccountName BillingCurrency BillingPeriodEnd
BillingPeriodStart ChargeCategory ChargeClass ChargeDescription ChargeFrequency ChargePeriodEnd
ChargePeriodStart ConsumedQuantity ConsumedUnit ContractedCost ContractedUnitPrice EffectiveCost
InvoiceIssuerName ListCost ListUnitPrice PricingCategory PricingQuantity PricingUnit ProviderName
PublisherName ServiceCategory ServiceName ServiceSubcategory SkuId SkuMeter SkuPriceDetails
SkuPriceId SubAccountId SubAccountName Tags""".split()
for c in MANDATORY:
    if c not in header:
        fail(f"columns/{c.lower()}.md: {c} MUST be present")
# attributes/column_handling.md: custom columns MUST be prefixed with x_;
# column IDs MUST be unique (a CSV header naming one twice is ambiguous).
FOCUS_DEFINED = set(MANDATORY) | {"AvailabilityZone", "BillingAccountType", "CapacityReservationId",
    "CapacityReservationStatus", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "CommitmentDiscountUnit", "InvoiceId", "PricingCurrency",
    "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "RegionId", "RegionName", "ResourceId", "ResourceName",
    "ResourceType", "SubAccountType"}
for c in header:
    if c not in FOCUS_DEFINED and not c.startswith("x_"):
        fail(f"column_handling: custom column {c} MUST be prefixed with x_")
if len(set(header)) != len(header):
    fail("column_handling: a column appears twice")

# ---- attributes/numeric_format.md -------------------------------------------------
# "integer, decimal or E notation"; no sign for positive values, no commas,
# symbols or units.
NUM = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE]-?[0-9]+)?$")
DECIMALS = ["BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice",
            "EffectiveCost", "ListCost", "ListUnitPrice", "PricingQuantity"]
# ---- attributes/datetime_format.md: UTC, extended ISO 8601 YYYY-MM-DDTHH:mm:ssZ
DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATETIMES = ["BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"]
CATEGORY_VALUES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
FREQUENCY_VALUES = {"One-Time", "Recurring", "Usage-Based"}
PRICING_CATEGORY_VALUES = {"Standard", "Dynamic", "Committed", "Other"}
# columns/servicesubcategory.md: the allowed values of the AI category (the
# only ServiceCategory tally writes), each with one parent.
AI_SUB = {"AI Platforms", "Bots", "Generative AI", "Machine Learning",
          "Natural Language Processing", "Other (AI and Machine Learning)"}
SERVICE_CATEGORIES = {"AI and Machine Learning", "Analytics", "Business Applications", "Compute",
    "Databases", "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other"}

try:
    meta = json.load(open(meta_path, encoding="utf-8"))
except Exception as e:  # noqa: BLE001
    meta = {}
    fail(f"metadata: cannot read {meta_path}: {e}")


def key_value(col, v, i):
    """attributes/key_value_format.md: a serialized JSON object, unique keys,
    values number, string, true, false or null - never an object or array."""
    pairs = []
    try:
        obj = json.loads(v, object_pairs_hook=lambda p: pairs.append(p) or dict(p),
                         parse_float=D, parse_int=D)
    except ValueError:
        fail(f"row {i}: {col} MUST be a serialized JSON object: {v!r}")
        return None
    if not isinstance(obj, dict):
        fail(f"row {i}: {col} MUST be a JSON object")
        return None
    top = pairs[-1] if pairs else []
    if len({k for k, _ in top}) != len(top):
        fail(f"row {i}: {col} keys MUST be unique within an object")
    for k, x in obj.items():
        if isinstance(x, (dict, list)):
            fail(f"row {i}: {col} value of {k} MUST NOT be an object or an array")
    return obj


tag_prefixes = []
for cd in meta.get("ColumnDefinition", []):
    if cd.get("ColumnName") == "Tags":
        tag_prefixes = cd.get("ProviderTagPrefixes") or []

price_parent = {}
price_details = {}
sku_meter = {}
service_category = {}
accounts = {}
for i, r in enumerate(rows, start=2):
    if len(r) != len(header):
        fail(f"row {i}: {len(r)} cells for {len(header)} columns")
        continue
    cat, cls = r["ChargeCategory"], r["ChargeClass"]
    usage = cat in ("Usage", "Purchase") and cls != "Correction"
    for c in DECIMALS:
        if not null(r[c]) and not NUM.match(r[c]):
            fail(f"row {i}: numeric_format: {c} {r[c]!r}")
    for c in DATETIMES:
        if not DT.match(r[c]):
            fail(f"row {i}: datetime_format: {c} {r[c]!r} (and it MUST NOT be null)")
    # null_handling.md: no empty strings or blanks standing for a value.
    for c in header:
        if r[c] != "" and r[c].strip() == "":
            fail(f"row {i}: null_handling: {c} is blank, not null")
    # string_handling.md / CSV: tally's neutralising mark never reaches these columns
    # billedcost.md, effectivecost.md, listcost.md, contractedcost.md: MUST NOT be null
    for c in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        if null(r[c]):
            fail(f"row {i}: {c} MUST NOT be null")
    # billingaccountid.md, billingcurrency.md (national currency), chargecategory.md,
    # chargefrequency.md, invoiceissuer.md, provider.md, publisher.md, servicename.md,
    # servicecategory.md, servicesubcategory.md: MUST NOT be null
    for c in ("BillingAccountId", "BillingAccountName", "BillingCurrency", "ChargeCategory",
              "ChargeFrequency", "InvoiceIssuerName", "ProviderName", "PublisherName",
              "ServiceName", "ServiceCategory", "ServiceSubcategory"):
        if null(r[c]):
            fail(f"row {i}: {c} MUST NOT be null")
    if r["BillingCurrency"] != "USD":
        fail(f"row {i}: billingcurrency.md: a national currency code (tally bills USD)")
    # chargecategory.md: one of the allowed values
    if cat not in CATEGORY_VALUES:
        fail(f"row {i}: ChargeCategory {cat!r} is not an allowed value")
    # chargeclass.md: null unless the row corrects a previously invoiced billing
    # period; "Correction" when not null
    if not null(cls) and cls != "Correction":
        fail(f"row {i}: ChargeClass MUST be \"Correction\" when not null")
    # chargefrequency.md: allowed values; not Usage-Based for a Purchase
    if r["ChargeFrequency"] not in FREQUENCY_VALUES:
        fail(f"row {i}: ChargeFrequency {r['ChargeFrequency']!r} is not an allowed value")
    if cat == "Purchase" and r["ChargeFrequency"] == "Usage-Based":
        fail(f"row {i}: ChargeFrequency MUST NOT be Usage-Based for a Purchase")
    # chargeperiodstart.md / chargeperiodend.md: inclusive start, exclusive end;
    # billingperiodstart.md / end: the billing period holds the charge period;
    # and tally's contract (issue 15): never outside the requested range.
    if DT.match(r["ChargePeriodStart"]) and DT.match(r["ChargePeriodEnd"]):
        if not r["ChargePeriodStart"] < r["ChargePeriodEnd"]:
            fail(f"row {i}: ChargePeriodStart MUST be before ChargePeriodEnd")
        if r["ChargePeriodStart"] < range_from or r["ChargePeriodEnd"] > range_to:
            fail(f"row {i}: charge period [{r['ChargePeriodStart']}, {r['ChargePeriodEnd']})"
                 f" outside the requested [{range_from}, {range_to})")
        if not (r["BillingPeriodStart"] <= r["ChargePeriodStart"] and
                r["ChargePeriodEnd"] <= r["BillingPeriodEnd"]):
            fail(f"row {i}: the charge period MUST lie in its billing period")
    # consumedquantity.md: not null for Usage (not Correction), null otherwise;
    # consumedunit.md: null exactly when ConsumedQuantity is null
    if cat == "Usage" and cls != "Correction" and null(r["ConsumedQuantity"]):
        fail(f"row {i}: ConsumedQuantity MUST NOT be null for Usage")
    if cat != "Usage" and not null(r["ConsumedQuantity"]):
        fail(f"row {i}: ConsumedQuantity MUST be null when ChargeCategory is not Usage")
    if null(r["ConsumedQuantity"]) != null(r["ConsumedUnit"]):
        fail(f"row {i}: ConsumedUnit MUST be null exactly when ConsumedQuantity is")
    # pricingquantity.md, pricingcategory.md, listunitprice.md,
    # contractedunitprice.md, skuid.md, skupriceid.md: MUST NOT be null for
    # Usage/Purchase that is not a Correction (and null for Tax)
    for c in ("PricingQuantity", "PricingCategory", "ListUnitPrice", "ContractedUnitPrice",
              "SkuId", "SkuPriceId"):
        if usage and null(r[c]):
            fail(f"row {i}: {c} MUST NOT be null for Usage/Purchase (not Correction)")
        if cat == "Tax" and not null(r[c]):
            fail(f"row {i}: {c} MUST be null for Tax")
    # pricingunit.md: null exactly when PricingQuantity is null
    if null(r["PricingQuantity"]) != null(r["PricingUnit"]):
        fail(f"row {i}: PricingUnit MUST be null exactly when PricingQuantity is")
    if not null(r["PricingCategory"]) and r["PricingCategory"] not in PRICING_CATEGORY_VALUES:
        fail(f"row {i}: PricingCategory {r['PricingCategory']!r} is not an allowed value")
    # listunitprice.md, contractedunitprice.md: non-negative decimals
    # listcost.md, contractedcost.md, pricingquantity.md: unit price x
    # PricingQuantity MUST match the cost (not for Corrections)
    try:
        q = None if null(r["PricingQuantity"]) else D(r["PricingQuantity"])
        for unit, cost in (("ListUnitPrice", "ListCost"), ("ContractedUnitPrice", "ContractedCost")):
            if null(r[unit]):
                continue
            if D(r[unit]) < 0:
                fail(f"row {i}: {unit} MUST be non-negative")
            if q is not None and cls != "Correction" and D(r[unit]) * q != D(r[cost]):
                fail(f"row {i}: {unit} x PricingQuantity = {D(r[unit]) * q} MUST match {cost} {r[cost]}")
        # listcost.md, contractedcost.md, effectivecost.md: a charge unrelated
        # to others (Credit...) MUST match BilledCost - N/A for Usage. tally:
        # no commitments, so EffectiveCost = BilledCost.
        if cat == "Usage" and D(r["EffectiveCost"]) != D(r["BilledCost"]):
            fail(f"row {i}: EffectiveCost MUST equal BilledCost without commitments")
    except decimal.InvalidOperation:
        fail(f"row {i}: a decimal column is not a number")
    # servicecategory.md / servicesubcategory.md: allowed values, one parent
    if r["ServiceCategory"] not in SERVICE_CATEGORIES:
        fail(f"row {i}: ServiceCategory {r['ServiceCategory']!r} is not an allowed value")
    if r["ServiceCategory"] == "AI and Machine Learning" and r["ServiceSubcategory"] not in AI_SUB:
        fail(f"row {i}: ServiceSubcategory {r['ServiceSubcategory']!r} is no child of its category")
    # servicename.md: one and only one ServiceCategory per ServiceName
    if service_category.setdefault(r["ServiceName"], r["ServiceCategory"]) != r["ServiceCategory"]:
        fail(f"row {i}: ServiceName {r['ServiceName']!r} MUST have one ServiceCategory")
    # skupriceid.md: one and only one parent SkuId
    if not null(r["SkuPriceId"]):
        if price_parent.setdefault(r["SkuPriceId"], r["SkuId"]) != r["SkuId"]:
            fail(f"row {i}: SkuPriceId {r['SkuPriceId']} MUST have one parent SkuId")
    # skumeter.md: null when SkuId is null (SHOULD: consistent per SkuId)
    if null(r["SkuId"]) and not null(r["SkuMeter"]):
        fail(f"row {i}: SkuMeter MUST be null when SkuId is null")
    # skupricedetails.md: KeyValueFormat; null when SkuPriceId is null; keys
    # begin with x_ unless FOCUS-defined (none apply); the same details for
    # the same SkuPriceId (associated with it); numeric values per PricingUnit
    if not null(r["SkuPriceDetails"]):
        if null(r["SkuPriceId"]):
            fail(f"row {i}: SkuPriceDetails MUST be null when SkuPriceId is null")
        d = key_value("SkuPriceDetails", r["SkuPriceDetails"], i)
        for k in (d or {}):
            if not k.startswith("x_"):
                fail(f"row {i}: SkuPriceDetails key {k} MUST begin with x_ (not FOCUS-defined)")
        if price_details.setdefault(r["SkuPriceId"], r["SkuPriceDetails"]) != r["SkuPriceDetails"]:
            fail(f"row {i}: SkuPriceDetails MUST be associated with its SkuPriceId")
    # billingaccountid.md: a unique identifier within a provider (one account,
    # one name)
    acct = (r["ProviderName"], r["BillingAccountId"])
    if accounts.setdefault(acct, r["BillingAccountName"]) != r["BillingAccountName"]:
        fail(f"row {i}: BillingAccountId {acct} MUST identify one billing account")
    # subaccountname.md: null exactly when SubAccountId is null
    if null(r["SubAccountId"]) != null(r["SubAccountName"]):
        fail(f"row {i}: SubAccountName MUST be null exactly when SubAccountId is")
    # tags.md: KeyValueFormat; provider-defined keys prefixed with a
    # provider-specified prefix (listed in the metadata's ProviderTagPrefixes);
    # user-defined tags (one scheme) not prefixed, never with a reserved prefix
    if not null(r["Tags"]):
        t = key_value("Tags", r["Tags"], i) or {}
        tally_keys = [k for k in t if any(k.startswith(p) for p in tag_prefixes)]
        if not tally_keys:
            fail(f"row {i}: Tags without tally's provider-defined keys")
        for k in ("team", "workflow", "task_type", "cost_center"):
            if not any(p + k in t for p in tag_prefixes):
                fail(f"row {i}: Tags lack the provider-defined key {k}")

# ---- metadata/ (schema, data generator) ----------------------------------------------------
# focusversion.md: MUST be provided, a published version, the one conformed to
if meta.get("FocusVersion") != "1.2":
    fail("metadata: FocusVersion MUST be \"1.2\"")
# datagenerator.md: MUST be provided, a string, not null
if not isinstance(meta.get("DataGenerator"), str) or not meta.get("DataGenerator"):
    fail("metadata: DataGenerator MUST be provided")
# creationdate.md: MUST be present, Date/Time (DateTimeFormat)
if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$", str(meta.get("CreationDate"))):
    fail("metadata: CreationDate MUST be a date/time")
if not meta.get("SchemaId"):
    fail("metadata: SchemaId missing")
# schema.mdpp: the metadata matches the data's structure; column_definition:
# ColumnName and DataType for every column; ProviderTagPrefixes for Tags
cols = [cd.get("ColumnName") for cd in meta.get("ColumnDefinition", [])]
if cols != header:
    fail(f"metadata: ColumnDefinition {cols} MUST match the file's columns {header}")
for cd in meta.get("ColumnDefinition", []):
    if not isinstance(cd.get("DataType"), str) or not cd.get("DataType"):
        fail(f"metadata: DataType MUST be provided for {cd.get('ColumnName')}")
if "Tags" in header and not tag_prefixes:
    fail("metadata: ProviderTagPrefixes MUST be provided for Tags")

for m in fails:
    print(m)
print("ok" if not fails else f"{len(fails)} failures")

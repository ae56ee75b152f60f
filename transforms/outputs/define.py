"""define.xml (Define-XML 2.1) from the metadata that drove the writers, and its HTML rendering.

Nothing here is typed twice: dataset and variable names, labels, order, core and origin come from
`read_variable_metadata` / `read_dataset_metadata` (SDTMIG + the study's variables.csv), lengths
are the ones the XPT writer wrote, datatypes and value-level lengths are computed from the very
frames written, codelists and their NCI codes from the study's CT (`Study.ct`: `mappings/ct/` with
the study's codelists.csv merged over it, transforms.spec.ct.merge_study_ct), key variables and value-level
metadata from the study's `datasets.csv`, derivations from `methods.csv` (shared algorithms) and the
variable spec's comments. So define.xml and the datasets cannot disagree.

Choices (Define-XML 2.1 specification and the CDISC SDTM example):

* ItemDef DataType: Num -> integer when every value is whole, else float with SignificantDigits;
  Char -> text, except --DTC (date when every value is a complete date, else datetime) and
  --DUR/TEDUR (durationDatetime). ISO 8601 datatypes carry no Length (as in the CDISC example);
  every text/integer/float ItemDef has Length = the XPT length.
* Codelists list the values present in the data, in CT-table order. A value of an extensible
  CDISC codelist that the study's CT marks `extended` (a sponsor extension the study declared),
  or does not know, is flagged def:ExtendedValue="Yes"; a term whose C-code was not verified is
  listed without an Alias. A codelist the study adds without an nci_codelist is a sponsor
  codelist (no def:StandardOID, no Alias). ARMCD (decoded by ARM from study.toml) and VISIT are
  sponsor codelists built from the data.
* Every Derived variable has a MethodDef: the shared algorithm of methods.csv naming it, else one
  made from the variable's comment in variables.csv (a derived variable with neither is a
  configuration error). Comments of non-derived variables become def:CommentDef.
* Value-level metadata (def:ValueListDef + def:WhereClauseDef) where datasets.csv asks for it,
  one item per test code present, with datatype, length, unit subset codelist and method.
* Output is deterministic: everything is ordered, and the creation date-time is the caller's
  (the export date), never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree

from transforms.spec.ct import ControlledTerminology

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}
DEFINE_VERSION = "2.1.0"
STYLESHEET = "define2-1.xsl"
ISO8601_TYPES = {"date", "datetime", "time", "partialDate", "partialTime", "partialDatetime",
                 "incompleteDatetime", "durationDatetime", "intervalDatetime"}
STD_IG, STD_CT = "STD.SDTMIG", "STD.CT.SDTM"
CLASS_ORDER = ["Trial Design", "Special-Purpose", "Interventions", "Events", "Findings"]
# Datasets with one record per subject at most.
NON_REPEATING = {"DM"}

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME = r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?$"
_DURATION = r"^P(\d+(\.\d+)?[YMWD])+(T(\d+(\.\d+)?[HMS])+)?$|^PT(\d+(\.\d+)?[HMS])+$"
_INTEGER = r"^[+-]?\d+$"
_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_MAX_DIGITS = 12


@dataclass(frozen=True)
class DefineStudy:
    """The study-level facts define.xml states (GlobalVariables, standards, leaf folder)."""

    studyid: str
    title: str
    sdtmig_version: str


def build_define_xml(
    datasets: dict[str, pd.DataFrame],
    lengths: dict[str, dict[str, int]],
    variables: pd.DataFrame,
    dataset_meta: pd.DataFrame,
    dataset_config: pd.DataFrame,
    methods: pd.DataFrame,
    ct: ControlledTerminology,
    sponsor_codelists: pd.DataFrame,
    study: DefineStudy,
    created: datetime,
    value_types: dict[tuple[str, str], str] | None = None,
) -> bytes:
    """define.xml as bytes.

    `datasets`: the typed frames exactly as written ({"DM": frame}, apply_variable_metadata
    output); `lengths`: the XPT lengths the writer returned per dataset; `variables`:
    read_variable_metadata; `dataset_meta`: read_dataset_metadata (dataset, label, class,
    structure); `dataset_config`: datasets.csv (dataset, keys, value_level); `methods`:
    methods.csv (method, name, targets, description); `sponsor_codelists`: codelist, value,
    decode rows for sponsor codelists (ARMCD -> ARM); `value_types`: the DataType of a
    value-level item where the protocol fixes it ({("TS", "SSTDTC"): "date"}), otherwise it is
    inferred from the values. Raises ValueError for configuration gaps.
    """
    builder = _Builder(datasets, lengths, variables, dataset_meta, dataset_config, methods, ct, sponsor_codelists,
                       study, value_types or {})
    root = builder.build(created)
    tree = etree.ElementTree(root)
    body = etree.tostring(tree, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    header = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + f'<?xml-stylesheet type="text/xsl" href="{STYLESHEET}"?>\n'.encode()
    )
    return header + body


def compute_study_oid(studyid: str) -> str:
    """Study/@OID; Dataset-JSON's studyOID refers to it."""
    return f"STDY.{studyid}"


def compute_metadata_version_oid(studyid: str, sdtmig_version: str) -> str:
    """MetaDataVersion/@OID; Dataset-JSON's metaDataVersionOID refers to it."""
    return f"MDV.{studyid}.SDTMIG.{sdtmig_version}"


def compute_item_group_oid(dataset: str) -> str:
    """ItemGroupDef/@OID of a dataset; Dataset-JSON's itemGroupOID refers to it."""
    return f"IG.{dataset}"


def compute_item_oid(dataset: str, variable: str) -> str:
    """ItemDef/@OID of a dataset's variable; Dataset-JSON's itemOID refers to it."""
    return f"IT.{dataset}.{variable}"


def check_define_schema(define_xml: bytes, schema_path: Path) -> list[str]:
    """Schema errors of a define.xml against the Define-XML 2.1 XSD (empty when valid)."""
    schema = etree.XMLSchema(etree.parse(str(schema_path)))
    document = etree.fromstring(define_xml)
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def render_define_html(define_xml: bytes, stylesheet_path: Path) -> bytes:
    """define.html: define.xml through the CDISC Define-XML 2.1 stylesheet (lxml XSLT)."""
    transform = etree.XSLT(etree.parse(str(stylesheet_path)))
    result = transform(etree.fromstring(define_xml))
    return etree.tostring(result, method="html", encoding="UTF-8", pretty_print=True)


def build_sponsor_codelists(arms: pd.DataFrame) -> pd.DataFrame:
    """Sponsor codelist rows from the study config: ARMCD decoded by ARM."""
    return pd.DataFrame({"codelist": "ARMCD", "value": arms["ARMCD"], "decode": arms["ARM"]})


# --- value analysis ------------------------------------------------------------------------------


def compute_data_type(values: pd.Series, sdtm_type: str, variable: str, *, value_level: bool = False) -> str:
    """The Define-XML DataType of a column (or of one test's values when `value_level`)."""
    present = compute_present_values(values)
    if sdtm_type == "Num":
        numbers = present.astype("float64").to_numpy()
        return "integer" if np.all(numbers == np.round(numbers)) else "float"
    text = present.astype(str)
    if variable.endswith("DTC"):
        return "date" if text.str.match(_DATE).all() else "datetime"
    if variable.endswith("DUR"):
        return "durationDatetime"
    if not value_level or text.empty:
        return "text"
    for data_type, pattern in (("integer", _INTEGER), ("float", _FLOAT), ("date", _DATE),
                               ("datetime", _DATETIME), ("durationDatetime", _DURATION)):
        if text.str.match(pattern).all():
            return data_type
    return "text"


def compute_significant_digits(values: pd.Series) -> int:
    """Digits after the decimal point needed by the values (numbers or numeric text), at most 12."""
    numbers = pd.to_numeric(values.dropna(), errors="coerce").dropna().unique().astype("float64")
    if len(numbers) == 0:
        return 0
    for digits in range(_MAX_DIGITS + 1):
        scaled = numbers * 10.0**digits
        if np.allclose(scaled, np.round(scaled), rtol=1e-9, atol=1e-9):
            return digits
    return _MAX_DIGITS


def compute_text_length(values: pd.Series) -> int:
    """Longest value in UTF-8 bytes (at least 1), as the XPT writer measures it."""
    text = compute_present_values(values).astype(str)
    return max(1, int(text.str.encode("utf-8").str.len().max())) if len(text) else 1


def compute_present_values(values: pd.Series) -> pd.Series:
    """The distinct non-null values: every property derived here depends only on them, and a
    1M-record column has a few hundred."""
    # unique() first, then the nulls of the few hundred distinct values: dropna() would copy the
    # whole column first (twice the time on a million records)
    distinct = pd.Series(values.unique(), dtype=values.dtype if values.dtype != "category" else object)
    return distinct[distinct.notna()].reset_index(drop=True)


# --- the document --------------------------------------------------------------------------------


def _odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _def(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _sub(parent, tag: str, attrib: dict | None = None, text: str | None = None):
    element = etree.SubElement(parent, tag, {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _description(parent, text: str, tag: str = "Description") -> None:
    holder = _sub(parent, _odm(tag))
    translated = _sub(holder, _odm("TranslatedText"), text=text)
    translated.set(f"{{{XML_NS}}}lang", "en")


class _Builder:
    """One define.xml: collects the referenced codelists, methods and comments while it writes
    the datasets and variables, then writes those definitions in OID order."""

    def __init__(self, datasets, lengths, variables, dataset_meta, dataset_config, methods, ct, sponsor_codelists,
                 study, value_types):
        self.datasets = datasets
        self.value_types = dict(value_types)
        self.lengths = lengths
        self.variables = variables[variables["dataset"].isin(list(datasets))]
        self.dataset_meta = dataset_meta.set_index("dataset")
        self.config = dataset_config.set_index("dataset")
        self.ct = ct
        self.sponsor = sponsor_codelists
        self.study = study
        self.method_of = _method_targets(methods)
        self.methods = methods.set_index("method")
        self.codelist_values: dict[str, set] = {}  # codelist -> values present
        self.subsets: dict[str, tuple[str, list]] = {}  # subset OID -> (codelist, values)
        self.used_methods: dict[str, tuple[str, str]] = {}  # OID -> (name, description)
        self.comments: dict[str, str] = {}
        self.value_lists: list = []  # (vl OID, [(item OID, where OID, order)])
        self.where_clauses: dict[str, tuple[str, str, str]] = {}  # OID -> (dataset, testcd var, value)
        self.item_defs: list = []
        self.test_records: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # _records_by_test
        self._check_config()

    def _check_config(self) -> None:
        missing = sorted(set(self.datasets) - set(self.config.index))
        if missing:
            raise ValueError(f"datasets.csv has no row for {missing}: add the dataset with its key variables")
        derived = self.variables[self.variables["origin"] == "Derived"]
        lacking = [
            f"{r.dataset}.{r.variable}" for r in derived.itertuples()
            if f"{r.dataset}.{r.variable}" not in self.method_of and not r.comment
        ]
        if lacking:
            raise ValueError(
                f"derived variable(s) {lacking} have no method: name them in methods.csv targets "
                "or describe the derivation in the variables.csv comment"
            )

    # -- top level

    def build(self, created: datetime):
        s = self.study
        root = etree.Element(_odm("ODM"), nsmap=NSMAP)
        for name, value in (
            ("ODMVersion", "1.3.2"), ("FileOID", f"{s.studyid}.SDTM.define"), ("FileType", "Snapshot"),
            ("CreationDateTime", created.strftime("%Y-%m-%dT%H:%M:%S")), ("Originator", "sdtmflow"),
            ("SourceSystem", "sdtmflow"), ("SourceSystemVersion", "1"),
        ):
            root.set(name, value)
        root.set(_def("Context"), "Submission")
        study = _sub(root, _odm("Study"), {"OID": compute_study_oid(s.studyid)})
        globals_ = _sub(study, _odm("GlobalVariables"))
        _sub(globals_, _odm("StudyName"), text=s.studyid)
        _sub(globals_, _odm("StudyDescription"), text=s.title)
        _sub(globals_, _odm("ProtocolName"), text=s.studyid)
        mdv = _sub(study, _odm("MetaDataVersion"), {
            "OID": compute_metadata_version_oid(s.studyid, s.sdtmig_version),
            "Name": f"{s.studyid} SDTM datasets",
            "Description": f"SDTM tabulation datasets of study {s.studyid} (SDTMIG {s.sdtmig_version})",
        })
        mdv.set(_def("DefineVersion"), DEFINE_VERSION)
        standards = _sub(mdv, _def("Standards"))
        _sub(standards, _def("Standard"), {"OID": STD_IG, "Name": "SDTMIG", "Type": "IG",
                                             "Version": s.sdtmig_version, "Status": "Final"})
        _sub(standards, _def("Standard"), {"OID": STD_CT, "Name": "CDISC/NCI", "Type": "CT",
                                             "PublishingSet": "SDTM", "Version": self.ct.version, "Status": "Final"})
        groups = [self._item_group(name) for name in self._dataset_order()]
        # Definitions referenced by the groups, in schema order: VLM, where clauses, groups,
        # items, codelists, methods, comments.
        for oid, items in self.value_lists:
            vl = _sub(mdv, _def("ValueListDef"), {"OID": oid})
            for item_oid, where_oid, order, mandatory, method in items:
                ref = _sub(vl, _odm("ItemRef"), {"ItemOID": item_oid, "OrderNumber": order,
                                                 "Mandatory": mandatory, "MethodOID": method})
                _sub(ref, _def("WhereClauseRef"), {"WhereClauseOID": where_oid})
        for oid in sorted(self.where_clauses):
            dataset, variable, value = self.where_clauses[oid]
            where = _sub(mdv, _def("WhereClauseDef"), {"OID": oid})
            check = _sub(where, _odm("RangeCheck"), {"Comparator": "EQ", "SoftHard": "Soft"})
            check.set(_def("ItemOID"), compute_item_oid(dataset, variable))
            _sub(check, _odm("CheckValue"), text=value)
        for group in groups:
            mdv.append(group)
        for item in self.item_defs:
            mdv.append(item)
        for oid in sorted(self.codelist_values):
            self._codelist(mdv, oid)
        for oid in sorted(self.subsets):
            self._codelist(mdv, oid)
        for oid in sorted(self.used_methods):
            name, text = self.used_methods[oid]
            method = _sub(mdv, _odm("MethodDef"), {"OID": oid, "Name": name, "Type": "Computation"})
            _description(method, text)
        for oid in sorted(self.comments):
            comment = _sub(mdv, _def("CommentDef"), {"OID": oid})
            _description(comment, self.comments[oid])
        return root

    def _dataset_order(self) -> list[str]:
        classes = self.dataset_meta.loc[list(self.datasets), "class"]
        rank = classes.map({c: i for i, c in enumerate(CLASS_ORDER)}).fillna(len(CLASS_ORDER))
        return sorted(self.datasets, key=lambda name: (rank[name], name))

    # -- datasets and variables

    def _item_group(self, name: str):
        meta = self.dataset_meta.loc[name]
        trial_design = meta["class"] == "Trial Design"
        group = etree.Element(_odm("ItemGroupDef"), {
            "OID": compute_item_group_oid(name), "Domain": name, "Name": name,
            "Repeating": "No" if name in NON_REPEATING or trial_design else "Yes",
            "IsReferenceData": "Yes" if trial_design else "No",
            "SASDatasetName": name, "Purpose": "Tabulation",
        })
        group.set(_def("Structure"), meta["structure"])
        group.set(_def("StandardOID"), STD_IG)
        group.set(_def("ArchiveLocationID"), f"LF.{name}")
        _description(group, meta["label"])
        keys = self.config.loc[name, "keys"].split()
        meta_vars = self.variables[self.variables["dataset"] == name].sort_values("order", kind="stable")
        unknown = [k for k in keys if k not in set(meta_vars["variable"])]
        if unknown:
            raise ValueError(f"datasets.csv: key variable(s) {unknown} of {name} are not {name} variables")
        value_level = self._value_level_spec(name)
        frame = self.datasets[name]
        for order, v in enumerate(meta_vars.itertuples(), start=1):
            method = self._method_for(f"{name}.{v.variable}", v) if v.origin == "Derived" else None
            _sub(group, _odm("ItemRef"), {
                "ItemOID": compute_item_oid(name, v.variable), "OrderNumber": order,
                "Mandatory": "Yes" if v.core == "Req" else "No",
                "KeySequence": keys.index(v.variable) + 1 if v.variable in keys else None,
                "MethodOID": method,
            })
            self.item_defs.append(self._item_def(name, v, frame, value_level))
        _sub(group, _def("Class"), {"Name": meta["class"].upper().replace("-", " ")})
        leaf = _sub(group, _def("leaf"), {"ID": f"LF.{name}"})
        # A bare file name: define.xml sits beside the datasets (FDA Study Data Technical
        # Conformance Guide), so the leaf resolves wherever the folder is copied.
        href = f"{name.lower()}.xpt"
        leaf.set(f"{{{XLINK_NS}}}href", href)
        _sub(leaf, _def("title"), text=href)
        return group

    def _item_def(self, dataset: str, v, frame: pd.DataFrame, value_level: tuple[str, list[str]] | None):
        values = frame[v.variable]
        data_type = compute_data_type(values, v.type, v.variable)
        attrib = {"OID": compute_item_oid(dataset, v.variable), "Name": v.variable, "DataType": data_type}
        if data_type not in ISO8601_TYPES:
            attrib["Length"] = self.lengths[dataset][v.variable]
        if data_type == "float":
            attrib["SignificantDigits"] = compute_significant_digits(values)
        attrib["SASFieldName"] = v.variable
        item = etree.Element(_odm("ItemDef"), {k: str(x) for k, x in attrib.items()})
        if v.comment and v.origin != "Derived":
            oid = f"COM.{dataset}.{v.variable}"
            self.comments[oid] = v.comment
            item.set(_def("CommentOID"), oid)
        _description(item, v.label)
        codelist = self._codelist_ref(v.study_codelist, values)
        if codelist:
            _sub(item, _odm("CodeListRef"), {"CodeListOID": codelist})
        self._origin(item, v)
        if value_level and v.variable in value_level[1]:
            oid = self._value_list(dataset, v, frame, value_level[0])
            if oid is not None:
                _sub(item, _def("ValueListRef"), {"ValueListOID": oid})
        return item

    def _origin(self, item, v) -> None:
        # A derivation is described once, by its MethodDef.
        _sub(item, _def("Origin"), {"Type": v.origin, "Source": v.source or None})

    def _method_for(self, target: str, v) -> str:
        oid = self.method_of.get(target)
        if oid is None and target.count(".") == 2:  # a value-level item without its own method
            return self._method_for(target.rsplit(".", 1)[0], v)
        if oid is not None:
            row = self.methods.loc[oid]
            self.used_methods[oid] = (row["name"], row["description"])
            return oid
        oid = f"MT.{target}"
        self.used_methods[oid] = (f"Algorithm to derive {target}", v.comment)
        return oid

    # -- value-level metadata

    def _value_level_spec(self, dataset: str) -> tuple[str, list[str]] | None:
        spec = str(self.config.loc[dataset, "value_level"] or "").strip()
        if not spec:
            return None
        testcd, _, targets = spec.partition(":")
        return testcd.strip(), targets.split()

    def _value_list(self, dataset: str, v, frame: pd.DataFrame, testcd: str) -> str | None:
        """The OID of the variable's value list, one item per test that has a value; None when no
        test has one (a column the site left blank): Define-XML forbids an empty ValueListDef."""
        oid = f"VL.{dataset}.{v.variable}"
        records = self._records_by_test(dataset, frame, testcd)
        order = self._test_order(pd.Series(list(records), dtype=object))
        column = frame[v.variable]
        items = []
        for position, code in enumerate(order, start=1):
            values = column.iloc[records[code]]
            if values.isna().all():
                continue  # this test never has a value here (e.g. INR has no unit)
            where = f"WC.{dataset}.{testcd}.{code}"
            self.where_clauses[where] = (dataset, testcd, code)
            item_oid = f"{compute_item_oid(dataset, v.variable)}.{code}"
            data_type = self.value_types.get((dataset, code)) or compute_data_type(
                values, v.type, v.variable, value_level=True
            )
            attrib = {"OID": item_oid, "Name": v.variable, "DataType": data_type}
            if data_type not in ISO8601_TYPES:
                attrib["Length"] = (
                    self.lengths[dataset][v.variable] if v.type == "Num" else compute_text_length(values)
                )
            if data_type == "float":
                attrib["SignificantDigits"] = compute_significant_digits(values)
            attrib["SASFieldName"] = v.variable
            item = etree.Element(_odm("ItemDef"), {k: str(x) for k, x in attrib.items()})
            _description(item, f"{v.label} ({testcd} = {code})")
            if v.study_codelist:
                subset = self._subset(v.study_codelist, f"{dataset}.{v.variable}.{code}", values)
                if subset:
                    _sub(item, _odm("CodeListRef"), {"CodeListOID": subset})
            self._origin(item, v)
            self.item_defs.append(item)
            method = self._method_for(f"{dataset}.{v.variable}.{code}", v) if v.origin == "Derived" else None
            items.append((item_oid, where, position, "No", method))
        if not items:
            return None
        self.value_lists.append((oid, items))
        return oid

    def _records_by_test(self, dataset: str, frame: pd.DataFrame, testcd: str) -> dict[str, np.ndarray]:
        """Test code -> positions of its records, in record order; grouped once per dataset, since
        every value-level variable of a million-record LB would otherwise rescan the codes per test."""
        key = (dataset, testcd)
        if key not in self.test_records:
            codes, tests = pd.factorize(frame[testcd], use_na_sentinel=True)
            by_code = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[by_code], np.arange(len(tests) + 1))
            self.test_records[key] = {
                test: by_code[bounds[i]:bounds[i + 1]] for i, test in enumerate(tests)
            }
        return self.test_records[key]

    def _test_order(self, tests: pd.Series) -> list[str]:
        """Test codes present, in CT-table order (then the others sorted)."""
        present = set(tests)
        known = [c for c in self.ct.codelists["value"] if c in present]
        return list(dict.fromkeys(known + sorted(present - set(known))))

    # -- codelists

    def _codelist_ref(self, codelist: str, values: pd.Series) -> str | None:
        if not codelist:
            return None
        if codelist in self.ct.external:
            self.codelist_values.setdefault(codelist, set())
            return f"CL.{codelist}"
        present = set(compute_present_values(values).astype(str))
        if not present:
            return None  # no value to list (e.g. ARMNRS when every subject has an arm)
        self.codelist_values.setdefault(codelist, set()).update(present)
        return f"CL.{codelist}"

    def _subset(self, codelist: str, suffix: str, values: pd.Series) -> str | None:
        present = sorted(set(compute_present_values(values).astype(str)))
        if not present or codelist in self.ct.external:
            return None
        oid = f"CL.{codelist}.{suffix}"
        self.subsets[oid] = (codelist, present)
        return oid

    def _codelist(self, mdv, oid: str) -> None:
        if oid in self.subsets:
            name, values = self.subsets[oid]
            label = f" ({oid.split('.', 2)[2]})"
        else:
            name, values = oid, sorted(self.codelist_values[oid])
            label = ""
        if name in self.ct.external:
            external = self.ct.external[name]
            cl = _sub(mdv, _odm("CodeList"), {"OID": f"CL.{name}", "Name": external["name"], "DataType": "text"})
            _sub(cl, _odm("ExternalCodeList"), {"Dictionary": external["dictionary"],
                                                "Version": external["version"], "href": external.get("href")})
            return
        table = self.ct.codelists[self.ct.codelists["codelist"] == name]
        sponsor = self.sponsor[self.sponsor["codelist"] == name]
        terms = _codelist_terms(table, sponsor, values)
        cl_name = (table["name"].iloc[0] if len(table) else name) + label
        attrib = {"OID": oid if oid in self.subsets else f"CL.{name}", "Name": cl_name, "DataType": "text"}
        cl = _sub(mdv, _odm("CodeList"), attrib)
        nci_codelist = table["nci_codelist"].iloc[0] if len(table) else ""
        if nci_codelist:
            cl.set(_def("StandardOID"), STD_CT)
        decoded = terms["decode"].ne("").any()
        extensible = (table["extensible"].iloc[0] if len(table) else "Yes") == "Yes"
        for order, term in enumerate(terms.itertuples(), start=1):
            tag = "CodeListItem" if decoded else "EnumeratedItem"
            entry = _sub(cl, _odm(tag), {"CodedValue": term.value, "OrderNumber": order})
            if nci_codelist and extensible and (term.extended == "Yes" or not term.in_table):
                entry.set(_def("ExtendedValue"), "Yes")
            if decoded:
                _description(entry, term.decode or term.value, tag="Decode")
            if term.nci_code:
                _sub(entry, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": term.nci_code})
        if nci_codelist:
            _sub(cl, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": nci_codelist})


def _codelist_terms(table: pd.DataFrame, sponsor: pd.DataFrame, values) -> pd.DataFrame:
    """The terms of one codelist present in `values`: CT-table order first, then the rest sorted."""
    present = set(values)
    known = pd.concat([table[["value", "nci_code", "decode", "extended"]], sponsor.assign(nci_code="", extended="")[["value", "nci_code", "decode", "extended"]]], ignore_index=True)
    known = known[known["value"].isin(present)].drop_duplicates("value").assign(in_table=True)
    others = sorted(present - set(known["value"]))
    extra = pd.DataFrame({"value": others, "nci_code": "", "decode": "", "extended": "", "in_table": False})
    return pd.concat([known, extra], ignore_index=True).fillna("")


def _method_targets(methods: pd.DataFrame) -> dict[str, str]:
    targets = methods.assign(target=methods["targets"].str.split()).explode("target")
    duplicated = targets[targets.duplicated("target")]
    if not duplicated.empty:
        raise ValueError(f"methods.csv: {sorted(set(duplicated['target']))} named by two methods: keep one")
    return dict(zip(targets["target"], targets["method"]))


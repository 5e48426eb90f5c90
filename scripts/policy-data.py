#!/usr/bin/env python3
"""Extract the Azure Policy data trustprint ships from Microsoft's published built-ins.

Usage: scripts/policy-data.py BUILTINS.tar.xz ALIASES.csv.gz OUT_DIR

Writes OUT_DIR/initiatives/*.json (the initiatives trustprint names), OUT_DIR/definitions.json (every
definition they reference, plus Allowed locations, as Microsoft publishes them) and OUT_DIR/aliases.csv
(the aliases of every resource type those definitions touch). Re-run it to refresh the data.
"""
import csv, glob, gzip, io, json, os, re, sys, tarfile, tempfile

INITIATIVES = {
    "uk-nhs": "policySetDefinitions/Regulatory Compliance/ukofficial_audit.json",
    "ncsc-caf": "policySetDefinitions/Regulatory Compliance/UK_NCSC_CAF_v3.2.json",
}
EXTRA = ["e56962a6-4747-49cd-b67b-bf8b01975c4c"]  # Allowed locations: assigned beside the initiatives


def main(tar_path, aliases_path, out):
    tmp = tempfile.mkdtemp()
    with tarfile.open(tar_path) as t:
        t.extractall(tmp, filter="data")
    root = os.path.join(tmp, "built-in-policies")
    index = {}
    for f in glob.glob(os.path.join(root, "policyDefinitions/**/*.json"), recursive=True):
        with open(f, encoding="utf-8-sig") as fh:
            d = json.load(fh)
        index[d["name"].lower()] = d
    os.makedirs(os.path.join(out, "initiatives"), exist_ok=True)
    wanted = list(EXTRA)
    for key, rel in INITIATIVES.items():
        with open(os.path.join(root, rel), encoding="utf-8-sig") as fh:
            s = json.load(fh)
        with open(os.path.join(out, "initiatives", key + ".json"), "w") as fh:
            json.dump(s, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        for r in s["properties"]["policyDefinitions"]:
            wanted.append(r["policyDefinitionId"].rsplit("/", 1)[1])
    defs = []
    seen = set()
    for i in wanted:
        if i.lower() in seen:
            continue
        seen.add(i.lower())
        defs.append(index[i.lower()])
    defs.sort(key=lambda d: d["name"].lower())
    with open(os.path.join(out, "definitions.json"), "w") as fh:
        json.dump(defs, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    text = json.dumps(defs)
    types = set()
    for m in re.finditer(r'"((?:Microsoft|microsoft)\.[A-Za-z]+/[A-Za-z]+(?:/[A-Za-z]+)*)', text):
        types.add(m.group(1).lower())
    # Every prefix of a mentioned path may be the resource type (an alias is type/property).
    prefixes = set()
    for t in types:
        parts = t.split("/")
        for n in range(2, len(parts) + 1):
            prefixes.add("/".join(parts[:n]))
    rows = []
    with gzip.open(aliases_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            alias, _, path = line.rstrip("\n").partition(",")
            head = alias.lower().rsplit("/", 1)[0]
            if head in prefixes:
                rows.append((alias, path))
    with open(os.path.join(out, "aliases.csv"), "w") as fh:
        for a, p in rows:
            fh.write(f"{a},{p}\n")
    print(f"{len(defs)} definitions, {len(rows)} aliases")


if __name__ == "__main__":
    main(*sys.argv[1:])

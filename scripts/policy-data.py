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
# Assigned beside the initiatives (the exemplar's governance template) or commonly assigned with them, so the
# local cloud has them as built-ins: Allowed locations, Allowed locations for resource groups, Require a tag on
# resources, Require a tag on resource groups, Add a tag to resources, Not allowed resource types.
EXTRA = [
    "e56962a6-4747-49cd-b67b-bf8b01975c4c",
    "e765b5de-1225-4ba3-bd56-1ac6695af988",
    "871b6d14-10aa-478d-b590-94f262ecfa99",
    "96670d01-0a4d-4649-9c89-2d3abc0a5025",
    "4f9dc7db-30c1-420c-b61a-e1d640128d26",
    "6c112d4e-5bc7-47ae-a041-ea2d9dccd749",
]


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
    # The names of every built-in, so the local cloud can accept an assignment of one it does not evaluate.
    with open(os.path.join(out, "catalog.tsv"), "w") as fh:
        for kind in ("policyDefinitions", "policySetDefinitions"):
            names = set()
            for f in glob.glob(os.path.join(root, kind, "**/*.json"), recursive=True):
                with open(f, encoding="utf-8-sig") as g:
                    names.add(json.load(g)["name"])
            for n in sorted(names):
                fh.write(f"{kind}\t{n}\n")
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

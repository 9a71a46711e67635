#!/usr/bin/env python3
"""The cgroup-v2 lane's plan, resolved on the host: each entry ("package/target filter...")
becomes a line "name<TAB>directory<TAB>executable<TAB>filters" of LANE/plan.partial, from
cargo's build report LANE/artifacts.json. Refuses (exit 1, naming it) an entry whose target is
not in the report, or a filter that matches no test of it: such a filter would run nothing
in the guest and still report "ok".
    resolve-plan.py LANE ENTRY...
"""
import json, os, subprocess, sys
lane, plan = sys.argv[1], sys.argv[2:]
exes = {}
for line in open(os.path.join(lane, "artifacts.json")):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        # "path+file:///work/main/oci#pier-oci@0.1.0" -> "pier-oci"
        package = m["package_id"].rsplit("#", 1)[-1].split("@")[0]
        t = m["target"]
        target = "lib" if "lib" in t["kind"] else t["name"]
        exes[f"{package}/{target}"] = (m["executable"], os.path.dirname(m["manifest_path"]))
with open(os.path.join(lane, "plan.partial"), "w") as out:
    for entry in plan:
        name, *filters = entry.split()
        if name not in exes:
            sys.exit(f"v2-lane: no test target named {name!r} (known: {', '.join(sorted(exes))})")
        exe, cwd = exes[name]
        # A filter that matches no test would run nothing and still report "ok": refuse it.
        for f in filters:
            listed = subprocess.run([exe, "--list", f], cwd=cwd, capture_output=True, text=True)
            if not any(l.endswith(": test") for l in listed.stdout.splitlines()):
                sys.exit(f"v2-lane: the filter {f!r} of {name} matches no test")
        out.write("\t".join([name.replace("/", "-"), cwd, exe, " ".join(filters)]) + "\n")

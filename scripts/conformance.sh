#!/usr/bin/env bash
# The OCI conformance measurement: youki's contest run against pier's runc entry point and
# against runc, in one go, with the tallies side by side.
#
#   scripts/conformance.sh KIT_DIR [PIER_BINARY]
#
# KIT_DIR is a youki checkout with its contest built (`scripts/build.sh -c contest -o bin`
# there: bin/contest and bin/runtimetest). The kit is not part of this repository and nothing
# is downloaded here: this is a measurement, like a benchmark, not a test. PIER_BINARY
# defaults to target/debug/pier of this checkout; runc is the one on PATH.
#
# Each group runs alone under a time limit (GROUP_TIMEOUT seconds, default 180), so a group
# that hangs or crashes is reported, not fatal. RUNTIME_KIND=runc for both runtimes: contest
# then skips the same cases for both (pier answers runc's command line). The host's mount
# table is compared before and after each runtime's run; mounts left behind are listed, and
# those under the work directory (contest's bundles: TMPDIR points there) are then unmounted.
# Containers contest leaves running (cgroups named by its UUIDs that were not there before,
# whose processes are provably this run's) are counted, killed and their cgroups removed.
#
# Output: a summary on stdout; every group's log under the work directory it names
# (CONFORMANCE_OUT, default a new /tmp/pier-conformance.XXXXXX).
set -uo pipefail

usage() {
    echo "usage: $0 KIT_DIR [PIER_BINARY]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: contest needs root" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
kit=$(realpath "$1") || usage
pier=$(realpath "${2:-$repo/target/debug/pier}") || { echo "$0: no pier binary (cargo build -p pier)" >&2; exit 2; }
contest=$kit/bin/contest
runtimetest=$kit/bin/runtimetest
for f in "$contest" "$runtimetest" "$pier"; do
    [ -x "$f" ] || { echo "$0: $f is missing: build the contest in the kit (scripts/build.sh -c contest -o bin)" >&2; exit 2; }
done
runc=$(command -v runc) || { echo "$0: runc is not on PATH" >&2; exit 2; }
bundle=$kit/tests/contest/contest/bundle-$(uname -m).tar.gz
[ -f "$bundle" ] || bundle=$kit/tests/contest/contest/bundle.tar.gz
timeout_s=${GROUP_TIMEOUT:-180}

work=${CONFORMANCE_OUT:-$(mktemp -d /tmp/pier-conformance.XXXXXX)}
mkdir -p "$work/tmp"
# contest makes each bundle with tempfile: under the work directory, so what a runtime leaves
# mounted there is told apart from the rest of the host, and can be cleaned up.
export TMPDIR=$work/tmp
cp "$bundle" "$work/bundle.tar.gz"
# contest resolves the runtime's path (a pier-runc symlink would reach pier as `pier`, not as
# a runc), so pier's entry point is a wrapper script that names the subcommand.
cat >"$work/pier-runc" <<EOF
#!/bin/sh
exec "$pier" runtime "\$@"
EOF
chmod 755 "$work/pier-runc"

cd "$work" || exit 2
mapfile -t groups < <("$contest" list 2>/dev/null | grep -E '^[A-Za-z0-9_]+$')
[ ${#groups[@]} -gt 0 ] || { echo "$0: '$contest list' named no groups" >&2; exit 2; }

# contest names its containers with UUIDs; their cgroups are named after them.
uuid_re='.*/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
container_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d -regextype egrep -regex "$uuid_re" 2>/dev/null | sort
}

# ours PID: whether the process belongs to this run: its root is a bundle under the work
# directory (a container), or its command line names that directory (a runtime process).
# Another contest run on the same host is left alone.
ours() {
    awk '$5 == "/" { print $4 }' "/proc/$1/mountinfo" 2>/dev/null | grep -q "^$work/tmp/" ||
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q "$work/tmp/"
}

# clean_up NAME: kills what this run left (processes of the new containers' cgroups that are
# ours, and any process still naming the work directory) and removes those containers'
# cgroups. Writes "cgroups-new cgroups-removed processes-killed" to NAME.left.
clean_up() {
    local name=$1 d p id procs=0 new removed=0
    comm -13 "$work/$name.cgroups-before" <(container_cgroups) >"$work/$name.cgroups-new"
    : >"$work/$name.ids-ours"
    while IFS= read -r d; do
        while IFS= read -r p; do
            ours "$p" || continue
            basename "$d" >>"$work/$name.ids-ours"
            [ -w "$d/freezer.state" ] && echo THAWED >"$d/freezer.state" 2>/dev/null
            kill -9 "$p" 2>/dev/null && procs=$((procs + 1))
        done < <(cat "$d/cgroup.procs" 2>/dev/null)
    done <"$work/$name.cgroups-new"
    for p in $(pgrep -f "$work/tmp/"); do
        kill -9 "$p" 2>/dev/null && procs=$((procs + 1))
    done
    sleep 1
    new=$(xargs -rn1 basename <"$work/$name.cgroups-new" | sort -u | grep -c .)
    while IFS= read -r id; do
        grep "/$id\$" "$work/$name.cgroups-new" | sort -r | while read -r d; do
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        removed=$((removed + 1))
    done < <(sort -u "$work/$name.ids-ours")
    echo "$new $removed $procs" >"$work/$name.left"
}

mount_table() {
    # mount point and source of every mount (the mount ID changes; these do not).
    awk '{ for (i = 7; $i != "-"; i++); print $5, $(i + 2) }' /proc/self/mountinfo | sort
}

# run_all NAME RUNTIME: every group, one contest process each; per-group logs in $work/NAME.
run_all() {
    local name=$1 runtime=$2 g rc
    mkdir -p "$work/$name"
    mount_table >"$work/$name.mounts-before"
    container_cgroups >"$work/$name.cgroups-before"
    for g in "${groups[@]}"; do
        RUNTIME_KIND=runc timeout -k 10 "$timeout_s" \
            "$contest" run --runtime "$runtime" --runtimetest "$runtimetest" -t "$g" \
            >"$work/$name/$g.log" 2>&1
        rc=$?
        if [ $rc = 124 ] || [ $rc = 137 ]; then
            echo "hung (killed after ${timeout_s}s)" >"$work/$name/$g.status"
        elif ! grep -q "^# End group $g\$" "$work/$name/$g.log"; then
            echo "crashed (exit $rc)" >"$work/$name/$g.status"
        fi
    done
    mount_table >"$work/$name.mounts-after"
    # Only what is under the work directory is this run's (another run may be mounting).
    comm -13 "$work/$name.mounts-before" "$work/$name.mounts-after" | grep "^$work/tmp/" \
        >"$work/$name.mounts-new"
    clean_up "$name"
}

# results NAME: "group::case result" lines (result ok, not-ok, skipped).
results() {
    local f g
    for f in "$work/$1"/*.log; do
        g=$(basename "$f" .log)
        sed -nE "s/^[0-9]+ \/ [0-9]+ : (.*) : (ok|not ok|skipped)\$/$g::\1\t\2/p" "$f" | tr ' ' '_' |
            sed 's/not_ok$/not-ok/'
    done
}

tally() {
    local r ok nok skip bad
    r=$(results "$1")
    ok=$(grep -c $'\tok$' <<<"$r")
    nok=$(grep -c $'\tnot-ok$' <<<"$r")
    skip=$(grep -c $'\tskipped$' <<<"$r")
    bad=$(find "$work/$1" -name '*.status' | wc -l)
    printf '%-6s %6s %8s %8s %20s\n' "$1" "$ok" "$nok" "$skip" "$bad"
}

run_all pier "$work/pier-runc"
run_all runc "$runc"

echo "youki contest ($(git -C "$kit" log -1 --format='%h %cs' 2>/dev/null || echo 'kit'))," \
    "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs"
echo "pier: $pier ($("$pier" --version 2>/dev/null | head -1)); runc: $("$runc" --version | head -1)"
echo
printf '%-6s %6s %8s %8s %20s\n' "" ok "not ok" skipped "crashed/hung groups"
tally pier
tally runc
for rt in pier runc; do
    for s in "$work/$rt"/*.status; do
        [ -e "$s" ] && echo "  $rt: group $(basename "$s" .status): $(cat "$s")"
    done
done
echo
echo "Cases runc passes and pier does not (pier's result):"
join -t $'\t' <(results pier | sort) <(results runc | sort) |
    awk -F'\t' '$3 == "ok" && $2 != "ok" { printf "  %s (%s)\n", $1, $2; n++ } END { if (!n) print "  none" }'
# A case runc passes in a group that crashed or hung under pier has no line of pier's.
for s in "$work/pier"/*.status; do
    [ -e "$s" ] || continue
    g=$(basename "$s" .status)
    comm -13 <(results pier | grep "^$g::" | cut -f1 | sort) \
        <(results runc | grep "^$g::" | awk -F'\t' '$2 == "ok" { print $1 }' | sort) |
        sed "s/^/  /; s/\$/ (no result: group $(cat "$s"))/"
done
echo
for rt in pier runc; do
    read -r new removed procs <"$work/$rt.left"
    echo "Containers left running by $rt's run: $removed (killed: $procs processes; cgroups removed);" \
        "new container cgroups on the host: $new (the others are empty, or another run's: left alone)"
done
for rt in pier runc; do
    n=$(wc -l <"$work/$rt.mounts-new")
    echo "Mounts left on the host after $rt's run: $n"
    sed 's/^/  /' "$work/$rt.mounts-new"
done
# Unmount what the runtimes left in contest's bundles (deepest first; lazily, as a propagated
# mount may be busy).
for _ in 1 2 3 4; do # stacked mounts on one path come off one per pass
    awk '{ print $5 }' /proc/self/mountinfo | grep "^$work/tmp/" | sort -ru | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
done
left=$(awk '{ print $5 }' /proc/self/mountinfo | grep -c "^$work/tmp/")
[ "$left" = 0 ] || echo "Still mounted under $work/tmp after clean-up: $left"
echo
echo "Logs: $work/{pier,runc}/GROUP.log"

#!/bin/bash
# The lane's plan, run JOBS test binaries at a time (default 1): each line of LANE/plan is a
# test executable (name, the directory cargo runs it in, the executable, its filters,
# tab-separated), taken in order by whichever runner is free, with its output in
# LANE/out/NAME.log and one summary line on stdout. Each binary has its own state roots, so
# two at once do not see each other; under TCG on a 2-core host two were no faster (the
# emulated CPUs are the limit), on a host with cores to spare they are.
#   run-plan.sh LANE [JOBS]    exits with the number of failed binaries; LANE/status says so
# Started by inside.sh in the guest; tests/lane_scripts.rs runs it on the host with stand-ins.
set -uo pipefail
lane="$1"
jobs="${2:-1}"
mkdir -p "$lane/out"
queue=$(mktemp -d)
trap 'rm -rf "$queue"' EXIT
echo 0 >"$queue/next"
: >"$queue/results"
mapfile -t entries <"$lane/plan"

# take: prints the index of the next entry to run (one past the last when none is left).
take() {
  (
    flock 9
    local i
    i=$(cat "$queue/next")
    echo $((i + 1)) >"$queue/next"
    echo "$i"
  ) 9>"$queue/lock"
}

runner() {
  local i name dir exe filters t0 rc summary line
  while :; do
    i=$(take)
    [ "$i" -lt "${#entries[@]}" ] || return 0
    IFS=$'\t' read -r name dir exe filters <<<"${entries[$i]}"
    [ -n "$name" ] || continue
    t0=$(date +%s)
    # shellcheck disable=SC2086 # filters are words
    (cd "$dir" && "$exe" --test-threads=2 $filters) </dev/null >"$lane/out/$name.log" 2>&1
    rc=$?
    summary=$(grep -E '^test result:' "$lane/out/$name.log" | tail -1)
    if [ $rc -ne 0 ]; then
      line="pier-lane: FAIL $name ($(($(date +%s) - t0)) s) $summary"
      line+=$'\n'$(grep -E '^test .* FAILED$|^    [a-z_:]+$' "$lane/out/$name.log" | head -20)
    else
      line="pier-lane: ok   $name ($(($(date +%s) - t0)) s) $summary"
    fi
    # One write per binary, so that the lines of two runners never interleave.
    printf '%s\n' "$line"
    (
      flock 9
      echo "$rc" >>"$queue/results"
    ) 9>"$queue/lock"
  done
}

start=$(date +%s)
for ((j = 0; j < jobs; j++)); do
  runner &
done
wait
n=$(grep -c '' "$queue/results")
failed=$(grep -vc '^0$' "$queue/results")
echo "pier-lane: $n test binaries, $failed failed, $(($(date +%s) - start)) s ($jobs at a time)" |
  tee "$lane/status"
exit "$failed"

#!/usr/bin/env bash
# End-to-end test of sharded runs on a real (one-node, loopback) Slurm cluster:
#   1. ci/slurm/cluster.sh start (skips this test, exit 0, where Slurm cannot run here);
#   2. a 3-task job array, each task `harness run suites/example.toml --shard auto` into
#      part-<SLURM_ARRAY_TASK_ID>, run from the repository root;
#   3. `harness merge` of the three parts, `harness verify` of the merged bundle;
#   4. the merged predictions.csv and metrics.json are byte-identical to an unsharded run;
#   5. a merge with a shard missing is refused with exit 2.
# The cluster is stopped on exit (HARNESS_SLURM_KEEP=1 leaves it up for a look).
#
# Usage: ci/slurm/shard_test.sh PATH/TO/harness
# Environment: HARNESS_SLURM_TIMEOUT (seconds to wait for the array, default 600), and
# HARNESS_SLURM_DIR / HARNESS_SLURM_PORT as for cluster.sh.
set -euo pipefail

harness=${1:?usage: ci/slurm/shard_test.sh PATH/TO/harness}
if [[ ! -x $harness ]]; then
    echo "slurm shard test: FAIL: $harness is not an executable" >&2
    exit 1
fi
# The tasks run elsewhere (another cwd, another process tree): absolute paths only.
harness=$(cd "$(dirname "$harness")" && pwd)/$(basename "$harness")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
timeout_s=${HARNESS_SLURM_TIMEOUT:-600}
export SLURM_CONF=${HARNESS_SLURM_DIR:-/tmp/harness-slurm}/slurm.conf
tasks=3

fail() {
    echo "slurm shard test: FAIL: $*" >&2
    exit 1
}

# 1. The cluster.
rc=0
bash "$here/cluster.sh" start || rc=$?
if ((rc == 77)); then
    echo "================================================================"
    echo "slurm shard test: SKIP: no Slurm cluster can run on this machine (reason above)"
    echo "================================================================"
    exit 0
elif ((rc != 0)); then
    fail "ci/slurm/cluster.sh start exited $rc"
fi
stop_cluster() {
    if [[ ${HARNESS_SLURM_KEEP:-0} == 1 ]]; then
        echo "slurm shard test: cluster left up (HARNESS_SLURM_KEEP=1); stop it with: bash ci/slurm/cluster.sh stop"
    else
        bash "$here/cluster.sh" stop >/dev/null 2>&1 || true
    fi
}
trap stop_cluster EXIT

work=$repo/target/slurm-shards
rm -rf "$work"
mkdir -p "$work"

# Prints the array's state and every task's log (on failure or timeout).
show_tasks() {
    local i f
    echo "---- squeue ----"
    squeue -a 2>&1 || true
    echo "---- scontrol show job $jobid ----"
    scontrol show job "$jobid" 2>&1 | grep -E 'JobId=|JobState=|ExitCode=|Reason=' || true
    for ((i = 1; i <= tasks; i++)); do
        for f in "$work/task-$i.out" "$work/task-$i.err"; do
            [[ -s $f ]] || continue
            echo "---- $f (last 40 lines) ----"
            tail -n 40 "$f"
        done
    done
}

# 2. The job array. Each task records its exit status, so no accounting database is needed.
{
    echo '#!/usr/bin/env bash'
    echo '# One shard of suites/example.toml (written by ci/slurm/shard_test.sh).'
    printf 'HARNESS=%q\nWORK=%q\n' "$harness" "$work"
    cat <<'EOF'
set -u
# --shard auto must take the shard from Slurm's variables, not from a Kubernetes setting.
unset JOB_COMPLETION_INDEX HARNESS_SHARD_COUNT
id=$SLURM_ARRAY_TASK_ID
echo "task $id (SLURM_ARRAY_TASK_MIN=$SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_COUNT=$SLURM_ARRAY_TASK_COUNT) of job $SLURM_ARRAY_JOB_ID on $(hostname) in $PWD"
"$HARNESS" run suites/example.toml --shard auto --no-perf --out "$WORK/part-$id"
rc=$?
echo "$rc" >"$WORK/task-$id.rc"
exit "$rc"
EOF
} >"$work/task.sbatch"

jobid=$(sbatch --parsable --array=1-"$tasks" --job-name=harness-shards --chdir="$repo" \
    --cpus-per-task=1 --time=30 --output="$work/task-%a.out" --error="$work/task-%a.err" \
    "$work/task.sbatch") || fail "sbatch refused the job array"
jobid=${jobid%%;*}
echo "slurm shard test: job array $jobid submitted ($tasks tasks, logs in $work)"

deadline=$((SECONDS + timeout_s))
errors=0
while :; do
    if pending=$(squeue -h -j "$jobid" -o %i 2>&1); then
        errors=0
        [[ -z $pending ]] && break
    elif ((++errors >= 10)); then
        show_tasks
        fail "squeue keeps failing: $pending"
    fi
    if ((SECONDS >= deadline)); then
        show_tasks
        scancel "$jobid" 2>/dev/null || true
        fail "job array $jobid not finished after ${timeout_s}s"
    fi
    sleep 2
done

failed=()
for ((i = 1; i <= tasks; i++)); do
    rc=$(cat "$work/task-$i.rc" 2>/dev/null || echo "none recorded")
    [[ $rc == 0 ]] || failed+=("task $i: exit $rc")
done
if ((${#failed[@]})); then
    show_tasks
    fail "job array $jobid: ${failed[*]}"
fi
echo "slurm shard test: all $tasks tasks exited 0:"
grep -h '^task ' "$work"/task-*.out | sed 's/^/  /'


# Runs a harness command with its output in $work/NAME.log; on failure prints the log.
step() {
    local name=$1
    shift
    if ! "$@" >"$work/$name.log" 2>&1; then
        tail -n 40 "$work/$name.log" >&2
        fail "$name: $*"
    fi
}

# 3. Merge and verify.
parts=()
for ((i = 1; i <= tasks; i++)); do parts+=("$work/part-$i"); done
step merge "$harness" merge "${parts[@]}" --out "$work/merged"
step verify "$harness" verify "$work/merged" --project-root .

# 4. The same suite unsharded: the merged files must be byte-identical.
step whole "$harness" run suites/example.toml --no-perf --out "$work/whole"
for f in predictions.csv metrics.json; do
    cmp "$work/merged/$f" "$work/whole/$f" || fail "merged $f differs from the unsharded run's"
done

# 5. A shard missing: merge must refuse it with exit 2.
rc=0
"$harness" merge "$work/part-1" "$work/part-3" --out "$work/bad" >"$work/bad.log" 2>&1 || rc=$?
if ((rc != 2)); then
    cat "$work/bad.log" >&2
    fail "merge without part-2 exited $rc, expected 2"
fi

echo "slurm shard test: PASS ($tasks shards on Slurm job $jobid merged, verified, identical to the unsharded run; a missing shard is refused)"

#!/bin/sh
# run.sh - the benchmark suite (docs/performance.md), started by `make bench`.
#
#   sh bench/run.sh                       # 1000 projects: about 100,000 documents
#   OM_BENCH_PROJECTS=10000 sh bench/run.sh
#
# Starts a throwaway PostgreSQL (tests/pg.sh), fills it with a synthetic
# instance (bench/om-gen) and times, as the median of OM_BENCH_RUNS runs
# (default 3), making the instance and the baseline every om tool is measured
# against: pg_dump -Fc of the same database.  Prints one small table.
# A case is a line of `measure` below: the tools add theirs as they come.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
projects=${OM_BENCH_PROJECTS:-1000}
runs=${OM_BENCH_RUNS:-3}

for p in "$top/bench/om-gen" "$top/om-store"; do
	if [ ! -x "$p" ]; then
		echo "bench: $p is not built (run make bench)" >&2
		exit 2
	fi
done

# Run the rest inside a throwaway server.
if [ -z "${OM_PG_TMP:-}" ]; then
	exec "$top/tests/pg.sh" sh "$0" "$@"
fi

work=$(mktemp -d "$OM_PG_TMP/bench.XXXXXX") || exit 2
results=$work/results
: > "$results"

now() { date +%s.%N; }

# measure LABEL SETUP COMMAND...: run SETUP (untimed) and then COMMAND, $runs
# times; record the median wall time of COMMAND under LABEL.
measure() {
	label=$1 setup=$2
	shift 2
	: > "$work/times"
	i=0
	while [ "$i" -lt "$runs" ]; do
		i=$((i + 1))
		$setup || exit 2
		t0=$(now)
		if ! "$@" >"$work/out" 2>"$work/err"; then
			echo "bench: $label failed:" >&2
			cat "$work/err" >&2
			exit 2
		fi
		t1=$(now)
		echo "$t1 $t0" | awk '{ printf "%.2f\n", $1 - $2 }' >> "$work/times"
	done
	printf '%s\t%s\n' "$label" "$(sort -n "$work/times" | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')" \
		>> "$results"
}

# An empty store with a new key, for each run of the generator.
fresh_store() {
	dropdb --if-exists bench 2>/dev/null &&
		createdb bench &&
		rm -f "$work/master.key" &&
		"$top/om-store" init --db dbname=bench --master-key-file "$work/master.key" --new-key
}

nothing() { :; }

measure "om-gen: generate and load" fresh_store \
	"$top/bench/om-gen" --db dbname=bench --master-key-file "$work/master.key" --projects "$projects"
summary=$(cat "$work/err")

# Settle the instance before reading it: hint bits set and statistics made
# now, so that neither they nor autovacuum land in a timed run.
psql -X -q -d bench -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT' || exit 2

measure "pg_dump -Fc (baseline)" nothing \
	pg_dump -Fc -f "$work/bench.dump" bench

dbsize=$(psql -X -At -d bench -c "SELECT pg_size_pretty(pg_database_size('bench'))")
dumpsize=$(du -h "$work/bench.dump" | cut -f1)

echo "om bench: $projects projects; times are the median of $runs run(s)"
echo "${summary#om-gen: }"
echo "database $dbsize, pg_dump -Fc file $dumpsize"
echo
printf '  %-36s %8s\n' "what" "seconds"
while IFS="$(printf '\t')" read -r label secs; do
	printf '  %-36s %8s\n' "$label" "$secs"
done < "$results"

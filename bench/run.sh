#!/bin/sh
# run.sh - the benchmark suite (docs/performance.md), started by `make bench`.
#
#   sh bench/run.sh                       # 1000 projects: about 100,000 documents
#   OM_BENCH_PROJECTS=10000 sh bench/run.sh
#
# Starts a throwaway PostgreSQL (tests/pg.sh), fills it with a synthetic
# instance (bench/om-gen) and times, as the median of OM_BENCH_RUNS runs
# (default 3), making the instance, the baseline every om tool is measured
# against (pg_dump -Fc of the same database) and the om tools on the same
# database.  Prints one small table: the median, the ratio to pg_dump -Fc's
# median, and the largest peak RSS of the timed process over the runs.
# A case is a line of `measure` below: the tools add theirs as they come.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
projects=${OM_BENCH_PROJECTS:-1000}
runs=${OM_BENCH_RUNS:-3}

for p in "$top/bench/om-gen" "$top/om-store" "$top/om-export" /usr/bin/time; do
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
# Temporary files (om-export's external sort) stay in the scratch directory,
# which tests/pg.sh removes.
mkdir "$work/tmp" || exit 2
TMPDIR=$work/tmp
export TMPDIR

now() { date +%s.%N; }

# measure LABEL SETUP COMMAND...: run SETUP (untimed) and then COMMAND, $runs
# times; record under LABEL the median wall time of COMMAND and its largest
# peak RSS (/usr/bin/time's %M, KiB; of COMMAND's process, not of the server).
measure() {
	label=$1 setup=$2
	shift 2
	: > "$work/times"
	: > "$work/rss"
	i=0
	while [ "$i" -lt "$runs" ]; do
		i=$((i + 1))
		$setup || exit 2
		t0=$(now)
		if ! /usr/bin/time -a -o "$work/rss" -f %M "$@" >"$work/out" 2>"$work/err"; then
			echo "bench: $label failed:" >&2
			cat "$work/err" >&2
			exit 2
		fi
		t1=$(now)
		echo "$t1 $t0" | awk '{ printf "%.2f\n", $1 - $2 }' >> "$work/times"
	done
	printf '%s\t%s\t%s\n' "$label" \
		"$(sort -n "$work/times" | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')" \
		"$(sort -n "$work/rss" | tail -n 1)" >> "$results"
}

# An empty store with a new key, for each run of the generator.
fresh_store() {
	dropdb --if-exists bench 2>/dev/null &&
		createdb bench &&
		rm -f "$work/master.key" &&
		"$top/om-store" init --db dbname=bench --master-key-file "$work/master.key" --new-key
}

nothing() { :; }
# No output from an earlier run (the bundle forms replace it anyway).
no_tar() { rm -f "$work/bundle.tar"; }
no_tar_zst() { rm -f "$work/bundle.tar.zst"; }
no_dir() { rm -rf "$work/bundle"; }

measure "om-gen: generate and load" fresh_store \
	"$top/bench/om-gen" --db dbname=bench --master-key-file "$work/master.key" --projects "$projects"
summary=$(grep '^om-gen:' "$work/err")

# Settle the instance before reading it: hint bits set and statistics made
# now, so that neither they nor autovacuum land in a timed run.
psql -X -q -d bench -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT' || exit 2

baseline="pg_dump -Fc (baseline)"
measure "$baseline" nothing \
	pg_dump -Fc -f "$work/bench.dump" bench

# om-export of the whole instance, with the key om-gen sealed its secrets
# under.  The last case updates the directory the one before it left: the
# same snapshot, so every file is compared and none is written.
db=dbname=bench key=$work/master.key
measure "om-export -o X.tar" no_tar \
	"$top/om-export" --db "$db" --master-key-file "$key" --redact-secrets -o "$work/bundle.tar"
measure "om-export -o X.tar.zst" no_tar_zst \
	"$top/om-export" --db "$db" --master-key-file "$key" --redact-secrets -o "$work/bundle.tar.zst"
measure "om-export -o DIR (new directory)" no_dir \
	"$top/om-export" --db "$db" --master-key-file "$key" --redact-secrets -o "$work/bundle"
measure "om-export -o DIR (unchanged, in place)" nothing \
	"$top/om-export" --db "$db" --master-key-file "$key" --redact-secrets -o "$work/bundle"

# Deterministic: another export gives the same bytes, and the .tar.zst
# holds the same tar.
"$top/om-export" --db "$db" --master-key-file "$key" --redact-secrets -o "$work/again.tar" || exit 2
if cmp -s "$work/bundle.tar" "$work/again.tar" &&
	zstd -q -dc "$work/bundle.tar.zst" | cmp -s - "$work/bundle.tar"; then
	same="byte-identical"
else
	same="NOT byte-identical"
fi

dbsize=$(psql -X -At -d bench -c "SELECT pg_size_pretty(pg_database_size('bench'))")
size() { du -h "$1" | tail -n 1 | cut -f1; }

echo "om bench: $projects projects; times are the median of $runs run(s)"
echo "${summary#om-gen: }"
echo "database $dbsize, pg_dump -Fc file $(size "$work/bench.dump")"
echo "bundle: .tar $(size "$work/bundle.tar"), .tar.zst $(size "$work/bundle.tar.zst"), directory $(size "$work/bundle")"
echo "two exports and the .tar.zst: $same"
echo
base=$(awk -F '\t' -v l="$baseline" '$1 == l { print $2 }' "$results")
printf '  %-40s %8s %14s %9s\n' "what" "seconds" "/ pg_dump -Fc" "peak RSS"
while IFS="$(printf '\t')" read -r label secs rss; do
	case $label in
	om-gen*) ratio=- ;;
	*) ratio=$(awk -v s="$secs" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? s / b : 0) }') ;;
	esac
	printf '  %-40s %8s %14s %6d MB\n' "$label" "$secs" "$ratio" "$(((rss * 1024 + 500000) / 1000000))"
done < "$results"
[ "$same" = byte-identical ]

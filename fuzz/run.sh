#!/bin/sh
# run.sh - run each libFuzzer target for a set time from its seed corpus.
#
#   sh fuzz/run.sh BINDIR SECONDS TARGET...
#
# Seeds are read in place, never copied: the fixtures, the acme bundle,
# JSONTestSuite (../shared/testdata), fuzz/regressions/ and, for the bundle
# reader, the acme bundle as tar and tar.zst (made with om-encrypt, which
# copies a redacted bundle through); for the directory reader, fuzz/seeds/dir/
# and the acme bundle in that target's input form (fuzz/fuzz_dir.c).  New inputs go to build/fuzz/corpus/,
# crashes to build/fuzz/crash-*; copy a crash into fuzz/regressions/TARGET/
# once it is fixed.  Exit 1 when a target found something.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$1 secs=$2
shift 2
testdata=${OM_TESTDATA:-$top/../shared/testdata}
out=$top/build/fuzz
mkdir -p "$out/seeds"
# Leaks of third-party libraries on error paths (see the file).
LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
export LSAN_OPTIONS

seeds=$out/seeds/bundle
if [ ! -s "$seeds/acme.tar.zst" ]; then
	mkdir -p "$seeds"
	OM_PASSWORD=x "$top/om-encrypt" -o "$seeds/acme.tar" "$top/fixtures/acme-bundle" &&
	OM_PASSWORD=x "$top/om-encrypt" -o "$seeds/acme.tar.zst" "$top/fixtures/acme-bundle" ||
		exit 2
fi
# The acme bundle as fuzz_dir's input: "f" PATH newline DATA, two NULs
# after each file.
dseeds=$out/seeds/dir
if [ ! -s "$dseeds/acme" ]; then
	mkdir -p "$dseeds"
	(cd "$top/fixtures/acme-bundle" && find . -type f | LC_ALL=C sort |
	while IFS= read -r f; do
		printf 'f%s\n' "${f#./}" && cat "$f" && printf '\0\0' || exit 2
	done) >"$dseeds/acme.tmp" && mv "$dseeds/acme.tmp" "$dseeds/acme" || exit 2
fi

status=0
for t in "$@"; do
	case $t in
	canon) dirs="$top/fuzz/regressions/canon $testdata/jsontestsuite $top/fixtures/bad
		     $top/fixtures/acme-bundle"; len=65536 ;;
	names) dirs="$top/fuzz/regressions/names $top/fixtures/acme-bundle/spaces"; len=1024 ;;
	bundle) dirs="$top/fuzz/regressions/bundle $top/fixtures/bad $seeds"; len=1300000 ;;
	dir) dirs="$top/fuzz/regressions/dir $top/fuzz/seeds/dir $dseeds"; len=65536 ;;
	octopus) dirs="$top/fuzz/regressions/octopus"; len=65536 ;;
	*) echo "fuzz/run.sh: no target '$t'" >&2; exit 2 ;;
	esac
	mkdir -p "$out/corpus/$t"
	echo "fuzz: $t for ${secs}s" >&2
	# The directory target makes a tree for each input: in memory when it
	# can (fuzz_dir.c uses TMPDIR).
	tmpdir=${TMPDIR:-/tmp}
	[ "$t" = dir ] && [ -d /dev/shm ] && [ -w /dev/shm ] && tmpdir=/dev/shm
	TMPDIR=$tmpdir "$bin/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-max_len=$len -print_final_stats=1 -artifact_prefix="$out/crash-$t-" \
		"$out/corpus/$t" $dirs 2>"$out/$t.log"
	rc=$?
	grep -E '^stat::number_of_executed_units|^Done|^==.*ERROR|SUMMARY' "$out/$t.log" >&2
	if [ $rc -ne 0 ]; then
		echo "fuzz: $t failed (exit $rc): see $out/$t.log" >&2
		status=1
	fi
done
exit $status

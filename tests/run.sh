#!/bin/sh
# run.sh - the test runner, started by check.sh inside tests/pg.sh (PGHOST
# and friends point at the throwaway server).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# Leaks of third-party libraries on error paths (see the file).
LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}
# Under make SANITIZE=..., a sanitizer report exits 99, a status no om
# program uses (they exit 1 by default), so that `must_fail 1` cannot take
# a sanitizer abort for an expected "no".  Set last, so that it wins.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99
UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=99:halt_on_error=1
export LSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS
update=0
if [ "${1:-}" = --update ]; then
	update=1
	shift
fi
passed=0
failed=0
skipped=0
failures=
# A test that cannot run here (missing third-party data, a missing tool)
# skips: counted, and named with its reason at the end.  With OM_NO_SKIP=1
# (.ci/run sets it) a skip is a failure, so that CI always runs everything.
no_skip=${OM_NO_SKIP:-0}

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); failures="$failures $1"; echo "FAIL $1"; }
# skip NAME WHY
skip() {
	if [ "$no_skip" = 1 ]; then
		fail "$1 (skipped, OM_NO_SKIP=1: $2)"
	else
		skipped=$((skipped + 1))
		echo "$1: $2" >>"$work/skips"
	fi
}

# A scratch directory for the whole run, removed at the end by pg.sh's
# cleanup (it lives inside the server's temporary directory).
work=$(mktemp -d "$OM_PG_TMP/run.XXXXXX") || exit 2
chmod 755 "$work"

# ---- unit tests ----
if [ $# -eq 0 ]; then
	for t in "$top"/build/tests/test_*; do
		[ -x "$t" ] || continue
		out=$("$t" 2>"$work/unit.err")
		rc=$?
		echo "$out" | while read -r st name; do
			[ "$st" = FAIL ] && echo "FAIL $(basename "$t"): $name"
		done
		# "skip NAME: WHY" (SKIP() of tests/unit/t.h)
		echo "$out" | sed -n 's/^skip //p' >"$work/unit.skips"
		while IFS= read -r line; do
			skip "$(basename "$t") ${line%%: *}" "${line#*: }"
		done <"$work/unit.skips"
		n_ok=$(echo "$out" | grep -c '^ok ')
		n_fail=$(echo "$out" | grep -c '^FAIL ')
		passed=$((passed + n_ok))
		failed=$((failed + n_fail))
		if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then
			fail "$(basename "$t") (exit $rc)"
		fi
		[ -s "$work/unit.err" ] && [ "$rc" -ne 0 ] && sed 's/^/    /' "$work/unit.err"
	done
fi

OM_TOP=$top
export OM_TOP
# ---- CLI cases ----
cases=
if [ $# -gt 0 ]; then
	for c in "$@"; do cases="$cases $top/tests/cli/${c%.sh}.sh"; done
else
	cases=$(ls "$top"/tests/cli/*.sh 2>/dev/null)
fi
for c in $cases; do
	name=$(basename "$c" .sh)
	base=${c%.sh}
	dir=$(mktemp -d "$work/$name.XXXXXX")
	# The case's temporary files too (TMPDIR), so that whatever a program
	# leaves there is seen below and removed with the case.
	mkdir "$dir/.tmp"
	chmod 755 "$dir" "$dir/.tmp"
	(cd "$dir" && LC_ALL=C OM_CASE=$name HOME=$dir TMPDIR=$dir/.tmp OM_SKIP_FILE=$dir/.skip \
		sh -c '. "$1"; . "$2"' sh "$top/tests/lib.sh" "$c" >"$dir/.stdout" 2>"$dir/.stderr")
	rc=$?
	# Each case starts with the server as it was: drop what it created.
	for db in $(psql -X -At -d postgres -c "SELECT datname FROM pg_database
			WHERE datname NOT IN ('postgres', 'template0', 'template1', 'acme_tmpl')"); do
		dropdb "$db"
	done
	# skip() of tests/lib.sh: exit 77 with the reason in .skip.  The
	# expected outputs stay as they are, even with --update.
	if [ "$rc" = 77 ] && [ -s "$dir/.skip" ]; then
		skip "$name" "$(cat "$dir/.skip")"
		rm -rf "$dir"
		continue
	fi
	want_rc=0
	[ -f "$base.exit" ] && want_rc=$(cat "$base.exit")
	if [ "$update" = 1 ]; then
		cp "$dir/.stdout" "$base.out"
		cp "$dir/.stderr" "$base.err"
		[ "$rc" = 0 ] && rm -f "$base.exit" || echo "$rc" > "$base.exit"
		[ -s "$base.out" ] || rm -f "$base.out"
		[ -s "$base.err" ] || rm -f "$base.err"
		pass
		rm -rf "$dir"
		continue
	fi
	ok=1
	if [ -n "$(ls -A "$dir/.tmp")" ]; then
		echo "  $name: left in TMPDIR: $(ls -A "$dir/.tmp" | tr '\n' ' ')"
		ok=0
	fi
	if [ "$rc" != "$want_rc" ]; then
		echo "  $name: exit status $rc, expected $want_rc"
		ok=0
	fi
	for s in out err; do
		want=$base.$s
		[ -f "$want" ] || want=/dev/null
		if ! cmp -s "$want" "$dir/.std$s"; then
			echo "  $name: std$s differs:"
			diff -u "$want" "$dir/.std$s" | sed -n '3,40p' | sed 's/^/    /'
			ok=0
		fi
	done
	if [ "$ok" = 1 ]; then
		pass
	else
		fail "$name"
	fi
	rm -rf "$dir"
done

[ -s "$work/skips" ] && sed 's/^/skipped /' "$work/skips"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

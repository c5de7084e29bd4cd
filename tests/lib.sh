# lib.sh - helpers for the CLI cases of tests/cli/, sourced before each case.
#
# A case is a shell script run in a fresh empty directory (its HOME too,
# and TMPDIR its subdirectory .tmp, which must be empty at the end), with
# LC_ALL=C, the built programs first on PATH and PG* pointing at the
# throwaway server.  Its exit status, standard output and standard error are
# compared with NAME.exit (0 when absent), NAME.out and NAME.err.
set -eu

# run.sh sets OM_TOP to the top of the source tree.
: "${OM_TOP:?}"
PATH=$OM_TOP:$PATH
OM_FIXTURES=$OM_TOP/fixtures
# Third-party test data lives beside the repository, not in it.
OM_TESTDATA=${OM_TESTDATA:-$OM_TOP/../shared/testdata}
export PATH OM_TOP OM_FIXTURES OM_TESTDATA

# must_fail CODE CMD...: CMD must exit with exactly CODE.  A crash, a signal
# or a sanitizer abort never passes for an expected failure.
# Use it, not `! CMD`, for checks that must find nothing (must_fail 1 grep,
# must_fail 1 cmp): set -e ignores a command negated with !, and grep or
# cmp exit 2 on trouble.
must_fail() {
	_want=$1
	shift
	set +e
	"$@"
	_got=$?
	set -e
	if [ "$_got" -ne "$_want" ]; then
		if [ "$_got" -gt 128 ]; then
			echo "must_fail: '$*' died of signal $((_got - 128))" >&2
		elif [ "$_got" -eq 99 ]; then
			echo "must_fail: '$*' exited 99 (a sanitizer report), expected $_want" >&2
		else
			echo "must_fail: '$*' exited $_got, expected $_want" >&2
		fi
		return 1
	fi
	return 0
}

# skip WHY: end the case here as skipped (not passed, not failed): run.sh
# counts it and prints WHY at the end, or counts it as a failure under
# OM_NO_SKIP=1.  For what the machine or the checkout lacks, never for a
# result the case does not like.
skip() {
	printf '%s\n' "$*" >"$OM_SKIP_FILE"
	exit 77
}

# need_testdata PATH...: skip unless each PATH is in $OM_TESTDATA, the
# third-party data (JSONTestSuite, a real Octopus export) kept beside the
# repository, not in it.
need_testdata() {
	for _p; do
		[ -e "$OM_TESTDATA/$_p" ] ||
			skip "needs $OM_TESTDATA/$_p (third-party test data, not in the repository; set OM_TESTDATA)"
	done
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# new_acme NAME: a fresh database NAME holding the sample instance, copied
# from a template database loaded on first use in a run.
new_acme() {
	if [ -z "$(psql_q -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'acme_tmpl'")" ]; then
		createdb acme_tmpl &&
		psql_q -d acme_tmpl -f "$OM_TOP/spec/store.sql" &&
		psql_q -d acme_tmpl -f "$OM_FIXTURES/acme.sql" >/dev/null || {
			dropdb --if-exists acme_tmpl
			return 2
		}
	fi
	createdb -T acme_tmpl "$1"
}

#!/bin/sh
# check.sh - run every test against a throwaway PostgreSQL (tests/pg.sh):
# the unit tests of libom, then the CLI cases of tests/cli/.  Ends with the
# line "N passed, N failed, N skipped" after one line per skipped test;
# exit 0 only when nothing failed.
#
#   sh tests/check.sh [--update] [CASE...]
#
# --update rewrites the expected outputs of the CLI cases it runs.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
exec "$top/tests/pg.sh" sh "$top/tests/run.sh" "$@"

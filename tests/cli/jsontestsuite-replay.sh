# JSONTestSuite through the canon fuzz target built with a plain main
# (fuzz/replay.c): round trip, agreement with jansson.  (fuzz-regressions.sh:
# the inputs the fuzzers found.)
need_testdata jsontestsuite
set -- "$OM_TESTDATA"/jsontestsuite/*.json
"$OM_TOP/build/fuzz/replay-canon" "$@"
echo "jsontestsuite: $# replayed"

# The inputs the fuzzers found (fuzz/regressions/TARGET/), replayed through
# the same fuzz targets built with a plain main (fuzz/replay.c): each must
# keep its target's properties (a broken one aborts).  The directory
# reader's seeds (fuzz/seeds/dir/: links, fifos, dot-files, names that
# leave the tree) go through the dir target.  (jsontestsuite-replay.sh:
# JSONTestSuite through the canon target.)
for t in canon names bundle dir octopus; do
	set -- "$OM_TOP"/fuzz/regressions/$t/*
	[ -e "$1" ] || set --
	"$OM_TOP/build/fuzz/replay-$t" "$@"
	echo "$t: $# replayed"
done
set -- "$OM_TOP"/fuzz/seeds/dir/*
"$OM_TOP/build/fuzz/replay-dir" "$@"
echo "dir seeds: $# replayed"

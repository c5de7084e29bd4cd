#!/bin/sh
# bench/callgrind-compare.sh BASE NEW: the instructions of om-export,
# om-import and om-diff (client side, callgrind) of two builds on one
# om-gen instance; run inside tests/pg.sh:
#   sh tests/pg.sh sh bench/callgrind-compare.sh /path/to/base /path/to/new
# PROJ=N sets the instance size (default 200 projects, about 20,000
# documents).  Both builds must read the same store format.
set -u
base=$1 new=$2
w=$(mktemp -d "$OM_PG_TMP/b.XXXXXX"); mkdir $w/tmp; export TMPDIR=$w/tmp
PGOPTIONS='-c client_min_messages=warning'; export PGOPTIONS
createdb bench && "$base/om-store" init --db dbname=bench --master-key-file $w/k --new-key || exit 2
"$base/bench/om-gen" --db dbname=bench --master-key-file $w/k --projects ${PROJ:-200} 2>$w/gen.err || { cat $w/gen.err; exit 2; }
cat $w/gen.err
psql -q -d bench -c 'VACUUM (ANALYZE)' -c CHECKPOINT
"$base/om-export" --db dbname=bench --master-key-file $w/k --allow-clear-secrets -q -o $w/clear.tar.zst || exit 2
"$base/om-export" --db dbname=bench --master-key-file $w/k --allow-clear-secrets -q -o $w/clear.tar || exit 2
psql -q -d bench -c "UPDATE projects SET doc = jsonb_set(doc, '{Description}', '\"changed\"') WHERE id IN (SELECT id FROM projects ORDER BY id LIMIT 10)"
"$base/om-export" --db dbname=bench --master-key-file $w/k --allow-clear-secrets -q -o $w/clear2.tar || exit 2
cg() { # NAME CMD...
	n=$1; shift
	valgrind --tool=callgrind --callgrind-out-file=$w/cg.out "$@" >/dev/null 2>$w/cg.err
	echo "$n $(grep -o 'Collected : [0-9]*' $w/cg.err | grep -o '[0-9]*')"
}
for t in base new; do
	eval top=\$$t
	cg "$t om-export" "$top/om-export" --db dbname=bench --master-key-file $w/k --redact-secrets -q -o $w/x-$t.tar
	dropdb --if-exists target; createdb target; rm -f $w/tk
	"$top/om-store" init --db dbname=target --master-key-file $w/tk --new-key
	cg "$t om-import" "$top/om-import" --db dbname=target --master-key-file $w/tk --online $w/clear.tar.zst
	cg "$t om-diff" "$top/om-diff" --stat $w/clear.tar $w/clear2.tar
done
cmp $w/x-base.tar $w/x-new.tar && echo "exports identical"

# om-import's progress: on a terminal only (script(1) gives one), one line
# rewritten in place through the phases and erased before the summary; -q
# silences it; a file never sees it.  -v adds the documents of each kind by
# action; om-export -v the documents of each kind (the manifest's counts).
new_acme a
k=$OM_FIXTURES/acme.key
om-export --db dbname=a --master-key-file "$k" | cat >a.tar
for t in t1 t2 t3; do
	createdb $t
	om-store init --db dbname=$t --master-key-file $t.key --new-key >/dev/null
	psql_q -d $t -c "UPDATE server SET maintenance_mode = true"
done
script -qec "om-import --db dbname=t1 --master-key-file t1.key --dry-run a.tar" /dev/null >tty.txt
for phase in 'reading [0-9]* documents ([A-Za-z]*)' 'matching kind [0-9]* of [0-9]* ([A-Za-z]*)' \
	'writing [0-9]* of 568 documents ([A-Za-z]*)' 'rolling back'; do
	grep -q "om-import: $phase" tty.txt && echo "shown: $phase"
done
# Erased before the plan, which is printed after the rollback.
tr '\r' '\n' <tty.txt | grep -c 'created '
tr '\r' '\n' <tty.txt | grep "^$(printf '\033')\[Kcreated " | wc -l
script -qec "om-import --db dbname=t1 --master-key-file t1.key -q --dry-run a.tar" /dev/null >quiet.txt
# (Warnings are not progress: the history the import clears, below.)
grep om-import: quiet.txt | grep -vc ': warning: ' || true
om-import --db dbname=t2 --master-key-file t2.key a.tar >out.txt 2>err.txt
grep -v ': warning: ' err.txt | wc -c
grep -c ': warning: .*: cleared' err.txt
echo "== -v"
om-import --db dbname=t2 --master-key-file t2.key -v a.tar | head -n 4
om-import --db dbname=t3 --master-key-file t3.key -v --dry-run a.tar | sed -n '/^kind /,$p'
om-import --db dbname=t3 --master-key-file t3.key -v --json a.tar | jq -c .Summary
om-export --db dbname=a --master-key-file "$k" -v 2>v.err | cat >v.tar
sed 's/, [0-9.]* s$/, T s/' v.err | tail -n 3
cmp a.tar v.tar && echo same bundle
# The counts of -v are the manifest's.
mkdir V && tar -xf v.tar -C V
jq -r '.Counts | to_entries[] | "\(.value) \(.key)"' V/manifest.json | sort >m.txt
sed -n 's/^om-export: *\([0-9]*\) \([A-Za-z]*\)$/\1 \2/p' v.err | sort >c.txt
cmp m.txt c.txt && wc -l <c.txt

# om-import's progress: on a terminal only (script(1) gives one), one line
# rewritten in place through the phases and erased before the summary; -q
# silences it; a file never sees it; the password prompt starts a line of
# its own.  -v adds the documents of each kind by
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
for phase in 'reading [0-9]* documents* ([A-Za-z]*[,)]' 'matching kind [0-9]* of [0-9]* ([A-Za-z]*, [0-9]*%[,)]' \
	'writing [0-9]* of 568 documents ([A-Za-z]*, [0-9]*%[,)]' 'rolling back'; do
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
echo "== the password prompt on a line of its own"
# The progress line is erased before the prompt: on the terminal's screen
# (tmux), the prompt starts its line.
printf 'progress password\n' >pw
om-encrypt --password-file pw --kdf interactive -o enc.tar a.tar
t() { tmux -S "$PWD/tmux.sock" "$@"; }
t -f /dev/null new-session -d -x 150 -y 20 \
	"env PATH=$PATH om-import --db dbname=t1 --master-key-file t1.key --dry-run enc.tar >/dev/null; sleep 60"
n=0
until t capture-pane -p | grep -q 'password:'; do
	n=$((n + 1)); [ "$n" -lt 200 ] || { echo "no prompt"; t capture-pane -p; exit 1; }
	sleep 0.1
done
t capture-pane -p | grep 'password:' | sed 's/ *$//'
t send-keys 'progress password' Enter
t kill-server

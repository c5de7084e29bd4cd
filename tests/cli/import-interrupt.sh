# Interrupts and the files of the home directory.  SIGINT or SIGTERM while
# om-import stages its files: it dies of the signal (130, 143) and leaves
# the target and its home directory as they were, no .om-import-XXXXXX
# included.  A signal from the COMMIT on waits until the files are in place
# (strace delivers it as the COMMIT is sent): the import is whole.  SIGKILL
# after the commit, with files not yet in place: a second run finds the
# documents unchanged, says which files are missing and puts them back.
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets \
	--home "$OM_FIXTURES/acme-home" --include-tasklogs --include-artifacts --include-packages -o b
om-store keygen t.key
# LeakSanitizer cannot work under ptrace (a sanitizer build; nothing otherwise).
ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export ASAN_OPTIONS
fresh() {
	dropdb --if-exists t 2>/dev/null
	createdb t
	om-store init --db dbname=t --master-key-file t.key >/dev/null
	psql_q -d t -c "UPDATE server SET maintenance_mode = true"
	rm -rf home && mkdir home
}
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
# Wait until the server has noticed the dead client and rolled back.
settle() {
	until [ "$(psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-import'")" = 0 ]; do
		sleep 0.05
	done
}
imp() { om-import --db dbname=t --master-key-file t.key --home home "$@" b; }
# at SIG SYSCALL N STATUS: om-import given SIG as it makes its N-th SYSCALL
# exits with STATUS; its messages but the warnings are shown (the shell's
# "Terminated" is no part of the result).
at() {
	sig=$1 call=$2 n=$3 want=$4
	got=0
	{ strace -f -qq -o /dev/null -e trace="$call" -e inject="$call:signal=$sig:when=$n" \
		om-import --db dbname=t --master-key-file t.key --home home b || got=$?; } >/dev/null 2>err
	grep -v ': warning: \|^Terminated$\|^Killed$' err >&2 || true
	[ "$got" = "$want" ] || echo "SIG$sig at $call $n: exit status $got, expected $want"
}

for s in INT:130:10 TERM:143:60; do
	sig=${s%%:*} rc=${s#*:} rc=${rc%:*} n=${s##*:}
	fresh
	dump >before
	# The writes of the staged files are the only write(2)s before the commit.
	at "$sig" write "$n" "$rc"
	settle
	dump >after
	cmp -s before after && echo "SIG$sig while staging: target unchanged, home: $(ls -A home | wc -l) entries"
done

echo "-- a signal as the COMMIT is sent"
fresh
createdb -T t copy
mkdir copyhome
strace -f -qq -s 16 -o trace -e trace=sendto om-import --db dbname=copy --master-key-file t.key --home copyhome b >/dev/null 2>&1 || true
n=$(grep 'sendto(' trace | grep -n 'COMMIT' | tail -n 1 | cut -d: -f1)
at INT sendto "$n" 130
settle
ls -A home
om-store check --db dbname=t --master-key-file t.key --home home && echo "the files are in place"

echo "-- SIGKILL after the commit, before the 30th file is in place"
fresh
at KILL rename 30 137
settle
must_fail 1 om-store check --db dbname=t --master-key-file t.key --home home >problems
grep -c 'missing' problems
imp --dry-run | tail -n 1
imp
om-store check --db dbname=t --master-key-file t.key --home home && echo "the files are in place"
imp
# What the killed import had staged stays, to be removed by hand.
ls -d home/.om-import-* | wc -l

# The server crashes during an import and starts again: om-import is held
# (strace stops it) once it has sent one of its messages, the server is
# stopped as a crash would stop it (pg_ctl stop -m immediate), om-import
# goes on, the server starts and recovers.  At 8 points spread from the
# first query after the connection through the COPY data to the COMMIT,
# the target is then either exactly as it was, om-import having failed with
# status 2 and one line, or (the COMMIT answered before the crash) holds
# the whole import, om-import having succeeded (pg_dump of each).
# (om-import killed instead: import-faults.)
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets -o b.tar
createdb t0
om-store init --db dbname=t0 --master-key-file t.key --new-key >/dev/null
psql_q -d t0 -c "UPDATE server SET maintenance_mode = true"
# The test server runs with synchronous_commit off: om-import's own SET
# LOCAL synchronous_commit = on is what puts an answered COMMIT on disk.
# LeakSanitizer cannot work under ptrace (a sanitizer build; nothing
# otherwise).
ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export ASAN_OPTIONS
# The server must be up for the cases after this one, whatever happens.
down=0
trap '[ "$down" = 0 ] || sh "$OM_TOP/tests/pg.sh" --start' EXIT
# Sealed secrets differ from one import to the next (random nonces), and
# rows may lie in another order.
dump() {
	pg_dump -d "$1" | sed '/^.restrict /d; /^.unrestrict /d; s|om-sealed-1:[A-Za-z0-9+/=]*|om-sealed-1:|g' | sort
}
createdb -T t0 t
dump t >before
# The messages of a whole import, counted on a copy of the target, up to
# and with the COMMIT; and the copy then, the target after a whole import.
# Its standard error holds only the warnings of the history references it
# cleared (acme's history names documents deleted long ago).
createdb -T t0 whole
strace -f -qq -s 16 -o trace -e trace=sendto om-import --db dbname=whole --master-key-file t.key b.tar >/dev/null 2>whole.err
test -z "$(grep -v '^om-import: warning: ' whole.err)"
n=$(grep 'sendto(' trace | grep -n 'COMMIT' | tail -n 1 | cut -d: -f1)
dump whole >whole
points=0 failed=0
# From the second message (the first is the connection's start-up packet)
# to the COMMIT.
for k in 0 1 2 3 4 5 6 7; do
	i=$((2 + k * (n - 2) / 7))
	rm -f trace
	strace -f -qq -o trace -e trace=sendto -e inject=sendto:signal=STOP:when=$i \
		om-import --db dbname=t --master-key-file t.key b.tar >out 2>err &
	tracer=$!
	until grep -q 'stopped by SIGSTOP' trace 2>/dev/null; do
		sleep 0.02
	done
	pid=$(sed -n 's/^\([0-9]*\) *--- stopped by SIGSTOP.*/\1/p' trace)
	down=1
	sh "$OM_TOP/tests/pg.sh" --crash
	kill -s CONT "$pid"
	set +e
	wait $tracer
	rc=$?
	set -e
	sh "$OM_TOP/tests/pg.sh" --start
	down=0
	dump t >after
	# Those warnings come before the COMMIT, so a failure may follow them.
	grep -v '^om-import: warning: ' err >failure || :
	if [ "$rc" = 2 ] && [ "$(wc -l <failure)" = 1 ] && grep -q '^om-import: ' failure &&
	   [ ! -s out ] && cmp -s before after; then
		failed=$((failed + 1))
	elif [ "$rc" != 0 ] || ! cmp -s whole.err err || ! cmp -s whole after; then
		echo "point $i of $n: exit status $rc:"
		cat err
		if ! cmp -s before after; then
			echo "the target changed, and is not the whole import:"
			diff whole after | head -n 5
		fi
	fi
	points=$((points + 1))
	if [ "$rc" = 0 ]; then
		dropdb t
		createdb -T t0 t
	fi
done
echo "$points crash points, the target whole or unchanged after each"
# At least the points before the COMMIT failed.
test "$failed" -ge 7

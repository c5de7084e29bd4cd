# Fault injection: om-import killed with SIGKILL at 50 points spread over its
# whole conversation with the server (strace injects the signal in place of
# its n-th message, from the first query through the COPY data to the
# COMMIT).  Each time the target stays exactly as it was (pg_dump before and
# after), the next import is not locked out, and a last import then succeeds
# in full.  (A connection cut from the server's side: import-errors.)
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets -o b.tar
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
# LeakSanitizer cannot work under ptrace: off for the traced runs (a
# sanitizer build; nothing otherwise).
ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export ASAN_OPTIONS
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
dump >before
imp() { om-import --db dbname=t --master-key-file t.key "$@" b.tar; }
# Wait until the server has noticed the dead client and rolled back.
settle() {
	until [ "$(psql_q -d t -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-import'")" = 0 ]; do
		sleep 0.05
	done
}
# The messages of a whole import, counted on a copy of the target, up to
# and with the COMMIT.
createdb -T t copy
strace -f -qq -s 16 -o trace -e trace=sendto om-import --db dbname=copy --master-key-file t.key b.tar >/dev/null
n=$(grep 'sendto(' trace | grep -n 'COMMIT' | tail -n 1 | cut -d: -f1)
test "$n" -ge 50 || echo "only $n messages"
step=$((n / 50))
i=1 points=0 unchanged=0
while [ "$i" -le "$n" ] && [ "$points" -lt 50 ]; do
	# The last point is the COMMIT itself.
	[ "$points" = 49 ] && i=$n
	if strace -f -qq -o /dev/null -e trace=sendto -e inject=sendto:signal=KILL:when=$i \
		om-import --db dbname=t --master-key-file t.key b.tar >/dev/null 2>&1; then
		echo "point $i: the import was not killed"
	fi
	settle
	dump >after
	if cmp -s before after; then
		unchanged=$((unchanged + 1))
	else
		echo "point $i of $n: the target changed"
		diff before after | head -n 5
	fi
	points=$((points + 1))
	i=$((i + step))
done
echo "$points kill points, target unchanged after $unchanged"
# Nothing stays locked or half-done: the import now goes through.
imp

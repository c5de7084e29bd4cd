# om-snapshot under cron and systemd: one run at a time per repository (a
# second one says so and exits 3, touching nothing), a one-line summary per
# run with --syslog, and the systemd units of docs/examples/ as systemd
# reads them.
new_acme a
k=$OM_FIXTURES/acme.key
git init -q audit
git -C audit config user.email t@example.com && git -C audit config user.name t
snap() { om-snapshot --db dbname=a --master-key-file "$k" "$@" audit -- --ignore-history; }
must_fail 1 snap -q
head=$(git -C audit rev-parse HEAD)

echo "== the lock held by another process"
lock=$(cd audit && pwd)/.git/om-snapshot.lock
must_fail 3 flock "$lock" om-snapshot --db dbname=a --master-key-file "$k" audit 2>err
sed "s|$lock|LOCK|" err
test "$(git -C audit rev-parse HEAD)" = "$head"

echo "== two runs at once"
# An om-export that waits for the word of the test, installed beside a copy
# of om-snapshot (which runs the programs beside itself).
mkdir slow
cat >slow/om-export <<EOS
#!/bin/sh
: >"$PWD/started"
read go <"$PWD/go"
exec "$OM_TOP/om-export" "\$@"
EOS
chmod +x slow/om-export
cp "$OM_TOP/om-snapshot" slow/
mkfifo go
psql_q -d a -c "UPDATE environments SET doc = jsonb_set(doc, '{Description}', '\"Slow\"') WHERE name = 'Production' AND space_id = 'Spaces-1'"
slow/om-snapshot -q --db dbname=a --master-key-file "$k" audit -- --ignore-history &
first=$!
n=0
while [ ! -e started ]; do
	n=$((n + 1)); [ "$n" -lt 300 ] || { echo "the first run did not start"; exit 1; }
	sleep 0.1
done
must_fail 3 snap 2>err
sed "s|$lock|LOCK|" err
echo go >go
rc=0
wait "$first" || rc=$?
echo "first run: exit $rc"
git -C audit log -1 --format=%s
git -C audit status --porcelain
echo "== the lock is free again"
must_fail 0 snap
rm started

echo "== --syslog: one line per run, through logger(1)"
# logger, found on PATH, writes to a socket of the test's own instead of
# /dev/log; a listener prints what arrives: <priority>... om-snapshot: LINE.
mkdir log
cat >log/logger <<EOS
#!/bin/sh
exec /usr/bin/logger -u "$PWD/log.sock" "\$@"
EOS
chmod +x log/logger
perl -MIO::Socket::UNIX -e '
	my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM(), Local => $ARGV[0]) or die "$ARGV[0]: $!\n";
	alarm 60;
	$| = 1;
	while (defined $s->recv(my $m, 8192)) { last if $m =~ /om-snapshot: STOP$/; print "$m\n" }
' "$PWD/log.sock" >syslog &
listener=$!
while [ ! -S log.sock ]; do sleep 0.1; done
PATH=$PWD/log:$PATH
must_fail 0 snap --syslog
psql_q -d a -c "UPDATE environments SET doc = jsonb_set(doc, '{Description}', '\"Logged\"') WHERE name = 'Production' AND space_id = 'Spaces-1'"
must_fail 1 snap -q --syslog
must_fail 3 flock "$lock" om-snapshot --syslog --db dbname=a --master-key-file "$k" audit 2>/dev/null
must_fail 2 om-snapshot --syslog --db dbname=a --master-key-file nokey audit 2>/dev/null
logger -t om-snapshot STOP
wait "$listener"
PATH=${PATH#*:}
sed "s/^\(<[0-9]*>\).* om-snapshot: /\1 /; s/committed [0-9a-f]*:/committed HASH:/" syslog

echo "== systemd: the example units"
# As installed, but with ExecStart= on the om-snapshot of this tree
# (systemd-analyze checks that the program is there).
mkdir units
sed "s|/usr/local/bin/om-snapshot|$OM_TOP/om-snapshot|" "$OM_TOP/docs/examples/om-snapshot.service" >units/om-snapshot.service
cp "$OM_TOP/docs/examples/om-snapshot.timer" units/
systemd-analyze verify --man=no units/om-snapshot.service units/om-snapshot.timer
grep '^SuccessExitStatus=' units/om-snapshot.service
# A unit that systemd reads with a complaint is caught.
sed 's/^OnCalendar=.*/OnCalendar=nightly-ish/' units/om-snapshot.timer >units/bad.timer
cp units/om-snapshot.service units/bad.service
must_fail 1 systemd-analyze verify --man=no units/bad.timer 2>err
grep -c 'Failed to parse calendar specification' err

echo "== output that cannot be written is trouble"
must_fail 2 om-snapshot --help >/dev/full
must_fail 2 om-snapshot --version >/dev/full

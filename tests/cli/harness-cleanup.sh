# The throwaway server of the tests leaves nothing behind: not after a
# failing command, not after an interrupt.
mkdir t
export TMPDIR=$PWD/t
chmod 777 t

# A failing command: its status comes back, the directory is gone.
must_fail 3 "$OM_TOP/tests/pg.sh" sh -c 'psql -X -Atc "select 1" && exit 3'
test -z "$(ls t)"

# An interrupt while the server runs, as Ctrl-C sends it: SIGINT to every
# process of the foreground process group (pg.sh, the shell it runs, and
# that shell's command).  Status 130, no process of the group left, no
# server process, no directory.  setsid makes the group of our own; an
# asynchronous command starts with SIGINT ignored, env undoes that.
setsid env --default-signal=INT "$OM_TOP/tests/pg.sh" \
	sh -c 'psql -X -Atc "select 1" >/dev/null && sleep 300' &
pid=$!
i=0
until pgrep -g "$pid" -x sleep >/dev/null; do
	i=$((i + 1))
	test $i -lt 300
	sleep 0.1
done
dir=$(ls -d t/om-pg.*)
test -f "$dir/data/postmaster.pid"
kill -INT -"$pid"
must_fail 130 wait $pid
test -z "$(ls t)"
# The server's own processes may take a moment to finish exiting after
# pg_ctl has returned: give them ten seconds, then none may be left.
# (test -z, not !: set -e does not end a case on a failing "! command")
i=0
while [ -n "$(pgrep -g "$pid")$(pgrep -f "$PWD/$dir")" ] && [ $i -lt 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
test -z "$(pgrep -g "$pid")"
test -z "$(pgrep -f "$PWD/$dir")"
echo clean

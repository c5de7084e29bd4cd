# The throwaway server of the tests leaves nothing behind: not after a
# failing command, not after an interrupt.
mkdir t
export TMPDIR=$PWD/t
chmod 777 t

# A failing command: its status comes back, the directory is gone.
must_fail 3 "$OM_TOP/tests/pg.sh" sh -c 'psql -X -Atc "select 1" && exit 3'
test -z "$(ls t)"

# An interrupt while the server runs (as Ctrl-C would): status 130, no
# server process, no directory.
# (A background job of a script starts with SIGINT ignored: undo that.)
env --default-signal=INT "$OM_TOP/tests/pg.sh" sleep 300 &
pid=$!
i=0
until ls t/om-pg.*/data/postmaster.pid >/dev/null 2>&1; do
	i=$((i + 1))
	test $i -lt 300
	sleep 0.1
done
dir=$(ls -d t/om-pg.*)
kill -INT $pid
must_fail 130 wait $pid
test -z "$(ls t)"
! pgrep -f "$PWD/$dir" >/dev/null
echo clean

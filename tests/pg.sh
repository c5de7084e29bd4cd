#!/bin/sh
# Throwaway PostgreSQL for the tests: a cluster in a temporary directory,
# listening on a Unix socket only (no TCP port), removed when the command ends.
#
#   tests/pg.sh COMMAND [ARG...]
#   tests/pg.sh --crash | --start      (inside COMMAND)
#
# Runs COMMAND with PGHOST (the socket directory), PGPORT, PGUSER and
# PGDATABASE set for the new server and OM_PG_TMP naming its directory, then
# stops the server and removes the directory, whether COMMAND succeeds, fails
# or is interrupted.  The exit status is COMMAND's.  initdb refuses to run as
# root, so as root the cluster is run by the "postgres" system user that the
# Debian package creates.
#
# Inside COMMAND, --crash stops the server of OM_PG_TMP as a crash would
# (pg_ctl stop -m immediate: no shutdown checkpoint, open transactions
# lost) and --start starts it again, which then recovers from its WAL.
set -u

bindir=${OM_PG_BINDIR:-}
if [ -z "$bindir" ]; then
	bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ ! -x "$bindir/initdb" ]; then
	echo "pg.sh: no PostgreSQL server found (install postgresql)" >&2
	exit 2
fi
as_owner() { "$@"; }
[ "$(id -u)" = 0 ] && as_owner() { runuser -u postgres -- "$@"; }

# The one way the server of $tmp is started.  Sized for the two-core test
# machines; fsync off because the data is thrown away (and a crash of the
# server alone loses nothing that the kernel holds).
start() {
	as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -s \
		-o "-c listen_addresses= -k $tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40" \
		start
}

case ${1:-} in
--crash|--start)
	tmp=${OM_PG_TMP:?pg.sh: $1 only inside a command run by pg.sh}
	if [ "$1" = --start ]; then
		start
	else
		as_owner "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w -s stop
	fi
	exit ;;
esac

# The store needs 15 or later (UNIQUE NULLS NOT DISTINCT, spec/store.md).
# (--crash and --start act on a server that pg.sh started, so checked.)
version=$("$bindir/initdb" --version 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p')
if [ -z "$version" ]; then
	echo "pg.sh: '$bindir/initdb': cannot tell the PostgreSQL version" >&2
	exit 2
fi
if [ "$version" -lt 15 ]; then
	echo "pg.sh: '$bindir': PostgreSQL $version is too old; om's store needs 15 or later (install postgresql-15 or later)" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/om-pg.XXXXXX") || exit 2
if [ "$(id -u)" = 0 ]; then
	chown postgres "$tmp" || { rm -rf "$tmp"; exit 2; }
fi
chmod 755 "$tmp"

started=0
child=
cleanup() {
	trap '' INT TERM HUP
	if [ -n "$child" ]; then
		kill "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	if [ "$started" = 1 ]; then
		as_owner "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

if ! as_owner "$bindir/initdb" -D "$tmp/data" -U om -A trust -E UTF8 --locale=C.UTF-8 \
		>"$tmp/initdb.log" 2>&1; then
	echo "pg.sh: initdb failed:" >&2
	cat "$tmp/initdb.log" >&2
	cleanup
	exit 2
fi
if ! start; then
	echo "pg.sh: the server did not start:" >&2
	cat "$tmp/server.log" >&2
	cleanup
	exit 2
fi
started=1

PGHOST=$tmp PGPORT=5432 PGUSER=om PGDATABASE=postgres OM_PG_TMP=$tmp OM_PG_BINDIR=$bindir
export PGHOST PGPORT PGUSER PGDATABASE OM_PG_TMP OM_PG_BINDIR
unset PGPASSWORD PGSERVICE PGHOSTADDR
# An asynchronous command of a non-interactive shell starts with SIGINT
# ignored; give it back the default so that Ctrl-C reaches the tests.
env --default-signal=INT,QUIT "$@" &
child=$!
# wait returns early when a trapped signal arrives; the trap then cleans up.
wait "$child"
rc=$?
child=
cleanup
exit $rc

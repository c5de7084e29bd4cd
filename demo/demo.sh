#!/bin/sh
# demo.sh - om's whole pipeline on the sample instance, narrated (make demo).
#
#   sh demo/demo.sh [-q] [OUTDIR]
#
# Starts a throwaway PostgreSQL (tests/pg.sh) unless one is given by PGHOST
# and OM_PG_TMP (as in the tests), loads the sample instance as the source
# server, makes an empty target server, and runs export, encrypt, diff,
# import --dry-run, import, and a last comparison of the two servers.  The
# databases are dropped at the end (the throwaway server removed); the
# bundles stay in OUTDIR (default: demo-out/ at the top of the tree) with
# the demo password, for a look.  -q: no narration, errors only.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)

quiet=0
if [ "${1:-}" = -q ]; then
	quiet=1
	shift
fi
out=${1:-$top/demo-out}

# A server of our own, unless we already run inside one.
if [ -z "${OM_PG_TMP:-}" ] || [ -z "${PGHOST:-}" ]; then
	if [ "$quiet" = 0 ]; then
		echo "Starting a throwaway PostgreSQL server (tests/pg.sh) ..."
	fi
	if [ "$quiet" = 1 ]; then
		exec sh "$top/tests/pg.sh" sh "$top/demo/demo.sh" -q "$out"
	fi
	exec sh "$top/tests/pg.sh" sh "$top/demo/demo.sh" "$out"
fi

PATH=$top:$PATH
export PATH
set -e

# Names of our own on a server that may be shared with others.
src=om_demo_source
dst=om_demo_target
cleanup() {
	dropdb --if-exists "$src" 2>/dev/null || true
	dropdb --if-exists "$dst" 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

bold= plain=
if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); fi
say() { [ "$quiet" = 1 ] || printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
note() { [ "$quiet" = 1 ] || printf '%s\n' "$*"; }
# run 'COMMAND LINE': show it, then run it; its output is shown unless -q.
run() {
	[ "$quiet" = 1 ] || printf '$ %s\n' "$1"
	if [ "$quiet" = 1 ]; then
		eval "$1" >/dev/null
	else
		eval "$1"
	fi
}
# run_st: the same, for commands whose exit status 1 is an answer (om-diff).
run_st() {
	set +e
	run "$1"
	st=$?
	set -e
	[ "$st" -le 1 ] || exit 2
	note "(exit status $st)"
}
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# Only ever remove a folder an earlier demo made.
if [ -e "$out" ]; then
	if [ -f "$out/.om-demo" ]; then
		rm -rf "$out"
	elif [ -n "$(ls -A "$out")" ]; then
		echo "demo.sh: '$out' is not empty and not an earlier demo's; give another folder" >&2
		exit 2
	fi
fi
mkdir -p "$out"
cd "$out"
out=$(pwd)
: >.om-demo
printf 'demo password\n' >demo.pw
cp "$top/fixtures/acme.key" source.key

say "1. The source server: the sample instance, ACME's deployment server"
note "A PostgreSQL database in om's store format (spec/store.sql), loaded with"
note "fixtures/acme.sql; its secrets are sealed with the master key fixtures/acme.key."
dropdb --if-exists "$src" 2>/dev/null
dropdb --if-exists "$dst" 2>/dev/null
createdb "$src"
psql_q -d "$src" -f "$top/spec/store.sql" >/dev/null
psql_q -d "$src" -f "$top/fixtures/acme.sql" >/dev/null
run "om-store check --db dbname=$src --master-key-file source.key && echo store is consistent"

say "2. Export it, secrets encrypted under a password: monday.tar.zst"
note "om-export writes clear secrets only into a pipe; om-encrypt encrypts them"
note "(--kdf interactive only to keep the demo fast; the default is stronger)."
run "om-export --db dbname=$src --master-key-file source.key | om-encrypt --password-file demo.pw --kdf interactive -o monday.tar.zst"
run "tar -tf monday.tar.zst | head -n 5"

say "3. Someone changes the source: a description and a feed's secret"
psql_q -d "$src" -c "UPDATE environments SET doc = jsonb_set(doc, '{Description}', '\"Production, since the move to the new data centre\"') WHERE name = 'Production' AND space_id = 'Spaces-1'"
new=$(echo 'rotated-ecr-key' | om-store seal --master-key-file source.key)
psql_q -d "$src" -c "UPDATE feeds SET doc = jsonb_set(doc, '{SecretKey}', to_jsonb('$new'::text)) WHERE name = 'Acme ECR'"
note "(done with SQL on the store, as the server would)"

say "4. Export again (tuesday.tar.zst) and compare with monday's snapshot"
note "--salt-from keeps monday's salt, so an unchanged secret keeps its token and"
note "om-diff can tell which secret changed without decrypting anything."
run "om-export --db dbname=$src --master-key-file source.key | om-encrypt --password-file demo.pw --salt-from monday.tar.zst -o tuesday.tar.zst"
run_st "om-diff monday.tar.zst tuesday.tar.zst"
run_st "om-diff --stat monday.tar.zst tuesday.tar.zst"

say "5. The target: a new empty server with a master key of its own"
run "createdb $dst"
run "om-store init --db dbname=$dst --master-key-file target.key --new-key"
run "psql -X -q -d $dst -c 'UPDATE server SET maintenance_mode = true'"
note "om-import writes only into a server in maintenance mode (or with --online)."

say "6. What would the import do?  --dry-run rolls everything back"
run "om-import --db dbname=$dst --master-key-file target.key --password-file demo.pw --dry-run tuesday.tar.zst >plan.txt"
run "head -n 4 plan.txt; echo ...; tail -n 2 plan.txt"

say "7. Import it: one transaction, documents matched by name, Ids remapped"
run "om-import --db dbname=$dst --master-key-file target.key --password-file demo.pw tuesday.tar.zst"
run "om-store check --db dbname=$dst --master-key-file target.key && echo store is consistent"

say "8. Export both servers and compare them"
note "Every Id differs between the two servers; om-diff matches documents by"
note "name.  First the configuration, everything but history (events, tasks)"
note "and deployments: it must be the same, secrets included."
run "om-export --db dbname=$src --master-key-file source.key --ignore-history --ignore-deployments | om-encrypt --password-file demo.pw --salt-from monday.tar.zst -o source.tar.zst"
run "om-export --db dbname=$dst --master-key-file target.key --ignore-history --ignore-deployments | om-encrypt --password-file demo.pw --salt-from monday.tar.zst -o target.tar.zst"
run "om-diff source.tar.zst target.tar.zst && echo no difference"
note "Then all of it.  History and deployments may differ, and here they do:"
note "the source's history names a user, and a project with its variables and"
note "process, deleted from it long ago.  They are not in the bundle, so"
note "om-import clears those references (in the target their Ids would name"
note "other documents, or nothing).  These cleared references, \"(a ... not in"
note "the bundle)\" on the source's side, are the only differences:"
run "om-export --db dbname=$src --master-key-file source.key | om-encrypt --password-file demo.pw --salt-from monday.tar.zst -o source-all.tar.zst"
run "om-export --db dbname=$dst --master-key-file target.key | om-encrypt --password-file demo.pw --salt-from monday.tar.zst -o target-all.tar.zst"
run_st "om-diff source-all.tar.zst target-all.tar.zst"

say "Done"
note "The servers are gone; the bundles are in $out:"
note "  monday.tar.zst tuesday.tar.zst   the source before and after the change"
note "  source.tar.zst target.tar.zst    both servers at the end, without history"
note "  source-all.tar.zst target-all.tar.zst   ... and with it"
note "  plan.txt                         the dry run's plan"
note "  source.key target.key            the servers' master keys (servers gone)"
note "  demo.pw                          their password: try"
note "    om-diff --textconv $out/tuesday.tar.zst | less"
note "    om-encrypt --check --password-file $out/demo.pw $out/tuesday.tar.zst"

#!/bin/sh
# run.sh - the benchmark suite of issue 8 (docs/performance.md), started by
# `make bench`.
#
#   sh bench/run.sh                                # 100, 1000 and 10000 projects
#   OM_BENCH_SIZES="100 1000" sh bench/run.sh      # about 10,000 and 100,000 documents
#   OM_BENCH_RUNS=5 sh bench/run.sh                # median of 5 rounds instead of 3
#
# For each size (projects; 100 documents a project) it starts from an empty
# store of a throwaway PostgreSQL (tests/pg.sh), fills it with bench/om-gen,
# and then, for OM_BENCH_RUNS rounds, runs every command of a group once per
# round, one after the other (so that a slow minute of the machine falls on
# all of them alike), timing each with /usr/bin/time:
#
#   reading   pg_dump -Fc (the baseline), COPY of every document table to a
#             file (the floor), om-export to .tar, .tar.zst, a new directory
#             and the same directory unchanged;
#   secrets   om-encrypt and om-encrypt -d of the clear .tar;
#   writing   pg_restore of the pg_dump file into an empty database (the
#             baseline) and om-import of the clear .tar.zst into an empty
#             store (setup, untimed: createdb, and om-store init);
#   diffing   two exports with a few changes between them (documents
#             changed with jsonb_set, one deleted, one added), as directories:
#             git diff --no-index --stat (the baseline), om-diff --stat,
#             diff -r; and om-diff --stat of the two .tar.zst.
#
# It prints, as markdown to paste into docs/performance.md, one table per
# size (median seconds, ratio to the group's baseline and to the COPY floor,
# the largest peak RSS of the timed process over the rounds, the size of the
# output), whether each target of issue 8 is met, and at the end the peak RSS
# of each om tool at every size (flat memory).  Exit status 0, or 2 when a
# command failed, an instance had problems or two exports differed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
sizes=${OM_BENCH_SIZES:-100 1000 10000}
runs=${OM_BENCH_RUNS:-3}

for p in "$top/bench/om-gen" "$top/om-store" "$top/om-export" "$top/om-import" \
	"$top/om-encrypt" "$top/om-diff" /usr/bin/time; do
	if [ ! -x "$p" ]; then
		echo "bench: $p is not built (run make bench)" >&2
		exit 2
	fi
done
for p in pg_dump pg_restore psql createdb dropdb git diff zstd; do
	if ! command -v "$p" >/dev/null; then
		echo "bench: $p is not installed" >&2
		exit 2
	fi
done
case $runs in
'' | *[!0-9]* | 0) echo "bench: OM_BENCH_RUNS must be a number of rounds (1 or more)" >&2; exit 2 ;;
esac
for n in $sizes; do
	case $n in
	'' | *[!0-9]* | 0) echo "bench: OM_BENCH_SIZES: '$n' is not a number of projects" >&2; exit 2 ;;
	esac
done

# Run the rest inside a throwaway server.
if [ -z "${OM_PG_TMP:-}" ]; then
	exec "$top/tests/pg.sh" sh "$0" "$@"
fi

work=$(mktemp -d "$OM_PG_TMP/bench.XXXXXX") || exit 2
# Temporary files (om-export's external sort, om-import's spool) stay in the
# scratch directory, which tests/pg.sh removes.
mkdir "$work/tmp" || exit 2
TMPDIR=$work/tmp
export TMPDIR
# git diff as anyone gets it: no user or system configuration, no pager.
GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_PAGER=cat
export GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL GIT_PAGER
# No NOTICE of dropdb --if-exists in the output.
PGOPTIONS='-c client_min_messages=warning'
export PGOPTIONS
: > "$work/flat"

fail() {
	echo "bench: $*" >&2
	exit 2
}

# Bytes of a file or of the files of a directory (apparent size, not blocks).
bytes() { du -s --apparent-size -B1 "$1" | cut -f1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# The cases: `add ID GROUP LABEL SETUP OUTPUT OKRC`, run by the function
# run_ID (which times its command with T); SETUP runs untimed before each
# run; OUTPUT is the file or directory whose size is the output ("-": what
# the command printed); OKRC the exit statuses that are success.
cases=
add() {
	cases="$cases $1"
	eval "group_$1=\$2 label_$1=\$3 setup_$1=\$4 out_$1=\$5 okrc_$1=\$6"
}
T() { /usr/bin/time -f '%e %M' -o "$work/tm" "$@"; }

# measure ID ROUND: one timed run of a case, appended to $work/raw.
measure() {
	eval "label=\$label_$1 setup=\$setup_$1 okrc=\$okrc_$1"
	$setup || fail "$label: its setup failed"
	: > "$work/tm"
	run_$1 >"$w/stdout.$1" 2>"$work/stderr"
	rc=$?
	case " $okrc " in
	*" $rc "*) ;;
	*)
		cat "$work/stderr" >&2
		fail "$label failed (exit status $rc)" ;;
	esac
	# /usr/bin/time adds a "Command exited with non-zero status" line first.
	set -- "$1" $(tail -n 1 "$work/tm")
	[ $# = 3 ] || fail "$label: /usr/bin/time printed no '%e %M'"
	echo "$1 $2 $3" >> "$work/raw"
}

nothing() { :; }
no_dump() { rm -f "$w/bench.dump"; }
no_tar() { rm -f "$w/bundle.tar"; }
no_tar_zst() { rm -f "$w/bundle.tar.zst"; }
no_dir() { rm -rf "$w/bundle"; }
no_kdf() { rm -f "$w/kdf.tar"; }
no_enc() { rm -f "$w/enc.tar"; }
no_dec() { rm -f "$w/dec.tar"; }
empty_db() { dropdb --if-exists restored && createdb restored; }
empty_store() {
	dropdb --if-exists target && createdb target &&
		rm -f "$w/target.key" &&
		"$top/om-store" init --db dbname=target --master-key-file "$w/target.key" --new-key
}

db=dbname=bench
export_() { T "$top/om-export" --db "$db" --master-key-file "$w/bench.key" --redact-secrets "$@"; }

add dump reading '`pg_dump -Fc`' no_dump "bench.dump" 0
run_dump() { T pg_dump -Fc -f "$w/bench.dump" bench; }
add copy reading 'COPY of every document table (floor)' nothing "copy.out" 0
run_copy() { T psql -X -q -v ON_ERROR_STOP=1 -d bench -f "$w/copy.sql" >"$w/copy.out"; }
add tar reading 'om-export `-o X.tar`' no_tar "bundle.tar" 0
run_tar() { export_ -o "$w/bundle.tar"; }
add zst reading 'om-export `-o X.tar.zst`' no_tar_zst "bundle.tar.zst" 0
run_zst() { export_ -o "$w/bundle.tar.zst"; }
add dir reading 'om-export `-o DIR` (new directory)' no_dir "bundle" 0
run_dir() { export_ -o "$w/bundle"; }
add upd reading 'om-export `-o DIR` (unchanged, in place)' nothing "bundle" 0
run_upd() { export_ -o "$w/bundle"; }

add kdf secrets 'om-encrypt of the manifest alone (Argon2id key derivation)' no_kdf "kdf.tar" 0
run_kdf() { T "$top/om-encrypt" --password-file "$w/pw" -o "$w/kdf.tar" "$w/manifest.tar"; }
add enc secrets 'om-encrypt `X.tar` (clear to password)' no_enc "enc.tar" 0
run_enc() { T "$top/om-encrypt" --password-file "$w/pw" -o "$w/enc.tar" "$w/clear.tar"; }
add dec secrets 'om-encrypt -d `X.tar` (password to clear)' no_dec "dec.tar" 0
run_dec() { T "$top/om-encrypt" -d --allow-clear-secrets --password-file "$w/pw" -o "$w/dec.tar" "$w/enc.tar"; }

add restore writing '`pg_restore` into an empty database' empty_db - 0
run_restore() { T pg_restore -d restored "$w/bench.dump"; }
add import writing 'om-import `X.tar.zst` into an empty store' empty_store - 0
run_import() { T "$top/om-import" --db dbname=target --master-key-file "$w/target.key" --online "$w/clear.tar.zst"; }

add git diffing '`git diff --no-index --stat A B`' nothing - "0 1"
run_git() { T git diff --no-index --stat "$w/bundle" "$w/b"; }
add omdiff diffing 'om-diff `--stat A B`' nothing - "0 1"
run_omdiff() { T "$top/om-diff" --stat "$w/bundle" "$w/b"; }
add diffr diffing '`diff -r A B`' nothing - "0 1"
run_diffr() { T diff -r "$w/bundle" "$w/b"; }
add omdiffz diffing 'om-diff `--stat A.tar.zst B.tar.zst`' nothing - "0 1"
run_omdiffz() { T "$top/om-diff" --stat "$w/bundle.tar.zst" "$w/b.tar.zst"; }

# rounds GROUP...: OM_BENCH_RUNS rounds of the cases of the groups, in order.
rounds() {
	r=0
	while [ "$r" -lt "$runs" ]; do
		r=$((r + 1))
		for c in $cases; do
			eval "g=\$group_$c"
			case " $* " in *" $g "*) measure "$c" ;; esac
		done
	done
}

# The median (middle of the sorted times; the mean of the two middle ones
# for an even count) and largest peak RSS (KiB) of a case.
median() { awk -v c="$1" '$1 == c { print $2 }' "$work/raw" | sort -n |
	awk '{ t[NR] = $1 } END { if (NR % 2) print t[(NR + 1) / 2]; else printf "%.2f\n", (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
peak() { awk -v c="$1" '$1 == c && $3 > m { m = $3 } END { print m + 0 }' "$work/raw"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit (with uncommitted changes)"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
memg=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
echo "## om bench, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
echo
echo "$(nproc) cores ($cpu), $memg GiB RAM, $(pg_dump --version | sed 's/pg_dump (PostgreSQL) /PostgreSQL /') (tests/pg.sh: fsync off), load average $(cut -d ' ' -f 1-3 /proc/loadavg) at the start."
echo "Command: \`OM_BENCH_SIZES=\"$sizes\" OM_BENCH_RUNS=$runs make bench\`; times are the median of $runs rounds, the commands of a group alternating within each round; peak RSS is the largest over the rounds, of the timed process only (not the server's); MB are 10^6 bytes."

status=0
for projects in $sizes; do
	w=$work/$projects
	mkdir "$w" || exit 2
	: > "$work/raw"

	# The instance, checked, and settled before it is read: hint bits set and
	# statistics made now, so that neither they nor autovacuum land in a
	# timed run.
	dropdb --if-exists bench && createdb bench &&
		"$top/om-store" init --db "$db" --master-key-file "$w/bench.key" --new-key || exit 2
	/usr/bin/time -f '%e' -o "$w/gen.time" "$top/bench/om-gen" --db "$db" \
		--master-key-file "$w/bench.key" --projects "$projects" 2>"$w/gen.err" ||
		{ cat "$w/gen.err" >&2; fail "om-gen --projects $projects failed"; }
	summary=$(sed -n 's/^om-gen: //p' "$w/gen.err")
	"$top/om-store" check --db "$db" --master-key-file "$w/bench.key" >"$w/check.out" 2>&1 ||
		{ cat "$w/check.out" >&2; fail "om-store check of the instance of $projects projects found problems"; }
	psql -X -q -d bench -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT' || exit 2
	psql -X -At -d bench -c "SELECT format('COPY %I (doc) TO STDOUT;', table_name)
		FROM information_schema.columns
		WHERE table_schema = 'public' AND column_name = 'doc' ORDER BY table_name" >"$w/copy.sql" || exit 2
	dbsize=$(psql -X -At -d bench -c "SELECT pg_database_size('bench')") || exit 2

	# The inputs of the secrets and writing cases: the instance with clear
	# secrets (om-export writes them to a file only when allowed).
	echo 'correct horse battery staple' > "$w/pw"
	"$top/om-export" --db "$db" --master-key-file "$w/bench.key" --allow-clear-secrets -q -o "$w/clear.tar" &&
		zstd -q -3 "$w/clear.tar" -o "$w/clear.tar.zst" || fail "the clear export failed"
	# A bundle of no documents: encrypting it is the fixed cost.
	mkdir "$w/m" && tar -xf "$w/clear.tar" -C "$w/m" manifest.json &&
		tar -cf "$w/manifest.tar" -C "$w/m" manifest.json || exit 2

	rounds reading secrets writing

	# Deterministic: another export gives the same bytes, the .tar.zst holds
	# the same tar, and encrypting and decrypting gives back the clear tar.
	"$top/om-export" --db "$db" --master-key-file "$w/bench.key" --redact-secrets -q -o "$w/again.tar" || exit 2
	same=byte-identical
	cmp -s "$w/bundle.tar" "$w/again.tar" || same="NOT byte-identical"
	zstd -q -dc "$w/bundle.tar.zst" | cmp -s - "$w/bundle.tar" || same="NOT byte-identical"
	cmp -s "$w/dec.tar" "$w/clear.tar" || same="NOT byte-identical"
	rm -f "$w/again.tar"
	# Every secret where the model holds secrets: om-export opened and wrote
	# each of om-gen's sealed secrets as a clear token, and redacted each in
	# the other bundle (a sealed token elsewhere would be copied through).
	made=$(echo "$summary" | sed -n 's/.*MB of JSON, \([0-9]*\) secrets.*/\1/p')
	clear=$(grep -a -o 'om-clear-1:' "$w/clear.tar" | wc -l)
	sealed=$( (cat "$w/clear.tar" "$w/bundle.tar"; zstd -q -dc "$w/bundle.tar.zst"; grep -r -h -o 'om-sealed-1:' "$w/bundle") |
		grep -a -o 'om-sealed-1:' | wc -l)
	secrets="$clear clear secrets of om-gen's $made, $sealed sealed tokens left in the bundles"
	[ "$clear" = "$made" ] && [ "$sealed" = 0 ] || secrets="$secrets: WRONG"
	imported=$(sed -n 's/ created,.*//p' "$w/stdout.import")

	# B: the same instance with a few changes.  Ten projects' descriptions
	# and ten releases' notes changed, one event deleted, one added.
	psql -X -q -v ON_ERROR_STOP=1 -d bench <<-'SQL' || fail "changing the instance failed"
	UPDATE projects SET doc = jsonb_set(doc, '{Description}', to_jsonb('Changed for the benchmark: ' || (doc->>'Id')))
	WHERE doc->>'Id' IN (SELECT doc->>'Id' FROM projects ORDER BY doc->>'Id' LIMIT 10);
	UPDATE releases SET doc = jsonb_set(doc, '{ReleaseNotes}', to_jsonb('Changed notes of ' || (doc->>'Version')))
	WHERE doc->>'Id' IN (SELECT doc->>'Id' FROM releases ORDER BY doc->>'Id' LIMIT 10);
	DELETE FROM events WHERE doc->>'Id' = (SELECT doc->>'Id' FROM events ORDER BY doc->>'Id' LIMIT 1);
	INSERT INTO events (doc)
	SELECT doc || jsonb_build_object('Id', 'Events-999999999', 'Occurred', '2030-01-01T00:00:00.000+00:00',
		'Message', 'Added for the benchmark')
	FROM events ORDER BY doc->>'Id' LIMIT 1;
	VACUUM (ANALYZE);
	SQL
	"$top/om-export" --db "$db" --master-key-file "$w/bench.key" --redact-secrets -q -o "$w/b" &&
		"$top/om-export" --db "$db" --master-key-file "$w/bench.key" --redact-secrets -q -o "$w/b.tar.zst" ||
		fail "the export of B failed"

	rounds diffing
	stat=$(awk '$1 == "total" { printf "%d added, %d removed, %d renamed, %d changed", $2, $3, $4, $5 }' "$w/stdout.omdiff")

	# The table.
	docs=$(echo "$summary" | sed 's/ documents.*//')
	echo
	echo "### $projects projects: $summary"
	echo
	echo "Database $(mb "$dbsize") MB; om-store check: 0 problems; the secrets bundle (clear \`.tar\`) $(mb "$(bytes "$w/clear.tar")") MB; om-import created $imported documents; two exports, the \`.tar.zst\` and encrypt + decrypt: $same. Secrets: $secrets. B differs from A by $stat documents (om-diff --stat). MB/s of om-encrypt: the clear \`.tar\` over the time beyond the key derivation's."
	echo
	echo "| case | seconds | × baseline | × COPY floor | MB/s | peak RSS MB | output MB |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	base=
	floor=$(median copy)
	last=
	for c in $cases; do
		eval "g=\$group_$c label=\$label_$c out=\$out_$c"
		secs=$(median "$c")
		rss=$(peak "$c")
		if [ "$g" != "$last" ]; then
			base=$secs
			last=$g
			echo "| **$g** | | | | | | |"
		fi
		r=$(ratio "$secs" "$base")
		[ "$g" = secrets ] && r=-
		f=-
		[ "$g" = reading ] && f=$(ratio "$secs" "$floor")
		rate=-
		case $c in
		enc | dec) rate=$(awk -v b="$(bytes "$w/clear.tar")" -v s="$secs" -v k="$(median kdf)" \
			'BEGIN { if (s > k) printf "%.0f", b / 1e6 / (s - k); else print "-" }') ;;
		esac
		if [ "$out" = - ]; then
			o=$(mb "$(bytes "$w/stdout.$c" 2>/dev/null || echo 0)")
		else
			o=$(mb "$(bytes "$w/$out")")
		fi
		printf '| %s | %s | %s | %s | %s | %d | %s |\n' "$label" "$secs" "$r" "$f" "$rate" \
			"$(((rss * 1024 + 500000) / 1000000))" "$o"
		eval "secs_$c=\$secs rss_$c=\$rss"
		printf '%s %s %s\n' "$projects" "$c" "$rss" >> "$work/flat"
	done

	# The targets of issue 8, in this run.
	zst=$(bytes "$w/bundle.tar.zst")
	dump=$(bytes "$w/bench.dump")
	verdict() { awk -v a="$1" -v b="$2" -v lim="$3" 'BEGIN { r = (b > 0 ? a / b : 0); printf "%s (%.2f×, target ≤ %s×)", (r <= lim ? "**met**" : "**missed**"), r, lim }'; }
	echo
	echo "Targets at $projects projects ($docs documents):"
	echo
	echo "- om-export \`.tar.zst\` no slower than \`pg_dump -Fc\`: $(verdict "$secs_zst" "$secs_dump" 1)"
	echo "- om-export \`.tar.zst\` within 1.5× of the COPY floor: $(verdict "$secs_zst" "$secs_copy" 1.5)"
	echo "- om-import no slower than \`pg_restore\`: $(verdict "$secs_import" "$secs_restore" 1)"
	echo "- om-diff of directories no slower than \`git diff --no-index --stat\`: $(verdict "$secs_omdiff" "$secs_git" 1)"
	echo "- \`.tar.zst\` ($(mb "$zst") MB) no larger than the \`pg_dump -Fc\` file ($(mb "$dump") MB): $(verdict "$zst" "$dump" 1)"
	echo "- om-import peak RSS $(((rss_import * 1024 + 500000) / 1000000)) MB (target at 1,000,000 documents: ≤ 537 MB, 512 MiB)"

	[ "$same" = byte-identical ] || status=2
	case $secrets in *WRONG) status=2 ;; esac

	# Room for the next size.
	dropdb bench && dropdb --if-exists restored && dropdb --if-exists target || exit 2
	rm -rf "$w"
done

# Flat memory: the peak RSS of each om tool at each size.
echo
echo "### Peak RSS (MB) by size"
echo
printf '| case |'
for n in $sizes; do printf ' %s projects |' "$n"; done
printf '\n|---|'
for n in $sizes; do printf -- '---:|'; done
echo
for c in $cases; do
	case $c in dump | copy | restore | git | diffr | kdf) continue ;; esac
	eval "label=\$label_$c"
	printf '| %s |' "$label"
	for n in $sizes; do
		printf ' %d |' "$(awk -v n="$n" -v c="$c" '$1 == n && $2 == c { printf "%d", ($3 * 1024 + 500000) / 1000000 }' "$work/flat")"
	done
	echo
done
exit "$status"

# SIGINT or SIGTERM during an export: om-export says "om-export:
# interrupted", exits 2 and leaves nothing behind: no archive and no
# temporary file beside it, nothing in TMPDIR, no new directory, and an
# earlier directory bundle exactly as it was, whether the export was still
# reading the store or already writing files.
gen=$OM_TOP/bench/om-gen
if [ ! -x "$gen" ]; then
	echo "export-interrupt: $gen is missing: make tests (or make bench/om-gen)" >&2
	exit 2
fi
createdb big
om-store init --db dbname=big --master-key-file big.key --new-key >/dev/null
"$gen" --db dbname=big --master-key-file big.key --projects 300 2>/dev/null
# An earlier bundle (of the sample instance) in outdir, and a copy of it.
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets -o outdir
cp -R outdir outdir.before
mkdir tmp
TMPDIR=$PWD/tmp
export TMPDIR
: >export.err
ls -A >before.ls

# interrupt SIG OUTPUT WHEN READY: start an export to OUTPUT, wait until a
# file matching the pattern READY exists, send SIG, check what is left.
interrupt() {
	sig=$1 out=$2 when=$3 ready=$4
	# (A background job of a script starts with SIGINT ignored: undo that.)
	env --default-signal=INT om-export --db dbname=big --master-key-file big.key \
		--redact-secrets -o "$out" 2>export.err &
	pid=$!
	n=0
	# An archive is written unnamed (O_TMPFILE): ready once the export
	# holds such a file in this directory open.
	until if [ "$ready" = unnamed ]; then
		ls -l /proc/$pid/fd 2>/dev/null | grep -q " $PWD/#[0-9]* (deleted)"
	else
		ls -d $ready >/dev/null 2>&1
	fi; do
		n=$((n + 1))
		if [ $n -ge 6000 ]; then
			echo "export-interrupt: $ready never appeared" >&2
			return 1
		fi
		sleep 0.005
	done
	kill -s $sig $pid
	rc=0
	wait $pid || rc=$?
	if [ $rc -ne 2 ]; then
		echo "export-interrupt: $sig to the export to $out: status $rc, expected 2" >&2
		return 1
	fi
	echo "om-export: interrupted" | cmp -s - export.err ||
		{ echo "export-interrupt: $sig to the export to $out said:" >&2; cat export.err >&2; return 1; }
	ls -A | cmp -s - before.ls || { echo "left in .:" >&2; ls -A | diff before.ls - >&2; return 1; }
	diff -r outdir.before outdir
	test -z "$(ls -A tmp)"
	echo "$sig during export to $out, $when: status 2, nothing left"
}
interrupt INT out.tar "at its start" unnamed
interrupt TERM out.tar.zst "at its start" unnamed
interrupt TERM outdir "at its start" 'outdir/.om-tmp-*'
interrupt INT outdir "while writing files" 'outdir/.om-tmp-*/2000'
interrupt INT newdir "at its start" 'newdir/.om-tmp-*'
interrupt TERM newdir "while writing files" 'newdir/.om-tmp-*/2000'

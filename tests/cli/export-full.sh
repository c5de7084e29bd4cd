# A full disk under om-export -o: a file size limit (ulimit -f, with
# SIGXFSZ ignored, so that a write fails as on a full file system) stops
# writing the archive, the compressed archive or a file of the directory.
# Each export fails with exit status 2 and one line naming what it was
# writing, and leaves nothing: no archive, no temporary file beside it or in
# TMPDIR, no new directory, and an earlier directory bundle as it was.
new_acme a
k=$OM_FIXTURES/acme.key
# An earlier bundle in old/, of an empty server: updating it with the
# sample instance writes files larger than the limit.
createdb e
om-store init --db dbname=e --master-key-file e.key --new-key >/dev/null
om-export --db dbname=e --master-key-file e.key --redact-secrets -o old
cp -R old old.before
mkdir tmp
TMPDIR=$PWD/tmp
export TMPDIR
ls -A | grep -v "\.ls$" >before.ls
# A limit in blocks of 512 bytes, then the output: 30 blocks is more than
# any file of an empty server's bundle, less than the sample instance's
# archive and its largest document; a directory's staging journal (the
# list of files to put in place) outgrows 16.
for run in "30 out.tar" "30 out.tar.zst" "30 outdir" "30 old" "16 outdir" "16 old"; do
	set -- $run
	(
		trap '' XFSZ
		ulimit -f "$1"
		must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets -o "$2"
	)
	ls -A | grep -v "\.ls$" >after.ls
	if ! cmp -s before.ls after.ls || [ -n "$(ls -A tmp)" ]; then
		echo "export-full: -o $2 left something:" >&2
		diff before.ls after.ls >&2
		ls -A tmp >&2
		exit 1
	fi
done
diff -r old.before old
# Without the limit the same export succeeds.
om-export --db dbname=a --master-key-file "$k" --redact-secrets -o out.tar.zst
om-store check-bundle out.tar.zst

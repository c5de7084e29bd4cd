# The EXAMPLES of every man page run, against the sample instance: each
# .EX/.EE or .nf/.fi block is taken from the roff, unescaped, and run as a
# shell script with sh -e (a command that fails ends its block, so an
# om-diff that is to find differences says so: || [ $? = 1 ]), in a
# directory holding what the examples name (the database acme and its key
# acme.key, a password file pw, earlier bundles).  For each block: its exit
# status, the number of lines it printed, and what it said on standard
# error.  Paths of a crontab are made local; its PATH line names the built
# programs instead of /usr/local/bin, and keeps cron's /usr/bin:/bin.
k=$OM_FIXTURES/acme.key
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
top=$PWD
blocks() {
	awk '/^\.SH EXAMPLES/ { on = 1; next } /^\.SH/ { on = 0 }
	     on && /^\.(EX|nf)$/ { n++; inb = 1; next }
	     on && /^\.(EE|fi)$/ { inb = 0; next }
	     inb && !/^\./ { print > sprintf("%s/block.%d", dir, n) }
	     END { print n + 0 }' dir="$2" "$1"
	for b in "$2"/block.*; do
		sed -e 's/\\-/-/g; s/\\e/\\/g; s/\\(dq/"/g; s/\\&//g' \
		    -e 's/^\([0-9*][0-9*,\/-]* \)\{5\} *//' \
		    -e 's|/etc/om/acme.key|acme.key|g; s|/etc/om/acme.pw|pw|g; s|/srv/audit/acme|audit/acme|g' \
		    -e "s|^PATH=/usr/local/bin:|PATH=$OM_TOP:|" "$b" >"$b.sh"
	done
}
for page in "$OM_TOP"/docs/om-*.1; do
	name=${page##*/}
	name=${name%.1}
	for db in acme staging all; do dropdb --if-exists "$db" 2>/dev/null; done
	mkdir "$top/$name" && cd "$top/$name"
	new_acme acme
	PGDATABASE=acme
	export PGDATABASE
	cp "$k" acme.key
	printf 'example password\n' >pw
	case $name in
	om-encrypt)
		printf 'another password\n' >pw2
		om-export --master-key-file acme.key | om-encrypt --kdf interactive --password-file pw -o monday.tar.zst
		createdb staging
		om-store init --db dbname=staging --master-key-file staging.key --new-key >/dev/null
		psql_q -d staging -c "UPDATE server SET maintenance_mode = true" ;;
	om-diff)
		git init -q .
		om-export --master-key-file acme.key --redact-secrets -o acme.tar.zst
		om-export --master-key-file acme.key --redact-secrets -o old
		om-export --master-key-file acme.key --redact-secrets --ignore-history -o staging
		cp acme.tar.zst last-week.tar.zst
		git add acme.tar.zst && git commit -qm one
		psql_q -c "UPDATE environments SET doc = jsonb_set(doc, '{Description}', '\"Live\"') WHERE name = 'Production'"
		om-export --master-key-file acme.key --redact-secrets -o acme.tar.zst
		om-export --master-key-file acme.key --redact-secrets -o new
		git add acme.tar.zst && git commit -qm two ;;
	om-import)
		om-export --master-key-file acme.key --space Default --project "Acme Web" |
			om-encrypt --kdf interactive --password-file pw -o a.tar.zst
		om-export --master-key-file acme.key --space "Platform Team" --project "Cluster Bootstrap" \
			--ignore-history --ignore-deployments | om-encrypt --kdf interactive --password-file pw -o b.tar.zst ;;
	om-store)
		cp -R "$OM_FIXTURES/acme-home" acme-home ;;
	om-octopus)
		# The real package of shared/testdata, zipped and unzipped.
		printf 'pass!w0rd\n' >opw
		mkdir export-dir
		cp "$OM_TESTDATA"/octopus-export-2024.4/* export-dir/
		rm export-dir/README.md
		(cd export-dir && zip -q ../export.zip *)
		createdb staging
		om-store init --db dbname=staging --master-key-file staging.key --new-key >/dev/null
		psql_q -d staging -c "UPDATE server SET maintenance_mode = true" ;;
	esac
	mkdir .blocks
	echo "== $name: $(blocks "$page" .blocks) examples"
	i=1
	while [ -f ".blocks/block.$i.sh" ]; do
		set +e
		sh -e ".blocks/block.$i.sh" >".blocks/out.$i" 2>".blocks/err.$i"
		st=$?
		set -e
		echo "example $i: exit $st, $(wc -l <".blocks/out.$i") lines"
		sed "s|$PWD|.|g; s/^/  stderr: /" ".blocks/err.$i"
		i=$((i + 1))
	done
	cd "$top"
done

# The guides of docs/ run: each ```sh block of docs/guide-*.md, in order,
# in a directory holding what the guides name (the database acme with the
# sample instance, its key acme.key, a password file pw, its home directory
# acme-home), each with sh -e: a command that fails ends its block.  For each block: its exit status, the number of lines it
# printed, and what it said on standard error.  Then the git lines the
# guide, the README and om-diff(1) show are the same, verbatim.
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
top=$PWD
for guide in "$OM_TOP"/docs/guide-*.md; do
	name=${guide##*/}
	name=${name%.md}
	for db in $(psql_q -d postgres -c "SELECT datname FROM pg_database WHERE datname NOT IN
			('postgres', 'template0', 'template1', 'acme_tmpl')"); do
		dropdb "$db"
	done
	mkdir "$top/$name" && cd "$top/$name"
	new_acme acme
	cp "$OM_FIXTURES/acme.key" acme.key
	cp -R "$OM_FIXTURES/acme-home" acme-home
	printf 'guide password\n' >pw
	mkdir .blocks
	awk '/^```sh$/ { n++; inb = 1; next } /^```/ { inb = 0; next }
	     inb { print > sprintf(".blocks/%d.sh", n) } END { print n + 0 }' "$guide" >.blocks/n
	echo "== $name: $(cat .blocks/n) blocks"
	i=1
	while [ -f ".blocks/$i.sh" ]; do
		set +e
		sh -e ".blocks/$i.sh" >".blocks/$i.out" 2>".blocks/$i.err"
		st=$?
		set -e
		echo "block $i: exit $st, $(wc -l <".blocks/$i.out") lines"
		sed "s|$PWD|.|g; s/^/  stderr: /" ".blocks/$i.err"
		i=$((i + 1))
	done
	cd "$top"
done
echo "== the git lines, verbatim"
grep -e "^echo '\*.tar.zst diff=om'" -e '^git config di' "$OM_TOP/docs/guide-git.md" >guide.lines
cat guide.lines
grep -F -x -f guide.lines "$OM_TOP/README.md" | cmp - guide.lines && echo README has them
sed 's/\\-/-/g' "$OM_TOP/docs/om-diff.1" | grep -F -x -f guide.lines | cmp - guide.lines && echo om-diff.1 has them

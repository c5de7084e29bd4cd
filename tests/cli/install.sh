# make install PREFIX=... DESTDIR=...: the programs, om-snapshot, the man
# pages and the bash completion, where they belong.  (-o all: the programs
# are already built, with the flags of this run.)
make -s -C "$OM_TOP" -o all install PREFIX=/opt/om DESTDIR="$PWD/root" >/dev/null
cd root
find . | sort
find . -type f -perm -u+x | sort
# Each installed program runs from there, and om-snapshot knows its version.
for p in opt/om/bin/*; do "$p" --version; done
for m in opt/om/share/man/man1/*.1; do
	cmp "$m" "$OM_TOP/docs/${m##*/}"
done
test -L opt/om/share/bash-completion/completions/om-import
# The completion, through the links, is the same file.
for l in opt/om/share/bash-completion/completions/*; do
	cmp "$l" "$OM_TOP/completion/om.bash"
done
bash -c '. "$1"; complete -p om-import' sh opt/om/share/bash-completion/completions/om-import
# om-snapshot finds the programs installed beside it, with cron's PATH.
cd ..
new_acme a
git init -q audit
must_fail 1 env PATH=/usr/bin:/bin "$PWD/root/opt/om/bin/om-snapshot" --db dbname=a \
	--master-key-file "$OM_FIXTURES/acme.key" -q audit -- --ignore-history
git -C audit log --format=%s

# Packaging: make install and make uninstall into a DESTDIR (the programs,
# the man pages with om(1), the completion, the docs and spec/ under
# share/doc/om), CPPFLAGS and PKG_CONFIG honoured, pkg-config's errors
# shown, -Werror only with DEVELOPER=1; OM_PASSWORD_FILE; -o /dev/null.
# make as a user runs it: not with the variables of the make check that
# runs this case (DEVELOPER=1, SANITIZE=...), which reach it in MAKEFLAGS.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$OM_TOP" "$@"; }
echo "== install"
# -o all: the programs as they are built, nothing rebuilt.
mk -o all install DESTDIR="$PWD/root" PREFIX=/usr >make.out
(cd root && find . -type f -o -type l | sort)
head -n 1 root/usr/share/man/man1/om.1
test "$(readlink root/usr/share/bash-completion/completions/om-snapshot)" = om-export
cmp root/usr/share/doc/om/spec/bundle.md "$OM_TOP/spec/bundle.md"
root/usr/bin/om-diff --version
echo "== uninstall"
mk -o all uninstall DESTDIR="$PWD/root" PREFIX=/usr >make.out
(cd root && find . -type f -o -type l | wc -l)
test ! -e root/usr/share/doc/om && echo share/doc/om removed

echo "== build flags"
# -n -B: what would be run to build one object, without running it.
mk -n -B build/tools/common.o CPPFLAGS=-DOM_CPPFLAGS_SEEN | grep -c -- '-DOM_CPPFLAGS_SEEN'
mk -n -B build/tools/common.o | grep -c -- ' -Wall '
# (DEVELOPER=1 of a make check reaches this case in the environment too:
# make exports its command line's variables.)
must_fail 1 grep -c -- -Werror <<EOS
$(unset DEVELOPER; mk -n -B build/tools/common.o)
EOS
mk -n -B DEVELOPER=1 build/tools/common.o | grep -c -- ' -Werror'
cat >fake-pc <<'EOS'
#!/bin/sh
case $1 in
--cflags) echo -DOM_FAKE_PKG_CONFIG ;;
--libs) echo -lfake ;;
esac
EOS
chmod +x fake-pc
mk -n -B build/tools/common.o PKG_CONFIG="$PWD/fake-pc" | grep -c -- '-DOM_FAKE_PKG_CONFIG'
cat >missing-pc <<'EOS'
#!/bin/sh
[ "$1" = --exists ] && echo "Package libarchive was not found in the pkg-config search path." >&2
exit 1
EOS
chmod +x missing-pc
cp "$OM_TOP/build/flags" flags.before
must_fail 2 mk build/flags PKG_CONFIG="$PWD/missing-pc" 2>err
sed -e "s|$PWD|.|g" -e 's/^make: \*\*\* \[Makefile:[0-9]*: /make: *** [/' err
cmp flags.before "$OM_TOP/build/flags"

echo "== OM_PASSWORD_FILE, before OM_PASSWORD"
echo 'from a file' >pw
echo 'another' >pw2
new_acme a
om-export -q --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --ignore-history |
	OM_PASSWORD_FILE=pw OM_PASSWORD=wrong om-encrypt --kdf interactive -o enc
om-encrypt --check --password-file pw enc && echo opens with the file
must_fail 1 env OM_PASSWORD_FILE=pw2 om-encrypt --check enc 2>err
must_fail 2 env OM_PASSWORD_FILE=nonesuch om-encrypt --check enc
OM_PASSWORD_FILE=pw2 om-encrypt --check --password-file pw enc && echo --password-file first

echo "== -o /dev/null where writing is allowed"
om-export -q --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets -o /dev/null
om-export -q --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --ignore-history |
	om-encrypt --password-file pw -o /dev/null
test -c /dev/null && echo /dev/null is still a device
must_fail 2 om-export -q --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets -o /dev/full 2>err
sed 's/[0-9][0-9]* bytes/N bytes/' err

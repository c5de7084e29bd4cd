# Wrong passwords, tampered and moved tokens, bundles in the wrong state:
# the documented status, one line naming the file and the field, and no
# output.  No clear secret in any output, message or argv.
new_acme a
k=$OM_FIXTURES/acme.key
echo 'right password' >pw
echo 'wrong password' >bad
echo 'new password' >pw2
om-export --db dbname=a --master-key-file "$k" | cat >clear.tar
om-encrypt --kdf=interactive --password-file pw -o enc.tar clear.tar
mkdir e && tar -xf enc.tar -C e
# --check: 0 right, 1 wrong, never any output.
om-encrypt --check --password-file pw enc.tar >out1
must_fail 1 om-encrypt --check --password-file bad enc.tar >out2
test ! -s out1
test ! -s out2
# Wrong password: 1, and nothing written.
must_fail 1 om-encrypt -d --password-file bad --allow-clear-secrets -o dec.tar enc.tar
{ must_fail 1 om-encrypt -d --password-file bad e && echo failed >st; } | cat >dec.out
test "$(cat st)" = failed
test ! -s dec.out
rm st
test ! -e dec.tar
# A flipped byte in a token: 1, naming the document and the field.
f="e/spaces/Default/feeds/Acme ECR.json"
cp "$f" saved
perl -pe 's/("SecretKey": "om-pw-1:....)(.)/$1 . ($2 eq "A" ? "B" : "A")/e' saved >"$f"
must_fail 1 cmp -s saved "$f"
must_fail 1 om-encrypt --check --password-file pw e
must_fail 1 om-encrypt -d --password-file pw --allow-clear-secrets -o dec e
test ! -e dec
# A flip that breaks the base64 is tampering too: a character outside the
# alphabet, the last one before the padding (whose low bits must be zero),
# a token cut short.  1, naming the document and the field.
tok=$(sed -n 's/.*"SecretKey": "\(om-pw-1:[^"]*\)".*/\1/p' saved)
body=${tok%%=*}
case ${body#"${body%?}"} in B) last=D ;; *) last=B ;; esac
test "$body" != "$tok"
for t in "om-pw-1:*${tok#om-pw-1:?}" "${body%?}$last${tok#"$body"}" "${tok%?}" "${tok%????}"; do
	sed "s|\"SecretKey\": \"$tok\"|\"SecretKey\": \"$t\"|" saved >"$f"
	must_fail 1 om-encrypt --check --password-file pw e
done
cp saved "$f"
# Two tokens swapped within one document (two values of one variable name,
# told apart by their place), then tokens moved between fields of two
# documents, both ways.
v="e/spaces/Default/projects/Acme Web/variables.json"
cp "$v" v.saved
t1=$(grep -o '"Value": "om-pw-1:[^"]*"' v.saved | sed -n 1p)
t2=$(grep -o '"Value": "om-pw-1:[^"]*"' v.saved | sed -n 2p)
test -n "$t2"
test "$t1" != "$t2"
sed "s|$t1|@1@|;s|$t2|$t1|;s|@1@|$t2|" v.saved >"$v"
must_fail 1 om-encrypt --check --password-file pw e
cp v.saved "$v"
tok=$(sed -n 's/.*"SecretKey": "\(om-pw-1:[^"]*\)".*/\1/p' saved)
sed "s|\"Password\": \"om-pw-1:[^\"]*\"|\"Password\": \"$tok\"|" "e/spaces/Default/feeds/Acme Container Registry.json" >g
cp saved "$f"
cp "e/spaces/Default/feeds/Acme Container Registry.json" g.saved
cp g "e/spaces/Default/feeds/Acme Container Registry.json"
must_fail 1 om-encrypt --check --password-file pw e
cp g.saved "e/spaces/Default/feeds/Acme Container Registry.json"
sed "s|\"SecretKey\": \"om-pw-1:[^\"]*\"|\"SecretKey\": \"$(sed -n 's/.*"Password": "\(om-pw-1:[^"]*\)".*/\1/p' g.saved)\"|" saved >"$f"
must_fail 1 om-encrypt --check --password-file pw e
cp saved "$f"
om-encrypt --check --password-file pw e
# A token at a place that holds no secret, a token of an unknown version.
sed 's|"Name": "Acme ECR"|"Name": "om-clear-1:eA=="|' saved >"$f"
must_fail 2 om-encrypt --check --password-file pw e
sed 's|"SecretKey": "om-pw-1:|"SecretKey": "om-pw-9:|' saved >"$f"
must_fail 2 om-encrypt --check --password-file pw e
cp saved "$f"
# Already encrypted: refused, pointing at --rekey.  Not encrypted: refused.
must_fail 2 om-encrypt --password-file pw -o twice.tar enc.tar
must_fail 2 om-encrypt --check --password-file pw clear.tar
test ! -e twice.tar
# --rekey: the old password no longer opens it, the new one does, and
# decrypting gives the clear stream.
om-encrypt --rekey --kdf=interactive --password-file pw --new-password-file pw2 -o re.tar.zst enc.tar
must_fail 1 om-encrypt --check --password-file pw re.tar.zst
om-encrypt --check --password-file pw2 re.tar.zst
om-encrypt -d --password-file pw2 re.tar.zst | cmp - clear.tar
must_fail 1 om-encrypt --rekey --password-file bad --new-password-file pw2 -o re2.tar enc.tar
test ! -e re2.tar
# Reusing a salt with another password: 1, unless --new-salt.
om-encrypt --password-file pw --salt-from enc.tar -o same.tar clear.tar
cmp same.tar enc.tar
must_fail 1 om-encrypt --password-file pw2 --salt-from enc.tar -o other.tar clear.tar
om-encrypt --password-file pw -o dir clear.tar --kdf=interactive
must_fail 1 om-encrypt --password-file pw2 -o dir clear.tar
must_fail 2 om-encrypt --password-file pw --kdf=sensitive -o dir clear.tar
om-encrypt --password-file pw2 --new-salt --kdf=interactive -o dir clear.tar
om-encrypt --check --password-file pw2 dir
test ! -e other.tar
# The password of a reused salt is checked before anything is written, also
# into a pipe, although the stream's events/ come before its manifest (made
# bigger than any buffer on the way).
mkdir c && tar -xf clear.tar -C c
head -c 1048576 /dev/zero | tr '\0' x >c/events/padding.txt
{ must_fail 1 om-encrypt --password-file pw2 --salt-from enc.tar c && echo failed >st; } |
	cat >other.out
test "$(cat st)" = failed
test ! -s other.out
rm st
# A failure later in the stream (a clear token that is not base64, after the
# manifest) cuts the stream where it is, without the end-of-archive marker:
# every om program refuses what was written.
sed -i 's|"SecretKey": "om-clear-1:[^"]*"|"SecretKey": "om-clear-1:*"|' "c/${f#e/}"
{ must_fail 2 om-encrypt --password-file pw --salt-from enc.tar c && echo failed >st; } | cat >cut.tar
test "$(cat st)" = failed
test "$(wc -c <cut.tar)" -gt 1048576
# (Where the stream is cut depends on the writer's blocks: the messages
# are checked for what they say, not for the entry they name.)
must_fail 2 om-store check-bundle cut.tar 2>cut.err
must_fail 2 om-encrypt --check --password-file pw cut.tar 2>>cut.err
must_fail 2 om-diff --password-file pw cut.tar enc.tar 2>>cut.err
must_fail 2 om-import --db dbname=a --master-key-file "$k" --password-file pw --online \
	--dry-run cut.tar 2>>cut.err
test "$(grep -c "^om-[a-z]*: 'cut.tar': .*truncated" cut.err)" = 4
# --rekey of a directory in place makes a new salt: the directory's salt
# comes with the old password's check value.
salt=$(grep '"Salt"' dir/manifest.json)
om-encrypt --rekey --kdf=interactive --password-file pw2 --new-password-file pw -o dir dir
test "$(grep '"Salt"' dir/manifest.json)" != "$salt"
om-encrypt --check --password-file pw dir
must_fail 1 om-encrypt --check --password-file pw2 dir
om-encrypt -d --password-file pw dir | cmp - clear.tar
# A document that is not strict JSON: 2, naming it, nothing written; the
# manifest too.  A home file (an artifact) may end in .json and hold
# anything: copied through byte for byte.
mkdir home && cp -R "$OM_FIXTURES/acme-home/." home
art=home/Artifacts/ServerTasks-67/backup-manifest.json
printf '{"file": "acme.dump", "size": 1e400, "file": ' >"$art"
om-export --db dbname=a --master-key-file "$k" --include-artifacts --home home | cat >art.tar
tar -tf art.tar | grep '/artifacts/backup-manifest.json$'
om-encrypt --password-file pw --salt-from enc.tar art.tar |
	om-encrypt -d --password-file pw | cmp - art.tar
mkdir d && tar -xf art.tar -C d
cp "$art" d/spaces/Default/environments/Broken.json
must_fail 2 om-encrypt --password-file pw --salt-from enc.tar -o broken.tar d
rm d/spaces/Default/environments/Broken.json
cp d/manifest.json m.saved
sed 's/^  "Format": "om-bundle",$/&\n  "Format": "om-bundle",/' m.saved >d/manifest.json
must_fail 2 om-encrypt --password-file pw --salt-from enc.tar -o broken.tar d
test ! -e broken.tar
# A redacted bundle is copied through unchanged; --check refuses it.
om-export --db dbname=a --master-key-file "$k" --redact-secrets -o red.tar
om-encrypt --password-file pw <red.tar | cmp - red.tar
must_fail 2 om-encrypt --check --password-file pw red.tar
# Usage: no password on the command line, no password source at all.
must_fail 2 om-encrypt --password pw <clear.tar
must_fail 2 om-encrypt -d --check --password-file pw enc.tar
must_fail 2 om-encrypt --password-file pw --password-fd 0 enc.tar
must_fail 2 om-encrypt -d --password-file nonexistent --allow-clear-secrets -o x.tar enc.tar
must_fail 2 setsid -w om-encrypt -d --allow-clear-secrets -o x.tar enc.tar </dev/null
test ! -e x.tar
# Not a bundle.
echo hello >x.txt
must_fail 2 om-encrypt --password-file pw x.txt
# No plaintext of the sample instance in any encrypted output or message,
# nor in the argv of a running pipeline.
sed -n 's/.*@@SEAL:\([^@]*\)@@.*/\1/p' "$OM_FIXTURES/acme.sql.in" | sed 's/\\"/"/g' | sort -u >plain
test "$(wc -l <plain)" -gt 20
om-export --db dbname=a --master-key-file "$k" | om-encrypt --password-file pw -o slow.tar.zst &
sleep 0.3
ps -eo args >ps.txt
wait
for out in enc.tar re.tar.zst same.tar dir e ps.txt; do
	if [ -d "$out" ]; then tar -cf - -C "$out" . ; elif [ "${out%.zst}" != "$out" ]; then zstd -dc "$out"; else cat "$out"; fi >blob
	must_fail 1 grep -F -f plain blob
done
# Nor in this case's messages (compared with encrypt-errors.err).
must_fail 1 grep -F -f plain "$OM_TOP/tests/cli/encrypt-errors.err"

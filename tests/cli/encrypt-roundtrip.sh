# om-export | om-encrypt | om-encrypt -d gives back the clear stream byte for
# byte, in every bundle form, through pipes and files alike.
new_acme a
k=$OM_FIXTURES/acme.key
echo 'correct horse battery staple' >pw
om-export --db dbname=a --master-key-file "$k" | cat >clear.tar
om-export --db dbname=a --master-key-file "$k" | om-encrypt --kdf=interactive --password-file pw -o enc
test -f enc/manifest.json
must_fail 1 grep -r 'om-clear-1' enc
grep -c '"om-pw-1:' "enc/spaces/Default/feeds/Acme ECR.json"
sed -n '/"Secrets"/,/^  }/p' enc/manifest.json | sed 's/"\(Check\|Salt\)": ".*"/"\1": X/'
# Only the tokens and the manifest's Secrets differ from the clear bundle.
mkdir c && tar -xf clear.tar -C c
diff -r c enc | grep '^[<>]' | grep -v '"om-clear-1:\|"om-pw-1:' | sed 's/": ".*"/": X/'
# Back to clear: into a pipe, from a directory, from a tar, a tar.zst, standard input.
om-encrypt -d --password-file pw enc | cat >back.tar
cmp clear.tar back.tar
om-encrypt --password-file pw --salt-from enc -o enc.tar clear.tar
om-encrypt --password-file pw --salt-from enc -o enc.tar.zst <clear.tar
zstd -dc enc.tar.zst | cmp - enc.tar
om-encrypt --password-file pw --salt-from enc <clear.tar | cmp - enc.tar
om-encrypt -d --password-file pw enc.tar | cmp - clear.tar
om-encrypt -d --password-file pw enc.tar.zst | cmp - clear.tar
om-encrypt -d --password-file pw - <enc.tar.zst | cmp - clear.tar
# The same tokens in the tar as in the directory (same salt, same password).
mkdir t && tar -xf enc.tar -C t && diff -r t enc
# Clear output to a file or directory only when asked for.
must_fail 2 om-encrypt -d --password-file pw -o back2.tar enc
must_fail 2 om-encrypt -d --password-file pw -o backdir enc
must_fail 2 om-encrypt -d --password-file pw enc >back3.tar
test ! -e back2.tar && test ! -e backdir && test ! -s back3.tar
om-encrypt -d --password-file pw --allow-clear-secrets -o back4.tar enc.tar.zst
cmp back4.tar clear.tar
# Password sources: a descriptor, the environment.
om-encrypt -d --password-fd 3 enc 3<pw | cmp - clear.tar
OM_PASSWORD='correct horse battery staple' om-encrypt -d enc | cmp - clear.tar
# CRLF line end in a password file is not part of the password.
printf 'correct horse battery staple\r\nnext line\n' >pw-crlf
om-encrypt --check --password-file pw-crlf enc

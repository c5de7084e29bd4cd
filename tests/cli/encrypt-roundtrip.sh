# om-export | om-encrypt | om-encrypt -d gives back the clear stream byte for
# byte, in every bundle form, through pipes and files alike.
new_acme a
k=$OM_FIXTURES/acme.key
echo 'correct horse battery staple' >pw
om-export --db dbname=a --master-key-file "$k" | cat >clear.tar
om-export --db dbname=a --master-key-file "$k" | om-encrypt --kdf=interactive --password-file pw -o enc
test -f enc/manifest.json
! grep -r 'om-clear-1' enc
grep -c '"om-pw-1:' "enc/spaces/Default/feeds/Acme ECR.json"
sed -n '/"Secrets"/,/^  }/p' enc/manifest.json | sed 's/"\(Check\|Salt\)": ".*"/"\1": X/'
# Back to clear, into a pipe, from a directory.
om-encrypt -d --password-file pw enc | cat >back.tar
cmp clear.tar back.tar

# Every token of a bundle is of the manifest's state (spec/bundle.md): a
# clear token put in a password bundle, which needs no password to make, is
# refused with exit 2 naming the entry and the member by om-import (the
# target unchanged), om-store check-bundle, om-diff and om-encrypt --check;
# so is a password token in a clear bundle.
new_acme a
k=$OM_FIXTURES/acme.key
printf 'correct horse\n' >pw
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments | om-encrypt --kdf interactive --password-file pw -o enc
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments --allow-clear-secrets -o clear
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
dump >dump0
# One om-pw-1 token replaced by the clear token of a value of our choosing.
cp -R enc forged
f=$(grep -rl 'om-pw-1:' forged/spaces | sort | head -n 1)
forged=$(printf 'forged value' | base64)
TOK="\"om-clear-1:$forged\"" perl -0pi -e 's/"om-pw-1:[^"]*"/$ENV{TOK}/' "$f"
must_fail 2 om-import --db dbname=t --master-key-file t.key --password-file pw forged
dump | cmp - dump0 && echo unchanged after a forged token
must_fail 2 om-store check-bundle forged
must_fail 2 om-diff --password-file pw enc forged
must_fail 2 om-diff enc forged
must_fail 2 om-encrypt --check --password-file pw forged
# The other way: a password token in a clear bundle.
cp -R clear mixed
g=$(grep -rl 'om-clear-1:' mixed/spaces | sort | head -n 1)
tok=$(grep -rho '"om-pw-1:[^"]*"' enc/spaces | head -n 1)
TOK=$tok perl -0pi -e 's/"om-clear-1:[^"]*"/$ENV{TOK}/' "$g"
must_fail 2 om-import --db dbname=t --master-key-file t.key mixed
must_fail 2 om-store check-bundle mixed
must_fail 2 om-diff clear mixed
dump | cmp - dump0 && echo unchanged after a mixed bundle
# The untouched bundles pass.
om-store check-bundle enc
om-import --db dbname=t --master-key-file t.key --password-file pw enc

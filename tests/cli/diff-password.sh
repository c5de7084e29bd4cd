# Password-encrypted secrets under two salts cannot be compared as they are:
# om-diff says it cannot tell.  Given the password (or each bundle's own) it
# opens them and compares by value, so that only the one secret changed in
# the store shows as changed, and never its value; the manifests' salts and
# check values are no difference; a wrong password is trouble (exit 2).
new_acme a
k=$OM_FIXTURES/acme.key
printf 'audit password\n' >pw
printf 'not it\n' >bad
printf 'other password\n' >pw2
enc() { om-export --db dbname=a --master-key-file "$k" --ignore-history |
	om-encrypt --kdf interactive --password-file "${2:-pw}" --new-salt -o "$1"; }
enc one.tar.zst
new=$(echo 'rotated-smtp-password' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}',
  (SELECT jsonb_agg(CASE WHEN v->>'Value' IS NOT NULL AND v->>'Name' = 'Smtp.Password'
     THEN jsonb_set(v, '{Value}', to_jsonb('$new'::text)) ELSE v END ORDER BY i)
   FROM jsonb_array_elements(doc->'Variables') WITH ORDINALITY AS t(v, i)))
  WHERE doc->'Variables' @> '[{\"Name\": \"Smtp.Password\"}]'"
enc two.tar.zst
# Without the password: every secret is "cannot tell" (two salts).
must_fail 1 om-diff --stat one.tar.zst two.tar.zst
om-diff one.tar.zst two.tar.zst | grep -c 'cannot tell'
# With it: the one changed secret, and the other side clear works too.
must_fail 1 om-diff --password-file pw one.tar.zst two.tar.zst
om-export --db dbname=a --master-key-file "$k" --ignore-history |
	must_fail 1 om-diff --password-fd 3 one.tar.zst - 3<pw
# The same data under another salt, or under another password, is the same.
enc three.tar.zst
enc four.tar.zst pw2
OM_PASSWORD='audit password' om-diff two.tar.zst three.tar.zst && echo "same, two salts"
om-diff --password-file pw --password-file pw2 two.tar.zst four.tar.zst && echo "same, two passwords"
must_fail 1 om-diff --password-file pw --password-fd 3 one.tar.zst four.tar.zst 3<pw2
must_fail 2 om-diff --password-file pw2 --password-file pw two.tar.zst four.tar.zst
must_fail 2 om-diff --password-file pw --password-file pw2 --password-fd 0 two.tar.zst four.tar.zst
must_fail 2 om-diff --password-file bad one.tar.zst two.tar.zst
# No secret value anywhere in what om-diff printed.
om-diff --password-file pw --json one.tar.zst two.tar.zst | grep -c 'rotated' || true
# Redacted fingerprints of two servers (two master keys) are not compared:
# the manifests' key ids differ, so every secret is "cannot tell", none
# "changed".
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments |
	om-import --db dbname=t --master-key-file t.key --online >/dev/null 2>&1
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments --redact-secrets -o ra
om-export --db dbname=t --master-key-file t.key --ignore-history --ignore-deployments --redact-secrets -o rt
must_fail 1 om-diff ra rt >r.txt
grep -c 'cannot tell' r.txt
grep -c 'secret changed' r.txt || true
# Redacted against password: the secrets cannot be compared, and the
# manifest says why, with or without the password.
must_fail 1 om-diff ra two.tar.zst | awk '/^[a-z]/ { m = /Manifest/ } m && /Secrets/'
must_fail 1 om-diff --password-file pw ra two.tar.zst | grep -c 'cannot tell' 

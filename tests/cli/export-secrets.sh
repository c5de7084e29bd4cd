# Secrets leave the store in the clear only into a pipe; redacted ones are
# keyed fingerprints that change with the secret and only with it.
new_acme a
k=$OM_FIXTURES/acme.key
om-export --db dbname=a --master-key-file "$k" | cat >clear.tar
# The ECR feed's secret key, as in the sample instance's source.
tar -xOf clear.tar "spaces/Default/feeds/Acme ECR.json" |
	sed -n 's/.*"SecretKey": "om-clear-1:\(.*\)",/\1/p' | base64 -d; echo
# Refused: a file, a directory, a regular file as standard output.
must_fail 2 om-export --db dbname=a --master-key-file "$k" -o clear2.tar
must_fail 2 om-export --db dbname=a --master-key-file "$k" -o dir
must_fail 2 om-export --db dbname=a --master-key-file "$k" >clear3.tar
test ! -e clear2.tar && test ! -e dir && test ! -s clear3.tar
# ... unless asked for, and then readable by the owner only.
umask 022
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o clear4.tar
cmp clear.tar clear4.tar
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o clear5
stat -c '%a %n' clear4.tar clear5/manifest.json "clear5/spaces/Default/feeds/Acme ECR.json"
# Redacted: one secret changed changes one fingerprint in one file.
om-export --db dbname=a --master-key-file "$k" --redact-secrets -o r1
stat -c '%a %n' r1/manifest.json
must_fail 1 grep -r 'om-clear-1' r1
new=$(echo 'rotated-key' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE feeds SET doc = jsonb_set(doc, '{SecretKey}', to_jsonb('$new'::text)) WHERE name = 'Acme ECR'"
om-export --db dbname=a --master-key-file "$k" --redact-secrets -o r2
diff -r r1 r2 | grep '^[<>]' | sed 's/om-redacted-1:[0-9a-f]*/om-redacted-1:X/'
# A sealed token in a member the model does not call secret (here an
# environment's Description): om-store check reports it, om-export refuses
# the export rather than copy the store's ciphertext out.
tok=$(echo 'stray' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE environments SET doc = doc || jsonb_build_object('Description', '$tok', 'Extra', jsonb_build_array('x', '$tok')) WHERE name = 'Test' AND space_id = 'Spaces-1'"
must_fail 1 om-store check --db dbname=a --master-key-file "$k"
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets -o r3
test ! -e r3

# The sample instance exported, imported into an empty server with a new
# master key, exported again: the same configuration up to Ids.  Every new
# Id differs from every source Id (the target's allocator starts at 1000),
# so a reference left unmapped would not resolve.  The only differences
# are history's references to documents deleted in the source (a deleted
# user and project): they are cleared, as their Ids name other documents
# in the target.  Every secret opens in the target to its plaintext.
new_acme a
k=$OM_FIXTURES/acme.key
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 1000"
om-export --db dbname=a --master-key-file "$k" | om-import --db dbname=t --master-key-file t.key
om-store check --db dbname=t --master-key-file t.key
om-export --db dbname=a --master-key-file "$k" | cat >a.tar
om-export --db dbname=t --master-key-file t.key | cat >t.tar
mkdir A T
tar -xf a.tar -C A
tar -xf t.tar -C T
perl "$OM_TOP/tests/normalize.pl" A >A.n
perl "$OM_TOP/tests/normalize.pl" T >T.n
diff A.n T.n || true
# Each reference place holds as many references as in the source, but for
# the cleared weak ones.
om-store usage --db dbname=a >a.usage
om-store usage --db dbname=t >t.usage
diff a.usage t.usage || true
# The secrets: the plaintexts of the instance's source, as the target's
# clear export shows them.
find T -name '*.json' -exec sed -n 's/.*"om-clear-1:\([^"]*\)".*/\1/p' {} + |
	while read -r b; do printf '%s' "$b" | base64 -d; echo; done | sort >t.secrets
grep -o '@@SEAL:[^@]*@@' "$OM_FIXTURES/acme.sql.in" | sed 's/^@@SEAL://; s/@@$//' |
	perl -ne 'chomp; print eval(qq{"$_"}), "\n"' | sort >plain.secrets
cmp t.secrets plain.secrets && wc -l <t.secrets
# The same bundle again: nothing to change.
om-import --db dbname=t --master-key-file t.key a.tar
# Through a password: exported, encrypted, imported into another empty
# server, exported again; om-diff finds no difference with the first export
# (secrets compared in the clear; history and deployments left out, as their
# references to deleted documents are cleared, above).
printf 'round trip\n' >pw
createdb t2
om-store init --db dbname=t2 --master-key-file t2.key --new-key >/dev/null
psql_q -d t2 -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 5000"
om-export --db dbname=a --master-key-file "$k" | om-encrypt --kdf interactive --password-file pw -o enc.tar.zst
om-import --db dbname=t2 --master-key-file t2.key --password-file pw enc.tar.zst
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments | cat >a2.tar
om-export --db dbname=t2 --master-key-file t2.key --ignore-history --ignore-deployments | cat >t2.tar
om-diff a2.tar t2.tar && echo no difference

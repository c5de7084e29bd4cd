# A password-encrypted bundle imports with its password: its secrets end up
# in the target sealed under the target's key, the same as from the clear
# bundle; a wrong password is exit 1 and a tampered token exit 2, each
# leaving the target as it was.
new_acme a
k=$OM_FIXTURES/acme.key
printf 'correct horse\n' >pw
printf 'wrong horse\n' >bad
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments | om-encrypt --kdf interactive --password-file pw -o enc.tar.zst
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments --allow-clear-secrets -o clear
for t in t1 t2; do
	createdb $t
	om-store init --db dbname=$t --master-key-file $t.key --new-key >/dev/null
	psql_q -d $t -c "UPDATE server SET maintenance_mode = true"
done
dump() { pg_dump -d t1 | sed '/^.restrict /d; /^.unrestrict /d'; }
dump >dump0
must_fail 1 om-import --db dbname=t1 --master-key-file t1.key --password-file bad enc.tar.zst
dump | cmp - dump0 && echo unchanged after a wrong password
# A token with one character changed.
mkdir tampered && tar -C tampered -x --zstd -f enc.tar.zst
f=$(grep -rl 'om-pw-1:' tampered/spaces | sort | head -n 1)
perl -0pi -e 's/(om-pw-1:)(.)/$1 . ($2 eq "A" ? "B" : "A")/e' "$f"
must_fail 2 om-import --db dbname=t1 --master-key-file t1.key --password-file pw tampered 2>&1 |
	sed 's/: entry .*: \([A-Za-z]*\): the secret/: entry ...: \1: the secret/'
dump | cmp - dump0 && echo unchanged after a tampered token
# The password from the environment, and from a descriptor.
OM_PASSWORD='correct horse' om-import --db dbname=t1 --master-key-file t1.key enc.tar.zst
om-import --db dbname=t2 --master-key-file t2.key clear
# Both targets hold the same secrets: their clear exports compare equal.
om-export --db dbname=t1 --master-key-file t1.key --allow-clear-secrets -o out1
om-export --db dbname=t2 --master-key-file t2.key --allow-clear-secrets -o out2
om-diff out1 out2 && echo same secrets
createdb t3 && om-store init --db dbname=t3 --master-key-file t3.key --new-key >/dev/null
om-import --db dbname=t3 --master-key-file t3.key --online --password-fd 3 enc.tar.zst 3<pw

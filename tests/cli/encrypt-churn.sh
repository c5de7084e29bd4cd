# A scheduled export into a git-tracked directory: unchanged data gives
# byte-identical files, one changed secret changes one line of one file, and
# a variable added elsewhere moves no other token.
new_acme a
k=$OM_FIXTURES/acme.key
echo 'nightly export password' >pw
export_enc() { om-export --db dbname=a --master-key-file "$k" | om-encrypt --kdf=interactive --password-file pw -o audit; }
export_enc
git init -q audit
git -C audit add -A
git -C audit -c user.name=t -c user.email=t@t commit -qm first
export_enc
git -C audit status --porcelain | wc -l
# One secret changed in the store: one line of one file.
new=$(echo 'rotated-db-password' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}',
  (SELECT jsonb_agg(CASE WHEN v->>'Value' IS NOT NULL AND v->>'Name' = 'Smtp.Password'
     THEN jsonb_set(v, '{Value}', to_jsonb('$new'::text)) ELSE v END ORDER BY i)
   FROM jsonb_array_elements(doc->'Variables') WITH ORDINALITY AS t(v, i)))
  WHERE doc->'Variables' @> '[{\"Name\": \"Smtp.Password\"}]'"
export_enc
git -C audit status --porcelain
git -C audit diff --numstat
git -C audit diff -U0 | grep '^[-+] ' | sed 's/om-pw-1:.*"/om-pw-1:X"/'
git -C audit -c user.name=t -c user.email=t@t commit -qam second
# A variable added at the top of a variable set holding two secrets of one
# name: only the added lines change, no token.
psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}',
  '[{\"Id\": \"00000000-0000-0000-0000-000000000001\", \"Name\": \"Aaa.New\", \"Type\": \"String\", \"Value\": \"x\"}]'::jsonb || (doc->'Variables'))
  WHERE doc->'Variables' @> '[{\"Name\": \"Database.Password\"}]'"
export_enc
git -C audit diff --numstat
git -C audit diff >d
must_fail 1 grep '^[-+] .*om-pw-1' d
# The same with a new salt: every token changes, nothing else.
om-export --db dbname=a --master-key-file "$k" | om-encrypt --kdf=interactive --password-file pw --new-salt -o audit
test "$(git -C audit diff | grep -c '^-.*om-pw-1')" -gt 20
git -C audit diff | grep '^[-+] ' >d
must_fail 1 grep -v 'om-pw-1:\|"Salt":\|"Check":\|Aaa.New\|"Id": "0000\|"Type": "String"\|"Value": "x"\|^[-+]    [{}],*$' d

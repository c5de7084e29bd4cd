# The same data gives the same bytes: twice as a directory, a .tar and a
# .tar.zst; the directory and the tar hold the same files with the same
# bytes; and the export of the sample instance equals the golden bundle
# committed in fixtures/acme-bundle (redacted with the sample key, so the
# fingerprints are fixed too).  The order and repetition of options do not
# change the bytes either.
new_acme a
x() { om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets "$@"; }
x -o d1
x -o d2
x -o t1.tar
x -o t2.tar
x -o z1.tar.zst
x -o z2.tar.zst
x -o - >s.tar
diff -r d1 d2
cmp t1.tar t2.tar
cmp z1.tar.zst z2.tar.zst
cmp t1.tar s.tar
zstd -dq <z1.tar.zst | cmp - t1.tar
mkdir t && tar -xf t1.tar -C t && diff -r d1 t
diff -r "$OM_FIXTURES/acme-bundle" d1
find d1 -type f | wc -l
# The order and repetition of options do not change the bytes: the
# manifest's Files keep the model's order, Projects and ProjectGroups are
# sorted and each named once.
h=$OM_FIXTURES/acme-home
x --home "$h" --include-packages --include-tasklogs --ignore-tenants --ignore-history -o o1.tar
x --home "$h" --include-tasklogs --include-packages --include-tasklogs --ignore-history --ignore-tenants -o o2.tar
cmp o1.tar o2.tar
tar -xOf o1.tar manifest.json | sed -n '/"Files"/,/]/p'
x --space Default --project "Billing API" --project "Acme Web" --project-group "Back Office" \
	--project-group "Customer Facing" -o p1.tar
x --space Default --project "Acme Web" --project-group "Customer Facing" --project "Billing API" \
	--project "Acme Web" --project-group "Back Office" --project-group "Back Office" -o p2.tar
cmp p1.tar p2.tar
tar -xOf p1.tar manifest.json | sed -n '/"Scope"/,/}/p'

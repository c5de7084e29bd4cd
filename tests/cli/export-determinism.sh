# The same data gives the same bytes: twice as a directory, a .tar and a
# .tar.zst; the directory and the tar hold the same files with the same
# bytes; and the export of the sample instance equals the golden bundle
# committed in fixtures/acme-bundle (redacted with the sample key, so the
# fingerprints are fixed too).
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

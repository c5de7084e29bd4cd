# spec/model.md quotes the catalog as om-store prints it, to the byte.
sed -n '/^Output of `om-store model`:/,$p' "$OM_TOP/spec/model.md" |
	sed -e '1,/^```$/d' -e '/^```$/,$d' >doc.txt
om-store model >model.txt
cmp doc.txt model.txt
test "$(wc -l <model.txt)" -gt 100

# The catalog is the only place that knows kinds and Octopus's property
# names (spec/model.md): no other C file of libom spells one as a string,
# nor as an SQL literal inside one.  The names come from the catalog
# itself, as om-store prints it, so that a kind or member added there is
# checked from then on: every kind, and every member name of its paths,
# identities, owners, merges and scripts.
om-store model | perl -ne '
	if (/^(\S+)$/) { print "$1\n"; next }
	next if /^  (table|scope|history|bundle) /;
	s/^  ids [^<]*<?//;
	print "$_\n" for /([A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*)/g;
' | sort -u >names
test "$(wc -l <names)" -gt 150
grep -qx Space names
grep -qx Octopus.Action.Script.ScriptBody names
grep -qx MemberUserIds names

# The scanner finds what it must, and nothing in comments.
cat >probe.c <<'PROBE'
/* "Space" in a comment */
x = get(doc, "Space"); // "Tenant"
sql("SELECT doc->>'SpaceId' FROM t");
y = "Spaces and more";
PROBE
perl "$OM_TOP/tests/model-names.pl" names probe.c

ls "$OM_TOP"/format/*.c | grep -v '/model\.c$' >files
test "$(wc -l <files)" -gt 10
perl "$OM_TOP/tests/model-names.pl" names $(cat files) >found
sed "s|^$OM_TOP/||" found
must_fail 1 grep -q . found

# The sample instance loads, every kind of the model has documents, and the
# check driven by the model finds nothing wrong: every reference resolves,
# every secret opens with the instance's key, every file is in its home.
new_acme a
for t in $(om-store model | sed -n 's/^  table //p'); do
	n=$(psql_q -d a -c "SELECT count(*) FROM $t")
	test "$n" -gt 0 || echo "no documents in $t"
done
psql_q -d a -c "SELECT count(*) >= 2 FROM spaces"
psql_q -d a -c "SELECT count(*) >= 12 FROM projects"
om-store check --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --home "$OM_FIXTURES/acme-home"

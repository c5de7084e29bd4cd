# The store takes Octopus's real document shapes: the documents of a real
# Octopus export (shared/testdata/octopus-export-2024.4), with the export
# suffix taken off their Ids and their secrets sealed with a test key, load
# into the store unchanged and check clean against the model.
src=$OM_TESTDATA/octopus-export-2024.4
need_testdata octopus-export-2024.4/manifest.json

om-store keygen k
createdb o
om-store init --db dbname=o --master-key-file k
psql_q -d o -c "INSERT INTO spaces (doc) VALUES ('{\"Id\": \"Spaces-1\", \"Name\": \"Default\"}')"

# Table of each kind by Id prefix, from the model.
om-store model | awk '/^  table /{t=$2} /^  ids /{p=$2; sub(/(N|<.*)$/, "", p); print p, t}' >prefixes

# The plaintexts of the export's secrets (its README), by ciphertext.
cat >plain <<'END'
miEOe//HnxHqyAf/0V3Y06a8RwbT1rkWPHH0vHXtztc=|ttxE6JPEy6hP3jhGLRqslw== sensitive_default
ex6y/n/pt1LCZ4LCtW65+1taM1ZUM7NZ6es/noGuj/0=|lh3U9I+qBk5R8lDjKdz2jw== sensitive_custom
MYvFyiIt1aUcvfiORB809w==|yhWcMW1ybrZob9u1mjQkPQ== secret
DfTegOpMGo/hMxD6EFeCNQ==|VO1czfbhXPAYOGd5v5xq9g== dev_value
6i1QdExDU7Ba9mdHwv9S+Q==|hiBSQYWq6yc34gMwe7YHyA== prod_value
phjHKVdsFiqwWOPCBMHtPw==|iCkWNd1b23Zt3XhrXRGbhg== other_value
W4v/jPKDePNRZB2/8q4IkA==|fNGU2hwJN+Fni/UYYDbQZQ== hellow_world
END
cut -d' ' -f2 plain | om-store seal --master-key-file k >sealed
paste -d' ' plain sealed >map

n=0
for f in "$src"/*.json; do
	case $(basename "$f") in manifest.json) continue ;; esac
	# Take off the export suffix; put sealed secrets for the ciphertexts.
	sed 's/-D4C63A85E7894C5D8C20D9297FEA1A43//g' "$f" >doc.json
	while read -r cipher clear token; do
		awk -v c="\"$cipher\"" -v t="\"$token\"" '{
			while ((i = index($0, c)) > 0) $0 = substr($0, 1, i - 1) t substr($0, i + length(c))
			print }' doc.json >doc.tmp && mv doc.tmp doc.json
	done <map
	id=$(sed -n 's/^  "Id": "\([^"]*\)".*/\1/p' doc.json)
	table=$(while read -r p t; do case $id in "$p"*) echo "$t" ;; esac; done <prefixes)
	test -n "$table"
	# Insert the body, then read it back: the store keeps it as it was.
	printf '%s\n' "INSERT INTO $table (doc) VALUES (:'doc');" \
		"SELECT CASE WHEN doc = :'doc'::jsonb THEN 'same' ELSE 'changed' END || ' $id' FROM $table WHERE id = '$id';" |
		psql_q -d o -v doc="$(cat doc.json)"
	n=$((n + 1))
done
echo "$n documents"
# Every secret is sealed and opens with the key, every reference resolves.
om-store check --db dbname=o --master-key-file k

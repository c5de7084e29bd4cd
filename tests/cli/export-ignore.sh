# Each --ignore-* option leaves out exactly its history class: every
# document of the class's kinds goes (none is left in the bundle), the
# manifest counts of those kinds go, and all other files stay byte for byte.
new_acme a
x() { om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets "$@"; }
x -o full
counts() { sed -n '/"Counts"/,/}/p' "$1/manifest.json" | grep ':'; }
# ids DIR PREFIX: the documents of DIR whose Id starts with PREFIX.
ids() { grep -rl "^  \"Id\": \"$2" "$1" | wc -l; }
counts full >full.counts
for c in history deployments machines tenants certificates; do
	x --ignore-$c -o $c
	echo "--ignore-$c:"
	# A count that went shows as "<", one that only fell as "<" and ">".
	counts $c | diff full.counts - | sed -n 's/^\([<>]\) */  \1 /p'
	# The class's kinds, from the model, each with its Id prefix.
	om-store model | awk -v c=$c '/^[A-Z]/ { k = $1 } /^  ids / { ids[k] = $2 }
		/^  history / && $2 == c { sub(/N$/, "", ids[k]); print k, ids[k] }' |
	while read -r kind prefix; do
		echo "  $kind: $(ids full "$prefix") in the whole export, $(ids $c "$prefix") left"
	done
	# Nothing else changed: every remaining file is byte for byte the same.
	(cd $c && find . -type f ! -name manifest.json) | while read -r f; do
		cmp -s "$c/$f" "full/$f" || echo "changed: $f"
	done
	grep -q "\"$c\"" $c/manifest.json
done

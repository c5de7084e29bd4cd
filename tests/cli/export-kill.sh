# om-export killed with SIGKILL at moments spread over its run: an archive
# output leaves no file at all (it is written unnamed, O_TMPFILE, and named
# only when whole); a directory output never has a manifest before it is
# whole, and the next run removes the staging directory left behind and
# finishes the bundle.
new_acme a
k=$OM_FIXTURES/acme.key
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o ref
mkdir w
for d in 0 0.005 0.01 0.02 0.03 0.05 0.08 0.12 0.2; do
	om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o w/out.tar &
	p=$!
	sleep $d
	kill -KILL $p 2>/dev/null || :
	wait $p 2>/dev/null || :
	# Either nothing or the whole archive.
	if [ -e w/out.tar ]; then om-store check-bundle w/out.tar; rm w/out.tar; fi
	test -z "$(ls -A w)" || { ls -A w; exit 1; }
	om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o dir &
	p=$!
	sleep $d
	kill -KILL $p 2>/dev/null || :
	wait $p 2>/dev/null || :
	# A manifest only on a whole bundle.
	if [ -e dir/manifest.json ]; then diff -r -x '.om-tmp-*' ref dir; fi
done
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o dir
diff -r ref dir
ls -A dir
echo ok

# om-export streams: with the sort held to 1 MiB (OM_SORT_MEMORY), its peak
# memory barely grows when the server grows tenfold (2,000 to 20,000
# documents), where holding the documents would add some 20 MB.  Loose on
# purpose: the bound is 6 MB, the growth about 2 MB (the names of the
# configuration documents, the merge buffers of more runs), and 24 MB
# without the sort's limit.  Peak RSS is
# /usr/bin/time's; nothing is timed.
gen=$OM_TOP/bench/om-gen
if [ ! -x "$gen" ]; then
	echo "export-memory: $gen is missing: make tests (or make bench/om-gen)" >&2
	exit 2
fi
# Under AddressSanitizer (make SANITIZE=address) freed memory waits in a
# quarantine (none here) and the allocator keeps memory of its own: the
# growth is about 13 MB, and 35 MB without the sort's limit, so the bound
# is 20 MB there.
bound=6
if ldd "$(command -v om-export)" | grep -q libasan; then
	bound=20
	ASAN_OPTIONS=quarantine_size_mb=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
	export ASAN_OPTIONS
fi
om-store keygen k.key
for n in 20 200; do
	createdb g$n
	om-store init --db dbname=g$n --master-key-file k.key >/dev/null
	"$gen" --db dbname=g$n --master-key-file k.key --projects $n 2>/dev/null
	OM_SORT_MEMORY=1M /usr/bin/time -o rss$n -f %M \
		om-export --db dbname=g$n --master-key-file k.key --redact-secrets -o - >g$n.tar
	# The export is whole: its manifest counts every document.
	tar -xOf g$n.tar manifest.json | sed -n '/"Counts"/,/}/p' | grep -o '[0-9]*' |
		awk '{ s += $1 } END { print s " documents" }'
done
small=$(cat rss20) big=$(cat rss200)
if [ $((big - small)) -lt $((bound * 1024)) ]; then
	echo "peak RSS grows by less than its bound"
else
	echo "peak RSS grows from $small KB to $big KB" >&2
	exit 1
fi
# Clear secrets go through encrypted temporary files (sorter.h): the
# same bytes as with the whole sort in memory.
OM_SORT_MEMORY=1M om-export --db dbname=g20 --master-key-file k.key -o - | cat >spilled.tar
om-export --db dbname=g20 --master-key-file k.key -o - | cat >in-memory.tar
cmp spilled.tar in-memory.tar && echo "clear secrets: the same bundle through encrypted runs"
# A size that is not one is refused.
must_fail 2 env OM_SORT_MEMORY=lots om-export --db dbname=g20 --master-key-file k.key --redact-secrets -o x.tar
test ! -e x.tar

# Every option --help shows is in the man page, and the other way round.
for prog in om-store; do
	"$prog" --help | grep -o -- '--[a-z][a-z-]*' | sort -u >help.txt
	sed 's/\\-/-/g' "$OM_TOP/docs/$prog.1" | grep -o -- '--[a-z][a-z-]*' | sort -u >man.txt
	if ! cmp -s help.txt man.txt; then
		echo "$prog: --help and docs/$prog.1 disagree:"
		diff help.txt man.txt
		exit 1
	fi
	test -s help.txt
done

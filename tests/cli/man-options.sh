# Every option --help shows is in the man page's OPTIONS, and the other way
# round, for every program with a man page (and every program has one):
# the PROGS and SCRIPTS lines of the Makefile.
progs=$(cd "$OM_TOP" && sed -n 's/^\(PROGS\|SCRIPTS\) *= *//p' Makefile)
echo $progs | grep -q om-snapshot
for prog in $progs; do
	test -f "$OM_TOP/docs/$prog.1" || { echo "$prog: no docs/$prog.1"; exit 1; }
	"$prog" --help | grep -o -- '--[a-z][a-z-]*[a-z]' | sort -u >help.txt
	sed -n '/^\.SH OPTIONS/,/^\.SH EXIT/p' "$OM_TOP/docs/$prog.1" | sed 's/\\-/-/g' |
		grep -o -- '--[a-z][a-z-]*[a-z]' | sort -u >man.txt
	if ! cmp -s help.txt man.txt; then
		echo "$prog: --help and docs/$prog.1 disagree:"
		diff help.txt man.txt
		exit 1
	fi
	test -s help.txt
done

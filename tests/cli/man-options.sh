# Every option --help shows is in the man page's OPTIONS, and the other way
# round, long and short, for every program with a man page (and every
# program has one): the PROGS and SCRIPTS lines of the Makefile.
progs=$(cd "$OM_TOP" && sed -n 's/^\(PROGS\|SCRIPTS\) *= *//p' Makefile)
echo $progs | grep -q om-snapshot
# opts: the options a text names: --long, and -x on its own (not the "-d"
# of "--db" or of "om-diff").
opts() {
	grep -o -E -- '--[a-z][a-z-]*[a-z]|(^|[^-[:alnum:]])-[[:alpha:]]([^-[:alnum:]]|$)' |
		sed 's/^[^-]//; s/^\(-[[:alpha:]]\)[^[:alpha:]]$/\1/' | sort -u
}
for prog in $progs; do
	test -f "$OM_TOP/docs/$prog.1" || { echo "$prog: no docs/$prog.1"; exit 1; }
	"$prog" --help | opts >help.txt
	sed -n '/^\.SH OPTIONS/,/^\.SH EXIT/p' "$OM_TOP/docs/$prog.1" | sed 's/\\-/-/g' | opts >man.txt
	if ! cmp -s help.txt man.txt; then
		echo "$prog: --help and docs/$prog.1 disagree:"
		diff help.txt man.txt
		exit 1
	fi
	grep -q -- '^--' help.txt
	grep -q -- '^-[[:alpha:]]$' help.txt
	echo "$prog: $(grep -c -- '^--' help.txt) long, $(grep -c -- '^-[[:alpha:]]$' help.txt) short"
done

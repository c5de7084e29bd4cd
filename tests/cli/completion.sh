# The bash completion (completion/om.bash) offers exactly the long options
# of each program's --help, and completes as bash would call it.
progs=$(cd "$OM_TOP" && sed -n 's/^\(PROGS\|SCRIPTS\) *= *//p' Makefile)
for prog in $progs; do
	"$prog" --help | grep -o -- '--[a-z][a-z-]*[a-z]=\?' | sort -u >help.txt
	bash -c '. "$1"; _om_opts "$2"' sh "$OM_TOP/completion/om.bash" "$prog" |
		tr -s ' \t\n' '\n' | grep . | sort -u >comp.txt
	if ! cmp -s help.txt comp.txt; then
		echo "$prog: --help and completion/om.bash disagree:"
		diff help.txt comp.txt
		exit 1
	fi
	# Registered for the program.
	bash -c '. "$1"; complete -p "$2"' sh "$OM_TOP/completion/om.bash" "$prog"
done
# As bash calls it: COMP_WORDS, COMP_CWORD, then COMPREPLY.
comp() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _om "$1" "${@: -1}" "${@: -2:1}";
		printf "%s\n" "${COMPREPLY[@]}"' sh "$OM_TOP/completion/om.bash" "$@" | sort
}
touch acme.key acme.tar.zst
mkdir home
echo "== om-export --ig"; comp om-export --ig
echo "== om-export --inline-scripts=e"; comp om-export --inline-scripts=e
echo "== om-export --jobs "; comp om-export --jobs ''
echo "== om-encrypt --kdf "; comp om-encrypt --kdf ''
echo "== om-import --master-key-file a"; comp om-import --master-key-file a
echo "== om-diff --color="; comp om-diff --color=
echo "== om-store ch"; comp om-store ch
echo "== om-store check --home h"; comp om-store check --home h
echo "== om-snapshot --p"; comp om-snapshot --p

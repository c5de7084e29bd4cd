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
echo "== om-store check -- (only check's options)"; comp om-store check --
echo "== om-store init --n"; comp om-store init --n
echo "== om-diff --color = (as bash splits it)"; comp om-diff --color =
echo "== om-diff --color = a"; comp om-diff --color = a
echo "== om-export --inline-scripts = e"; comp om-export --inline-scripts = e

echo "== in a real bash on a terminal (tmux)"
# An interactive bash with the completion loaded; keys typed, the screen read.
t() { tmux -S "$PWD/tmux.sock" "$@"; }
t -f /dev/null new-session -d -x 120 -y 30 \
	"env -i HOME=$PWD PATH=$PATH TERM=screen LC_ALL=C bash --norc --noprofile -i"
# screen: the screen once it has stopped changing, without blank lines.
screen() {
	_prev= _n=0
	while :; do
		sleep 0.3
		_now=$(t capture-pane -p | sed 's/ *$//' | grep .)
		[ "$_now" = "$_prev" ] && [ -n "$_now" ] && break
		_prev=$_now _n=$((_n + 1))
		[ "$_n" -lt 100 ] || { echo "the screen did not settle"; return 1; }
	done
	printf '%s\n' "$_now"
}
t send-keys ". '$OM_TOP/completion/om.bash'; PS1='$ '; clear" Enter
screen >/dev/null
type() { t send-keys "$@"; screen | sed -n '$p' | sed 's/^\$ //'; t send-keys C-u; t send-keys C-l; screen >/dev/null; }
# A value after "=", not file names; the list on the second Tab.
t send-keys 'om-diff --color=' Tab Tab
screen | tail -n 2
t send-keys C-u C-l; screen >/dev/null
type 'om-diff --color=ne' Tab
type 'om-export --inline-scripts=ex' Tab
type 'om-encrypt --kdf m' Tab
t send-keys 'om-store check --' Tab Tab
screen | tail -n 2
t send-keys C-u C-l; screen >/dev/null
type 'om-store init --new' Tab
t kill-server

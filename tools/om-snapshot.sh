#!/bin/sh
# om-snapshot - an audit snapshot of a deployment server in git, for cron.
#
# Exports the server (secrets encrypted under a password, or redacted) into
# a directory bundle inside a git working tree, and commits it only when
# something changed, with om-diff's report by name as the commit message.
# Exit status: 0 nothing changed, 1 a change was committed, 2 trouble,
# 3 another snapshot of the same repository is running.
# A thin POSIX sh wrapper around om-export, om-encrypt, om-diff and git.
set -u

prog=om-snapshot
version=@VERSION@

# The om programs installed beside this script come first: cron runs jobs
# with PATH=/usr/bin:/bin, and a snapshot never mixes two versions of om.
here=$(cd "$(dirname "$0")" && pwd) && PATH=$here:$PATH
export PATH

usage() {
	say <<EOF
usage: om-snapshot [options] DIR [-- om-export options]

  DIR                     the bundle directory, inside a git working tree
  --db CONNINFO           libpq connection string or URI (default: PG* variables)
  --master-key-file FILE  the server's master key (or OM_MASTER_KEY_FILE)
  --password-file FILE    encrypt the secrets under this password (om-encrypt)
  --kdf LEVEL             om-encrypt's key derivation limits for a new salt
  --redact-secrets        keyed fingerprints instead of secrets (the default)
  --report-lines N        at most N lines of om-diff's report in the commit
                          message (default 200)
  --syslog                a one-line summary of each run to syslog (logger)
  -q, --quiet             print nothing, say it with the exit status only
  -h, --help              show this help and exit
  -V, --version           show the version and exit

Exit status: 0 nothing changed, 1 a change was committed, 2 trouble,
3 another snapshot of the same repository is running.
EOF
}

syslog=0 dir=
# note PRIORITY LINE: with --syslog, LINE to syslog, tagged om-snapshot.
note() {
	[ "$syslog" = 1 ] || return 0
	logger -t "$prog" -p "user.$1" -- "$2" 9>&- ||
		echo "$prog: logger failed; the line was: $2" >&2
}
die() { echo "$prog: $*" >&2; note err "${dir:+$dir: }$*"; exit 2; }
# say: standard input to standard output; a failed write (>/dev/full) is
# trouble, as for the om programs.
say() {
	{ _err=$(cat 2>&1 >&3); } 3>&1 && return 0
	echo "$prog: cannot write standard output: ${_err##*: }" >&2
	exit 2
}
die_usage() {
	echo "$prog: $*" >&2
	echo "Try 'om-snapshot --help' for more information." >&2
	exit 2
}
need_arg() { [ $# -ge 2 ] || die_usage "option '$1' needs an argument"; }

db= key= pwfile= kdf= redact=0 quiet=0 lines=200
while [ $# -gt 0 ]; do
	case $1 in
	--db) need_arg "$@"; db=$2; shift ;;
	--db=*) db=${1#*=} ;;
	--master-key-file) need_arg "$@"; key=$2; shift ;;
	--master-key-file=*) key=${1#*=} ;;
	--password-file) need_arg "$@"; pwfile=$2; shift ;;
	--password-file=*) pwfile=${1#*=} ;;
	--kdf) need_arg "$@"; kdf=$2; shift ;;
	--kdf=*) kdf=${1#*=} ;;
	--redact-secrets) redact=1 ;;
	--report-lines) need_arg "$@"; lines=$2; shift ;;
	--report-lines=*) lines=${1#*=} ;;
	--syslog) syslog=1 ;;
	-q|--quiet) quiet=1 ;;
	-h|--help) usage; exit 0 ;;
	-V|--version) echo "om-snapshot (om) $version" | say || exit 2; exit 0 ;;
	--) shift; break ;;
	-?*) die_usage "unknown option '$1'" ;;
	*)
		[ -z "$dir" ] || die_usage "one directory only ('$dir', '$1')"
		dir=$1 ;;
	esac
	shift
done
# What is left goes to om-export; never anything that lets a clear secret out.
for a in "$@"; do
	case $a in
	--allow-clear-secrets) die_usage "clear secrets never go into git: '--allow-clear-secrets' refused" ;;
	-o|--output|--output=*|-o*) die_usage "the output is DIR, not '$a'" ;;
	--redact-secrets) redact=1 ;;
	esac
done
[ -n "$dir" ] || die_usage "no directory given"
case $lines in
''|*[!0-9]*) die_usage "option '--report-lines': '$lines' is not a number of lines" ;;
esac
[ -n "$pwfile" ] && [ "$redact" = 1 ] && die_usage "--password-file and --redact-secrets exclude each other"
[ -z "$kdf" ] || [ -n "$pwfile" ] || die_usage "--kdf goes with --password-file"
# A new directory in a working tree is made (a server added to a repository).
if [ ! -d "$dir" ] && [ -d "$(dirname "$dir")" ] &&
		[ "$(git -C "$(dirname "$dir")" rev-parse --is-inside-work-tree 2>/dev/null)" = true ]; then
	mkdir "$dir" || die "'$dir': cannot make the directory"
fi
[ -d "$dir" ] || die "'$dir': not a directory (make it a git working tree: git init '$dir')"
[ "$(git -C "$dir" rev-parse --is-inside-work-tree 2>/dev/null)" = true ] ||
	die "'$dir': not inside a git working tree (git init '$dir')"

# One snapshot at a time per repository: a lock on a file in its git
# directory, held on descriptor 9 until this script ends, also when it is
# killed.  A slow run may overlap the next one (cron, a systemd timer and a
# run by hand); the second one says so and exits 3 before it touches the
# tree.  Commands that may outlive the script (git's background gc) get 9
# closed, so that they cannot hold the lock.
gitdir=$(git -C "$dir" rev-parse --absolute-git-dir 2>/dev/null) || die "'$dir': no git directory"
lock=$gitdir/om-snapshot.lock
exec 9>>"$lock" || die "'$lock': cannot open the lock file"
if ! flock -n 9; then
	echo "$prog: '$dir': another snapshot is running (lock '$lock')" >&2
	note warning "$dir: another snapshot is running"
	exit 3
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/om-snapshot.XXXXXX") || die "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 130' INT
trap 'rm -rf "$tmp"; exit 143' TERM
trap 'rm -rf "$tmp"; exit 129' HUP

# git in the bundle directory; paths "." mean the bundle directory only.
g() { git -C "$dir" "$@" 9>&-; }
has_head=0
g rev-parse -q --verify HEAD >/dev/null && has_head=1
had_tree=0
[ "$has_head" = 1 ] && g rev-parse -q --verify HEAD:./ >/dev/null 2>&1 && had_tree=1

# Put the bundle directory back as the last commit has it.
restore() {
	if [ "$had_tree" = 1 ]; then
		g checkout -q HEAD -- . 2>/dev/null
	fi
	g clean -fdq -- . >/dev/null 2>&1
}

# ---- export ----
[ -z "$key" ] || set -- --master-key-file "$key" "$@"
[ -z "$db" ] || set -- --db "$db" "$@"
set -- -q "$@"
if [ -n "$pwfile" ]; then
	[ -r "$pwfile" ] || die "'$pwfile': cannot read the password file"
	{ om-export "$@"; echo $? >"$tmp/export.rc"; } |
		if [ -n "$kdf" ]; then
			om-encrypt --password-file "$pwfile" --kdf "$kdf" -o "$dir"
		else
			om-encrypt --password-file "$pwfile" -o "$dir"
		fi
	rc=$?
	erc=$(cat "$tmp/export.rc" 2>/dev/null || echo 2)
	[ "$erc" = 0 ] || { restore; die "om-export failed (exit $erc); nothing committed"; }
	[ "$rc" = 0 ] || { restore; die "om-encrypt failed (exit $rc); nothing committed"; }
else
	om-export --redact-secrets "$@" -o "$dir" || die "om-export failed; nothing committed"
fi

# ---- never a clear secret into git: checked before git add ----
[ -f "$dir/manifest.json" ] || { restore; die "'$dir/manifest.json': no manifest after the export"; }
# Canonical JSON: the manifest's members at two spaces, theirs at four.
state=$(sed -n '/^  "Secrets": {/,/^  }/s/^    "State": "\([a-z]*\)",*$/\1/p' "$dir/manifest.json")
case $state in
redacted|password) ;;
*) restore; die "'$dir/manifest.json': secrets are '${state:-unknown}', not redacted or password-encrypted; nothing committed" ;;
esac
if grep -r -l -F --exclude-dir=.git 'om-clear-1:' "$dir" >"$tmp/clear" 2>/dev/null; then
	f=$(head -n 1 "$tmp/clear")
	restore
	die "'$f': holds a clear secret; nothing committed"
fi

# ---- commit when something changed ----
g add -A -- . || die "git add failed"
if g diff --cached --quiet -- .; then
	note info "$dir: no change"
	exit 0
fi

if [ "$had_tree" = 1 ]; then
	# The last commit's tree of DIR, archived from the top (git archive in a
	# subdirectory archives only that path of the tree it is given).
	tree=$(g rev-parse HEAD:./) && top=$(g rev-parse --show-toplevel) &&
		git -C "$top" archive --format=tar "$tree" >"$tmp/old.tar" 9>&- || die "git archive failed"
	om-diff --color=never --stat "$tmp/old.tar" "$dir" >"$tmp/stat"
	r1=$?
	om-diff --color=never "$tmp/old.tar" "$dir" >"$tmp/diff"
	r2=$?
	[ "$r1" -le 1 ] && [ "$r2" -le 1 ] || die "om-diff failed; nothing committed"
	# "total  A  R  N  C" -> "A added, R removed, N renamed, C changed", zeros left out.
	summary=$(awk '$1 == "total" {
		n = split("added removed renamed changed", w, " "); s = ""
		for (i = 1; i <= n; i++) if ($(i + 1) > 0) s = s (s == "" ? "" : ", ") $(i + 1) " " w[i]
		print s }' "$tmp/stat")
	# The changed documents by kind and name: om-diff's unindented lines.
	n=$(grep -c -v '^ ' "$tmp/diff")
	if [ "$n" -eq 1 ]; then
		subject=$(grep -v '^ ' "$tmp/diff" | sed 's/ (.*)$//')
	else
		# The kinds of om-diff --stat's table, between its header and total.
		kinds=$(awk 'NR > 1 && $1 != "total" { printf "%s%s", (n++ ? ", " : ""), $1 }' "$tmp/stat")
		subject="${summary:-files changed}${kinds:+ ($kinds)}"
	fi
	{
		echo "om-snapshot: $subject"
		echo
		cat "$tmp/stat"
		echo
		# om-diff's report, so that git log reads by name (references as
		# names, not Ids): whole documents, in om-diff's order, as long as
		# they fit in $lines lines; then how many more there are.
		awk -v max="$lines" '
			function flush(i) {
				if (!full && shown + m <= max)
					for (i = 1; i <= m; i++) { print buf[i]; shown++ }
				else
					full = 1
				m = 0
			}
			!/^ / && m { flush() }
			{ buf[++m] = $0 }
			END { if (m) flush() }' "$tmp/diff" >"$tmp/report"
		cat "$tmp/report"
		more=$((n - $(grep -c -v '^ ' "$tmp/report")))
		[ "$more" = 0 ] ||
			echo "... and $more more changed documents (om-diff shows them all)"
	} >"$tmp/msg"
else
	total=$(sed -n '/^  "Counts": {/,/^  }/s/^    "[^"]*": \([0-9][0-9]*\),*$/\1/p' "$dir/manifest.json" |
		awk '{ s += $1 } END { print s + 0 }')
	printf 'om-snapshot: first snapshot, %s documents\n' "$total" >"$tmp/msg"
fi

# cron runs without a git identity: give one when the repository has none.
set --
g config user.email >/dev/null || set -- -c user.email="om-snapshot@$(hostname 2>/dev/null || echo localhost)"
g config user.name >/dev/null || set -- "$@" -c user.name=om-snapshot
git -C "$dir" "$@" commit -q --no-verify -F "$tmp/msg" -- . 9>&- || die "git commit failed"
note notice "$dir: committed $(g rev-parse --short HEAD): $(sed -n '1s/^om-snapshot: //p' "$tmp/msg")"
[ "$quiet" = 1 ] || say <"$tmp/msg"
exit 1

# bash completion for om's programs: om-store, om-export, om-encrypt,
# om-diff, om-import, om-octopus and om-snapshot.  Installed by `make install` as one
# file with a link per program (bash-completion loads a command's file by
# its name), or sourced by hand:  . completion/om.bash
# The option lists are those of each program's --help; the test
# tests/cli/completion.sh checks that they stay so.

# _om_store_opts SUBCOMMAND: the options of one om-store subcommand, as
# its --help's usage lines give them.
_om_store_opts()
{
	case $1 in
	init) echo "--db --master-key-file --new-key" ;;
	check) echo "--db --master-key-file --home" ;;
	rekey) echo "--db --master-key-file --new-master-key-file --new-key --dry-run" ;;
	upgrade) echo "--db --master-key-file --home" ;;
	key-check|seal) echo "--master-key-file" ;;
	usage) echo "--db" ;;
	check-bundle|keygen|model) ;;
	*) _om_opts om-store ;;
	esac
}

# _om_values OPTION: the values OPTION takes, when it has a fixed set.
_om_values()
{
	case $1 in
	--inline-scripts) echo "inline extract copy" ;;
	--color) echo "auto always never" ;;
	--kdf) echo "interactive moderate sensitive" ;;
	-j|--jobs) echo "1 2 4 8" ;;
	esac
}

# _om_opts PROG: the long options of PROG.
_om_opts()
{
	case $1 in
	om-store) echo "--db --master-key-file --new-master-key-file --new-key --dry-run --home
		--help --version" ;;
	om-export) echo "--db --master-key-file --space --project --project-group
		--ignore-history --ignore-deployments --ignore-machines --ignore-tenants
		--ignore-certificates --include-tasklogs --include-artifacts --include-packages
		--home --inline-scripts= --redact-secrets --allow-clear-secrets --output
		--jobs --quiet --verbose --help --version" ;;
	om-encrypt) echo "--decrypt --rekey --check --password-file --password-fd
		--new-password-file --new-password-fd --kdf --new-salt --salt-from
		--allow-clear-secrets --output --help --version" ;;
	om-diff) echo "--stat --name-only --json --quiet --color --color= --password-file --password-fd
		--textconv --help --version" ;;
	om-import) echo "--db --master-key-file --password-file --password-fd --overwrite
		--dry-run --json --online --ignore-version-check --space-map --home
		--quiet --verbose --help --version" ;;
	om-octopus) echo "--password-file --password-fd --space --strict --redact-secrets
		--allow-clear-secrets --output --help --version" ;;
	om-snapshot) echo "--db --master-key-file --password-file --kdf --redact-secrets --report-lines --syslog
		--quiet --help --version" ;;
	esac
}

_om()
{
	local prog=${1##*/} cur prev opt= pfx= cw=$COMP_CWORD
	cur=${COMP_WORDS[cw]}
	prev=${COMP_WORDS[cw-1]}

	# An option's value after "=": bash splits --color=al into "--color",
	# "=" and "al" ("=" is in COMP_WORDBREAKS), or leaves it whole when it
	# is not; either way, OPT is the option and CUR what is typed of its
	# value, and PFX what a reply must start with.
	if [[ $cur == = ]]; then
		opt=$prev cur=
	elif [[ $prev == = && $cw -ge 2 ]]; then
		opt=${COMP_WORDS[cw-2]}
	elif [[ $cur == --*=* ]]; then
		opt=${cur%%=*} pfx=$opt= cur=${cur#*=}
	fi
	if [[ -n $opt ]]; then
		case $opt in
		--inline-scripts|--color|--kdf|--jobs)
			COMPREPLY=($(compgen -P "$pfx" -W "$(_om_values "$opt")" -- "$cur")) ;;
		--home)
			COMPREPLY=($(compgen -P "$pfx" -d -- "$cur")) ;;
		--master-key-file|--password-file|--new-password-file|--salt-from|--output)
			COMPREPLY=($(compgen -P "$pfx" -f -- "$cur")) ;;
		*)
			COMPREPLY=() ;;
		esac
		return
	fi

	# The value of the option before the cursor.
	case $prev in
	--master-key-file|--new-master-key-file|--password-file|--new-password-file|--salt-from|--textconv|-o|--output)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--home)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--kdf|-j|--jobs)
		COMPREPLY=($(compgen -W "$(_om_values "$prev")" -- "$cur")); return ;;
	--db|--space|--project|--project-group|--space-map|--password-fd|--new-password-fd|--report-lines)
		return ;;
	esac
	case $cur in
	-*)
		local opts
		if [[ $prog == om-store ]]; then
			opts="$(_om_store_opts "${COMP_WORDS[1]}") --help --version"
		else
			opts=$(_om_opts "$prog")
		fi
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		# No space after an option that takes its value after "=".
		[[ ${#COMPREPLY[@]} -eq 1 && $COMPREPLY == *= ]] && compopt -o nospace 2>/dev/null
		return ;;
	esac
	# om-store's subcommand first; otherwise bundles: files and directories.
	if [[ $prog == om-store && $cw -eq 1 ]]; then
		COMPREPLY=($(compgen -W "init check rekey upgrade check-bundle keygen key-check seal model usage" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F _om om-store om-export om-encrypt om-diff om-import om-octopus om-snapshot

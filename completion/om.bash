# bash completion for om's programs: om-store, om-export, om-encrypt,
# om-diff, om-import, om-octopus and om-snapshot.  Installed by `make install` as one
# file with a link per program (bash-completion loads a command's file by
# its name), or sourced by hand:  . completion/om.bash
# The option lists are those of each program's --help; the test
# tests/cli/completion.sh checks that they stay so.

# _om_opts PROG: the long options of PROG.
_om_opts()
{
	case $1 in
	om-store) echo "--db --master-key-file --new-key --home --help --version" ;;
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
	om-snapshot) echo "--db --master-key-file --password-file --kdf --redact-secrets
		--quiet --help --version" ;;
	esac
}

_om()
{
	local cur prev words cword prog=$1
	if declare -F _init_completion >/dev/null; then
		_init_completion -s || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD-1]}
	fi
	prog=${prog##*/}

	# The value of the option before the cursor.
	case $prev in
	--master-key-file|--password-file|--new-password-file|--salt-from|--textconv|-o|--output)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--home)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--kdf)
		COMPREPLY=($(compgen -W "interactive moderate sensitive" -- "$cur")); return ;;
	--db|--space|--project|--project-group|--space-map|--password-fd|--new-password-fd)
		return ;;
	-j|--jobs)
		COMPREPLY=($(compgen -W "1 2 4 8" -- "$cur")); return ;;
	esac
	case $cur in
	--inline-scripts=*)
		COMPREPLY=($(compgen -P --inline-scripts= -W "inline extract copy" -- "${cur#*=}")); return ;;
	--color=*)
		COMPREPLY=($(compgen -P --color= -W "auto always never" -- "${cur#*=}")); return ;;
	-*)
		COMPREPLY=($(compgen -W "$(_om_opts "$prog")" -- "$cur"))
		# No space after an option that takes its value after "=".
		[[ ${#COMPREPLY[@]} -eq 1 && $COMPREPLY == *= ]] && compopt -o nospace 2>/dev/null
		return ;;
	esac
	# om-store's subcommand first; otherwise bundles: files and directories.
	if [[ $prog == om-store && $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "init check check-bundle keygen key-check seal model usage" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F _om om-store om-export om-encrypt om-diff om-import om-octopus om-snapshot

# The password prompt on a terminal (a pseudo-terminal from script(1)):
# asked twice when a new salt is made, once when a salt is reused or a
# bundle is opened; two answers that differ are refused with nothing
# written; the answers are not echoed.  The transcripts are the output.
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" | cat >clear.tar
echo 'typed secret' >pw

# on_tty CMD ANSWER...: run the shell command CMD on a new terminal, typing
# each ANSWER once the prompt before it has shown; CMD's status, and the
# terminal's transcript (CRs dropped) on standard output.
on_tty() {
	cmd=$1
	shift
	rm -f in
	mkfifo in
	: >tty.raw
	script -qfec "$cmd" /dev/null <in >tty.raw 2>&1 &
	pid=$!
	exec 3>in
	n=0
	for answer in "$@"; do
		n=$((n + 1))
		wait_prompts "$n" || break
		printf '%s\n' "$answer" >&3
	done
	exec 3>&-
	rc=0
	wait "$pid" || rc=$?
	tr -d '\r' <tty.raw
	echo "[exit $rc]"
	return "$rc"
}
# wait_prompts N: until the transcript shows N prompts (60 s at most).
wait_prompts() {
	i=0
	until [ "$(grep -o 'assword: ' tty.raw | wc -l)" -ge "$1" ]; do
		i=$((i + 1))
		if [ "$i" -gt 600 ]; then
			echo "no prompt $1 after 60 s" >&2
			return 1
		fi
		sleep 0.1
	done
}

# A new salt: asked twice; the archive opens with that password.
on_tty 'om-encrypt --kdf=interactive -o enc.tar clear.tar' 'typed secret' 'typed secret'
om-encrypt --check --password-file pw enc.tar
# Two answers that differ: exit 2, no archive.
must_fail 2 on_tty 'om-encrypt --kdf=interactive -o other.tar clear.tar' 'typed secret' 'typo secret'
test ! -e other.tar
# A reused salt, --check and -d: asked once.
on_tty 'om-encrypt --salt-from enc.tar -o same.tar clear.tar' 'typed secret'
cmp same.tar enc.tar
on_tty 'om-encrypt --check enc.tar' 'typed secret'
must_fail 1 on_tty 'om-encrypt --check enc.tar' 'wrong secret'
on_tty 'om-encrypt -d --allow-clear-secrets -o back.tar enc.tar' 'typed secret'
cmp back.tar clear.tar
# --rekey: the password once, the new one twice (a new salt).
on_tty 'om-encrypt --rekey --kdf=interactive -o re.tar enc.tar' 'typed secret' 'new one' 'new one'
echo 'new one' >pw2
om-encrypt --check --password-file pw2 re.tar

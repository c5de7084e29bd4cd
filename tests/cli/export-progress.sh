# Progress goes to standard error only when it is a terminal (script(1)
# gives one), as one line rewritten in place and erased at the end; -q
# silences it, and a pipe or file never sees it.
new_acme a
x="om-export --db dbname=a --master-key-file $OM_FIXTURES/acme.key --redact-secrets"
script -qec "$x -o t.tar" /dev/null >tty.txt
grep -q 'om-export: reading 1 document (Space)' tty.txt && echo progress shown, one document
grep -q 'om-export: writing [0-9]* of [0-9]* files' tty.txt && echo files counted
# The last thing on the terminal erases the line.
tail -c 4 tty.txt | od -An -c | tr -s ' '
script -qec "$x -q -o q.tar" /dev/null >quiet.txt
wc -c <quiet.txt
$x -o f.tar 2>err.txt
wc -c <err.txt
cmp t.tar f.tar && cmp q.tar f.tar && echo same bundles

# om-diff's output: colour by --color and NO_COLOR, on a terminal (made with
# script(1)) and on a pipe; --color alone is --color=always and does not
# take the next argument; --json stays valid JSON when a text file is not
# UTF-8 (such bytes become U+FFFD).
mkdir a b
printf '{\n  "Id": "Environments-1",\n  "Name": "Dev"\n}\n' >a/env.json
# (om-diff compares only bundles with a manifest of this format.)
printf '{"Counts": {}, "Format": "om-bundle", "FormatVersion": 1}\n' >a/manifest.json
cp a/manifest.json b/manifest.json
sed 's/Dev/Test/' a/env.json >b/env.json
printf 'same\nold caf\351 \377\n' >a/notes.txt
printf 'same\nnew\n' >b/notes.txt
esc=$(printf '\033')
colour() { if grep -q "$esc" out; then echo "$1: colour"; else echo "$1: plain"; fi; }
term() { script -qec "$*" /dev/null </dev/null | tr -d '\r' >out; }

must_fail 1 om-diff a b >plain.txt
cat plain.txt
cp plain.txt out && colour "auto, pipe"
must_fail 1 om-diff --color=never a b >out && colour never
must_fail 1 om-diff --color=always a b >out && colour always
NO_COLOR=1 must_fail 1 om-diff --color=always a b >out && colour "always, NO_COLOR=1"
must_fail 1 om-diff --color a b >out && colour "--color alone"
# The colours only wrap the plain text.
sed "s/$esc\[[0-9;]*m//g" out | cmp - plain.txt
term 'om-diff a b || true' && colour "auto, terminal"
term 'NO_COLOR=1 om-diff a b || true' && colour "auto, terminal, NO_COLOR=1"
term 'NO_COLOR= om-diff a b || true' && colour "auto, terminal, NO_COLOR empty"
term 'om-diff --color=never a b || true' && colour "never, terminal"
sed "s/$esc\[[0-9;]*m//g" out | cmp - plain.txt
must_fail 2 om-diff --color=sometimes a b

# --json: every line is JSON a strict parser accepts.
must_fail 1 om-diff --json a b >out.json
perl -MJSON::PP -ne 'binmode STDOUT, ":utf8"; my $r = JSON::PP->new->utf8->decode($_);
	print $r->{path}, " ", $r->{change}, "\n"; print $r->{new} if $r->{change} eq "lines"' out.json
grep -o 'caf[^n]*n' out.json

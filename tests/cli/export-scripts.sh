# --inline-scripts=extract puts every inline step script in a file of its
# own beside the process, byte for byte, and the JSON names the file;
# copy keeps it in the JSON too; inline is the default.  om-import puts the
# scripts of an extract bundle back exactly.
new_acme a
x() { om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets "$@"; }
x -o inline
x --inline-scripts=extract -o extract
x --inline-scripts=copy -o copy
grep '"InlineScripts"' inline/manifest.json extract/manifest.json copy/manifest.json
ls "extract/spaces/Default/projects/Acme Web/scripts"
# Each token's file holds exactly the script of the inline export.
perl -MJSON::PP -e '
	use strict;
	my ($n, $bad) = (0, 0);
	sub slurp { local $/; open(my $f, "<:raw", $_[0]) or die "$_[0]: $!"; <$f> }
	for my $path (split /\n/, `cd extract && find . -name "*process.json"`) {
		my $e = JSON::PP->new->utf8->decode(slurp("extract/$path"));
		my $i = JSON::PP->new->utf8->decode(slurp("inline/$path"));
		(my $dir = $path) =~ s{/[^/]*$}{};
		for my $s (0 .. $#{$e->{Steps}}) {
			for my $a (0 .. $#{$e->{Steps}[$s]{Actions}}) {
				my $body = $e->{Steps}[$s]{Actions}[$a]{Properties}{"Octopus.Action.Script.ScriptBody"};
				next unless defined $body && $body =~ /^om-script-1:(.*)$/s;
				my $rel = $1;
				utf8::encode($rel);
				my $file = slurp("extract/$dir/$rel");
				utf8::decode($file);
				my $want = $i->{Steps}[$s]{Actions}[$a]{Properties}{"Octopus.Action.Script.ScriptBody"};
				$n++;
				if ($file ne $want) { $bad++; print "differs: $dir/$rel\n" }
			}
		}
	}
	print "$n scripts, $bad differ\n";
	exit($bad || !$n);
'
# copy: the same files, and the JSON as inline.
diff -r inline copy | grep -v '^Only in copy.*: scripts$' | grep -v '^diff\|^[<>] *"InlineScripts"\|^---\|^[0-9]' || true
must_fail 2 x --inline-scripts=sideways -o bad
# The round trip: an extract bundle imported into an empty server puts every
# script back exactly; exported inline from there, each body is byte for
# byte the source's, and no token is left.
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets \
	--inline-scripts=extract -o xs
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
om-import --db dbname=t --master-key-file t.key xs | tail -1
om-export --db dbname=t --master-key-file t.key --redact-secrets -o back
must_fail 1 grep -rl 'om-script-1:' back
perl -MJSON::PP -e '
	use strict;
	my ($n, $bad) = (0, 0);
	sub slurp { local $/; open(my $f, "<:raw", $_[0]) or die "$_[0]: $!"; <$f> }
	# Every script body of a bundle, by process file, step and action name.
	sub bodies {
		my ($top) = @_;
		my %b;
		for my $path (split /\n/, `cd $top && find . -name "*process.json" | sort`) {
			my $d = JSON::PP->new->utf8->decode(slurp("$top/$path"));
			for my $s (@{$d->{Steps}}) {
				for my $a (@{$s->{Actions}}) {
					my $body = $a->{Properties}{"Octopus.Action.Script.ScriptBody"};
					$b{"$path: $s->{Name}: $a->{Name}"} = $body if defined $body;
				}
			}
		}
		return \%b;
	}
	my ($src, $dst) = (bodies("inline"), bodies("back"));
	for my $k (sort keys %$src) {
		$n++;
		if (!exists $dst->{$k} || $dst->{$k} ne $src->{$k}) { $bad++; print "differs: $k\n" }
	}
	for my $k (sort keys %$dst) { exists $src->{$k} or ($bad++, print "new: $k\n") }
	print "round trip: $n scripts, $bad differ\n";
	exit($bad || !$n);
'

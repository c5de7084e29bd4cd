#!/usr/bin/perl
# model-names.pl NAMES FILE... - print "FILE:LINE: NAME" for every C string
# literal in the FILEs that is exactly one of the NAMES (one a line), or
# that holds one as an SQL literal ('NAME'); comments are left aside.
# tests/cli/model-names.sh runs it over format/*.c with the names of the
# catalog: the model is the only place that may spell them.
use strict;
use warnings;

my $list = shift @ARGV;
open(my $nf, '<', $list) or die "model-names: cannot read '$list': $!\n";
my %name = map { chomp; ($_ => 1) } <$nf>;
close $nf;

for my $file (@ARGV) {
	open(my $f, '<', $file) or die "model-names: cannot read '$file': $!\n";
	local $/;
	my $src = <$f>;
	close $f;
	my $line = 1;
	# One pass over the text: comments skipped, string and character
	# literals read whole (escapes kept), newlines counted.
	while ($src =~ m{\G(?:(/\*.*?\*/)|(//[^\n]*)|("(?:[^"\\\n]|\\.)*")|('(?:[^'\\\n]|\\.)*')|(\n)|([^/"'\n]+|.))}gs) {
		if (defined $1) {
			$line += ($1 =~ tr/\n//);
		} elsif (defined $3) {
			my $s = substr($3, 1, -1);
			my @hit = $name{$s} ? ($s) : ();
			push @hit, grep { $name{$_} } $s =~ /'([A-Za-z][A-Za-z0-9.]*)'/g;
			print "$file:$line: $_\n" for @hit;
		} elsif (defined $5) {
			$line++;
		}
	}
}

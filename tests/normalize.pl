#!/usr/bin/perl
# normalize.pl DIR: print every .json document of an extracted bundle with
# each document Id replaced by <the path of that document>, so that two
# exports of servers holding the same configuration under different Ids
# compare equal with diff.  Tag Ids ("TagSets-1/Tags-3") follow their set.
use strict;
use warnings;
use File::Find;

my $dir = shift or die "usage: normalize.pl DIR\n";
my (%path_of, @files);
find({ no_chdir => 1, wanted => sub { push @files, $_ if -f $_ && /\.json$/ } }, $dir);
@files = sort @files;
for my $f (@files) {
	open my $fh, '<', $f or die "$f: $!\n";
	local $/;
	my $t = <$fh>;
	(my $rel = $f) =~ s{^\Q$dir\E/}{};
	$path_of{$1} = $rel if $t =~ /^  "Id": "([^"]+)",?$/m;
}
my $alt = join '|', map { quotemeta } sort { length($b) <=> length($a) } keys %path_of;
for my $f (@files) {
	open my $fh, '<', $f or die "$f: $!\n";
	local $/;
	my $t = <$fh>;
	(my $rel = $f) =~ s{^\Q$dir\E/}{};
	# Ids as whole strings, members of comma-separated lists, object keys
	# and tag sets of tag Ids; not Ids inside other text (links in an
	# event's MessageHtml, which the model does not know as references).
	$t =~ s/(?<=[",])($alt)(?=["\/,])/<$path_of{$1}>/g if $alt;
	print "== $rel\n$t";
}

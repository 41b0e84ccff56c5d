#!/usr/bin/perl

# The documentation holds together: README.md stays a front door (at most
# 20 KB); every relative link of README.md, SECURITY.md, doc/, t/README.md,
# tools/README.md and bench/README.md names a file that exists, and every
# #anchor a heading of it (as GitHub makes anchors); every directive and
# variable of the module is documented in doc/ and listed in README.md;
# every recipe marker of doc/providers/ names one ```nginx block, once, and
# a test runs it; the example test of t/README.md passes.

use strict;
use warnings;

use Encode qw(decode);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempfile);
use Test::More;
use B24T;
use B24TRecipe;

my $ROOT = $B24T::ROOT;

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    return decode('UTF-8', $text);
}

# the text outside fenced code blocks
sub prose {
    my ($text) = @_;
    my ($out, $fence) = ('', 0);

    for my $line (split /^/, $text) {
        if ($line =~ /^\s*```/) {
            $fence = !$fence;
            $out .= "\n";
            next;
        }
        $out .= $fence ? "\n" : $line;
    }

    return $out;
}

# the anchors GitHub gives the headings of a page
my %anchors;

sub anchors {
    my ($path) = @_;

    return $anchors{$path} if $anchors{$path};

    my (%a, %seen);

    for (split /\n/, prose(slurp($path))) {
        next unless /^#{1,6} +(.*?) *#* *$/;
        my $id = lc $1;
        $id =~ s/[^\p{L}\p{N}_\- ]//g;
        $id =~ tr/ /-/;
        my $n = $seen{$id}++;
        $a{$n ? "$id-$n" : $id} = 1;
    }

    return $anchors{$path} = \%a;
}

# README.md: the front door

my $size = -s "$ROOT/README.md";
ok($size <= 20 * 1024, "README.md is at most 20 KB ($size bytes)");

# links and anchors

my @pages = ("$ROOT/README.md", "$ROOT/SECURITY.md", "$ROOT/t/README.md",
             "$ROOT/tools/README.md", "$ROOT/bench/README.md",
             glob("$ROOT/doc/*.md"), glob("$ROOT/doc/providers/*.md"));

ok(-f "$ROOT/doc/$_", "doc/$_ exists")
    for qw(directives.md variables.md replies.md metrics.md error-log.md
           verification.md queue.md oauth.md operations.md design.md
           providers/README.md);

my ($links, @bad) = (0);

for my $page (@pages) {
    my $text = prose(slurp($page));
    $text =~ s/`[^`\n]*`//g;

    (my $name = $page) =~ s{^\Q$ROOT\E/}{};

    while ($text =~ /\[[^\]]*\]\(([^)\s]+)\)/g) {
        my $link = $1;

        next if $link =~ m{^[a-z][a-z0-9+.-]*:}i;

        $links++;

        my ($file, $anchor) = $link =~ /^([^#]*)(?:#(.*))?$/;
        my $target = $file eq ''
                     ? $page
                     : File::Spec->catfile(dirname($page), $file);

        if (!-e $target) {
            push @bad, "$name: $link: no such file";
            next;
        }

        next unless defined $anchor;

        if (-d $target || $target !~ /\.md$/) {
            push @bad, "$name: $link: an anchor in a file that is not a page";
            next;
        }

        push @bad, "$name: $link: no such heading"
            unless anchors($target)->{$anchor};
    }
}

ok($links > 100, "links found ($links)");
is_deeply(\@bad, [], 'every relative link and anchor resolves')
    or diag(join "\n", @bad);

# every directive and variable of the module is documented

my %names;

for my $c (glob("$ROOT/*.c"), glob("$ROOT/src/*.c")) {
    my $code = slurp($c);
    $names{$1} = 1 while $code =~ /ngx_string\("(b24trigger_\w+)"\)/g;
}

my $directives = anchors("$ROOT/doc/directives.md");
my $variables = slurp("$ROOT/doc/variables.md");
my $readme = slurp("$ROOT/README.md");

ok(keys %names > 20, 'names of the module found (' . keys(%names) . ')');

for my $n (sort keys %names) {
    my $is_directive = $directives->{$n};
    my $is_variable = $variables =~ /^\| `\$\Q$n\E` \|/m;

    ok($is_directive || $is_variable, "$n: in doc/directives.md or "
                                      . "doc/variables.md");

    like($readme, qr{\[\Q$n\E\]\(doc/directives\.md#\Q$n\E\)},
         "$n: in README.md's table of directives")
        if $is_directive;

    like($readme, qr/`\$\Q$n\E`/, "\$$n: in README.md's variables")
        if $is_variable;
}

# the recipes: each marker once, before a block, run by a test

my $recipes = B24TRecipe::all();
my $markers = 0;

for my $page (glob("$ROOT/doc/*.md"), glob("$ROOT/doc/providers/*.md"),
              "$ROOT/README.md")
{
    my $text = slurp($page);

    while ($text =~ /^<!-- recipe: (\S+) -->(\s*```nginx\n)?/mg) {
        my ($name, $block) = ($1, $2);
        $markers++;
        ok($block && $page =~ m{/doc/providers/[^/]+$},
           "recipe $name: an nginx block of doc/providers/");
    }
}

is(scalar keys %$recipes, $markers, "every recipe name is used once");

my $tests = join "\n", map { slurp($_) } glob("$ROOT/t/*.t");

for my $n (sort keys %$recipes) {
    like($tests, qr/'\Q$n\E'/, "recipe $n: run by a test");
}

# the example test of t/README.md, run

my ($example) = slurp("$ROOT/t/README.md") =~ /```perl\n(.*?)```/s;
ok($example, 't/README.md has an example test');

SKIP: {
    skip 'no example test', 1 unless $example;

    my ($fh, $file) = tempfile('b24t-example-XXXXXX', SUFFIX => '.t',
                               TMPDIR => 1, UNLINK => 1);
    print $fh $example;
    close $fh;

    my $out = `$^X -I '$ROOT/t/lib' '$file' 2>&1`;
    ok($? == 0 && $out !~ /^not ok/m, "t/README.md's example test passes")
        or diag($out);
}

done_testing;

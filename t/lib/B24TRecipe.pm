package B24TRecipe;

# The recipes of the documentation, run as they are written.  A recipe is
# the ```nginx block after "<!-- recipe: NAME -->" in one of the provider
# pages, doc/providers/*.md (a name may be used once); its lines up to
# the first "location" go to the http level, the rest into a server of
# the test, next to the portal "crm" (the emulator) and the zones
# "replays" and "forms", as doc/providers/README.md says.  Only two
# things are changed: "file:/etc/nginx/secrets/NAME" names a file of the
# test's directory that holds the secret given for NAME (secrets =>
# { NAME => ... }, or secret => ... for every name), as
# "file:/etc/nginx/keys/NAME" one that holds the public key given for
# NAME (keys => { NAME => PEM }), and 127.0.0.1 is allowed before a
# recipe's "deny all" (unless as_written => 1).
#
#   my $t = B24T->new; $t->emulator;
#   my $snippet = B24TRecipe::run($t, 'stripe',
#                                 secrets => { stripe => 'whsec_...' });

use strict;
use warnings;

use B24T;

our @PAGES = glob "$B24T::ROOT/doc/providers/*.md";

# every recipe of the documentation: name => [page, snippet]
sub all {
    my %r;

    for my $page (@PAGES) {
        open my $fh, '<', $page or die "$page: $!";
        my $doc = do { local $/; <$fh> };
        close $fh;

        while ($doc =~ /<!-- recipe: (\S+) -->\s*```nginx\n(.*?)^```/msg) {
            die "recipe \"$1\" is in $r{$1}[0] and in $page\n"
                if $r{$1};
            $r{$1} = [$page, $2];
        }
    }

    return \%r;
}


sub snippet {
    my ($name) = @_;

    my $r = all()->{$name}
        or die "recipe \"$name\" not found in doc/providers/*.md\n";

    return $r->[1];
}


# every "file:/etc/nginx/secrets/NAME" of a snippet made "file:" of a
# file of the test's directory (readable by its owner only) that holds
# $secret->(NAME)
sub secret_files {
    my ($t, $snippet, $secret) = @_;

    $snippet =~ s{file:/etc/nginx/secrets/([\w.-]+)}{
        my $s = $secret->($1);
        my $f = $t->dir . "/secret-$1";
        open my $fh, '>', $f or die "$f: $!";
        print $fh "$s\n";
        close $fh;
        chmod 0600, $f;
        "file:$f";
    }ge;

    return $snippet;
}


# the snippet as the test runs it: secret files in the test's directory,
# 127.0.0.1 allowed; returns the http part and the server part
sub prepare {
    my ($t, $name, %opts) = @_;

    my $snippet = snippet($name);

    $snippet = secret_files($t, $snippet, sub {
        my $s = $opts{secrets} && defined $opts{secrets}{$_[0]}
                ? $opts{secrets}{$_[0]} : $opts{secret};
        defined $s
            or die "recipe \"$name\" reads secret \"$_[0]\": not given\n";
        return $s;
    });

    $snippet =~ s{file:/etc/nginx/keys/([\w.-]+)}{
        my $k = $opts{keys} && $opts{keys}{$1};
        defined $k
            or die "recipe \"$name\" reads key \"$1\": not given\n";
        my $f = $t->dir . "/key-$1";
        open my $fh, '>', $f or die "$f: $!";
        print $fh $k;
        close $fh;
        "file:$f";
    }ge;

    $snippet =~ s/^(\s*)deny\s+all;/${1}allow 127.0.0.1;\n${1}deny all;/m
        unless $opts{as_written};

    my $at = $snippet =~ /^location\b/m ? $-[0] : die "no location in $name";

    return (substr($snippet, 0, $at), substr($snippet, $at));
}


sub run {
    my ($t, $name, %opts) = @_;

    my ($http, $server) = prepare($t, $name, %opts);
    my $extra = $opts{server} || '';

    $t->nginx(<<"EOF", env => $opts{env} || {});
b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
b24trigger_dedup_zone replays:1m;
b24trigger_dedup_zone forms:1m;

$http
server {
    listen %%LISTEN%%;
$extra
$server
}
EOF

    return $http . $server;
}

1;

package B24TPK;

# Public-key signatures for the t/verify-*.t tests of the sendgrid,
# standard_v1a and paddle_classic schemes: t/lib/sign-pubkey.js signs
# with node:crypto as each provider documents it and checks the result
# with the provider's own verifier (@sendgrid/eventwebhook, Paddle's
# Node.js example), never with the module's code.
#
#   my $k = pk_keys($t);        key pairs in $t->dir . '/keys/'
#       $k->{p256}{pub}, {der}  (also p256b, k256 (secp256k1), ed, ed2
#       with {whpk}, rsa, rsa2, rsa1024): PEM text, base64 DER
#   pk_sign(\%job, ...)         the jobs of sign-pubkey.js, their results
#   uri_escape_utf8($text)      percent-encoded UTF-8, for form bodies

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path);
use Encode qw(encode_utf8);
use IPC::Open2;
use JSON::PP;

our @EXPORT = qw(pk_keys pk_sign pk_file uri_escape_utf8);

my $JS = __FILE__ =~ s{[^/]+$}{sign-pubkey.js}r;

sub pk_sign {
    my (@jobs) = @_;

    my $json = JSON::PP->new->canonical;
    my $pid = open2(my $out, my $in, 'node', $JS);
    print $in $json->encode(\@jobs);
    close $in;
    my $text = do { local $/; <$out> };
    waitpid($pid, 0);
    die "sign-pubkey.js failed: $?" if $? || !defined $text;

    my $r = $json->decode($text);
    return wantarray ? @$r : $r->[0];
}

sub pk_keys {
    my ($t) = @_;

    my $dir = $t->dir . '/keys';
    make_path($dir);

    my $k = pk_sign({ op => 'keys', dir => $dir });
    $k->{dir} = $dir;

    return $k;
}

# as URI::Escape's (which is not in Debian's perl): UTF-8, every byte but
# the unreserved ones percent-encoded
sub uri_escape_utf8 {
    my ($s) = @_;
    $s = encode_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# a file of the test's directory with that text
sub pk_file {
    my ($t, $name, $text) = @_;

    my $file = $t->dir . "/keys/$name";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;

    return $file;
}

1;

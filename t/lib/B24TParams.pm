package B24TParams;

# Signers for the schemes that sign parameters (t/verify-twilio.t,
# verify-sber.t, verify-prodamus.t, verify-mailgun.t and their recipes),
# written from each provider's documentation, never from the module's
# code:
#
#   form(NAME => VALUE, ...)            application/x-www-form-urlencoded,
#                                       in the order given
#   twilio_signature($token, $url, \%params[, $alg])
#                                       Twilio's own SDK (npm "twilio",
#                                       getExpectedTwilioSignature)
#   twilio_validate($token, $sig, $url, \%params)
#                                       the SDK's validateRequest
#   twilio_body_hash($body)             the SDK's getExpectedBodyHash
#   sber_checksum($key, \%params)       HMAC-SHA256, upper-case hex, of
#                                       "name;value;" sorted by name, but
#                                       checksum and sign_alias
#   prodamus_json($form)                the form as PHP reads it, ksort()ed,
#                                       json_encode(JSON_UNESCAPED_UNICODE)
#   prodamus_sign($key, $form)          HMAC-SHA256 hex of that
#   mailgun_signature($key, $ts, $token) HMAC-SHA256 hex of TS.TOKEN

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use B24T;

our @EXPORT_OK = qw(form twilio_signature twilio_validate twilio_body_hash
                    sber_checksum
                    prodamus_json prodamus_sign mailgun_signature esc);

sub esc {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub form {
    my @p = @_;
    my @out;
    while (my ($k, $v) = splice @p, 0, 2) {
        push @out, esc($k) . '=' . esc($v);
    }
    return join '&', @out;
}

# Twilio's SDK in node, the arguments as JSON
sub twilio_node {
    my ($code, @args) = @_;

    local $ENV{NODE_PATH} = "$B24T::ROOT/t/node/node_modules";
    local $ENV{B24T_ARGS} = JSON::PP->new->utf8(0)->encode(\@args);

    my $out = `node -e 'const twilio = require("twilio");
        const a = JSON.parse(process.env.B24T_ARGS); $code'`;
    die "node failed: $?" if $?;
    chomp $out;
    return $out;
}

sub twilio_signature {
    my ($token, $url, $params, $alg) = @_;
    return twilio_node('console.log(twilio.getExpectedTwilioSignature('
                       . 'a[0], a[1], a[2], a[3] || undefined))',
                       $token, $url, $params, $alg);
}

# the SDK's own check: does validateRequest accept the signature for the
# URL as configured?  ("true" or "false")
sub twilio_validate {
    my ($token, $sig, $url, $params) = @_;
    return twilio_node('console.log(String(twilio.validateRequest('
                       . 'a[0], a[1], a[2], a[3])))',
                       $token, $sig, $url, $params);
}

sub twilio_body_hash {
    my ($body) = @_;
    return twilio_node('console.log(twilio.getExpectedBodyHash(a[0]))',
                       $body);
}

sub sber_checksum {
    my ($key, $p) = @_;
    my $s = join '', map { "$_;$p->{$_};" }
                     sort grep { $_ ne 'checksum' && $_ ne 'sign_alias' }
                     keys %$p;
    return uc hmac_sha256_hex($s, $key);
}

sub mailgun_signature {
    my ($key, $ts, $token) = @_;
    return hmac_sha256_hex("$ts$token", $key);
}

# Prodamus' PHP class: Hmac::create($_POST, $key): array_walk_recursive
# strval, ksort at every level, json_encode($data, JSON_UNESCAPED_UNICODE),
# hash_hmac('sha256', ...).  $_POST as PHP builds it of the form: names
# "a[b][0]" nested, integer-looking keys integers.

sub unesc {
    my $s = shift;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub prodamus_json {
    my ($form) = @_;

    my %post;

    for my $pair (grep { length } split /&/, $form) {
        my ($k, $v) = map { unesc($_) } split /=/, $pair, 2;
        $v = '' unless defined $v;
        my ($root, $rest) = $k =~ /^([^\[]+)((?:\[[^\[\]]+\])*)$/
            or die "prodamus_json: a name PHP would rewrite: $k";
        my @keys = ($root, $rest =~ /\[([^\]]+)\]/g);
        my $node = \%post;
        my $last = pop @keys;
        $node = $node->{$_} ||= {} for @keys;
        $node->{$last} = $v;
    }

    return php_json(\%post);
}

sub php_int { $_[0] =~ /^(?:0|-?[1-9][0-9]*)$/ }

sub php_ksort {
    my ($a, $b) = @_;
    my ($ia, $ib) = (php_int($a), php_int($b));
    return $ia && $ib ? $a <=> $b : $ia ? -1 : $ib ? 1 : $a cmp $b;
}

sub php_string {
    my ($s) = @_;
    $s =~ s{([\\"/])}{\\$1}g;
    $s =~ s/\x08/\\b/g;
    $s =~ s/\f/\\f/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x1f])/sprintf '\\u%04x', ord $1/ge;
    $s =~ s/\xe2\x80\xa8/\\u2028/g;
    $s =~ s/\xe2\x80\xa9/\\u2029/g;
    return "\"$s\"";
}

sub php_json {
    my ($v) = @_;

    return php_string($v) unless ref $v;

    my @k = sort { php_ksort($a, $b) } keys %$v;
    my $list = 1;
    for my $i (0 .. $#k) {
        $list = 0 unless php_int($k[$i]) && $k[$i] == $i;
    }

    return '[' . join(',', map { php_json($v->{$_}) } @k) . ']' if $list;
    return '{' . join(',', map { php_string($_) . ':' . php_json($v->{$_}) }
                           @k) . '}';
}

sub prodamus_sign {
    my ($key, $form) = @_;
    return hmac_sha256_hex(prodamus_json($form), $key);
}

1;

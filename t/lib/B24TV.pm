package B24TV;

# Helpers for the t/verify-*.t tests, on top of B24T: a relaying location
# per scheme, and the two assertions every verification test makes over
# and over:
#
#   forwarded($t, $r, $deal, $name)   200, and exactly one new portal call,
#                                     for DEAL_$deal
#   refused($t, $r, $error, $name)    401 {"error":$error}, the same word in
#                                     $b24trigger_error, no new call, and
#                                     one more info line
#
# Signatures are computed in the tests with Digest::SHA and MIME::Base64,
# never with the module's code.  The providers' own ways of signing, for
# tests that send what a provider sends (exported on request):
#
#   stripe_signature($secret, $body[, $ts])   "t=TS,v1=HEX"
#   github_signature($secret, $body)          "sha256=HEX"
#   cloudpayments_hmac($secret, $bytes)       base64 HMAC-SHA256
#   tbank_json($password, [NAME, JSON], ...)  the JSON object, with "Token"
#   robokassa_signature($password, \%fields[, $hash])
#                                             uppercase hex, MD5 unless
#                                             $hash (\&sha256_hex, ...)

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(hmac_sha256_hex hmac_sha256_base64 sha256_hex);

our @EXPORT = qw(location http_block forwarded refused rejection_logged
                 nothing_leaked);
our @EXPORT_OK = qw(stripe_signature github_signature cloudpayments_hmac
                    tbank_json robokassa_signature);

# a relaying location: the target is DEAL_$arg_deal, so that every request
# of a test can name its own call.  Nothing signs the query: these tests
# are about signatures, so the location says so with b24trigger_unsigned
# (t/security-unsigned.t is about what that lets through)
sub location {
    my (%o) = @_;

    my $secrets = join ' ', map { qq{"$_"} } @{ $o{secrets} || [] };
    my $extra = $o{extra} || '';

    my $s = "        location = $o{path} {\n"
          . "            b24trigger_pass main;\n"
          . "            b24trigger_verify $o{verify};\n";
    $s .= "            b24trigger_secret $secrets;\n" if $secrets;
    $s .= "            b24trigger_target DEAL_\$arg_deal;\n"
        . "            b24trigger_unsigned \$arg_deal;\n"
        . "            b24trigger_code c1;\n"
        . "            add_header X-B24-Error \$b24trigger_error always;\n"
        . "            $extra\n"
        . "        }\n";

    return $s;
}

sub http_block {
    my (@locations) = @_;

    return "    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;\n\n"
         . "    server {\n"
         . "        listen %%LISTEN%%;\n\n"
         . join("\n", @locations)
         . "    }\n";
}

sub forwarded {
    my ($t, $r, $deal, $name) = @_;

    $t->{b24tv_calls} ||= 0;

    is($r->{status}, 200, "$name: 200")
        or diag($r->{body} || $r->{error});
    is($r->{json} && $r->{json}{result}, 'forwarded', "$name: forwarded");

    my $calls = $t->calls;
    $t->{b24tv_calls}++;

    is(scalar @$calls, $t->{b24tv_calls}, "$name: one portal call");
    is(@$calls && $calls->[-1]{target}, "DEAL_$deal", "$name: its target");
}

sub refused {
    my ($t, $r, $error, $name) = @_;

    $t->{b24tv_calls} ||= 0;

    is($r->{status}, 401, "$name: 401")
        or diag($r->{body} || $r->{error});
    is_deeply($r->{json}, { error => $error }, "$name: $error");
    is($r->{headers}{'x-b24-error'}, $error,
       "$name: \$b24trigger_error is $error");
    is(scalar @{ $t->calls }, $t->{b24tv_calls}, "$name: nothing forwarded");

    # one info line per refusal, written before the reply is sent
    $t->{b24tv_refused}++;
    my $lines = () = $t->error_log =~ /\[info\] .* webhook rejected in /g;
    is($lines, $t->{b24tv_refused}, "$name: one info line");
}

# the one info line of a rejection
sub rejection_logged {
    my ($t, $location, $error, $reason) = @_;

    $reason = defined $reason ? $reason : qr/[^)]+/;

    my $re = qr/\[info\] .*b24trigger: webhook rejected in location /
           . qr/"\Q$location\E": \Q$error\E \($reason\)/;

    like($t->error_log, qr/$re/, "info line for $error in $location");
}

# none of the strings (secrets, signatures nginx computed and must not
# show) in replies, the access log or the error log, at any level; only
# nginx's own debug echo of the request ("http header:", "http request
# line:", "http args:") is set aside, since it prints what the sender sent
sub nothing_leaked {
    my ($t, $name, @strings) = @_;

    my @lines = grep {
        !/ http (header|request line|args|uri|exten): /
        && !/ (http alloc large header buffer|recv: )/
    } split /\n/, $t->error_log;

    my $seen = join "\n", @lines, $t->access_log,
        $t->slurp($t->dir . '/logs/stderr.log'),
        map { $_->{raw} || '' } @{ $t->{replies} };

    my @found = grep { index($seen, $_) >= 0 } @strings;

    ok(!@found, $name) or diag("found: @found");
}

# Stripe-Signature: HMAC-SHA256 of "TS.BODY", the secret (whsec_...) as is
sub stripe_signature {
    my ($secret, $body, $ts) = @_;
    $ts = time unless defined $ts;
    return "t=$ts,v1=" . hmac_sha256_hex("$ts.$body", $secret);
}

# X-Hub-Signature-256
sub github_signature {
    my ($secret, $body) = @_;
    return 'sha256=' . hmac_sha256_hex($body, $secret);
}

# Content-HMAC / X-Content-HMAC: base64, padded
sub cloudpayments_hmac {
    my ($secret, $bytes) = @_;
    my $b64 = hmac_sha256_base64($bytes, $secret);
    $b64 .= '=' while length($b64) % 4;
    return $b64;
}

# a T-Bank notification: the fields in the order given, each [name, JSON
# text], then "Token": SHA-256 hex of the values of the root scalars, plus
# Password, sorted by name (strings unquoted, true/false and numbers as
# written; objects, arrays and null left out)
sub tbank_json {
    my ($password, @f) = @_;

    my %v = (Password => $password);

    for my $f (@f) {
        my ($name, $json) = @$f;
        next if $json =~ /^[\[{]/ || $json eq 'null';
        die "tbank_json: escapes are not handled: $json" if $json =~ /\\/;
        ($v{$name} = $json) =~ s/^"(.*)"$/$1/s;
    }

    my $token = sha256_hex(join '', map { $v{$_} } sort keys %v);

    return '{' . join(',', map { "\"$_->[0]\":$_->[1]" } @f,
                      ['Token', "\"$token\""]) . '}';
}

# Robokassa's SignatureValue: OutSum:InvId:Password#2[:Shp_a=..], the Shp_
# fields sorted by name, the digest in upper case as Robokassa sends it
sub robokassa_signature {
    my ($password, $f, $hash) = @_;
    $hash ||= \&md5_hex;
    my @shp = sort grep { /^shp_/i } keys %$f;
    return uc $hash->(join ':', $f->{OutSum}, $f->{InvId}, $password,
                      map { "$_=$f->{$_}" } @shp);
}

1;

#!/usr/bin/perl

# The public keys of sendgrid, standard_v1a and paddle_classic are
# loaded and checked by "nginx -t": a missing, unreadable, empty or
# oversized file, a directory, text that is no key, a private key, a key
# of the wrong type, curve or size, no key= at all, each fails with an
# EMERG line naming the directive and the file (or the key's position),
# never printing key material.  A b24trigger_secret plays no part.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TPK;

my $t = B24T->new;
my $k = pk_keys($t);
my $dir = $k->{dir};

sub conf {
    my ($verify, $extra) = @_;
    $extra ||= '';

    return <<"EOF";
    b24trigger_portal main http://127.0.0.1:1/rest/1/%%SECRET%%/;
    server {
        listen %%LISTEN%%;
        location /h {
            b24trigger_pass main;
            b24trigger_verify $verify;
            b24trigger_target DEAL_1;
            $extra
        }
    }
EOF
}

# key material that must never be printed
my @material = map { (substr($k->{$_}{der}, 40, 24),
                      (split /\n/, $k->{$_}{priv})[2]) }
               qw(p256 k256 ed rsa rsa1024);
push @material, substr($k->{ed}{whpk}, 8);

sub fails {
    my ($verify, $re, $name) = @_;

    my ($rc, $out) = $t->nginx_test(conf($verify));

    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\] .*$re/, "$name: message") or diag($out);

    my @found = grep { index($out, $_) >= 0 } @material;
    ok(!@found, "$name: no key material") or diag("found: @found");
}

sub passes {
    my ($verify, $name, $extra) = @_;

    my ($rc, $out) = $t->nginx_test(conf($verify, $extra));

    is($rc, 0, "$name: nginx -t passes") or diag($out);
    unlike($out, qr/\[(emerg|alert|crit)\]/, "$name: no error");
}

my $file = qr/key file "\Q$dir\E/;

passes("sendgrid key=file:$dir/p256.pub.pem", 'sendgrid, PEM');
passes("sendgrid key=$k->{p256}{der}", 'sendgrid, base64 DER');
passes("standard_v1a key=$k->{ed}{whpk}", 'standard_v1a, whpk_');
passes("standard_v1a key=file:$dir/ed.pub.pem", 'standard_v1a, PEM');
passes("paddle_classic key=file:$dir/rsa.pub.pem", 'paddle_classic, PEM');
passes("sendgrid key=file:$dir/p256.pub.pem",
       'an inherited-looking b24trigger_secret is ignored',
       'b24trigger_secret whatever;');

pk_file($t, 'whpk.txt', "$k->{ed}{whpk}\n");
passes("standard_v1a key=file:$dir/whpk.txt", 'standard_v1a, whpk_ file');

# files that cannot give a key

fails("sendgrid key=file:$dir/nope.pem",
      qr/"b24trigger_verify sendgrid": cannot open key file /
      . qr/"\Q$dir\E\/nope.pem" \(2: No such file or directory\)/,
      'missing file');

SKIP: {
    skip 'root reads any file', 3 if $> == 0;
    my $f = pk_file($t, 'unreadable.pem', $k->{p256}{pub});
    chmod 0000, $f;
    fails("sendgrid key=file:$f",
          qr/"b24trigger_verify sendgrid": cannot open key file "\Q$f\E" /
          . qr/\(13: Permission denied\)/,
          'unreadable file');
}

fails("sendgrid key=file:$dir",
      qr/"b24trigger_verify sendgrid": key file "\Q$dir\E" is not a /
      . qr/regular file/,
      'a directory');

pk_file($t, 'empty.pem', "\n");
fails("sendgrid key=file:$dir/empty.pem",
      qr/"b24trigger_verify sendgrid": $file\/empty.pem" is empty/,
      'empty file');

pk_file($t, 'big.pem', 'A' x 20000);
fails("sendgrid key=file:$dir/big.pem",
      qr/"b24trigger_verify sendgrid": $file\/big.pem" is larger than /
      . qr/16384 bytes/,
      'oversized file');

pk_file($t, 'junk.pem', "-----BEGIN PUBLIC KEY-----\nnot a key\n"
                        . "-----END PUBLIC KEY-----\n");
fails("sendgrid key=file:$dir/junk.pem",
      qr/"b24trigger_verify sendgrid": $file\/junk.pem" is not a PEM /
      . qr/public key \("-----BEGIN PUBLIC KEY-----"\)/,
      'PEM that is no key');

fails("sendgrid key=file:$dir/p256.key.pem",
      qr/"b24trigger_verify sendgrid": $file\/p256.key.pem" holds a /
      . qr/private key: give the sender's public key/,
      'a private key');

# wrong type, curve, size

fails("sendgrid key=file:$dir/rsa.pub.pem",
      qr/"b24trigger_verify sendgrid": $file\/rsa.pub.pem" is not an /
      . qr/ECDSA key: SendGrid signs with ECDSA P-256/,
      'sendgrid, an RSA key');

fails("sendgrid key=file:$dir/k256.pub.pem",
      qr/"b24trigger_verify sendgrid": $file\/k256.pub.pem" is an ECDSA /
      . qr/key on another curve than P-256 \(prime256v1\)/,
      'sendgrid, a secp256k1 key');

fails("sendgrid key=$k->{k256}{der}",
      qr/"b24trigger_verify sendgrid": key 1 is an ECDSA key on another /
      . qr/curve than P-256/,
      'sendgrid, a secp256k1 key inline');

fails("standard_v1a key=file:$dir/p256.pub.pem",
      qr/"b24trigger_verify standard_v1a": $file\/p256.pub.pem" is not /
      . qr/an Ed25519 key/,
      'standard_v1a, a P-256 key');

fails("standard_v1a key=whpk_AAAA",
      qr/"b24trigger_verify standard_v1a": key 1 is not "whpk_" and the /
      . qr/base64 of 32 bytes/,
      'standard_v1a, a short whpk_');

fails("standard_v1a key=$k->{ed}{whpk} key=whsec_abc!",
      qr/"b24trigger_verify standard_v1a": key 2 is neither PEM, /
      . qr/"whpk_\.\.\." nor base64/,
      'standard_v1a, an HMAC secret as second key');

fails("paddle_classic key=file:$dir/ed.pub.pem",
      qr/"b24trigger_verify paddle_classic": $file\/ed.pub.pem" is not /
      . qr/an RSA key: Paddle Classic signs with RSA/,
      'paddle_classic, an Ed25519 key');

fails("paddle_classic key=file:$dir/rsa1024.pub.pem",
      qr/"b24trigger_verify paddle_classic": $file\/rsa1024.pub.pem" is /
      . qr/an RSA key shorter than 2048 bits/,
      'paddle_classic, RSA 1024');

# parameters

fails('sendgrid',
      qr/scheme "sendgrid" needs the sender's public key: /
      . qr/"key=file:\/path\/to\/key.pem"/,
      'no key=');

fails("paddle_classic key=file:$dir/rsa.pub.pem tolerance=5m",
      qr/invalid parameter "tolerance=5m" of scheme "paddle_classic"/,
      'paddle_classic signs no timestamp');

fails("sendgrid key=file:$dir/p256.pub.pem tolerance=0",
      qr/invalid "tolerance" value "0" of scheme "sendgrid"/,
      'tolerance=0');

$t->finish;

done_testing;

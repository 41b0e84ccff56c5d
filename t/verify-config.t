#!/usr/bin/perl

# "nginx -t" refuses, with a clear EMERG line that prints no secret, every
# verification configuration that cannot be right: a relaying location
# without b24trigger_verify, an unknown scheme, a scheme without a
# required parameter or secret, bad parameters, a secret file that does
# not exist, a Standard Webhooks secret that is not base64.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $secret = B24T::random_secret(24);

sub conf {
    my ($verify, $secrets) = @_;
    $secrets = "b24trigger_secret $secret;" unless defined $secrets;
    my $v = defined $verify ? "b24trigger_verify $verify;" : '';

    return <<"EOF";
    b24trigger_portal main http://127.0.0.1:1/rest/1/%%SECRET%%/;
    server {
        listen %%LISTEN%%;
        location /h {
            b24trigger_pass main;
            $v
            $secrets
            b24trigger_target DEAL_1;
        }
    }
EOF
}

sub fails {
    my ($http, $re, $name, %opts) = @_;

    my ($rc, $out) = $t->nginx_test($http, %opts);

    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\] .*$re/, "$name: message") or diag($out);
    unlike($out, qr/\Q$secret\E/, "$name: no secret in the message");
}

sub passes {
    my ($http, $name, %opts) = @_;

    my ($rc, $out) = $t->nginx_test($http, %opts);

    is($rc, 0, "$name: nginx -t passes") or diag($out);
    unlike($out, qr/\Q$secret\E/, "$name: no secret in the output");
    return $out;
}

# acceptance: the four failures of issue 3

fails(conf(undef),
      qr/"b24trigger_pass" in location "\/h" needs "b24trigger_verify" /
      . qr/\(write "b24trigger_verify none" to accept unsigned webhooks\)/,
      'no b24trigger_verify');

fails(conf('stripes'),
      qr/unknown verification scheme "stripes" \(expected none, token, /
      . qr/hmac, stripe,/,
      'unknown scheme');

fails(conf('hmac alg=sha256 encoding=hex'),
      qr/scheme "hmac" needs "header=NAME", the header that carries /
      . qr/the signature/,
      'hmac without header=');

fails(conf('token'),
      qr/scheme "token" needs exactly one of "header=NAME", "query=NAME", /
      . qr/"field=PATH", "bearer" or "basic"/,
      'token without where');

fails(conf('stripe', 'b24trigger_secret file:%%TESTDIR%%/no-such-file;'),
      qr/b24trigger_secret: cannot open secret file ".*no-such-file" /
      . qr/\(2: No such file or directory\)/,
      'secret file that does not exist');

# and the others

fails(conf('stripe', ''),
      qr/"b24trigger_verify" in location "\/h" needs /
      . qr/"b24trigger_secret"/,
      'scheme without a secret');

fails(conf('standard', "b24trigger_secret whsec_$secret!;"),
      qr/secret 1 of location "\/h" is not a Standard Webhooks key /
      . qr/\("whsec_" followed by base64\)/,
      'Standard Webhooks secret not base64');

fails(conf('standard', "b24trigger_secret whsec_dGVzdA== \"$secret!\";"),
      qr/secret 2 of location "\/h" is not a Standard Webhooks key/,
      'second Standard Webhooks secret not base64');

fails(conf('stripe tolerance=soon'),
      qr/invalid "tolerance" value "soon" of scheme "stripe", expected a /
      . qr/time such as 300s or 5m/,
      'bad tolerance');

fails(conf('github tolerance=5s'),
      qr/invalid parameter "tolerance=5s" of scheme "github"/,
      'tolerance where no timestamp is signed');

fails(conf('hmac header=X-Sig alg=md5'),
      qr/invalid "alg" value "md5" of scheme "hmac", expected sha1, /
      . qr/sha256 or sha512/,
      'hmac alg=md5');

fails(conf('robokassa alg=whirlpool'),
      qr/invalid "alg" value "whirlpool" of scheme "robokassa", expected /
      . qr/md5, sha1, sha256, sha384 or sha512/,
      'robokassa unknown alg');

fails(conf('hmac header=X-Sig encoding=hex64'),
      qr/invalid parameter "encoding=hex64" of scheme "hmac"/,
      'hmac unknown encoding');

fails(conf('hmac header=X-Sig tolerance=60s'),
      qr/"tolerance" of scheme "hmac" needs "timestamp=VALUE"/,
      'hmac tolerance without timestamp');

fails(conf('hmac header=X-Sig message='),
      qr/invalid parameter "message=" of scheme "hmac"/,
      'hmac empty message');

fails(conf('hmac header=X-Sig "message=$no_such_variable{body}"'),
      qr/unknown "no_such_variable" variable/,
      'hmac message with an unknown variable');

fails(conf('none extra'), qr/scheme "none" takes no parameters/,
      'none with a parameter');

fails(conf('token header=X-Token bearer'),
      qr/scheme "token" needs exactly one of/, 'token with two places');

fails(conf('token cookie=x'),
      qr/invalid parameter "cookie=x" of scheme "token"/, 'token cookie=');

fails(conf('stripe', "b24trigger_secret env:B24T_NO_SUCH_VARIABLE;"),
      qr/b24trigger_secret: environment variable "B24T_NO_SUCH_VARIABLE" /
      . qr/is not set or empty/,
      'secret from an unset environment variable');

fails(conf('stripe;        b24trigger_verify github'),
      qr/"b24trigger_verify" directive is duplicate/, 'verify twice');

# what is fine

passes(conf('none', ''), 'none without a secret');

for my $v ('token header=X-Token', 'token query=key', 'token field=a.b',
           'token bearer', 'token basic',
           'hmac header=X-Sig',
           'hmac alg=sha512 header=X-Sig prefix=sha512= encoding=base64',
           'hmac header=X-Sig "message=$http_x_ts.{body}" '
           . 'timestamp=$http_x_ts tolerance=5m',
           'stripe', 'stripe tolerance=10m', 'github', 'shopify',
           'slack tolerance=60s', 'paddle tolerance=5s', 'typeform',
           'woocommerce', 'woocommerce alg=sha1', 'cloudpayments',
           'tbank', 'robokassa', 'robokassa alg=sha512', 'yoomoney')
{
    passes(conf($v), "\"$v\"");
}

passes(conf('standard', "b24trigger_secret whsec_dGVzdHRlc3R0ZXN0 "
                        . "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;"),
       'standard with base64 secrets');

# a secret file readable by others: a warning, not an error

open my $fh, '>', $t->dir . '/secret' or die;
print $fh "$secret\n";
close $fh;
chmod 0644, $t->dir . '/secret';

my $out = passes(conf('github',
                      'b24trigger_secret file:%%TESTDIR%%/secret;'),
                 'secret file 0644');
my $warn = qr/\[warn\] .*b24trigger_secret: secret file ".*secret" is /
         . qr/accessible by group or others \(mode 644\), consider /
         . qr/chmod 600/;
like($out, qr/$warn/,
     'secret file 0644: warning');

chmod 0600, $t->dir . '/secret';

$out = passes(conf('github', 'b24trigger_secret file:%%TESTDIR%%/secret;'),
              'secret file 0600');
unlike($out, qr/\[warn\].*secret file/, 'secret file 0600: no warning');

done_testing;

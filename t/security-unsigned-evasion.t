#!/usr/bin/perl

# Finding 2 of the security review (issue 13), second round: ways around
# "only signed data decides" with nginx's own directives, found by an
# attacker's review of the check in src/ngx_http_b24trigger_trust.c.  The
# attacker holds one captured, correctly signed request, and the operator
# wrote the configuration in good faith: each location below maps, as the
# check used to read it, only from what its scheme signs, and none of them
# needs "b24trigger_unsigned".  The holes:
#
#   - "set" (or "auth_request_set") on a map variable fills it, and the map
#     the check followed is never evaluated;
#   - "set $args" changes what $arg_* read while $request_uri, which the
#     template signs, stays as it was;
#   - a rewrite changes $uri, which the check credited as bound by
#     $request_uri; a rewrite or an internal redirect (try_files,
#     error_page, "rewrite ... last") changes the arguments;
#   - $1 and the location's named captures are the last regex's: a map
#     regex evaluated by "set" in the rewrite phase overwrites them;
#   - text "on both sides" of a template variable does not fix where it
#     ends when that text can occur in its value ("$request_uri:{body}");
#     nor does a template fix where {body} begins when a variable stands
#     right before it, nor where it ends when a variable stands right
#     after it and the body is a form;
#   - $is_args credited the arguments, $uri and $args credited
#     $request_uri, $request_uri credited $request (the method); and
#     $server_addr counted as the server's own while a sender picks it
#     when a server listens on several addresses.
#
# Each case asserts the safe outcome twice: nginx -t refuses it (with the
# message naming the reason) or, for what only the request shows, nginx
# refuses the request; and the live request re-aimed at DEAL_999 does not
# reach the portal.  Written as the attacks were run: against the code
# before the fix every live assertion below failed (DEAL_999 forwarded).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV qw(github_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);

my $http = <<'EOF';
    b24trigger_field $gh_repo    repository.full_name;
    b24trigger_field $body_deal  deal;

    map $gh_repo $deal_set {
        octocat/hello-world  57;
        default              "";
    }

    map $gh_repo $deal_auth {
        octocat/hello-world  57;
        default              "";
    }

    map $http_x_deal $hdr_deal {
        "~^([0-9]+)$"  1;
        default        0;
    }

    map $http_x_deal $hdr_named {
        "~^(?<ncid>[0-9]+)$"  1;
        default               0;
    }

    map $uri $deal_uri {
        "~^/rw/(?<rwid>[0-9]+)$"  $rwid;
        default                   "";
    }

    map $request_uri $deal_last {
        "~[?&]deal=(?<lastid>[0-9]+)$"  $lastid;
        default                         "";
    }

    map $request_uri $deal_path {
        "~^/ua/(?<uaid>[0-9]+)"  $uaid;
        default                  "";
    }

    map $request $deal_method {
        "~^PUT "  999;
        default   57;
    }

    map $server_addr $deal_addr {
        127.0.0.1  57;
        default    999;
    }
EOF

my $gh = <<"EOF";
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
EOF

# the template binds $request_uri, fenced off by a space, which cannot
# occur in it: the holes below are not about where it ends
my $hm = <<"EOF";
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-Sig "message=\$request_uri {body}";
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
EOF

sub hmac_block {
    my ($message, $more) = @_;
    $more = defined $more ? " $more" : '';
    return <<"EOF";
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-Sig "message=$message"$more;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
EOF
}

my $body = '{"repository":{"full_name":"octocat/hello-world"}}';
my @json = ('Content-Type' => 'application/json');
my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my @ghsig = ('X-Hub-Signature-256' => github_signature($secret, $body));

sub sig { return ('X-Sig' => hmac_sha256_hex($_[0], $secret)) }

# name => location block, what nginx -t says, the attack
my @cases = (

    # a map's variable is "changeable": "set" overwrites it in the rewrite
    # phase, and the map is never evaluated; the check followed the map
    [ 'set on a map variable', <<"EOF",
        location = /set-map {
$gh
            set                \$deal_set \$arg_deal;
            b24trigger_target  DEAL_\$deal_set;
        }
EOF
      qr/"b24trigger_target" in location "\/set-map" uses "\$deal_set", which "set" assigns \(\S+:\d+\): b24trigger cannot trace an assigned variable to what "b24trigger_verify github" signs; take it from a b24trigger_field or a map of one that nothing assigns, or see "b24trigger_unsigned"/,
      sub { $t->post('/set-map?deal=999', $body, @json, @ghsig) } ],

    # the same in the access phase
    [ 'auth_request_set on a map variable', <<"EOF",
        location = /auth-set {
$gh
            auth_request       /auth-ok;
            auth_request_set   \$deal_auth \$http_x_deal;
            b24trigger_target  DEAL_\$deal_auth;
        }
EOF
      qr/uses "\$deal_auth", which "auth_request_set" assigns \(\S+:\d+\)/,
      sub { $t->post('/auth-set', $body, @json, @ghsig, 'X-Deal' => 999) } ],

    # $request_uri is signed; $args is what $arg_deal reads, and "set"
    # changes it without changing $request_uri
    [ 'set $args, the template binds $request_uri', <<"EOF",
        location = /set-args {
$hm
            set                \$args "deal=\$http_x_deal";
            b24trigger_target  DEAL_\$arg_deal;
        }
EOF
      qr/uses "\$arg_deal" \(a query argument after "set \$args"\), which "b24trigger_verify hmac" does not sign/,
      sub {
          # the sender signed "/set-args?deal=57"
          $t->post('/set-args?deal=57', $body, @json,
                   sig("/set-args?deal=57 $body"), 'X-Deal' => 999);
      } ],

    # rewrite changes $uri; $request_uri stays what was signed
    [ 'rewrite of $uri, the template binds $request_uri', <<"EOF",
        location = /rw {
$hm
            rewrite            ^ /rw/\$http_x_deal break;
            b24trigger_target  DEAL_\$deal_uri;
        }
EOF
      qr/uses "\$uri" \(the URI after rewrites, not \$request_uri\) through "\$deal_uri", which "b24trigger_verify hmac" does not sign/,
      sub {
          $t->post('/rw', $body, @json, sig("/rw $body"), 'X-Deal' => 999);
      } ],

    # $1 is the last regex's capture, not necessarily the location's: a
    # map with a regex, evaluated by "set" in the rewrite phase, leaves
    # the header's digits in $1
    [ '$1 after a map regex, the template binds $request_uri', <<"EOF",
        location ~ ^/cap/([0-9]+)\$ {
$hm
            set                \$has_deal \$hdr_deal;
            b24trigger_target  DEAL_\$1;
        }
EOF
      qr/"b24trigger_target" in location "\^\/cap\/\(\[0-9\]\+\)\$" uses "\$1", a capture, which a later regex \(a map's, "if", "rewrite"\) may overwrite: only "b24trigger_verify token" or "none" may rest on one; take it from a map of a signed variable, or name the capture and see "b24trigger_unsigned"/,
      sub {
          $t->post('/cap/57', $body, @json, sig("/cap/57 $body"),
                   'X-Deal' => 999);
      } ],

    # the same with a named capture: a map regex with the same name
    [ 'a named capture of the location, overwritten by a map', <<"EOF",
        location ~ ^/ncap/(?<ncid>[0-9]+)\$ {
$hm
            set                \$has_named \$hdr_named;
            b24trigger_target  DEAL_\$ncid;
        }
EOF
      qr/uses "\$ncid", a capture, which a later regex/,
      sub {
          $t->post('/ncap/57', $body, @json, sig("/ncap/57 $body"),
                   'X-Deal' => 999);
      } ],

    # ":" after $request_uri can occur in it: the sender's bytes move
    # between the URI and the body and the signature still holds; the
    # body was signed with "&deal=999:" in a field
    [ '":" after $request_uri', <<"EOF",
        location = /sep {
@{[ hmac_block('$request_uri:{body}') ]}
            b24trigger_target  DEAL_\$deal_last;
        }
EOF
      qr/uses "\$request_uri" through "\$deal_last", which "b24trigger_verify hmac" signs only as part of "\$request_uri" in "message=", and where that begins or ends is not fixed: ":" after "\$request_uri" can occur in it; put text that cannot occur in a variable next to it \(a space or "\\n" for "\$request_uri"\), or see "b24trigger_unsigned"/,
      sub {
          my $b = '{"note":"&deal=999:x"}';
          my @s = sig("/sep?deal=57:$b");
          $t->post('/sep?deal=57:{"note":"&deal=999', 'x"}', @json, @s);
      } ],

    # $is_args is "?" or "": it does not bind the arguments
    [ '$is_args in the template', <<"EOF",
        location = /isargs {
@{[ hmac_block('x$is_args:{body}') ]}
            b24trigger_target  DEAL_\$arg_deal;
        }
EOF
      qr/uses "\$arg_deal" \(a query argument\), which "b24trigger_verify hmac" does not sign/,
      sub {
          $t->post('/isargs?deal=999', $body, @json, sig("x?:$body"));
      } ],

    # $request holds the method too, which $request_uri does not sign
    [ '$request, the template binds $request_uri', <<"EOF",
        location = /method {
$hm
            b24trigger_methods POST PUT;
            b24trigger_target  DEAL_\$deal_method;
        }
EOF
      qr/uses "\$request" \(the request line\) through "\$deal_method", which "b24trigger_verify hmac" does not sign/,
      sub {
          $t->request('PUT', '/method', body => $body,
                      headers => [ @json, sig("/method $body") ]);
      } ],

    # $uri is the URI after normalisation: "/ua/999/../57" is "/ua/57",
    # while $request_uri keeps "999"
    [ '$request_uri, the template binds $uri and $args', <<"EOF",
        location /ua/ {
@{[ hmac_block('$args $uri') ]}
            b24trigger_target  DEAL_\$deal_path;
        }
EOF
      qr/uses "\$request_uri" \(the URI\) through "\$deal_path", which "b24trigger_verify hmac" does not sign/,
      sub { $t->post('/ua/999/../57', $body, @json, sig(" /ua/57")) } ],

    # a server that listens on two addresses: the sender picks one
    [ '$server_addr', <<"EOF",
        location = /addr {
$gh
            b24trigger_target  DEAL_\$deal_addr;
        }
EOF
      qr/uses "\$server_addr" \(the connection\) through "\$deal_addr", which "b24trigger_verify github" does not sign/,
      sub {
          B24T::http_request('127.0.0.2', $t->{port}, 'POST', '/addr',
                             body => $body, headers => [ @json, @ghsig ]);
      } ],

    # a variable right before {body}: where the body begins moves
    [ 'a variable right before {body}', <<"EOF",
        location = /head {
@{[ hmac_block('$http_x_pre{body}') ]}
            b24trigger_target  DEAL_\$body_deal;
        }
EOF
      qr/uses "\$body_deal", which "b24trigger_verify hmac" signs only as part of "\{body\}" in "message=", and where that begins or ends is not fixed: nothing separates "\$http_x_pre" from "\{body\}"/,
      sub {
          # the sender signed X-Pre "a" and the form "xdeal=999"
          $t->post('/head', 'deal=999', @form, sig('axdeal=999'),
                   'X-Pre' => 'ax');
      } ],
);

# what only the request shows: nginx -t accepts these, the request is
# refused (500 request_rewritten, or 400 body_invalid: the body is read
# as JSON only)
my @runtime = (

    # a rewrite that sets new arguments
    [ 'rewrite with new arguments', <<"EOF",
        location = /rwa {
$hm
            rewrite            ^ /rwa?deal=\$http_x_deal? break;
            b24trigger_target  DEAL_\$arg_deal;
        }
EOF
      '/rwa', 500,
      sub {
          $t->post('/rwa?deal=57', $body, @json, sig("/rwa?deal=57 $body"),
                   'X-Deal' => 999);
      } ],

    # an internal redirect with new arguments
    [ 'try_files to a relaying location', <<"EOF",
        location = /tf {
            root       /b24t-nonexistent;
            try_files  /nonexistent /tfin?deal=\$http_x_deal;
        }

        location = /tfin {
$hm
            b24trigger_target  DEAL_\$arg_deal;
        }
EOF
      '/tfin', 500,
      sub {
          $t->post('/tf?deal=57', $body, @json, sig("/tf?deal=57 $body"),
                   'X-Deal' => 999);
      } ],

    # a variable right after {body}: a form's last value gains the
    # header's first digits ("deal=99" and "9123" sign as "deal=999" and
    # "123"); such a location reads its body as JSON only
    [ 'a variable right after {body}, a form', <<"EOF",
        location = /tail {
@{[ hmac_block('P{body}$http_x_ts') ]}
            b24trigger_target  DEAL_\$body_deal;
        }
EOF
      undef, 400,
      sub {
          $t->post('/tail', 'deal=999', @form, sig('Pdeal=999123'),
                   'X-Ts' => '123');
      } ],
);

sub conf {
    my (@locations) = @_;
    return <<"EOF";
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m;
$http
    server {
        listen %%LISTEN%%;
        listen 127.0.0.2:%%PORT%%;

        location = /auth-ok {
            return 204;
        }

@locations
    }
EOF
}

my @passed;

for my $c (@cases) {
    my ($name, $location, $re) = @$c;
    my ($rc, $out) = $t->nginx_test(conf($location));

    if (isnt($rc, 0, "$name: nginx -t refuses it")) {
        like($out, $re, "$name: the message") or diag($out);
    } else {
        diag($out);
        push @passed, $c;
    }

    unlike($out, qr/\Q$secret\E/, "$name: no secret printed");
}

# what held: a "set" on a b24trigger_field variable is refused by nginx
# itself (the variable is not changeable)
{
    my ($rc, $out) = $t->nginx_test(conf(<<"EOF"));
        location = /set-field {
$gh
            set                \$gh_repo \$arg_deal;
            b24trigger_target  DEAL_\$deal_set;
        }
EOF
    isnt($rc, 0, 'held: "set" on a b24trigger_field variable is refused');
}

# what held: $arg_ with text around it in the code, $request_body; and
# $server_port, which a server listening on several ports lets the sender
# pick
for my $c (['code "c_${arg_x}_y"', 'b24trigger_code "c_${arg_x}_y";'],
           ['$request_body', 'b24trigger_code $request_body;'],
           ['$server_protocol', 'b24trigger_code $server_protocol;'],
           ['$server_port', 'b24trigger_code $server_port;'])
{
    my ($rc, $out) = $t->nginx_test(conf(<<"EOF"));
        location = /held {
$gh
            b24trigger_target  DEAL_\$deal_set;
            $c->[1]
        }
EOF
    isnt($rc, 0, "held: $c->[0] refused");
}

# a "set" anywhere counts, also in another server's "if"
{
    my ($rc, $out) = $t->nginx_test(conf(<<"EOF") . <<'EOF');
        location = /far {
$gh
            b24trigger_target  DEAL_\$deal_set;
        }
EOF
    server {
        listen 127.0.0.3:%%PORT%%;
        if ($arg_x) {
            set $deal_set 999;
        }
    }
EOF
    isnt($rc, 0, 'a "set" in another server\'s "if": refused');
    like($out, qr/uses "\$deal_set", which "set" assigns/,
         'a "set" in another server\'s "if": the message') or diag($out);
}

# what a template fixes: a space, "\n", a digit-only timestamp
for my $c (
    [ 'a space after $request_uri', '$request_uri {body}',
      'DEAL_$arg_deal' ],
    [ '"\n" after $request_uri', '$request_uri\n{body}', 'DEAL_$arg_deal' ],
    [ '$request binds $request_uri', '$request\n{body}',
      'DEAL_$deal_last' ],
    [ '$uri alone', '$uri', 'DEAL_$deal_uri' ],
    [ 'Zoom: a timestamp, ":" and the body', 'v0:$http_x_ts:{body}',
      'DEAL_$body_deal', 'timestamp=$http_x_ts' ],
    [ 'HubSpot: the body and a variable after it',
      'POST{body}$http_x_ts', 'DEAL_$body_deal' ])
{
    my ($name, $message, $target, $more) = @$c;
    my ($rc, $out) = $t->nginx_test(conf(<<"EOF"));
        location = /fixed {
@{[ hmac_block($message, $more) ]}
            b24trigger_target  $target;
        }
EOF
    is($rc, 0, "fixed, $name: nginx -t accepts it") or diag($out);
}

###############################################################################
# live: what nginx -t accepted, and what only the request shows

$t->emulator;
$t->nginx(conf((map { $_->[1] } @passed, @runtime), <<"EOF"));
        location = /base {
$hm
            b24trigger_target  DEAL_\$arg_deal;
        }

        location = /tail-json {
@{[ hmac_block('P{body}$http_x_ts') ]}
            b24trigger_target  DEAL_\$body_deal;
        }
EOF

my $seen = 0;

sub no_deal_999 {
    my ($name, $r) = @_;
    my $calls = $t->calls;
    my @new = map { $_->{params}{target} } @$calls[$seen .. $#$calls];
    $seen = @$calls;

    ok(!grep({ $_ eq 'DEAL_999' } @new),
       "$name: the re-aimed capture does not reach DEAL_999")
        or diag("reply: $r->{status} $r->{body}; portal got @new");
}

for my $c (@passed) {
    no_deal_999($c->[0], $c->[3]->());
}

for my $c (@runtime) {
    my ($name, undef, $location, $status, $attack) = @$c;
    my $r = $attack->();

    no_deal_999($name, $r);
    is($r->{status}, $status, "$name: $status");

    if (!defined $location) {
        is($r->{json}{error}, 'body_invalid', "$name: body_invalid");
        next;
    }

    is_deeply($r->{json}, { error => 'request_rewritten' },
              "$name: request_rewritten");
    ok($t->wait_log(qr/\[error\].* b24trigger: location "\Q$location\E" decides by the arguments "\$request_uri" signs, but nginx rewrote or redirected the request: refused/),
       "$name: the error log names the location");
}

# what is signed goes through, also with a URI nginx normalises

for my $uri ('/base?deal=57', '/./base?deal=58', '/base?deal=59#x') {
    my $r = $t->post($uri, $body, @json, sig("$uri $body"));
    my ($deal) = $uri =~ /deal=(\d+)/;

    is($r->{status}, 200, "$uri: 200") or diag($r->{body});
    is($r->{json}{target}, "DEAL_$deal", "$uri: DEAL_$deal");
}

my $r = $t->post('/base?deal=999', $body, @json, sig("/base?deal=57 $body"));
is($r->{status}, 401, '/base?deal=999 with the signature of deal=57: 401');

$r = $t->post('/tail-json', '{"deal":57}', @json,
              sig('P{"deal":57}123'), 'X-Ts' => '123');
is($r->{json}{target}, 'DEAL_57', 'a variable after {body}, JSON: DEAL_57');

$r = $t->post('/tail-json', 'deal=58', @form, sig('Pdeal=58124'),
              'X-Ts' => '124');
is($r->{status}, 400, 'a variable after {body}: a form is refused, 400');

no_deal_999('the signed requests', $r);

$t->finish;
$t->secret_nowhere('no portal secret anywhere');

done_testing;

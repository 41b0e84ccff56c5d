#!/usr/bin/perl

# Finding 2 of the security review, as the attack was run: one captured,
# correctly signed request, sent again with ?deal=999 or another
# X-GitHub-Event, moved another deal or fired another trigger with the
# README's own GitHub, Slack, Intercom, Zoom, Square and HubSpot recipes,
# because those schemes sign the body and nothing else.  Now nginx -t
# refuses a location whose target, code, dedup key or ignore depends on
# what its scheme does not sign, naming the directive, the variable and
# the scheme; the variables are followed through map (source and values)
# down to where they come from; what cannot be traced ("set", another
# module's) is refused as well.  A scheme that signs the URI may use it,
# a token or "none" may use anything, and "b24trigger_unsigned" lets an
# operator accept the risk, with the re-aim it allows shown here.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV qw(github_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);

sub conf {
    my ($http, $location) = @_;
    $location =~ s/HOOKSECRET/$secret/g;
    return <<"EOF";
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m;
$http
    server {
        listen %%LISTEN%%;
$location
    }
EOF
}

# nginx -t refuses it, with one line naming what is wrong
sub refused {
    my ($name, $http, $location, $re) = @_;
    my ($rc, $out) = $t->nginx_test(conf($http, $location));
    isnt($rc, 0, "$name: nginx -t refuses it");
    like($out, $re, "$name: the message") or diag($out);
    unlike($out, qr/\Q$secret\E/, "$name: no secret printed");
}

sub accepted {
    my ($name, $http, $location) = @_;
    my ($rc, $out) = $t->nginx_test(conf($http, $location));
    is($rc, 0, "$name: nginx -t accepts it") or diag($out);
    unlike($out, qr/\[emerg\]/, "$name: no error");
}

sub message {
    my ($directive, $location, $var, $what, $scheme) = @_;
    my $re = qr/\[emerg\] (?:\d+#\d+: )?"\Q$directive\E" in location "\Q$location\E" uses /
         . qr/"\Q$var\E" \(\Q$what\E\)[^,]*, which "b24trigger_verify /
         . qr/\Q$scheme\E" does not sign; take it from a signed /
         . qr/b24trigger_field, or see "b24trigger_unsigned"/;
    return qr/$re/;
}

###############################################################################
# the recipes of README.md before this change, as they were written

refused('the GitHub recipe', '', <<'EOF',
        location = /hooks/github {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_code    $http_x_github_event;
        }
EOF
        message('b24trigger_target', '/hooks/github', '$arg_deal',
                'a query argument', 'github'));

refused('the GitHub recipe, its code', '', <<'EOF',
        location = /hooks/github {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  DEAL_57;
            b24trigger_code    $http_x_github_event;
        }
EOF
        message('b24trigger_code', '/hooks/github', '$http_x_github_event',
                'a request header', 'github'));

refused('the Slack recipe', '', <<'EOF',
        location = /hooks/slack {
            b24trigger_pass    crm;
            b24trigger_verify  slack;
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  LEAD_$arg_lead;
            b24trigger_code    slack_event;
        }
EOF
        message('b24trigger_target', '/hooks/slack', '$arg_lead',
                'a query argument', 'slack'));

refused('the Intercom recipe', '', <<'EOF',
        location = /hooks/intercom {
            b24trigger_pass    crm;
            b24trigger_verify  hmac alg=sha1 header=X-Hub-Signature prefix=sha1=;
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  CONTACT_$arg_contact;
            b24trigger_code    intercom_event;
        }
EOF
        message('b24trigger_target', '/hooks/intercom', '$arg_contact',
                'a query argument', 'hmac'));

refused('the Zoom recipe', '', <<'EOF',
        location = /hooks/zoom {
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=x-zm-signature prefix=v0=
                               "message=v0:$http_x_zm_request_timestamp:{body}"
                               timestamp=$http_x_zm_request_timestamp;
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_code    zoom_meeting;
        }
EOF
        message('b24trigger_target', '/hooks/zoom', '$arg_deal',
                'a query argument', 'hmac'));

refused('the Square recipe', '', <<'EOF',
        location = /hooks/square {
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-Square-Hmacsha256-Signature
                               encoding=base64
                               "message=https://hooks.example.com/hooks/square{body}";
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_code    square_payment;
        }
EOF
        message('b24trigger_target', '/hooks/square', '$arg_deal',
                'a query argument', 'hmac'));

refused('the HubSpot recipe', '', <<'EOF',
        location = /hooks/hubspot {
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-HubSpot-Signature-v3 encoding=base64
                "message=POSThttps://hooks.example.com/hooks/hubspot{body}$http_x_hubspot_request_timestamp";
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_code    hubspot_event;
        }
EOF
        message('b24trigger_target', '/hooks/hubspot', '$arg_deal',
                'a query argument', 'hmac'));

refused('Robokassa by GET, as the README said', '', <<'EOF',
        location = /hooks/robokassa {
            b24trigger_pass    crm;
            b24trigger_verify  robokassa;
            b24trigger_secret  HOOKSECRET;
            b24trigger_methods GET POST;
            b24trigger_target  DEAL_$arg_shp_deal;
        }
EOF
        message('b24trigger_target', '/hooks/robokassa', '$arg_shp_deal',
                'a query argument', 'robokassa'));

# a token vouches for the whole request
accepted('the token recipe', '', <<'EOF');
        location = /hooks/forms {
            b24trigger_pass    crm;
            b24trigger_verify  token header=X-Api-Key;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  LEAD_$arg_lead;
            b24trigger_code    form_filled;
        }
EOF

accepted('"none", with an allowlist', '', <<'EOF');
        location = /hooks/yookassa {
            b24trigger_pass    crm;
            b24trigger_verify  none;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_code    $http_x_event;
            allow 127.0.0.1;
            deny  all;
        }
EOF

###############################################################################
# what the check follows, and what it cannot

my $gh = <<'EOF';
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
EOF

refused('a map of a query argument', <<'EOF', <<"EOF",
    map $arg_deal $deal {
        default  $arg_deal;
    }
EOF
        location = /h {
$gh
            b24trigger_target  DEAL_\$deal;
        }
EOF
        qr/"b24trigger_target" in location "\/h" uses "\$arg_deal" \(a query argument\) through "\$deal", which "b24trigger_verify github" does not sign/);

refused('a map of a signed field with an unsigned value', <<'EOF', <<"EOF",
    b24trigger_field $repo  repository.full_name;
    map $repo $deal {
        octocat/hello-world  57;
        default              $http_x_deal;
    }
EOF
        location = /h {
$gh
            b24trigger_target  DEAL_\$deal;
        }
EOF
        message('b24trigger_target', '/h', '$http_x_deal',
                'a request header', 'github'));

refused('a map of a map of a header', <<'EOF', <<"EOF",
    map $http_x_event $event {
        push     1;
        default  0;
    }
    b24trigger_field $ref ref;
    map "$ref:$event" $skip {
        "~:1$"   0;
        default  1;
    }
EOF
        location = /h {
$gh
            b24trigger_ignore  \$skip;
            b24trigger_target  DEAL_57;
        }
EOF
        qr/"b24trigger_ignore" in location "\/h" uses "\$http_x_event" \(a request header\) through "\$skip"/);

accepted('a map of signed fields, its regex captures', <<'EOF', <<"EOF");
    b24trigger_field $ref    ref;
    b24trigger_field $pusher pusher.name;
    map $ref $deal {
        "~deal-(?<id>[0-9]+)"  $id;
        "~^x-([0-9]+)"         $1;
        default                "";
    }
    map "$pusher:$deal" $skip {
        "~^.+:[0-9]+$"  0;
        default         1;
    }
EOF
        location = /h {
$gh
            b24trigger_ignore  \$skip;
            b24trigger_target  DEAL_\$deal;
            b24trigger_code    \$server_name;
        }
EOF

refused('a map regex capture used outside its map', <<'EOF', <<"EOF",
    b24trigger_field $ref ref;
    map $ref $deal {
        "~deal-(?<id>[0-9]+)"  $id;
        default                "";
    }
EOF
        location = /h {
$gh
            b24trigger_target  DEAL_\$deal\$id;
        }
EOF
        qr/"b24trigger_target" in location "\/h" uses "\$id", which b24trigger cannot trace to what "b24trigger_verify github" signs \(a "set" variable, a capture, or another module's\); take it from a b24trigger_field or a map of one, or see "b24trigger_unsigned"/);

refused('a "set" variable', '', <<"EOF",
        location = /h {
$gh
            set \$deal \$arg_deal;
            b24trigger_target  DEAL_\$deal;
        }
EOF
        qr/"b24trigger_target" in location "\/h" uses "\$deal", which "set" assigns \(\S+:\d+\): b24trigger cannot trace an assigned variable to what "b24trigger_verify github" signs/);

refused('a capture of the location', '', <<"EOF",
        location ~ ^/deal/([0-9]+)\$ {
$gh
            b24trigger_target  DEAL_\$1;
        }
EOF
        qr/uses "\$1", a capture, which a later regex \(a map's, "if", "rewrite"\) may overwrite: only "b24trigger_verify token" or "none" may rest on one/);

refused('a named capture of the location', '', <<"EOF",
        location ~ ^/deal/(?<deal>[0-9]+)\$ {
$gh
            b24trigger_target  DEAL_\$deal;
        }
EOF
        qr/uses "\$deal", a capture, which a later regex/);

refused('a map with hostnames', <<'EOF', <<"EOF",
    b24trigger_field $site  site;
    map $site $deal {
        hostnames;
        *.example.com  57;
        default        "";
    }
EOF
        location = /h {
$gh
            b24trigger_target  DEAL_\$deal;
        }
EOF
        qr/uses "\$deal", which b24trigger cannot trace/);

refused('an unsigned dedup key', '', <<"EOF",
        location = /h {
$gh
            b24trigger_target  DEAL_57;
            b24trigger_dedup   replays \$http_x_github_delivery;
        }
EOF
        message('b24trigger_dedup', '/h', '$http_x_github_delivery',
                'a request header', 'github'));

refused('a cookie', '', <<"EOF",
        location = /h {
$gh
            b24trigger_target  DEAL_\$cookie_deal;
        }
EOF
        message('b24trigger_target', '/h', '$cookie_deal', 'a cookie',
                'github'));

# the digests over fields sign some fields only

refused('Robokassa, a field outside its signature', <<'EOF', <<'EOF',
    b24trigger_field $robokassa_mail  EMail;
EOF
        location = /hooks/robokassa {
            b24trigger_pass    crm;
            b24trigger_verify  robokassa;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$robokassa_mail;
        }
EOF
        message('b24trigger_target', '/hooks/robokassa', '$robokassa_mail',
                'the body field "EMail"', 'robokassa'));

accepted('Robokassa, InvId and a Shp_ field', <<'EOF', <<'EOF');
    b24trigger_field $robokassa_inv   InvId;
    b24trigger_field $robokassa_deal  shp_deal;
EOF
        location = /hooks/robokassa {
            b24trigger_pass    crm;
            b24trigger_verify  robokassa;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$robokassa_deal;
            b24trigger_dedup   replays $robokassa_inv;
        }
EOF

refused('T-Bank, a nested field', <<'EOF', <<'EOF',
    b24trigger_field $tbank_deal  DATA.deal;
EOF
        location = /hooks/tbank {
            b24trigger_pass    crm;
            b24trigger_verify  tbank;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$tbank_deal;
        }
EOF
        message('b24trigger_target', '/hooks/tbank', '$tbank_deal',
                'the body field "DATA.deal"', 'tbank'));

refused('YooMoney, a field outside its hash', <<'EOF', <<'EOF',
    b24trigger_field $yoomoney_deal  withdraw_amount;
EOF
        location = /hooks/yoomoney {
            b24trigger_pass    crm;
            b24trigger_verify  yoomoney;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$yoomoney_deal;
        }
EOF
        message('b24trigger_target', '/hooks/yoomoney', '$yoomoney_deal',
                'the body field "withdraw_amount"', 'yoomoney'));

# an hmac template signs what it holds where it fixes where it begins and
# ends: text next to it that cannot occur in it, or the template's ends

refused('hmac, $request_uri next to the body', '', <<'EOF',
        location = /h {
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-Sig "message=$request_uri{body}";
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$arg_deal;
        }
EOF
        qr/"b24trigger_target" in location "\/h" uses "\$arg_deal", which "b24trigger_verify hmac" signs only as part of "\$request_uri" in "message=", and where that begins or ends is not fixed: nothing separates "\$request_uri" from "\{body\}"/);

refused('hmac, $uri does not sign the arguments', '', <<'EOF',
        location = /h {
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-Sig "message=$uri:{body}";
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$arg_deal;
        }
EOF
        message('b24trigger_target', '/h', '$arg_deal', 'a query argument',
                'hmac'));

###############################################################################
# live: an hmac that signs the URI may take the target from it

my $signed_uri = conf('', <<'EOF');
        location = /h {
            b24trigger_pass    crm;
            b24trigger_verify  hmac header=X-Sig "message=$request_uri {body}";
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_code    $http_x_code;
            b24trigger_unsigned $http_x_code;
        }

        location = /gh {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  HOOKSECRET;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_unsigned $arg_deal;
        }

        location = /gh-shielded {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$arg_deal;
            b24trigger_unsigned $arg_deal;
        }
EOF

$t->emulator;
$t->nginx($signed_uri);

my $body = '{"id":1}';
my $sig = hmac_sha256_hex("/h?deal=57 $body", $secret);

my $r = $t->post('/h?deal=57', $body, 'X-Sig' => $sig, 'X-Code' => 'c1');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'c1' }, 'URI signed: DEAL_57 forwarded');

$r = $t->post('/h?deal=999', $body, 'X-Sig' => $sig, 'X-Code' => 'c1');
is($r->{status}, 401, 'URI signed: ?deal=999 with that signature: 401');

# b24trigger_unsigned: what it lets through, and what the shield holds

my $push = '{"ref":"refs/heads/main","pusher":{"name":"octocat"}}';
my @gh = ('X-Hub-Signature-256' => github_signature($secret, $push),
          'Content-Type' => 'application/json');

$r = $t->post('/gh?deal=57', $push, @gh);
is($r->{json}{target}, 'DEAL_57', 'b24trigger_unsigned: DEAL_57');

$r = $t->post('/gh?deal=999', $push, @gh);
is($r->{json}{target}, 'DEAL_999',
   'b24trigger_unsigned, no shield: the capture re-aimed at DEAL_999');

$r = $t->post('/gh-shielded?deal=58', $push, @gh);
is($r->{json}{target}, 'DEAL_58', 'b24trigger_unsigned, shield: DEAL_58');

$r = $t->post('/gh-shielded?deal=998', $push, @gh);
is_deeply($r->{json}, { result => 'duplicate' },
          'b24trigger_unsigned, shield: the re-aimed capture is a duplicate');

is_deeply([ map { $_->{target} } @{ $t->calls } ],
          [ 'DEAL_57', 'DEAL_57', 'DEAL_999', 'DEAL_58' ],
          'what reached the portal');

# a reload: maps are followed again; one of a header is refused, and the
# running configuration goes on

my $mapped = conf(<<'EOF', <<'EOF');
    b24trigger_field $ref  ref;
    map $ref $deal {
        "~deal-(?<id>[0-9]+)"  $id;
        default                "";
    }
EOF
        location = /m {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  HOOKSECRET;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_$deal;
        }
EOF

$t->reload($mapped);

my $branch = '{"ref":"refs/heads/deal-64","pusher":{"name":"octocat"}}';
$r = $t->post('/m', $branch, 'Content-Type' => 'application/json',
              'X-Hub-Signature-256' => github_signature($secret, $branch));
is($r->{json}{target}, 'DEAL_64', 'reloaded: a map of a signed field');

(my $unsigned = $mapped) =~ s/map \$ref \$deal/map \$http_x_ref \$deal/;
$t->write_conf($unsigned);
$t->signal('HUP');

ok($t->wait_log(qr/\[emerg\].*"b24trigger_target" in location "\/m" uses "\$http_x_ref" \(a request header\) through "\$deal"/),
   'reload to a map of a header: refused');

$branch = '{"ref":"refs/heads/deal-65","pusher":{"name":"octocat"}}';
$r = $t->post('/m', $branch, 'Content-Type' => 'application/json',
              'X-Hub-Signature-256' => github_signature($secret, $branch),
              'X-Ref' => 'deal-999');
is($r->{json}{target}, 'DEAL_65', 'the running configuration goes on');

$t->{allow_alerts} = qr/\[emerg\].*b24trigger_target/;

$t->finish;
$t->secret_nowhere;

done_testing;

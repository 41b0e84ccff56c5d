#!/usr/bin/perl

# Only signed data decides, against named captures: a map's variable is
# changeable, and so is a regex's named capture.  nginx lets both have
# the same name: the regex (in a server-level "if", a "server_name", an
# "if" inside the relaying location, another map) sets the variable's
# cached value from the sender's bytes, and the map, whose source is a
# signed body field and which the check in
# src/ngx_http_b24trigger_trust.c follows, was never evaluated.  The map
# only has to be declared after the regex.  Before the fix each captured,
# signed request re-aimed at DEAL_999 (DEAL_2 by the Host header)
# reached the portal.  Now every variable the trust check traced is
# computed afresh from its source for each request, whatever wrote it
# before, and nginx -t warns of a map whose name is already declared.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(github_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);

$t->emulator;

my $body = '{"repository":{"full_name":"octocat/hello-world"}}';
my @json = ('Content-Type' => 'application/json');
my @ghsig = ('X-Hub-Signature-256' => github_signature($secret, $body));

my $gh = <<"EOF";
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
EOF

# the maps come after the server: their names are already named captures

my $maps = <<'EOF';
    b24trigger_field $gh_repo repository.full_name;

    map $gh_repo $deal_srv {
        octocat/hello-world  57;
        default              0;
    }

    map $gh_repo $deal_loc {
        octocat/hello-world  57;
        default              0;
    }

    map $gh_repo $deal_sn {
        octocat/hello-world  57;
        default              0;
    }

    map $gh_repo $deal_map {
        octocat/hello-world  57;
        default              0;
    }
EOF

my $conf = <<"EOF";
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m;

    map \$http_x_other \$other {
        "~^(?<deal_map>[0-9]+)\$"  1;
        default                    0;
    }

    server {
        listen %%LISTEN%%;

        # server level: runs before any location
        if (\$http_x_deal ~ "^(?<deal_srv>[0-9]+)\$") {
            set \$seen 1;
        }

        location = /srv {
$gh
            b24trigger_target  DEAL_\$deal_srv;
        }

        location = /loc {
$gh
            if (\$http_x_deal ~ "^(?<deal_loc>[0-9]+)\$") {
            }
            b24trigger_target  DEAL_\$deal_loc;
        }

        location = /map {
$gh
            set                \$probe \$other;
            b24trigger_target  DEAL_\$deal_map;
        }
    }

    # the Host header picks the server, and its regex names the capture
    server {
        listen 127.0.0.2:%%PORT%%;
        server_name "~^127\\.0\\.0\\.(?<deal_sn>[0-9]+)\$";

        location = /sn {
$gh
            b24trigger_target  DEAL_\$deal_sn;
        }
    }

$maps
EOF

my ($rc, $out) = $t->nginx_test($conf);

like($out, qr/the variable "\$deal_srv" of "map" is already declared/,
     'nginx -t warns of a map named like a capture before it');

SKIP: {
    if ($rc != 0) {
        pass('nginx -t refuses it');
        diag($out);
        skip('refused by nginx -t', 6);
    }

    $t->nginx($conf);

    # the sender's original, signed request: DEAL_57

    my $r = $t->post('/srv', $body, @json, @ghsig);
    is($r->{status}, 200, 'the signed request is forwarded');
    is($t->calls->[-1]{target}, 'DEAL_57', 'the signed request: DEAL_57');

    # the same request re-aimed by a header (no replay shield here: the
    # location only warns of it; with one, the attack works on a request
    # captured before it was delivered, as in t/security-unsigned-evasion.t)

    for my $c (['/srv', 'a server-level "if" named capture', []],
               ['/loc', 'an "if" named capture in the location', []],
               ['/map', 'another map\'s named capture', ['X-Other', 999]])
    {
        my ($path, $name, $more) = @$c;
        $t->emu_reset;
        $r = $t->post($path, $body, @json, @ghsig, 'X-Deal' => 999,
                      @$more);
        my @deals = map { $_->{target} || '' } @{ $t->calls };
        ok(!grep({ $_ eq 'DEAL_999' } @deals),
           "$name: not re-aimed at DEAL_999")
            or diag("status $r->{status}, portal got: @deals");
    }

    # the server name: "Host: 127.0.0.2:PORT" makes it DEAL_2
    $t->emu_reset;
    $r = B24T::http_request('127.0.0.2', $t->{port}, 'POST', '/sn',
                            body => $body, headers => [ @json, @ghsig ]);
    my @deals = map { $_->{target} || '' } @{ $t->calls };
    ok(!grep({ $_ ne 'DEAL_57' } @deals),
       'a server_name named capture: not re-aimed by the Host header')
        or diag("status $r->{status}, portal got: @deals");
}

# what held: the same map declared before the regex (the regex takes the
# variable over, and the check cannot trace it), and a b24trigger_field
# of the capture's name (nginx refuses the name twice)

for my $c (
    [ 'the map before the regex', <<"EOF" ],
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_field \$gh_repo repository.full_name;
    map \$gh_repo \$deal_before { octocat/hello-world 57; default 0; }
    server {
        listen %%LISTEN%%;
        if (\$http_x_deal ~ "^(?<deal_before>[0-9]+)\$") { set \$seen 1; }
        location = /before {
$gh
            b24trigger_target  DEAL_\$deal_before;
        }
    }
EOF
    [ 'a field of the capture\'s name', <<"EOF" ])
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    server {
        listen %%LISTEN%%;
        if (\$http_x_deal ~ "^(?<deal_field>[0-9]+)\$") { set \$seen 1; }
        location = /field {
$gh
            b24trigger_target  DEAL_\$deal_field;
        }
    }
    b24trigger_field \$deal_field deal;
EOF
{
    my ($name, $conf2) = @$c;
    my ($rc2, $out2) = $t->nginx_test($conf2);
    isnt($rc2, 0, "held: $name, nginx -t refuses it") or diag($out2);
    note($out2);
}

$t->finish;

done_testing;

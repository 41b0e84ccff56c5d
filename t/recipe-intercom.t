#!/usr/bin/perl

# doc/providers/intercom.md: a contact.user.created notification fires
# the contact's trigger; Intercom's ping is acknowledged and ignored; a
# redelivery of the notification (delivery_attempts 2, signed anew) and
# the same request re-aimed are duplicates; another secret reaches
# nothing.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha1_hex);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $secret = B24T::random_secret(36);

$t->emulator;
B24TRecipe::run($t, 'intercom', secrets => { intercom => $secret });

sub intercom {
    my ($body, %o) = @_;
    return $t->post('/hooks/intercom' . ($o{query} || ''), $body,
                    'Content-Type' => 'application/json',
                    'X-Hub-Signature' => 'sha1='
                        . hmac_sha1_hex($body, $o{secret} || $secret));
}

sub notification {
    my ($id, $topic, $attempt, $contact) = @_;
    return '{"type":"notification_event","app_id":"abc123","data":{"type":'
         . '"notification_event_data","item":{"type":"contact","id":'
         . '"5f1c","role":"user","custom_attributes":{"b24_contact":"'
         . $contact . '"}}},"links":{},"id":"' . $id . '","topic":"'
         . $topic . '","delivery_status":"pending","delivery_attempts":'
         . $attempt . ',"delivered_at":0,"first_sent_at":1700000000,'
         . '"created_at":1700000000,"self":null}';
}

my $id = 'notif_' . B24T::random_secret(12);

my $r = intercom(notification($id, 'contact.user.created', 1, '69'));
is($r->{status}, 200, 'contact.user.created: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'CONTACT_69',
                        code => 'intercom_contact' },
          'forwarded to CONTACT_69');

$r = intercom(notification($id, 'contact.user.created', 2, '69'));
is_deeply($r->{json}, { result => 'duplicate' },
          'the redelivery: duplicate');

$r = intercom(notification($id, 'contact.user.created', 1, '69'),
              query => '?contact=999');
is_deeply($r->{json}, { result => 'duplicate' },
          'the same request re-aimed: duplicate');

$r = intercom('{"type":"notification_event","app_id":"abc123","data":{'
              . '"type":"notification_event_data","item":{"type":"ping",'
              . '"message":"something something interzen"}},"links":{},'
              . '"id":null,"topic":"ping","delivery_status":null,'
              . '"delivery_attempts":1,"delivered_at":0,'
              . '"first_sent_at":1700000000,"created_at":1700000000,'
              . '"self":null}');
is_deeply($r->{json}, { result => 'ignored' }, 'ping: ignored');

$r = intercom(notification('notif_' . B24T::random_secret(12),
                           'contact.user.created', 1, '70'),
              secret => 'other');
is($r->{status}, 401, 'another secret: 401');

is_deeply([ map { $_->{params}{target} } @{ $t->calls } ],
          ['CONTACT_69'], 'CONTACT_69 was triggered once');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no client secret anywhere', $secret);

done_testing;

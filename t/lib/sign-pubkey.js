// The senders' public-key signatures, for t/verify-sendgrid.t,
// t/verify-standard-v1a.t and t/verify-paddle-classic.t: made with
// node:crypto as the providers document them, never with the module's
// code, and checked with the providers' own verifiers where there is one.
//
//   node sign-pubkey.js < JOBS.json > RESULTS.json
//
// JOBS is an array; each job is one of
//   {"op":"keys","dir":D}       makes key pairs in D (PEM files) and
//                               returns their public forms
//   {"op":"sendgrid","key":PEM,"pub":B64DER,"ts":T,"body":B}
//       SendGrid: ECDSA P-256 / SHA-256 over T + B, DER, base64;
//       "verified" is what @sendgrid/eventwebhook says of it
//   {"op":"v1a","key":PEM,"id":I,"ts":T,"body":B}
//       Standard Webhooks v1a: Ed25519 over "I.T.B", "v1a,<base64>"
//   {"op":"paddle","key":PEM,"pub":PEM,"fields":{...}}
//       Paddle Classic: RSA / SHA-1 over PHP's serialize() of the fields
//       sorted by name (the php-serialize package, as Paddle's Node.js
//       example does); "verified" is Paddle's own example's answer

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', 'node', 'node_modules');
const { EventWebhook } = require(path.join(modules, '@sendgrid',
                                           'eventwebhook'));
const Serialize = require(path.join(modules, 'php-serialize'));

function pem(key, type) {
    return key.export({ type, format: 'pem' });
}

function pair(dir, name, type, opts) {
    const { publicKey, privateKey } = crypto.generateKeyPairSync(type, opts);
    const pub = pem(publicKey, 'spki');
    const priv = pem(privateKey, 'pkcs8');
    fs.writeFileSync(path.join(dir, name + '.pub.pem'), pub);
    fs.writeFileSync(path.join(dir, name + '.key.pem'), priv,
                     { mode: 0o600 });
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const out = { pub, priv, der: der.toString('base64') };
    if (type === 'ed25519') {
        // the raw 32 bytes are the last of the SPKI DER
        out.whpk = 'whpk_' + der.subarray(der.length - 32).toString('base64');
    }
    return out;
}

function keys(dir) {
    return {
        p256: pair(dir, 'p256', 'ec', { namedCurve: 'prime256v1' }),
        p256b: pair(dir, 'p256b', 'ec', { namedCurve: 'prime256v1' }),
        k256: pair(dir, 'k256', 'ec', { namedCurve: 'secp256k1' }),
        ed: pair(dir, 'ed', 'ed25519'),
        ed2: pair(dir, 'ed2', 'ed25519'),
        rsa: pair(dir, 'rsa', 'rsa', { modulusLength: 2048 }),
        rsa2: pair(dir, 'rsa2', 'rsa', { modulusLength: 2048 }),
        rsa1024: pair(dir, 'rsa1024', 'rsa', { modulusLength: 1024 }),
    };
}

function sendgrid(job) {
    const sig = crypto.sign('sha256', Buffer.from(job.ts + job.body),
                            { key: job.key, dsaEncoding: 'der' })
        .toString('base64');
    const ew = new EventWebhook();
    const verified = ew.verifySignature(ew.convertPublicKeyToECDSA(job.pub),
                                        job.body, sig, job.ts);
    return { sig, verified };
}

function v1a(job) {
    const sig = crypto.sign(null, Buffer.from(`${job.id}.${job.ts}.${job.body}`),
                            job.key);
    return { sig: 'v1a,' + sig.toString('base64') };
}

// Paddle's Node.js example of checking a Classic webhook
function ksort(obj) {
    const sorted = {};
    for (const k of Object.keys(obj).sort()) {
        sorted[k] = obj[k];
    }
    return sorted;
}

function paddleSerialize(fields) {
    const o = ksort(fields);
    for (const k in o) {
        if (typeof o[k] !== 'string') {
            o[k] = Array.isArray(o[k]) ? o[k].toString() : JSON.stringify(o[k]);
        }
    }
    return Serialize.serialize(o);
}

function paddle(job) {
    const fields = Object.assign({}, job.fields);
    const serialized = paddleSerialize(fields);
    const sig = crypto.sign('sha1', Buffer.from(serialized), job.key)
        .toString('base64');

    const check = Object.assign({}, job.fields, { p_signature: sig });
    const mySig = Buffer.from(check.p_signature, 'base64');
    delete check.p_signature;
    const verifier = crypto.createVerify('sha1');
    verifier.update(paddleSerialize(check));
    verifier.end();

    return { sig, serialized, verified: verifier.verify(job.pub, mySig) };
}

const jobs = JSON.parse(fs.readFileSync(0, 'utf8'));
const ops = { keys: (j) => keys(j.dir), sendgrid, v1a, paddle };

process.stdout.write(JSON.stringify(jobs.map((j) => ops[j.op](j))));

#!/usr/bin/env python3
"""Verifies a PanicBridge evidence bundle with no PanicBridge code (docs/evidence.md).

Usage: verify.py BUNDLE [--controlroom-key=KID] [--tsa-ca CA.pem] [--require-timestamp]

BUNDLE is the directory or the .tar that `controlroom evidence export` wrote. Needs Python 3 with joserfc (JWS,
RFC 7515/8037) and, for the timestamp, the `openssl` command (RFC 3161, `openssl ts -verify`). Prints one line per
check, `OK <check>: ...`, `FAIL <check>: ...` or `SKIP <check>: ...`, then a verdict; exits 1 when any check fails,
2 when the bundle cannot be read at all.
"""

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import warnings

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.jwk import OKPKey

# Files the manifest does not list: the manifest itself, its signature, and what was made over it afterwards (the
# evidence log's checkpoint and inclusion proof, the RFC 3161 timestamp).
UNLISTED = {"manifest.json", "manifest.jws", "manifest.tsr", "tsa-chain.pem", "checkpoint", "inclusion.json",
            "certificate.html"}
FORMAT = "panicbridge-evidence/1"
CLOSE_FORMAT = "panicbridge-alert/1"
# joserfc warns that RFC 9864 deprecates the JWS algorithm name "EdDSA" (for "Ed25519"): the boxes sign with
# "EdDSA" (RFC 8037), which is what is checked here.
warnings.filterwarnings("ignore", message="EdDSA is deprecated")
ORIGIN_PREFIX = "panicbridge.controlroom/evidence/"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(jwk):
    """RFC 7638 thumbprint of an Ed25519 JWK."""
    canonical = '{"crv":"%s","kty":"%s","x":"%s"}' % (jwk["crv"], jwk["kty"], jwk["x"])
    return b64url(hashlib.sha256(canonical.encode()).digest())


def load_bundle(path):
    """The bundle's files by name (a directory, or a tar of plain files)."""
    files = {}
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                with open(full, "rb") as handle:
                    files[name] = handle.read()
        return files
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            if not member.isfile() or "/" in member.name or member.name.startswith("."):
                raise ValueError("unexpected entry in the archive: %r" % member.name)
            files[member.name] = archive.extractfile(member).read()
    return files


class Report:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def ok(self, check, text):
        self.passed += 1
        print("OK   %s: %s" % (check, text))

    def fail(self, check, text):
        self.failed += 1
        print("FAIL %s: %s" % (check, text))

    def skip(self, check, text):
        print("SKIP %s: %s" % (check, text))


def verify_jws(text, key):
    """The payload bytes and header of a compact JWS that verifies with `key` (EdDSA only), or raises."""
    obj = jws.deserialize_compact(text, key, algorithms=["EdDSA"])
    return obj.payload, obj.headers()


def lines(data):
    return [line for line in data.decode().split("\n") if line]


def check_manifest(files, report):
    manifest = json.loads(files["manifest.json"])
    problems = []
    listed = set()
    for entry in manifest["files"]:
        name = entry["path"]
        listed.add(name)
        if name not in files:
            problems.append("%s is listed but missing from the bundle" % name)
            continue
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != entry["sha256"]:
            problems.append("%s has sha256 %s, the manifest says %s" % (name, actual, entry["sha256"]))
    for name in sorted(set(files) - listed - UNLISTED):
        problems.append("%s is in the bundle but not listed" % name)
    for problem in problems:
        report.fail("manifest", problem)
    if not problems:
        report.ok("manifest", "%d files, every SHA-256 matches" % len(manifest["files"]))
    return manifest


def check_manifest_signature(files, manifest, room_key, room_jwk, pinned, report):
    kid = thumbprint(room_jwk)
    if kid != manifest.get("controlRoomKey"):
        report.fail("controlroom-key", "controlroom.jwk has thumbprint %s, the manifest names %s"
                    % (kid, manifest.get("controlRoomKey")))
    elif pinned and pinned != kid:
        report.fail("controlroom-key", "the bundle's control-room key %s is not the pinned %s" % (kid, pinned))
    else:
        report.ok("controlroom-key", "thumbprint %s%s" % (kid, " (pinned)" if pinned else " (compare it with the published one)"))
    if "manifest.jws" not in files:
        report.fail("manifest-signature", "manifest.jws is missing")
        return
    try:
        payload, _ = verify_jws(files["manifest.jws"].decode().strip(), room_key)
    except Exception as error:
        report.fail("manifest-signature", "does not verify with the control room key (%s)" % type(error).__name__)
        return
    if payload != files["manifest.json"]:
        report.fail("manifest-signature", "the signed manifest differs from manifest.json")
    else:
        report.ok("manifest-signature", "manifest.json is signed by the control room key")


def check_device(files, manifest, report):
    device = json.loads(files["device.json"])
    jwk = device.get("jwk")
    if not jwk:
        report.fail("device-key", "device.json has no registered key")
        return None
    kid = thumbprint(jwk)
    if kid != device.get("kid") or kid != manifest.get("deviceKey"):
        report.fail("device-key", "the key's thumbprint %s is not the kid %s / manifest's %s"
                    % (kid, device.get("kid"), manifest.get("deviceKey")))
        return None
    if device.get("id") != manifest["device"]:
        report.fail("device-key", "device.json is for %s, the manifest for %s" % (device.get("id"), manifest["device"]))
        return None
    report.ok("device-key", "device %s, key %s" % (device["id"], kid))
    return OKPKey.import_key(jwk)


def check_records(files, manifest, device_key, report):
    """Verifies each record's signature; returns [(seq, envelope, payload)] in file order."""
    records = []
    bad = 0
    for number, line in enumerate(lines(files["records.jws"]), start=1):
        try:
            payload, header = verify_jws(line, device_key)
            record = json.loads(payload)
        except Exception as error:
            bad += 1
            report.fail("records", "line %d: signature does not verify with the device key (%s)"
                        % (number, type(error).__name__))
            continue
        if record.get("device") != manifest["device"]:
            bad += 1
            report.fail("records", "line %d (seq %s): record of device %s" % (number, record.get("seq"), record.get("device")))
            continue
        records.append((record["seq"], line, record))
    if not bad:
        report.ok("records", "%d records, every signature verifies with the device key" % len(records))
    return records


def check_chain(files, manifest, records, report):
    chain = json.loads(files["chain.json"])
    problems = []
    stated = [tuple(gap) for gap in chain.get("gaps", [])]
    seqs = [seq for seq, _, _ in records]
    for index in range(1, len(records)):
        (seq_a, env_a, _), (seq_b, _, rec_b) = records[index - 1], records[index]
        if seq_b <= seq_a:
            problems.append("record seq %d comes after seq %d (records out of order)" % (seq_b, seq_a))
            continue
        if seq_b == seq_a + 1:
            expected = b64url(hashlib.sha256(env_a.encode()).digest())
            if rec_b.get("prev") != expected:
                problems.append("seq %d: prev %s is not the hash %s of seq %d" % (seq_b, rec_b.get("prev"), expected, seq_a))
        elif (seq_a + 1, seq_b - 1) not in stated:
            problems.append("seq %d-%d missing and not stated as a gap (record removed?)" % (seq_a + 1, seq_b - 1))
    listed = {entry["seq"]: entry for entry in chain["records"]}
    present = {seq: env for seq, env, _ in records}
    for seq, entry in sorted(listed.items()):
        if seq not in present:
            problems.append("chain.json lists seq %d, which is not in records.jws (record removed)" % seq)
        elif b64url(hashlib.sha256(present[seq].encode()).digest()) != entry["hash"]:
            problems.append("seq %d: hash differs from chain.json's %s" % (seq, entry["hash"]))
    for seq in sorted(set(present) - set(listed)):
        problems.append("seq %d is in records.jws but not in chain.json" % seq)
    if not any(record.get("id") == manifest["alert"] for _, _, record in records):
        problems.append("the alert's own record %s is not in records.jws" % manifest["alert"])
    for problem in problems:
        report.fail("chain", problem)
    if not problems:
        gaps = ", ".join("%d-%d" % gap for gap in stated) or "none"
        span = "seq %d-%d" % (seqs[0], seqs[-1]) if seqs else "empty"
        report.ok("chain", "%s linked by prev hashes; gaps stated: %s" % (span, gaps))


def check_signed_lines(files, name, room_key, field, value, report):
    """Audit-style files: each line a JWS by the control room over one audit line; ids increasing."""
    if name not in files:
        report.fail(name.split(".")[0], "%s is missing" % name)
        return
    problems = []
    last = None
    count = 0
    for number, line in enumerate(lines(files[name]), start=1):
        count += 1
        try:
            payload, _ = verify_jws(line, room_key)
            entry = json.loads(payload)
        except Exception as error:
            problems.append("line %d: signature does not verify with the control room key (%s)"
                            % (number, type(error).__name__))
            continue
        if entry.get(field) != value:
            problems.append("line %d (id %s): is about %s %s, not %s" % (number, entry.get("id"), field, entry.get(field), value))
        if last is not None and entry["id"] <= last:
            problems.append("line %d (id %s): comes after id %s (lines out of order)" % (number, entry["id"], last))
        last = entry["id"]
    check = name.split(".")[0]
    for problem in problems:
        report.fail(check, problem)
    if not problems:
        report.ok(check, "%d lines, each signed by the control room key" % count)


def check_registered_key(files, room_key, report):
    """The bundled device key is the one the registration history's last device-add line names."""
    device = json.loads(files["device.json"])
    added = []
    for line in lines(files.get("registration.jws", b"")):
        try:
            payload, _ = verify_jws(line, room_key)
        except Exception:
            continue  # named by the registration check
        entry = json.loads(payload)
        if entry.get("action") == "device-add":
            added.append(entry)
    if not added:
        report.skip("registered-key", "no device-add line in the registration history")
        return
    named = added[-1].get("reason", "")
    if named != "key %s" % device.get("kid"):
        report.fail("registered-key", "device.json's key %s is not the one registered last (%s, audit id %s)"
                    % (device.get("kid"), named, added[-1].get("id")))
    else:
        report.ok("registered-key", "registered %s by %s" % (added[-1].get("time"), added[-1].get("user")))


def check_commands(files, manifest, room_key, report):
    problems = []
    commands = json.loads(files["commands.json"])
    for number, command in enumerate(commands, start=1):
        try:
            payload, _ = verify_jws(command["jws"], room_key)
            body = json.loads(payload)
        except Exception as error:
            problems.append("command %d (%s): signature does not verify (%s)" % (number, command.get("action"), type(error).__name__))
            continue
        if body.get("alert") != manifest["alert"] or body.get("device") != manifest["device"]:
            problems.append("command %d: is for %s/%s" % (number, body.get("device"), body.get("alert")))
        if body.get("action") != command.get("action") or body.get("nonce") != command.get("nonce"):
            problems.append("command %d: signed action/nonce differ from the listed ones" % number)
    for problem in problems:
        report.fail("commands", problem)
    if not problems:
        acked = sum(1 for command in commands if command.get("acked"))
        report.ok("commands", "%d signed commands (%d acknowledged by the box)" % (len(commands), acked))


def leaf_hash(data):
    """RFC 6962 / RFC 9162 leaf hash."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf, path):
    """RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or None when the proof has the wrong shape."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def parse_checkpoint(note, room_jwk):
    """A C2SP tlog-checkpoint in a C2SP signed note, signed by the control room's Ed25519 key: (origin, size, root).
    Raises ValueError naming what is wrong."""
    text = note.decode("utf-8")
    split = text.rfind("\n\n")
    if split < 0:
        raise ValueError("not a signed note (no blank line before the signatures)")
    body, signatures = text[: split + 1], text[split + 2 :]
    lines_ = body.split("\n")
    if len(lines_) < 4:
        raise ValueError("the checkpoint body needs an origin, a size and a root hash")
    origin, size, root = lines_[0], int(lines_[1]), base64.b64decode(lines_[2], validate=True)
    public = b64url_decode(room_jwk["x"])
    expected_origin = ORIGIN_PREFIX + thumbprint(room_jwk)
    if origin != expected_origin:
        raise ValueError("origin %r is not the control room's log %r" % (origin, expected_origin))
    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + public).digest()[:4]
    for line in signatures.split("\n"):
        if not line:
            continue
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line %r" % line[:40])
        name, _, encoded = line[2:].rpartition(" ")
        blob = base64.b64decode(encoded, validate=True)
        if name != origin or blob[:4] != key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], body.encode())
        except InvalidSignature:
            raise ValueError("the control room's signature on the checkpoint does not verify")
        return origin, size, root
    raise ValueError("no signature by the control room's key (%s)" % origin)


def close_leaf_record(leaf, manifest, records):
    """The record a leaf logged when the alert closed names (`panicbridge-alert/1 <device> <alert> <seq> <sha256>`),
    or an error: it must be this bundle's alert and a record of records.jws with that SHA-256."""
    parts = leaf.split(" ")
    if len(parts) != 5 or parts[0] != CLOSE_FORMAT or not parts[3].isdigit():
        return None, "the logged leaf %r is not a close leaf" % leaf
    if parts[1] != manifest["device"] or parts[2] != manifest["alert"]:
        return None, "the logged leaf %r is not this bundle's alert (%s %s)" % (leaf, manifest["device"], manifest["alert"])
    if records is None:
        return None, "the records could not be checked, so neither can the logged leaf"
    seq = int(parts[3])
    found = [line for record_seq, line, _ in records if record_seq == seq]
    if not found:
        return None, "the logged leaf names seq %d, which is not in records.jws (record removed)" % seq
    digest = hashlib.sha256(found[0].encode()).hexdigest()
    if digest != parts[4]:
        return None, "record seq %d's SHA-256 %s is not the %s logged when the alert closed (record rewritten)" % (
            seq, digest, parts[4])
    return seq, None


def check_log(files, manifest, records, room_jwk, report):
    if "checkpoint" not in files or "inclusion.json" not in files:
        report.fail("checkpoint", "the bundle has no checkpoint or inclusion.json")
        return
    try:
        origin, size, root = parse_checkpoint(files["checkpoint"], room_jwk)
    except Exception as error:
        report.fail("checkpoint", str(error))
        return
    report.ok("checkpoint", "signed by the control room key: log %s, size %d" % (origin, size))
    proof = json.loads(files["inclusion.json"])
    logged = proof.get("logged", "export")
    if logged == "close":
        # Logged when the alert closed: the leaf names the last record of its chain then, which through the
        # records' prev links fixes every record before it.
        leaf = proof.get("leaf", "")
        seq, problem = close_leaf_record(leaf, manifest, records)
        if problem:
            report.fail("inclusion", problem)
            return
        what = "the alert, logged when it closed (chain up to seq %d),"  % seq
    else:
        leaf = "%s %s %s %s" % (FORMAT, manifest["device"], manifest["alert"],
                                hashlib.sha256(files["manifest.json"]).hexdigest())
        if proof.get("leaf") != leaf:
            report.fail("inclusion", "the logged leaf %r is not this bundle's %r" % (proof.get("leaf"), leaf))
            return
        what = "this manifest (logged at export: the alert was still open)"
    if proof.get("treeSize") != size:
        report.fail("inclusion", "the proof is for size %s, the checkpoint is size %d" % (proof.get("treeSize"), size))
        return
    path = [base64.b64decode(item, validate=True) for item in proof.get("hashes", [])]
    computed = root_from_inclusion(proof["leafIndex"], size, leaf_hash(leaf.encode()), path)
    if computed != root:
        report.fail("inclusion", "the audit path of leaf %s does not lead to the checkpoint's root" % proof["leafIndex"])
        return
    report.ok("inclusion", "%s is leaf %d of %d in the signed log" % (what, proof["leafIndex"], size))


def check_timestamp(files, tsa_ca, required, report):
    if "manifest.tsr" not in files:
        (report.fail if required else report.skip)("timestamp", "no manifest.tsr in the bundle")
        return
    if not tsa_ca:
        report.fail("timestamp", "manifest.tsr present but no --tsa-ca given to check it against")
        return
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("manifest.json", "manifest.tsr", "tsa-chain.pem"):
            if name in files:
                with open(os.path.join(scratch, name), "wb") as handle:
                    handle.write(files[name])
        command = ["openssl", "ts", "-verify", "-data", os.path.join(scratch, "manifest.json"),
                   "-in", os.path.join(scratch, "manifest.tsr"), "-CAfile", tsa_ca]
        if "tsa-chain.pem" in files:
            command += ["-untrusted", os.path.join(scratch, "tsa-chain.pem")]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or "Verification: OK" not in result.stdout:
            detail = (result.stdout + result.stderr).strip().splitlines()
            report.fail("timestamp", "openssl ts -verify refused manifest.tsr for manifest.json (%s)"
                        % (detail[-1] if detail else "no output"))
            return
        info = subprocess.run(["openssl", "ts", "-reply", "-in", os.path.join(scratch, "manifest.tsr"), "-text"],
                              capture_output=True, text=True).stdout
        when = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Time stamp:")), "?")
        report.ok("timestamp", "RFC 3161 token over manifest.json verifies, time %s" % when)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    # A thumbprint is base64url and may begin with '-': argparse takes "--controlroom-key -x..." for two options,
    # so it is documented (and tested) as --controlroom-key=KID.
    parser.add_argument("--controlroom-key", metavar="KID",
                        help="the control room key's published thumbprint, to pin; write it as --controlroom-key=KID "
                             "(a thumbprint may begin with '-')")
    parser.add_argument("--tsa-ca", help="the TSA's CA certificate (PEM) to check manifest.tsr against")
    parser.add_argument("--require-timestamp", action="store_true", help="fail when the bundle has no timestamp")
    args = parser.parse_args()
    try:
        files = load_bundle(args.bundle)
        for name in ("manifest.json", "controlroom.jwk", "device.json", "records.jws", "chain.json", "commands.json"):
            if name not in files:
                raise ValueError("%s is missing" % name)
        room_jwk = json.loads(files["controlroom.jwk"])
        room_key = OKPKey.import_key(room_jwk)
    except Exception as error:
        print("FAIL bundle: cannot read %s: %s" % (args.bundle, error))
        return 2
    report = Report()
    manifest = check_manifest(files, report)
    check_manifest_signature(files, manifest, room_key, room_jwk, args.controlroom_key, report)
    device_key = check_device(files, manifest, report)
    records = None
    if device_key is not None:
        records = check_records(files, manifest, device_key, report)
        check_chain(files, manifest, records, report)
    check_signed_lines(files, "audit.jws", room_key, "alert", manifest["alert"], report)
    check_signed_lines(files, "registration.jws", room_key, "device", manifest["device"], report)
    check_registered_key(files, room_key, report)
    check_commands(files, manifest, room_key, report)
    check_log(files, manifest, records, room_jwk, report)
    check_timestamp(files, args.tsa_ca, args.require_timestamp, report)
    if report.failed:
        print("verdict: NOT VERIFIED: %d check(s) failed, %d passed" % (report.failed, report.passed))
        return 1
    print("verdict: VERIFIED: %d checks passed" % report.passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

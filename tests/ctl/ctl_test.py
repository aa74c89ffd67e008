#!/usr/bin/env python3
"""transportcertctl against the real daemon (see transportcertctl(1)).

Every test runs transportcertd in a fresh temporary directory on a private dbus-daemon that
admits every local user (so that a test can call as `nobody`), and runs the real
transportcertctl the way an administrator does: its output, its exit status, and what busctl
says the daemon holds afterwards. The command finds the bus through DBUS_SYSTEM_BUS_ADDRESS, as
it would find the real system bus.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd \\
    TRANSPORTCERTCTL_BIN=build/ctl/transportcertctl ctl_test.py -v [Class[.test]]
"""

import datetime
import hashlib
import json
import math
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
from daemon_integration_test import (  # noqa: E402  pylint: disable=wrong-import-position
    FQDN, THUMBPRINT, DaemonTest, pem_blocks, thumbprint_of)

CTL = os.environ.get("TRANSPORTCERTCTL_BIN", "")
DAY = 86400
MANAGER = ["org.transportcertd1", "/org/transportcertd1", "org.transportcertd1.Manager"]
ESCAPE = "\x1b["

# A bus like the system bus in one way that matters here: every local user may connect. The
# listen address is given on the command line.
OPEN_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


def iso(usec):
    return datetime.datetime.fromtimestamp(usec // 1000000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def utc_date(seconds):
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def days_left(not_after):
    return math.floor((not_after - time.time()) / DAY)


class Run:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out
        self.err = err

    def __repr__(self):
        return f"exit {self.rc}\n--- stdout ---\n{self.out}--- stderr ---\n{self.err}"


class CtlTest(DaemonTest):
    """The daemon on an open private bus, and transportcertctl pointed at it."""

    def setUp(self):
        if not CTL:
            self.skipTest("TRANSPORTCERTCTL_BIN is not set")
        super().setUp()

    def start_private_bus(self):
        # Other users must reach the socket in the (0700) temporary directory.
        os.chmod(self.tmp, 0o711)
        config = os.path.join(self.tmp, "bus.conf")
        with open(config, "w", encoding="ascii") as f:
            f.write(OPEN_BUS_CONFIG)
        return super().start_private_bus(config)

    def ctl_environment(self, extra=None):
        env = {k: v for k, v in os.environ.items()
               if k not in ("NO_COLOR", "SYSTEMD_COLORS", "PAGER", "SYSTEMD_PAGER", "LESS",
                            "DBUS_SESSION_BUS_ADDRESS")}
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        env["TERM"] = "xterm-256color"
        env.update(extra or {})
        return env

    def ctl(self, *args, stdin=None, env=None, prefix=()):
        """Runs transportcertctl with stdout and stderr on pipes."""
        result = subprocess.run([*prefix, CTL, *args], input=stdin, capture_output=True,
                                text=True, timeout=60, check=False,
                                env=self.ctl_environment(env))
        return Run(result.returncode, result.stdout, result.stderr)

    def ctl_ok(self, *args, **kwargs):
        run = self.ctl(*args, **kwargs)
        self.assertEqual(run.rc, 0, f"transportcertctl {' '.join(args)}: {run}")
        self.assertEqual(run.err, "", f"transportcertctl {' '.join(args)}: {run}")
        return run.out

    def ctl_in_pty(self, *args, env=None):
        """Runs transportcertctl with stdout on a terminal (a pty); its output with \\r\\n
        turned back into \\n."""
        master, slave = os.openpty()
        process = subprocess.Popen([CTL, *args], stdin=subprocess.DEVNULL, stdout=slave,
                                   stderr=subprocess.PIPE, env=self.ctl_environment(env))
        os.close(slave)
        output = b""
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer (the command, a pager) has closed the pty
                break
            if not data:
                break
            output += data
        os.close(master)
        rc = process.wait(timeout=30)
        err = process.stderr.read().decode()
        process.stderr.close()
        return Run(rc, output.decode().replace("\r\n", "\n"), err)

    # --- what busctl says ----------------------------------------------------------------

    def busctl_json(self, *args):
        return json.loads(self.busctl("--json=short", *args))

    def list_certificates(self):
        """ListCertificates as busctl reports it: one list of fields per certificate."""
        return self.busctl_json("call", *MANAGER, "ListCertificates")["data"][0]

    def certificate_property(self, thumbprint, name):
        return self.busctl_json("get-property", "org.transportcertd1",
                                f"/org/transportcertd1/certificate/{thumbprint}",
                                "org.transportcertd1.Certificate", name)["data"]

    def internal_transport(self):
        return self.busctl_json("get-property", *MANAGER, "InternalTransportCertificate")["data"]

    # --- a store to look at ---------------------------------------------------------------

    def start_with_store(self):
        """A store with an expired, an expiring, a valid and a keyless certificate; the daemon
        started and its internal transport certificate made. Returns {label: Certificate}."""
        now = time.time()
        certs = {
            "expired": self.certs.make("old.example.com", ["old.example.com"],
                                       not_before=now - 400 * DAY,
                                       not_after=now - 5 * DAY - DAY / 2),
            "expiring": self.certs.make("smtp.example.com",
                                        ["smtp.example.com", "relay.example.com"],
                                        not_after=now + 10 * DAY + DAY / 2),
            "valid": self.certs.make("imap.example.com", ["imap.example.com"],
                                     not_after=now + 200 * DAY + DAY / 2),
            "keyless": self.certs.make("nokey.example.com", ["nokey.example.com"],
                                       not_after=now + 300 * DAY + DAY / 2),
        }
        for label, cert in certs.items():
            self.put_in_store(f"{label}.pem",
                              cert.cert_pem if label == "keyless" else cert.pem)
        self.start()
        certs["internal"] = self.wait_for_first_internal_transport()
        return certs


class Reading(CtlTest):
    """status, list, show, select, explain, tlsa: text and --json."""

    def setUp(self):
        super().setUp()
        self.store_certs = self.start_with_store()
        self.internal = self.store_certs["internal"]

    def test_status_is_the_default_and_shows_the_internal_transport_certificate(self):
        out = self.ctl_ok("--no-pager")
        self.assertEqual(out, self.ctl_ok("status"))
        self.assertRegex(out, rf"(?m)^ +FQDN: {re.escape(FQDN)}$")
        self.assertRegex(out, rf"(?m)^ +Store: {re.escape(self.store)}$")
        self.assertRegex(out, rf"(?m)^Internal transport: {self.internal}$")
        self.assertRegex(out, rf"(?m)^ +CN={re.escape(FQDN)}, expires \d{{4}}-\d\d-\d\d "
                              r"\d\d:\d\d:\d\d UTC \(in \d+ days\)$")
        self.assertRegex(out, r"(?m)^ +Certificates: 5 \(2 Valid, 1 Expiring, 1 Expired, "
                              r"1 NoPrivateKey\)$")
        # The next certificate to expire, not the one that expired already.
        expiring = self.store_certs["expiring"]
        self.assertRegex(out, rf"(?m)^ +Next expiry: "
                              rf"{utc_date(expiring.not_after)} \d\d:\d\d:\d\d UTC \(in 10 days\)"
                              rf"\n +{expiring.thumbprint} smtp\.example\.com \+1$")
        self.assertRegex(out, rf"(?m)^ +Published name: {re.escape(FQDN)} -> {self.internal}$")
        self.assertRegex(out, r"(?m)^ +Version: \d+\.\d+\.\d+$")

    def test_status_lists_every_published_name(self):
        self.write_config({"publish": {"names": "smtp.example.com imap.example.com"}})
        self.ctl_ok("reload")
        out = self.ctl_ok("--no-pager", "status")
        self.assertRegex(out, rf"(?m)^ +Published names: {re.escape(FQDN)} -> {self.internal}\n"
                              r" +smtp\.example\.com -> [0-9A-F]{40}\n"
                              r" +imap\.example\.com -> ")
        names = [p["name"] for p in json.loads(self.ctl_ok("--json=short", "status"))["published"]]
        self.assertEqual(names, [FQDN, "smtp.example.com", "imap.example.com"])

    def test_status_json_is_one_object(self):
        status = json.loads(self.ctl_ok("--json=pretty", "status"))
        self.assertEqual(status["fqdn"], FQDN)
        self.assertEqual(status["store"], self.store)
        self.assertEqual(status["internal_transport"]["thumbprint"], self.internal)
        self.assertEqual(status["internal_transport"]["status"], "Valid")
        self.assertEqual(status["certificate_count"], 5)
        self.assertEqual(status["counts"], {"Valid": 2, "Expiring": 1, "Expired": 1,
                                            "NotYetValid": 0, "NoPrivateKey": 1, "Unusable": 0})
        expiring = self.store_certs["expiring"]
        self.assertEqual(status["next_expiry"], {
            "thumbprint": expiring.thumbprint, "not_after": iso(int(expiring.not_after) * 1000000),
            "days_left": 10})
        self.assertEqual(status["published"], [{
            "name": FQDN, "service": "SMTP", "thumbprint": self.internal,
            "reason": self.busctl_json("call", *MANAGER, "SelectCertificate", "ss", FQDN,
                                       "SMTP")["data"][1]}])

    def test_list_shows_one_row_per_certificate_and_counts_them(self):
        out = self.ctl_ok("list")
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^THUMBPRINT +NAMES +NOT AFTER +DAYS +STATUS +SERVICES +FLAGS$")
        rows = {}
        for line in lines[1:6]:
            fields = re.split(r" {2,}", line.strip())
            rows[fields[0]] = fields
        expected = {
            "expired": ("old.example.com", "Expired", "-SK"),
            "expiring": ("smtp.example.com +1", "Expiring", "-SK"),
            "valid": ("imap.example.com", "Valid", "-SK"),
            "keyless": ("nokey.example.com", "NoPrivateKey", "-S-"),
        }
        self.assertEqual(len(rows), 5, out)
        for label, (names, status, flags) in expected.items():
            cert = self.store_certs[label]
            self.assertEqual(rows[cert.thumbprint[:12]],
                             [cert.thumbprint[:12], names, utc_date(cert.not_after),
                              str(days_left(cert.not_after)), status, "SMTP", flags], label)
        internal_row = rows[self.internal[:12]]
        self.assertEqual(internal_row[1], f"{FQDN} +1")
        self.assertEqual(internal_row[4:], ["Valid", "SMTP", "ISK"])
        self.assertEqual(rows[self.store_certs["expired"].thumbprint[:12]][3], "-6")
        self.assertEqual(lines[6], "")
        self.assertEqual(lines[7], "5 certificates listed: 2 Valid, 1 Expiring, 1 Expired, "
                                   "1 NoPrivateKey.")
        self.assertEqual(lines[8], "FLAGS: I internal transport, S self-signed, K has its "
                                   "private key.")
        self.assertEqual(len(lines), 9)

    def test_list_without_legend_has_only_the_rows(self):
        lines = self.ctl_ok("list", "--no-legend").splitlines()
        self.assertEqual(len(lines), 5)
        self.assertTrue(all(re.match(r"^[0-9A-F]{12}  ", line) for line in lines), lines)

    def test_list_json_is_list_certificates(self):
        for style in ("short", "pretty"):
            listed = json.loads(self.ctl_ok(f"--json={style}", "list"))
            expected = [{
                "thumbprint": row[0], "subject": row[1], "issuer": row[2], "domains": row[3],
                "not_before": iso(row[4]), "not_after": iso(row[5]), "services": row[6],
                "status": row[7], "self_signed": row[8], "has_private_key": row[9],
                "internal_transport": row[10], "object_path": row[11],
            } for row in self.list_certificates()]
            self.assertEqual(listed, expected, style)
        self.assertEqual(len(self.ctl_ok("--json=short", "list").splitlines()), 1)

    def test_show_prints_every_property_of_one_certificate(self):
        cert = self.store_certs["expiring"]
        out = self.ctl_ok("show", cert.thumbprint)
        fields = dict(m.groups() for m in re.finditer(r"(?m)^ *([A-Za-z0-9 -]+): (.*)$", out))
        self.assertEqual(fields["Thumbprint"], cert.thumbprint)
        self.assertEqual(fields["SHA-256"],
                         hashlib.sha256(pem_blocks(cert.cert_pem)[0][1]).hexdigest().upper())
        self.assertEqual(fields["Subject"], "CN=smtp.example.com")
        self.assertEqual(fields["Names"], "smtp.example.com, relay.example.com")
        self.assertEqual(fields["Not after"],
                         time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cert.not_after))
                         + " (in 10 days)")
        self.assertEqual(fields["Status"], "Expiring")
        self.assertEqual(fields["Services"], "SMTP")
        self.assertEqual(fields["Internal transport"], "no")
        self.assertEqual(fields["Self-signed"], "yes")
        self.assertEqual(fields["Private key"], "yes")
        self.assertEqual(fields["Key algorithm"], "EC P-256")
        self.assertEqual(fields["Files"], os.path.join(self.store, "expiring.pem"))
        for name in ("Issuer", "Serial number", "Not before", "Key bits"):
            self.assertIn(name, fields)

    def test_show_json_has_every_property(self):
        cert = self.store_certs["valid"]
        shown = json.loads(self.ctl_ok("show", cert.thumbprint.lower(), "--json=short"))
        self.assertEqual(shown["thumbprint"], cert.thumbprint)
        self.assertEqual(shown["not_after"], iso(int(cert.not_after) * 1000000))
        self.assertEqual(shown["is_internal_transport"], False)
        self.assertEqual(shown["files"], [os.path.join(self.store, "valid.pem")])
        self.assertEqual(shown["key_bits"], 256)
        self.assertEqual(len(shown), 16)

    def test_select_prints_the_thumbprint_then_the_reason(self):
        expected = self.busctl_json("call", *MANAGER, "SelectCertificate", "ss",
                                    "smtp.example.com", "SMTP")["data"]
        self.assertEqual(self.ctl_ok("select", "smtp.example.com"),
                         f"{expected[0]}\n{expected[1]}\n")
        self.assertEqual(self.ctl_ok("select", "SMTP.example.com.", "smtp").splitlines()[0],
                         self.store_certs["expiring"].thumbprint)
        self.assertEqual(json.loads(self.ctl_ok("--json=short", "select", "smtp.example.com")),
                         {"name": "smtp.example.com", "service": "SMTP",
                          "thumbprint": expected[0], "reason": expected[1]})

    def test_select_without_an_eligible_certificate_exits_1_with_the_error(self):
        run = self.ctl("select", "imap.example.com", "IMAP")
        self.assertEqual(run.rc, 1, run)
        self.assertEqual(run.out, "")
        self.assertRegex(run.err, r"^transportcertctl: no certificate can be presented for IMAP "
                                  r"on imap\.example\.com: .*"
                                  r"\(org\.transportcertd1\.Error\.NoCertificate\)\n$")

    def test_a_malformed_name_exits_1_with_invalid_args(self):
        run = self.ctl("select", "*.example.com")
        self.assertEqual(run.rc, 1, run)
        self.assertRegex(run.err, r"not a valid host name.*"
                                  r"\(org\.freedesktop\.DBus\.Error\.InvalidArgs\)\n$")

    def test_explain_shows_every_verdict_the_winner_first(self):
        out = self.ctl_ok("explain", "smtp.example.com")
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^VERDICT +THUMBPRINT +NAMES +REASON$")
        expected = {row[0][:12]: (row[1], row[2]) for row in self.busctl_json(
            "call", *MANAGER, "ExplainSelection", "ss", "smtp.example.com", "SMTP")["data"][0]}
        rows = [re.split(r" {2,}", line, maxsplit=3) for line in lines[1:6]]
        self.assertEqual(rows[0][0], "selected")
        self.assertEqual(rows[0][1], self.store_certs["expiring"].thumbprint[:12])
        self.assertEqual({row[1]: (row[0], row[3]) for row in rows}, expected)
        self.assertEqual([row[0] for row in rows[1:]], ["ineligible"] * 4)
        self.assertEqual(lines[6], "")
        self.assertEqual(lines[7], "Selected for SMTP on smtp.example.com: "
                                   f"{self.store_certs['expiring'].thumbprint}; "
                                   "0 eligible but outranked, 4 ineligible.")

    def test_explain_json_is_an_array_winner_first(self):
        explained = json.loads(self.ctl_ok("--json=short", "explain", "imap.example.com", "SMTP"))
        self.assertEqual(explained[0]["verdict"], "selected")
        self.assertEqual(explained[0]["thumbprint"], self.store_certs["valid"].thumbprint)
        self.assertEqual(sorted(e["thumbprint"] for e in explained),
                         sorted(row[0] for row in self.list_certificates()))

    def test_explain_with_no_winner_says_so_and_exits_0(self):
        out = self.ctl_ok("explain", "imap.example.com", "IMAP")
        self.assertNotRegex(out, r"(?m)^selected ")
        self.assertIn("Nothing is selected for IMAP on imap.example.com; "
                      "0 eligible but outranked, 5 ineligible.", out)

    def test_tlsa_prints_the_records_get_tlsa_records_gives(self):
        for name in ("", FQDN):
            records = self.busctl_json("call", *MANAGER, "GetTlsaRecords", "s", name)["data"][0]
            self.assertTrue(records, "the daemon gives DANE records for its FQDN")
            args = ("tlsa", name) if name else ("tlsa",)
            self.assertEqual(self.ctl_ok(*args), "".join(r + "\n" for r in records))
            self.assertEqual(json.loads(self.ctl_ok("--json=short", *args)), records)
        run = self.ctl("tlsa", "not a host name")
        self.assertEqual(run.rc, 1, run)
        self.assertIn("org.freedesktop.DBus.Error.InvalidArgs", run.err)


def colliding_certificates(prefix_digits=6):
    """Two self-signed certificates for twin.example.com, with one key, whose thumbprints share
    their first `prefix_digits` hex digits: (key_pem, cert_pem_a, cert_pem_b). ECDSA signatures
    are randomized, so signing the same certificate again gives a new thumbprint; a shared prefix
    of 6 digits turns up after a few thousand signatures."""
    # pylint: disable=import-outside-toplevel
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twin.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(4242)
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=90))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName("twin.example.com")]),
                              critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                              critical=False))
    seen = {}
    for _ in range(200000):
        cert = builder.sign(key, hashes.SHA256())
        der = cert.public_bytes(serialization.Encoding.DER)
        thumbprint = hashlib.sha1(der).hexdigest().upper()
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        other = seen.get(thumbprint[:prefix_digits])
        if other is not None and other[0] != thumbprint:
            key_pem = key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            return key_pem, other[1], pem
        seen[thumbprint[:prefix_digits]] = (thumbprint, pem)
    raise RuntimeError("no two thumbprints with a common prefix")


class Prefixes(CtlTest):
    """CERT is a thumbprint or a unique prefix of at least 6 hex digits, any case."""

    def test_a_unique_prefix_in_lower_case_names_its_certificate(self):
        cert = self.certs.make("imap.example.com")
        self.put_in_store("imap.pem", cert.pem)
        self.start()
        self.wait_for_first_internal_transport()
        for prefix in (cert.thumbprint[:6].lower(), cert.thumbprint[:13].lower(),
                       cert.thumbprint.lower(), cert.thumbprint[:8]):
            self.assertEqual(self.ctl_ok("show", prefix).splitlines()[0].split(": ")[1],
                             cert.thumbprint, prefix)
        self.ctl_ok("enable", cert.thumbprint[:7].lower(), "imap")
        self.assertEqual(self.certificate_property(cert.thumbprint, "Services"), ["SMTP", "IMAP"])

    def test_an_unknown_prefix_exits_1(self):
        self.start()
        internal = self.wait_for_first_internal_transport()
        unknown = "0123456789ABCDEF0123456789ABCDEF01234567"
        while unknown[:6] == internal[:6]:
            unknown = unknown[1:] + unknown[0]
        run = self.ctl("show", unknown[:6].lower())
        self.assertEqual(run.rc, 1, run)
        self.assertEqual(run.err, "transportcertctl: no certificate in the store has a thumbprint "
                                  f"starting with {unknown[:6]}\n")
        # A full thumbprint goes to the daemon as it is, which says it does not know it.
        run = self.ctl("remove", unknown)
        self.assertEqual(run.rc, 1, run)
        self.assertIn("(org.transportcertd1.Error.NoSuchCertificate)", run.err)

    def test_a_short_or_malformed_prefix_is_a_usage_error(self):
        self.start()
        internal = self.wait_for_first_internal_transport()
        for bad in (internal[:5], internal[:6] + "x", "../../etc/shadow", internal + "0"):
            run = self.ctl("show", bad)
            self.assertEqual(run.rc, 2, run)
            self.assertIn("is not a thumbprint or a prefix of one (6 to 40 hex digits)", run.err)

    def test_an_ambiguous_prefix_lists_the_matches_and_changes_nothing(self):
        try:
            key_pem, first, second = colliding_certificates()
        except ImportError:
            self.skipTest("python3-cryptography is not installed")
        a, b = (thumbprint_of(pem_blocks(pem)[0][1]) for pem in (first, second))
        self.assertEqual(a[:6], b[:6])
        self.put_in_store("twin-a.pem", first + key_pem)
        self.put_in_store("twin-b.pem", second + key_pem)
        self.start()
        self.wait_for_first_internal_transport()
        for args in (("show", a[:6].lower()), ("disable", a[:6], "SMTP")):
            run = self.ctl(*args)
            self.assertEqual(run.rc, 1, run)
            self.assertEqual(run.out, "")
            lines = run.err.splitlines()
            self.assertEqual(lines[0], f"transportcertctl: {a[:6]} is ambiguous: it starts 2 "
                                       "thumbprints:")
            self.assertEqual(sorted(re.findall(THUMBPRINT, run.err)), sorted([a, b]))
            self.assertIn("twin.example.com", lines[1])
        self.assertEqual(self.certificate_property(a, "Services"), ["SMTP"])
        self.assertEqual(self.certificate_property(b, "Services"), ["SMTP"])
        # Enough digits tell them apart.
        common = next(i for i in range(40) if a[i] != b[i])
        self.assertEqual(self.ctl_ok("show", a[:max(common + 1, 6)]).splitlines()[0].split(": ")[1],
                         a)


class Changing(CtlTest):
    """enable, disable, import, remove, renew, new-self-signed, reload."""

    def setUp(self):
        super().setUp()
        self.imap = self.certs.make("imap.example.com")
        self.put_in_store("imap.pem", self.imap.pem)
        self.start()
        self.internal = self.wait_for_first_internal_transport()

    def test_enable_and_disable_change_the_services_quietly(self):
        self.assertEqual(self.ctl_ok("enable", self.imap.thumbprint, "IMAP", "pop"), "")
        self.assertEqual(self.certificate_property(self.imap.thumbprint, "Services"),
                         ["SMTP", "IMAP", "POP"])
        self.assertEqual(self.ctl_ok("disable", self.imap.thumbprint[:10], "smtp", "POP"), "")
        self.assertEqual(self.certificate_property(self.imap.thumbprint, "Services"), ["IMAP"])
        run = self.ctl("enable", self.imap.thumbprint, "FTP")
        self.assertEqual(run.rc, 1, run)
        self.assertIn("(org.freedesktop.DBus.Error.InvalidArgs)", run.err)

    def test_enable_internal_transport_designates_the_certificate(self):
        self.assertEqual(self.ctl_ok("enable", self.imap.thumbprint, "--internal-transport"), "")
        self.assertEqual(self.internal_transport(), self.imap.thumbprint)
        status = json.loads(self.ctl_ok("--json=short"))
        self.assertEqual(status["internal_transport"]["thumbprint"], self.imap.thumbprint)

    def test_remove_takes_the_certificate_out_and_refuses_the_internal_one(self):
        self.assertEqual(self.ctl_ok("remove", self.imap.thumbprint[:8].lower()), "")
        self.assertNotIn(self.imap.thumbprint, [row[0] for row in self.list_certificates()])
        self.assertNotIn("imap.pem", self.store_files())
        run = self.ctl("remove", self.internal)
        self.assertEqual(run.rc, 1, run)
        self.assertRegex(run.err, r"^transportcertctl: certificate [0-9A-F]{40} is the internal "
                                  r"transport certificate and cannot be removed: .*"
                                  r"\(org\.transportcertd1\.Error\.InternalTransportCertificate\)\n$")
        self.assertIn(self.internal, [row[0] for row in self.list_certificates()])

    def test_renew_prints_the_new_internal_transport_certificate(self):
        out = self.ctl_ok("renew")
        self.assertRegex(out, rf"^{THUMBPRINT}\n$")
        self.assertNotEqual(out.strip(), self.internal)
        self.assertEqual(self.internal_transport(), out.strip())
        self.assertEqual(json.loads(self.ctl_ok("--json=short", "renew"))["thumbprint"],
                         self.internal_transport())

    def test_new_self_signed_covers_the_names_and_becomes_internal_transport(self):
        out = self.ctl_ok("new-self-signed", "relay.example.com", "SMTP2.example.com")
        thumbprint = out.strip()
        self.assertRegex(out, rf"^{THUMBPRINT}\n$")
        self.assertEqual(self.internal_transport(), thumbprint)
        domains = self.certificate_property(thumbprint, "Domains")
        self.assertIn("relay.example.com", domains)
        self.assertIn("smtp2.example.com", domains)

    def test_reload_rereads_the_store(self):
        other = self.certs.make("pop.example.com")
        self.put_in_store("pop.pem", other.pem)
        self.assertEqual(self.ctl_ok("reload"), "")
        self.assertIn(other.thumbprint, [row[0] for row in self.list_certificates()])

    def test_import_of_separate_certificate_chain_and_key_files(self):
        cert = self.certs.make("webmail.example.com")
        chain = self.certs.make("Example Issuing CA")
        files = {}
        for name, text in (("cert.pem", cert.cert_pem), ("chain.pem", chain.cert_pem),
                           ("key.pem", cert.key_pem.rstrip("\n"))):  # no final newline
            files[name] = os.path.join(self.tmp, name)
            with open(files[name], "w", encoding="ascii") as f:
                f.write(text)
        out = self.ctl_ok("import", files["cert.pem"], files["chain.pem"], files["key.pem"],
                          "--services", "HTTP,imap")
        self.assertEqual(out, f"{cert.thumbprint}\n")
        self.assertEqual(self.certificate_property(cert.thumbprint, "Services"), ["IMAP", "HTTP"])
        self.assertTrue(self.certificate_property(cert.thumbprint, "HasPrivateKey"))
        # Importing it again changes nothing and answers the same.
        before = self.store_files()
        self.assertEqual(self.ctl_ok("import", files["cert.pem"], files["key.pem"]), out)
        self.assertEqual(self.store_files(), before)

    def test_import_from_standard_input(self):
        cert = self.certs.make("stdin.example.com")
        out = self.ctl_ok("import", "-", stdin=cert.pem)
        self.assertEqual(out, f"{cert.thumbprint}\n")
        self.assertEqual(self.certificate_property(cert.thumbprint, "Services"), ["SMTP"])
        # A file and standard input together, in the order given.
        other = self.certs.make("mixed.example.com")
        key_path = os.path.join(self.tmp, "mixed.key")
        with open(key_path, "w", encoding="ascii") as f:
            f.write(other.key_pem)
        self.assertEqual(self.ctl_ok("import", "-", key_path, stdin=other.cert_pem),
                         f"{other.thumbprint}\n")

    def test_import_of_a_missing_file_or_bad_pem_exits_1(self):
        run = self.ctl("import", os.path.join(self.tmp, "missing.pem"))
        self.assertEqual(run.rc, 1, run)
        self.assertIn("cannot read", run.err)
        self.assertIn("No such file or directory", run.err)
        run = self.ctl("import", "-", stdin="not a certificate\n")
        self.assertEqual(run.rc, 1, run)
        self.assertIn("(org.freedesktop.DBus.Error.InvalidArgs)", run.err)
        run = self.ctl("import", "-", "-", stdin="")
        self.assertEqual(run.rc, 2, run)


class Terminal(CtlTest):
    """Colour and pager only on a terminal, as systemd's tools do."""

    def setUp(self):
        super().setUp()
        now = time.time()
        self.expired = self.certs.make("old.example.com", not_before=now - 400 * DAY,
                                       not_after=now - 5 * DAY)
        self.expiring = self.certs.make("soon.example.com", not_after=now + 5 * DAY)
        self.put_in_store("expired.pem", self.expired.pem)
        self.put_in_store("expiring.pem", self.expiring.pem)
        self.start()
        self.wait_for_first_internal_transport()

    def test_no_escape_codes_when_stdout_is_not_a_terminal(self):
        for args in (("list",), ("status",), ("show", self.expired.thumbprint),
                     ("explain", "old.example.com")):
            self.assertNotIn(ESCAPE, self.ctl_ok(*args), args)

    def test_colours_on_a_terminal(self):
        run = self.ctl_in_pty("list", "--no-pager")
        self.assertEqual(run.rc, 0, run)
        self.assertIn("\x1b[0;1;31mExpired\x1b[0m", run.out)
        self.assertIn("\x1b[0;1;33mExpiring\x1b[0m", run.out)
        self.assertIn("\x1b[0;4mTHUMBPRINT", run.out)
        # The same text without the escapes.
        plain = re.sub(r"\x1b\[[0-9;]*m", "", run.out)
        self.assertEqual(plain, self.ctl_ok("list"))

    def test_no_colours_with_no_color_or_systemd_colors_0(self):
        for env in ({"NO_COLOR": "1"}, {"SYSTEMD_COLORS": "0"}, {"TERM": "dumb"}):
            run = self.ctl_in_pty("list", "--no-pager", env=env)
            self.assertEqual(run.rc, 0, run)
            self.assertIn("Expired", run.out)
            self.assertNotIn(ESCAPE, run.out, env)

    def test_the_pager_runs_only_on_a_terminal(self):
        pager = {"SYSTEMD_PAGER": "sed -e s/^/paged:/"}
        run = self.ctl_in_pty("list", env={**pager, "NO_COLOR": "1"})
        self.assertEqual(run.rc, 0, run)
        lines = run.out.splitlines()
        self.assertGreater(len(lines), 3)
        self.assertTrue(all(line.startswith("paged:") for line in lines), run.out)
        self.assertNotIn("paged:", self.ctl_in_pty("list", "--no-pager", env=pager).out)
        self.assertNotIn("paged:", self.ctl_ok("list", env=pager))
        # The pager sees LESS=FRSXMK, as under systemd's tools.
        run = self.ctl_in_pty("list", env={"PAGER": "sh -c 'cat >/dev/null; echo \"$LESS\"'"})
        self.assertEqual(run.out.strip(), "FRSXMK")


class Verify(CtlTest):
    """verify without a mail server: ports that refuse are not failures, a port that speaks no
    TLS is; the endpoints and names come from the daemon. (tests/postfix checks a real one.)"""

    def setUp(self):
        super().setUp()
        self.store_certs = self.start_with_store()

    def test_refusing_ports_are_not_listening_and_exit_0(self):
        closed = [free_port(), free_port()]
        self.write_config({"publish": {"names": "smtp.example.com"},
                           "verify": {"endpoints": f"{closed[0]}/smtp {closed[1]}/imaps"}})
        self.ctl_ok("reload")
        rows = json.loads(self.ctl_ok("--json=short", "verify"))
        self.assertEqual([(r["port"], r["protocol"], r["name"], r["service"], r["verdict"])
                          for r in rows],
                         [(closed[0], "smtp", FQDN, "SMTP", "not-listening"),
                          (closed[0], "smtp", "smtp.example.com", "SMTP", "not-listening"),
                          (closed[1], "imaps", FQDN, "IMAP", "not-listening"),
                          (closed[1], "imaps", "smtp.example.com", "IMAP", "not-listening")])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "transportcertd-verify.prom")))
        out = self.ctl_ok("verify", "--endpoint", f"{closed[0]}/pop3", "other.example.com")
        self.assertRegex(out, r"^PORT +NAME +SERVICE +EXPECTED +SERVED +VERDICT\n"
                              rf"{closed[0]}/pop3 +other\.example\.com +POP +- +- +"
                              r"not-listening\n\n1 check: 1 not-listening\.\n$")

    def test_a_port_without_tls_fails_with_exit_1(self):
        metrics_dir = os.path.join(self.tmp, "node-exporter")
        os.mkdir(metrics_dir)
        self.write_config({"metrics": {"textfile": f"{metrics_dir}/transportcertd.prom"}})
        self.ctl_ok("reload")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", 0))
            server.listen(4)
            port = server.getsockname()[1]

            def serve():
                for _ in range(2):  # the text run, then the --json run
                    connection, _ = server.accept()
                    with connection:
                        connection.sendall(b"220 mail.example.test ESMTP\r\n")
                        connection.recv(100)
                        connection.sendall(b"250 mail.example.test\r\n")  # no STARTTLS
                        connection.recv(100)
                        connection.sendall(b"502 5.5.1 not implemented\r\n")
            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            run = self.ctl("verify", "--endpoint", f"{port}/smtp")
            self.assertEqual(run.rc, 1, run)
            self.assertRegex(run.out, rf"(?m)^{port}/smtp +{re.escape(FQDN)} +SMTP +"
                                      r"[0-9A-F]{12} +- +tls-failed$")
            self.assertIn(f"{port}/smtp {FQDN}: STARTTLS was answered '502 5.5.1 not "
                          "implemented'", run.out)
            run = self.ctl("--json=short", "verify", "--endpoint", f"{port}/smtp")
            self.assertEqual(run.rc, 1, run)
            [row] = json.loads(run.out)
            self.assertEqual(row["verdict"], "tls-failed")
            self.assertIsNone(row["served"])
            thread.join(10)
        # The served_match series next to the daemon's metrics file: 0 for the failure.
        with open(os.path.join(metrics_dir, "transportcertd-verify.prom"), encoding="utf-8") as f:
            metrics = f.read()
        self.assertIn("# TYPE transportcertd_served_match gauge\n", metrics)
        self.assertIn(f'transportcertd_served_match{{port="{port}",name="{FQDN}",'
                      'service="SMTP"} 0\n', metrics)
        self.assertEqual(os.stat(os.path.join(metrics_dir, "transportcertd-verify.prom"))
                         .st_mode & 0o777, 0o644)
        self.assertEqual(sorted(os.listdir(metrics_dir)),
                         ["transportcertd-verify.prom", "transportcertd.prom"])

    def test_a_bad_endpoint_is_a_usage_error(self):
        for bad in ("25", "25/http", "70000/smtp"):
            run = self.ctl("verify", "--endpoint", bad)
            self.assertEqual(run.rc, 2, run)
            self.assertIn("--endpoint must be PORT/PROTOCOL", run.err)
        run = self.ctl("list", "--endpoint", "25/smtp")
        self.assertEqual(run.rc, 2, run)
        run = self.ctl("-H", "mail.example.com", "verify")
        self.assertEqual(run.rc, 2, run)
        self.assertIn("does not go with -H", run.err)


def free_port():
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Usage(CtlTest):
    """Usage errors exit 2 before anything is asked; help and version exit 0."""

    def test_usage_errors_exit_2(self):
        for args in (("frobnicate",), ("--bogus",), ("show",), ("list", "extra"),
                     ("--bus=tcp",), ("--json=long", "list"), ("enable", "ABCDEF")):
            run = self.ctl(*args)
            self.assertEqual(run.rc, 2, f"{args}: {run}")
            self.assertEqual(run.out, "")
            self.assertTrue(run.err.startswith("transportcertctl: "), run)
            self.assertIn("--help", run.err)

    def test_help_and_version_exit_0(self):
        out = self.ctl_ok("--help")
        for command in ("status", "list", "show CERT", "select NAME", "explain NAME", "enable",
                        "disable", "import FILE", "remove CERT", "renew", "new-self-signed",
                        "reload", "tlsa", "verify"):
            self.assertIn(command, out)
        self.assertRegex(self.ctl_ok("--version"), r"^transportcertctl \d+\.\d+\.\d+\n$")

    def test_output_that_cannot_be_written_exits_1(self):
        with open("/dev/full", "w", encoding="ascii") as full:
            result = subprocess.run([CTL, "--help"], stdout=full, stderr=subprocess.PIPE,
                                    text=True, timeout=30, check=False,
                                    env=self.ctl_environment())
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("cannot write the output: No space left on device", result.stderr)

    def test_no_daemon_on_the_bus_exits_1(self):
        run = self.ctl("list")
        self.assertEqual(run.rc, 1, run)
        self.assertIn("org.freedesktop.DBus.Error.ServiceUnknown", run.err)

    def test_no_bus_exits_1(self):
        run = self.ctl("list", env={"DBUS_SYSTEM_BUS_ADDRESS":
                                    f"unix:path={os.path.join(self.tmp, 'nothing')}"})
        self.assertEqual(run.rc, 1, run)
        self.assertIn("cannot connect to the system bus", run.err)

    def test_the_session_bus_is_asked_with_bus_session(self):
        self.start()
        internal = self.wait_for_first_internal_transport()
        out = self.ctl_ok("--bus=session", "list", "--no-legend",
                          env={"DBUS_SESSION_BUS_ADDRESS": self.bus_address,
                               "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"})
        self.assertTrue(out.startswith(internal[:12]), out)


class Remote(CtlTest):
    """-H [USER@]HOST goes through ssh to systemd-stdio-bridge on the host, as hostnamectl -H
    does. Here `ssh` is a stand-in on PATH that records how it was called and runs the bridge
    locally, on the test's bus."""

    def test_host_is_reached_through_ssh_and_the_stdio_bridge(self):
        if shutil.which("systemd-stdio-bridge") is None:
            self.skipTest("systemd-stdio-bridge is not installed")
        self.start()
        self.wait_for_first_internal_transport()
        bin_dir = os.path.join(self.tmp, "bin")
        os.makedirs(bin_dir)
        calls = os.path.join(self.tmp, "ssh-calls")
        with open(os.path.join(bin_dir, "ssh"), "w", encoding="ascii") as f:
            f.write(f"""#!/bin/sh
echo "$*" >> '{calls}'
while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift 2  # -- HOST
exec "$@" --bus-path="$DBUS_SYSTEM_BUS_ADDRESS"
""")
        os.chmod(os.path.join(bin_dir, "ssh"), 0o755)
        path = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
        self.assertEqual(self.ctl_ok("-H", "admin@mx1.example.com", "list", env=path),
                         self.ctl_ok("list"))
        self.assertEqual(self.ctl_ok("--host=mx2.example.com", "--json=short", "status",
                                     env=path), self.ctl_ok("--json=short", "status"))
        self.assertEqual(self.read(calls).splitlines(),
                         ["-xT -- admin@mx1.example.com systemd-stdio-bridge",
                          "-xT -- mx2.example.com systemd-stdio-bridge"])


COMPLETION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                          "completion", "transportcertctl.bash")


class Completion(CtlTest):
    """The bash completion: commands, options, services, and thumbprints from the daemon."""

    def complete(self, *words, env=None):
        """What bash completes for the command line `words` (the last one being typed)."""
        script = (f"source {COMPLETION}\n"
                  'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _transportcertctl\n'
                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
        environment = self.ctl_environment(env)
        environment["PATH"] = os.path.dirname(os.path.abspath(CTL)) + ":" + environment["PATH"]
        result = subprocess.run(["bash", "-c", script, "bash", "transportcertctl", *words],
                                capture_output=True, text=True, timeout=30, check=True,
                                env=environment)
        return sorted(line for line in result.stdout.splitlines() if line)

    def test_commands_options_and_services(self):
        self.assertIn("new-self-signed", self.complete(""))
        self.assertEqual(self.complete("re"), ["reload", "remove", "renew"])
        self.assertEqual(self.complete("--j"), ["--json="])
        self.assertEqual(self.complete("--json=p"), ["pretty"])
        self.assertEqual(self.complete("select", "mail.example.com", "i"), ["IMAP"])
        self.assertEqual(self.complete("import", "--services", "SMTP,I"), ["SMTP,IMAP"])
        self.assertEqual(self.complete("enable", "--int"), ["--internal-transport"])

    def test_thumbprints_come_from_the_daemon(self):
        cert = self.certs.make("imap.example.com")
        self.put_in_store("imap.pem", cert.pem)
        self.start()
        internal = self.wait_for_first_internal_transport()
        self.assertEqual(self.complete("show", ""), sorted([internal, cert.thumbprint]))
        self.assertEqual(self.complete("remove", cert.thumbprint[:7].lower()), [cert.thumbprint])
        self.assertEqual(self.complete("disable", internal, "p"), ["POP"])
        # On the bus the command line names.
        self.assertEqual(self.complete("--bus", "session", "enable", "",
                                       env={"DBUS_SESSION_BUS_ADDRESS": self.bus_address,
                                            "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"}),
                         sorted([internal, cert.thumbprint]))
        self.assertEqual(self.complete("show", "",
                                       env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"}),
                         [])


class OtherUsers(CtlTest):
    """Reading is open to every local user; changing needs root or admin_group."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("becoming nobody needs root")
        if shutil.which("setpriv") is None:
            self.skipTest("setpriv (util-linux) is not installed")
        pwd.getpwnam("nobody")
        self.as_nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
        self.start()
        self.internal = self.wait_for_first_internal_transport()
        self.other = self.certs.make("imap.example.com")
        self.put_in_store("imap.pem", self.other.pem)
        self.wait_until(lambda: self.other.thumbprint in
                        [row[0] for row in self.list_certificates()], 5, "imap.pem picked up")

    def test_list_works_as_nobody(self):
        out = self.ctl_ok("list", prefix=self.as_nobody)
        self.assertEqual(out, self.ctl_ok("list"))
        self.assertIn(self.other.thumbprint[:12], out)

    def test_remove_as_nobody_exits_1_with_access_denied_and_changes_nothing(self):
        before = (self.list_certificates(), self.store_files())
        run = self.ctl("remove", self.other.thumbprint[:8], prefix=self.as_nobody)
        self.assertEqual(run.rc, 1, run)
        self.assertEqual(run.out, "")
        self.assertEqual(run.err, "transportcertctl: only root may call RemoveCertificate (no "
                                  "admin_group is configured); the caller is uid "
                                  f"{pwd.getpwnam('nobody').pw_uid} "
                                  "(org.freedesktop.DBus.Error.AccessDenied)\n")
        self.assertEqual((self.list_certificates(), self.store_files()), before)


if __name__ == "__main__":
    unittest.main()

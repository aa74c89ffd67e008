#!/usr/bin/env python3
"""Bad files dropped into a live store (docs/alerts.md, Unusable store file: skipped with one clear log line naming the file
and the reason, never stopping the daemon or hiding the other certificates).

The daemon starts on a store with a few good certificates; then every file of the third-party
corpus (../shared/corpus/certs: real, odd and malformed certificates) and a set of generated
nasties are copied in while it runs. The test asks the daemon over D-Bus (busctl) what it
holds, reads its log, and checks that nothing good is lost, that each bad file is logged exactly
once, and that later store events and a SIGHUP do not log an unchanged bad file again.

Which corpus certificates the daemon should hold is worked out independently: every
certificate block (or DER file) that `openssl x509` reads counts, with the few exceptions
listed in CORPUS_DIFFERENCES.

As root every file is readable, so the daemon runs without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (setpriv) and a mode-0000 file really is unreadable for it.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd bad_input_test.py -v
"""

import base64
import binascii
import json
import os
import random
import re
import shutil
import signal
import subprocess
import unittest

from daemon_integration_test import DaemonTest, PEM_BLOCK, PICKUP_TIMEOUT, SETTLE, openssl

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("TRANSPORTCERTD_SHARED_DIR",
                        os.path.join(HERE, "..", "..", "..", "shared"))
CORPUS = os.path.join(SHARED, "corpus", "certs")
STORE_EXTENSIONS = (".pem", ".crt", ".cer", ".key", ".der")
CERTIFICATE_LABELS = ("CERTIFICATE", "X509 CERTIFICATE")

# Corpus files where the daemon rightly disagrees with `openssl x509` (name -> why).
CORPUS_DIFFERENCES = {
    # openssl prints it although its dates are "Bad time value"; without a readable validity
    # period it is no certificate we can use.
    "boringssl-fuzz-cert__0f845604775fb8da.bin": "unreadable validity dates",
}

# A file name that would break a log line in two, were it not escaped.
NEWLINE_NAME = "new\nline\x1b[31m.pem"

# Corpus files that hold no certificate and yet are fine: their key pairs with a corpus
# certificate (name -> whose key).
CORPUS_KEYS = {
    "boringssl__x509test_unusual_tbs_key.pem": "the x509test_unusual_tbs_* certificates",
}

# Dropping ~200 files and a 100 MB one into the store of a loaded machine: be generous.
SETTLE_TIMEOUT = 60.0

# Capabilities that let root read any file; without them a mode-0000 file is unreadable.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


def corpus_files():
    """The corpus files (not the manifest or README), sorted."""
    return sorted(n for n in os.listdir(CORPUS) if n not in ("MANIFEST.tsv", "README.md"))


def store_name(name):
    """The name a corpus file gets in the store: files without a store extension get .pem,
    so that the daemon reads them (it looks only at certificate file names)."""
    return name if name.lower().endswith(STORE_EXTENSIONS) else name + ".pem"


def openssl_thumbprint(der):
    """The SHA-1 thumbprint of `der` when `openssl x509` reads it as a certificate, else None."""
    result = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-fingerprint",
                             "-sha1"], input=der, capture_output=True, timeout=30, check=False)
    if result.returncode != 0:
        return None
    return result.stdout.decode().strip().split("=", 1)[1].replace(":", "").upper()


def corpus_certificates(path):
    """Thumbprints of the certificates in a corpus file that `openssl x509` reads."""
    with open(path, "rb") as f:
        data = f.read()
    ders = [data]
    if b"-----BEGIN " in data:
        ders = []
        for label, body in PEM_BLOCK.findall(data.decode("latin-1")):
            if label not in CERTIFICATE_LABELS:
                continue
            try:
                ders.append(base64.b64decode("".join(body.split()), validate=True))
            except (binascii.Error, ValueError):
                pass  # bad base64: no certificate
    return {t for t in map(openssl_thumbprint, ders) if t}


class BadFilesInALiveStore(DaemonTest):
    """Every unusable file is skipped with one log line; nothing good is lost."""

    GOOD_NAMES = ("good1.example.com", "good2.example.com", "good3.example.com",
                  "good4.example.com")

    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.isfile(os.path.join(CORPUS, "MANIFEST.tsv")),
                        f"the corpus is missing: {CORPUS}")
        self.write_config({"publish": {"names": " ".join(self.GOOD_NAMES)}})

    # --- asking the daemon -------------------------------------------------------------------

    def listed(self):
        """{thumbprint: (status, has_private_key)} from ListCertificates."""
        out = self.busctl("--json=short", "call", "org.transportcertd1", "/org/transportcertd1",
                          "org.transportcertd1.Manager", "ListCertificates")
        entries = json.loads(out)["data"][0]
        return {e[0]: (e[7], e[9]) for e in entries}

    def certificate_objects(self):
        """The thumbprints of the certificate objects GetManagedObjects returns, with all their
        properties (odd certificates included)."""
        out = self.busctl("--json=short", "call", "org.transportcertd1", "/org/transportcertd1",
                          "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        objects = json.loads(out)["data"][0]
        prefix = "/org/transportcertd1/certificate/"
        return {path[len(prefix):] for path, interfaces in objects.items()
                if path.startswith(prefix)
                and "Thumbprint" in interfaces.get("org.transportcertd1.Certificate", {})}

    def certificate_count(self):
        out = self.busctl("get-property", "org.transportcertd1", "/org/transportcertd1",
                          "org.transportcertd1.Manager", "CertificateCount")
        return int(out.split()[1])

    def skipped(self):
        """{path: [reason, ...]}: every "skipping FILE: reason" line so far, by file (the path
        as the daemon shows it: control characters as \\xNN)."""
        lines = {}
        for line in self.logged(r"^skipping (/.*?): (.+)$"):
            lines.setdefault(line.match.group(1), []).append(line.match.group(2))
        return lines

    # --- making bad files --------------------------------------------------------------------

    def path(self, name):
        return os.path.join(self.store, name)

    def shown(self, name):
        """The path of `name` as the log shows it."""
        return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group(0)):02x}",
                      self.path(name))

    def write_bytes(self, name, data, mode=None, size=None):
        """Puts a file into the store by rename, so that the daemon never sees it half-made
        (a scan in between would rightly report an empty or truncated file)."""
        staged = os.path.join(self.staging, name)
        with open(staged, "wb") as f:
            f.write(data)
            if size is not None:
                f.truncate(size)  # sparse
        if mode is not None:
            os.chmod(staged, mode)
        os.rename(staged, self.path(name))

    def fresh_key(self, *options):
        return openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                       *options)

    def drop_nasties(self):
        """Puts the generated bad files into the store; {name: pattern its reason matches}."""
        self.write_bytes("empty.pem", b"")
        self.write_bytes("one-byte.der", b"\x30")
        self.write_bytes("huge.pem", b"", size=100 * 1024 * 1024)
        self.write_bytes("noise.der", random.Random(5).randbytes(4096))
        self.write_bytes("bad-base64.pem", b"-----BEGIN CERTIFICATE-----\n!!not*base64@@\n"
                                           b"-----END CERTIFICATE-----\n")
        self.write_bytes("lonely.key", self.fresh_key().encode())
        self.write_bytes("encrypted.key", self.fresh_key("-aes-256-cbc", "-pass",
                                                         "pass:secret").encode())
        self.write_bytes("mismatched.pem", (self.mismatched.cert_pem + self.fresh_key()).encode())
        key = os.path.join(self.staging, "request.key")
        with open(key, "w", encoding="ascii") as f:
            f.write(self.fresh_key())
        request = openssl("req", "-new", "-key", key, "-subj", "/CN=request.example.com")
        self.write_bytes("several-parts.pem", (self.several_parts.cert_pem + self.fresh_key(
            "-aes-256-cbc", "-pass", "pass:secret") + request).encode())
        os.symlink("loop.pem", self.path("loop.pem"))
        os.mkfifo(self.path("fifo.pem"))
        self.write_bytes("unreadable.pem", self.unreadable_content, mode=0)
        os.mkdir(self.path("x.pem"))
        self.write_bytes(NEWLINE_NAME, b"-----BEGIN CERTIFICATE-----\n")
        return {
            "empty.pem": r"^empty file$",
            "one-byte.der": r"^neither PEM nor a DER certificate",
            "huge.pem": r"^too large \(100 MiB; certificate files are at most 1 MiB\)$",
            "noise.der": r"^neither PEM nor a DER certificate",
            "bad-base64.pem": r"^no PEM block could be read",
            "lonely.key": r"^private key that matches no certificate in the store$",
            "encrypted.key": r"^block 1: encrypted private key",
            "mismatched.pem": r"^private key that matches no certificate in the store$",
            "several-parts.pem": r"^block 2: encrypted private key .*; "
                                 r"block 3: certificate signing request, not a certificate$",
            "loop.pem": r"^symbolic link loop$",
            "fifo.pem": r"^not a regular file$",
            "unreadable.pem": r"^not readable by the daemon \(permission denied\)$",
            "x.pem": r"^a directory, not a file$",
            NEWLINE_NAME: r"^no PEM block could be read",
        }

    def drop_corpus(self):
        """Copies every corpus file in (by rename); {store name: thumbprints openssl reads in
        it}."""
        expected = {}
        for name in corpus_files():
            source = os.path.join(CORPUS, name)
            expected[store_name(name)] = (set() if name in CORPUS_DIFFERENCES
                                          else corpus_certificates(source))
            staged = os.path.join(self.staging, store_name(name))
            shutil.copyfile(source, staged)
            os.rename(staged, self.path(store_name(name)))
        return expected

    def start_without_dac_override(self):
        """Starts the daemon so that a mode-0000 file is unreadable for it, also as root."""
        prefix = []
        if os.geteuid() == 0:
            prefix = NO_DAC
            probe = os.path.join(self.staging, "probe")
            with open(probe, "w", encoding="ascii") as f:
                f.write("secret")
            os.chmod(probe, 0)
            result = subprocess.run([*NO_DAC, "cat", probe], capture_output=True, text=True,
                                    timeout=30, check=False)
            self.assertNotEqual(result.returncode, 0, "setpriv must take away reading anything")
            self.assertIn("Permission denied", result.stderr)
        self.start(prefix=prefix)

    # --- the test ----------------------------------------------------------------------------

    def test_every_bad_file_is_logged_once_and_every_good_certificate_stays(self):
        good = {name: self.certs.make(name) for name in self.GOOD_NAMES}
        self.mismatched = self.certs.make("mismatched.example.com")
        self.several_parts = self.certs.make("several-parts.example.com")
        self.unreadable_content = good["good4.example.com"].pem.encode()
        self.put_in_store("good1.pem", good["good1.example.com"].pem)
        self.put_in_store("good2.crt", good["good2.example.com"].cert_pem)
        self.put_in_store("good2.key", good["good2.example.com"].key_pem)
        self.put_in_store("good3.pem", good["good3.example.com"].pem)
        kept = {name: good[name].thumbprint for name in self.GOOD_NAMES[:3]}

        self.start_without_dac_override()
        internal = self.wait_for_first_internal_transport()
        self.wait_until(lambda: all(self.published_thumbprint(f"{n}.pem") == t
                                    for n, t in kept.items()),
                        PICKUP_TIMEOUT, "the good certificates published")
        self.assertEqual(self.skipped(), {}, self.log_tail())

        # Everything bad at once, into the running daemon's store.
        reasons = self.drop_nasties()
        corpus = self.drop_corpus()
        bad = set(reasons) | {n for n, thumbprints in corpus.items()
                              if not thumbprints and n not in CORPUS_KEYS}
        expected = set(kept.values()) | {internal, self.mismatched.thumbprint,
                                         self.several_parts.thumbprint}
        for thumbprints in corpus.values():
            expected |= thumbprints

        def unsettled():
            """What is still missing, or "" once every bad file is logged and all is held."""
            logged = self.skipped()
            missing = sorted(n for n in bad if self.shown(n) not in logged)
            count = self.certificate_count()
            if missing or count != len(expected):
                return f"not logged: {missing}; {count} of {len(expected)} certificates held"
            return ""

        self.wait_until(lambda: not unsettled(), SETTLE_TIMEOUT, "every bad file logged and "
                        "every certificate held", on_timeout=unsettled)
        self.assert_stays(lambda: all(len(r) == 1 for r in self.skipped().values()),
                          "no file is logged twice", duration=2 * SETTLE)

        # Every bad file: one line, naming it, with its reason.
        logged = self.skipped()
        for name, pattern in reasons.items():
            self.assertEqual(len(logged[self.shown(name)]), 1, name)
            self.assertRegex(logged[self.shown(name)][0], pattern, name)
        for name in bad:
            self.assertEqual(len(logged.get(self.shown(name), [])), 1, name)
            self.assertGreater(len(logged[self.shown(name)][0].strip()), 3, name)
        self.assertLessEqual(set(logged), {self.shown(n) for n in set(corpus) | set(reasons)},
                             "only bad files are logged")
        self.assertEqual({line.level for line in self.logged(r"^skipping ")}, {"warning"})

        # Nothing good is lost, and nothing else is held than the certificates expected.
        listed = self.listed()
        self.assertEqual(set(listed), expected,
                         f"missing {sorted(expected - set(listed))}, "
                         f"unexpected {sorted(set(listed) - expected)}")
        self.assertEqual(self.certificate_objects(), expected)
        for name, thumbprint in kept.items():
            self.assertEqual(listed[thumbprint], ("Valid", True), name)
            self.assertEqual(self.published_thumbprint(f"{name}.pem"), thumbprint, name)
        for usable in (self.mismatched, self.several_parts):  # what these files hold is kept
            self.assertEqual(listed[usable.thumbprint], ("NoPrivateKey", False))
        self.assertEqual(self.published_thumbprint("internal-transport.pem"), internal)
        self.assertIsNone(self.daemon.poll(), "the daemon keeps running")

        # Unrelated store events and a SIGHUP: no unchanged bad file is logged again.
        before = self.skipped()
        fourth = good["good4.example.com"]
        self.put_in_store("good4.pem", fourth.pem)
        self.wait_until(lambda: self.published_thumbprint("good4.example.com.pem")
                        == fourth.thumbprint, PICKUP_TIMEOUT, "a new good certificate published")
        os.unlink(self.path("good4.pem"))
        self.wait_until(lambda: self.published_blocks("good4.example.com.pem") is None,
                        PICKUP_TIMEOUT, "the removed certificate unpublished")
        os.utime(self.path("good1.pem"))
        reloads = len(self.logged(r"^reloading configuration and store$"))
        self.send(signal.SIGHUP)
        self.wait_for_log(r"^reloading configuration and store$", count=reloads + 1)
        self.wait_until(lambda: self.certificate_count() == len(expected), PICKUP_TIMEOUT,
                        "the reloaded store")
        self.assert_stays(lambda: self.skipped() == before,
                          "unchanged bad files are not logged again", duration=2 * SETTLE)
        self.assertEqual(set(self.listed()), expected)

        # A bad file that changes is logged again, with its new reason; only that one.
        self.write_bytes("empty.pem", b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n")
        changed = self.shown("empty.pem")
        self.wait_until(lambda: len(self.skipped().get(changed, [])) == 2, PICKUP_TIMEOUT,
                        "the changed bad file logged again")
        self.assertRegex(self.skipped()[changed][1], r"^no PEM block could be read")
        after = dict(before, **{changed: self.skipped()[changed]})
        self.assert_stays(lambda: self.skipped() == after, "only the changed file is logged again")

        self.assertEqual(self.stop(), 0, self.log_tail())


if __name__ == "__main__":
    unittest.main()

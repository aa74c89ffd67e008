#!/usr/bin/env python3
"""DANE through the real binary (docs/dane.md): the TLSA records the daemon publishes in
`<publish.dir>/tlsa` and answers over D-Bus keep authenticating the server across a renewal of
the internal transport certificate, checked on the wire by OpenSSL's own DANE verifier
(`openssl s_client -dane_tlsa_rrdata`); the next key stays out of the store and the published
files; a CA-issued certificate also gets its issuer's `2 1 1`; a routine renewal waits for
rollover_hold."""

import hashlib
import json
import os
import re
import socket
import subprocess
import time
import unittest

import daemon_integration_test
from daemon_integration_test import (FQDN, GENERATION_TIMEOUT, PICKUP_TIMEOUT,
                                     THUMBPRINT, PEM_BLOCK, openssl, pem_blocks, thumbprint_of)

MANAGER = ("org.transportcertd1", "/org/transportcertd1", "org.transportcertd1.Manager")


def spki_sha256_of_public_key(public_pem):
    """The `3 1 1` data of a public key, as the DANE documentation computes it:
    `openssl pkey -pubin -outform DER | openssl dgst -sha256`."""
    result = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                            input=public_pem.encode(), capture_output=True, timeout=30,
                            check=True)
    return hashlib.sha256(result.stdout).hexdigest()


def spki_sha256_of_certificate(cert_pem):
    return spki_sha256_of_public_key(openssl("x509", "-noout", "-pubkey", stdin=cert_pem))


def spki_sha256_of_private_key(key_pem):
    return spki_sha256_of_public_key(openssl("pkey", "-pubout", stdin=key_pem))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonTest(daemon_integration_test.DaemonTest):
    """DaemonTest with DANE helpers: the records, the keys of files, and OpenSSL's DANE
    verifier. (The test classes below derive from it by this name, so that
    tests/daemon/CMakeLists.txt registers each of them with ctest.)"""

    def tlsa_file(self):
        try:
            return self.read(os.path.join(self.published, "tlsa"))
        except FileNotFoundError:
            return None

    def tlsa_lines(self):
        text = self.tlsa_file() or ""
        return [line for line in text.splitlines() if line and not line.startswith(";")]

    def tlsa_over_bus(self, name):
        """GetTlsaRecords over busctl (JSON output), as an administrator would ask."""
        out = self.busctl("--json=short", "call", *MANAGER, "GetTlsaRecords", "s", name)
        return json.loads(out)["data"][0]

    def spki_hashes_in(self, directory):
        """The `3 1 1` data of every certificate and private key in the files of `directory`."""
        found = {}
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if not os.path.isfile(path) or name == "tlsa":
                continue
            text = self.read(path)
            for match in PEM_BLOCK.finditer(text):
                block = match.group(0)
                if match.group(1) == "CERTIFICATE":
                    found[spki_sha256_of_certificate(block)] = path
                elif match.group(1).endswith("PRIVATE KEY"):
                    found[spki_sha256_of_private_key(block)] = path
        return found

    def assert_next_key_kept_apart(self):
        """The next key is in <state>/next-key.pem (0600) and in no store or published file;
        returns its `3 1 1` data."""
        path = os.path.join(self.state, "next-key.pem")
        self.assert_mode(path, 0o600)
        next_key = spki_sha256_of_private_key(self.read(path))
        for directory in (self.store, self.published):
            found = self.spki_hashes_in(directory)
            self.assertNotIn(next_key, found, f"the next key is in {found.get(next_key)}")
        return next_key

    def serve(self, published_name):
        """Serves the published bundle `published_name` (key, leaf, chain) with openssl s_server
        on a free loopback port; returns the port."""
        text = self.read(os.path.join(self.published, published_name))
        blocks = [m.group(0) for m in PEM_BLOCK.finditer(text)]
        work = os.path.join(self.tmp, f"serve-{time.monotonic_ns()}")
        os.makedirs(work)
        files = {"key.pem": blocks[0], "leaf.pem": blocks[1], "chain.pem": "".join(blocks[2:])}
        for name, content in files.items():
            with open(os.path.join(work, name), "w", encoding="ascii") as f:
                f.write(content)
        port = free_port()
        args = ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}",
                "-key", os.path.join(work, "key.pem"), "-cert", os.path.join(work, "leaf.pem")]
        if files["chain.pem"]:
            args += ["-cert_chain", os.path.join(work, "chain.pem")]
        server = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.addCleanup(self.kill, server)

        def listening():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False
        self.wait_until(listening, 10, "openssl s_server to listen")
        return port

    def dane_verifies(self, port, name, rrdatas):
        """Whether OpenSSL's DANE verifier accepts the server on `port` for `name` with the
        records `rrdatas` ("3 1 1 HEX"); returns (ok, output)."""
        args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name,
                "-dane_tlsa_domain", name]
        for rrdata in rrdatas:
            args += ["-dane_tlsa_rrdata", rrdata]
        result = subprocess.run(args, input="", capture_output=True, text=True, timeout=30,
                                check=False)
        output = result.stdout + result.stderr
        return "Verification: OK" in output, output

    @staticmethod
    def rrdata(line):
        """"_25._tcp.x. IN TLSA 3 1 1 HEX" -> "3 1 1 HEX"."""
        return line.split(" IN TLSA ", 1)[1]


class DaneRollover(DaemonTest):
    """The records published before a renewal still authenticate the server after it."""

    def test_records_read_before_a_renewal_authenticate_the_server_after_it(self):
        self.write_config({"dane": {"ports": "25"}})
        self.start()
        first = self.wait_for_first_internal_transport()
        owner = f"_25._tcp.{FQDN}. IN TLSA"
        self.wait_until(lambda: len(self.tlsa_lines()) == 2, GENERATION_TIMEOUT,
                        "the tlsa file with the certificate's and the next key's records")
        before = self.tlsa_lines()
        self.assertEqual(sorted(self.tlsa_over_bus("")), sorted(before))
        self.assertEqual(sorted(self.tlsa_over_bus(FQDN.upper() + ".")), sorted(before))
        self.assertEqual(self.tlsa_over_bus("elsewhere.example.com"), [], "not published")

        leaf_pem = [m.group(0) for m in PEM_BLOCK.finditer(
            self.read(os.path.join(self.published, "internal-transport.pem")))][1]
        current = spki_sha256_of_certificate(leaf_pem)
        next_key = self.assert_next_key_kept_apart()
        self.assertEqual(before, [f"{owner} 3 1 1 {current}", f"{owner} 3 1 1 {next_key}"])
        text = self.tlsa_file()
        self.assertRegex(text, rf"(?m)^; internal transport certificate {first} \(CN={FQDN}\)"
                               rf".*\n{re.escape(before[0])}$")
        self.assertRegex(text, rf"(?m)^; next key.*\n{re.escape(before[1])}$")
        self.assert_mode(os.path.join(self.published, "tlsa"), 0o600)
        self.wait_for_log(rf"DANE TLSA records changed .*add to DNS now: {re.escape(before[0])}; "
                          rf"{re.escape(before[1])}; remove from DNS after the next renewal: none")

        # The renewal an administrator asks for: it uses the next key at once.
        out = self.busctl("call", *MANAGER, "RenewInternalTransportCertificate")
        renewed = re.search(rf'"({THUMBPRINT})"', out).group(1)
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem") == renewed,
                        GENERATION_TIMEOUT, "the renewed certificate published")
        self.assertNotEqual(renewed, first)

        # On the wire: OpenSSL's DANE verifier, with the records read before the renewal.
        port = self.serve("internal-transport.pem")
        ok, output = self.dane_verifies(port, FQDN, [self.rrdata(line) for line in before])
        self.assertTrue(ok, output)
        self.assertIn("matched EE certificate", output)
        # The control: the old certificate's record alone no longer matches the server.
        ok, output = self.dane_verifies(port, FQDN, [f"3 1 1 {current}"])
        self.assertFalse(ok, output)

        # Afterwards the set only gains the new next key; the old key's record can go.
        self.wait_until(lambda: len(self.tlsa_lines()) == 2 and self.tlsa_lines() != before,
                        GENERATION_TIMEOUT, "the records with the new next key")
        new_next = self.assert_next_key_kept_apart()
        self.assertNotEqual(new_next, next_key)
        after = self.tlsa_lines()
        self.assertEqual(after, [f"{owner} 3 1 1 {next_key}", f"{owner} 3 1 1 {new_next}"])
        self.assertEqual(sorted(self.tlsa_over_bus("")), sorted(after))
        changes = self.wait_for_log(r"DANE TLSA records changed", count=2)
        self.assertEqual(len(changes), 2, "one alert for the renewal")
        self.assertIn(f"add to DNS now: {after[1]}; remove from DNS after the next renewal: "
                      f"{before[0]}", changes[1].message)

    def test_a_routine_renewal_waits_for_rollover_hold_and_uses_the_next_key(self):
        now = int(time.time())
        current = self.certs.make(FQDN, names=[FQDN, "mail"], not_before=now - 60,
                                  not_after=now + 12)
        self.put_in_store("current.pem", current.pem)
        os.makedirs(self.state, mode=0o700)
        self.write_file(os.path.join(self.state, "bindings"),
                        f"internal-transport {current.thumbprint}\n"
                        f"services {current.thumbprint} SMTP\n")
        # Due at once (renew_before 1h); the next key made at start must first be 4 s old.
        self.write_config({"monitor": {"renew_before": "1h", "warn_before": "1s"},
                           "dane": {"rollover_hold": "4s"}})
        self.start()
        self.wait_for_log(r"^new next key ")
        made = os.stat(os.path.join(self.state, "next-key.pem")).st_mtime
        next_key = spki_sha256_of_private_key(
            self.read(os.path.join(self.state, "next-key.pem")))
        self.wait_for_log(r"renewal waits until .* rollover_hold \(4s\)")
        line = self.wait_for_log(rf"new internal transport certificate ({THUMBPRINT})",
                                 timeout=GENERATION_TIMEOUT)[0]
        self.assertGreaterEqual(line.when, made + 4 - 0.01, "not before the hold was over")
        renewed = line.match.group(1)
        self.wait_until(lambda: self.published_thumbprint("internal-transport.pem") == renewed,
                        PICKUP_TIMEOUT, "the renewed certificate published")
        blocks = pem_blocks(self.read(os.path.join(self.published, "internal-transport.pem")))
        leaf = [m.group(0) for m in PEM_BLOCK.finditer(
            self.read(os.path.join(self.published, "internal-transport.pem")))][1]
        self.assertEqual(thumbprint_of(blocks[1][1]), renewed)
        self.assertEqual(spki_sha256_of_certificate(leaf), next_key, "it used the next key")


    def test_a_next_key_that_turns_up_in_the_store_is_replaced(self):
        """A next key in the store is no longer a key only the daemon has: a new one is made,
        and the records name it."""
        self.write_config({"dane": {"ports": "25"}})
        self.start()
        self.wait_for_first_internal_transport()
        self.wait_for_log(r"^new next key ")
        next_key_file = os.path.join(self.state, "next-key.pem")
        leaked = self.read(next_key_file)
        leaked_sha256 = spki_sha256_of_private_key(leaked)
        self.put_in_store("leaked.key", leaked)
        self.wait_for_log(r"generating .* next key .*: a certificate in the store has the "
                          r"current one")
        self.wait_until(lambda: spki_sha256_of_private_key(self.read(next_key_file))
                        != leaked_sha256, GENERATION_TIMEOUT, "a new next key")
        new_next = self.assert_next_key_kept_apart()
        self.wait_until(lambda: any(line.endswith(new_next) for line in self.tlsa_lines()),
                        GENERATION_TIMEOUT, "the records with the new next key")
        self.assertFalse(any(line.endswith(leaked_sha256) for line in self.tlsa_lines()))


class DaneCaIssued(DaemonTest):
    """A CA-issued published name also gets its issuer's `2 1 1`."""

    def make_ca_issued(self, name):
        """Root -> intermediate -> leaf for `name`; returns (root PEM, store bundle with key,
        leaf and intermediate, leaf PEM, intermediate PEM)."""
        work = os.path.join(self.tmp, "ca")
        os.makedirs(work)

        def path(file):
            return os.path.join(work, file)

        def run(*args):
            subprocess.run(["openssl", *args], capture_output=True, check=True, timeout=30)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run("req", "-x509", *ec, "-keyout", path("root.key"), "-out", path("root.pem"),
            "-days", "30", "-subj", "/CN=Test Root CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(path("ca.ext"), "w", encoding="ascii") as f:
            f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        with open(path("leaf.ext"), "w", encoding="ascii") as f:
            f.write(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{name}\n")
        for cert, subject, issuer, ext in (("inter", "/CN=Test Issuing CA", "root", "ca.ext"),
                                           ("leaf", f"/CN={name}", "inter", "leaf.ext")):
            run("req", "-new", *ec, "-keyout", path(f"{cert}.key"), "-out", path(f"{cert}.csr"),
                "-subj", subject)
            run("x509", "-req", "-in", path(f"{cert}.csr"), "-CA", path(f"{issuer}.pem"),
                "-CAkey", path(f"{issuer}.key"), "-CAcreateserial", "-days", "30",
                "-extfile", path(ext), "-out", path(f"{cert}.pem"))
        texts = {f: self.read(path(f)) for f in ("root.pem", "inter.pem", "leaf.pem", "leaf.key")}
        return (texts["root.pem"], texts["leaf.key"] + texts["leaf.pem"] + texts["inter.pem"],
                texts["leaf.pem"], texts["inter.pem"])

    def test_a_ca_issued_name_gets_its_issuers_record_which_authenticates_on_the_wire(self):
        name = "smtp.example.com"
        root, bundle, leaf, intermediate = self.make_ca_issued(name)
        anchors = os.path.join(self.tmp, "root.pem")
        with open(anchors, "w", encoding="ascii") as f:
            f.write(root)
        self.put_in_store("smtp.pem", bundle)
        self.write_config({"selection": {"trust": anchors}, "publish": {"names": name},
                           "dane": {"ports": "25 465"}})
        self.start()
        self.wait_for_first_internal_transport()
        expected = []
        for port in (25, 465):
            owner = f"_{port}._tcp.{name}. IN TLSA"
            expected += [f"{owner} 3 1 1 {spki_sha256_of_certificate(leaf)}",
                         f"{owner} 2 1 1 {spki_sha256_of_certificate(intermediate)}"]
        self.assertEqual(self.tlsa_over_bus(name), expected)
        self.wait_until(lambda: all(line in self.tlsa_lines() for line in expected),
                        PICKUP_TIMEOUT, "the CA-issued name's records in the tlsa file")
        self.assertRegex(self.tlsa_file(), r"; issuing CA CN=Test Issuing CA of certificate ")
        fqdn_records = [line for line in self.tlsa_lines() if f"._tcp.{FQDN}." in line]
        self.assertEqual(len(fqdn_records), 4, "the FQDN: its certificate and the next key")

        # The issuer's record alone authenticates the published chain.
        port = self.serve(f"{name}.pem")
        ok, output = self.dane_verifies(port, name, [self.rrdata(expected[1])])
        self.assertTrue(ok, output)
        self.assertIn("matched TA certificate", output)
        ok, output = self.dane_verifies(port, name, [f"2 1 1 {'0' * 64}"])
        self.assertFalse(ok, output)


if __name__ == "__main__":
    unittest.main()

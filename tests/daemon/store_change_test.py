#!/usr/bin/env python3
"""Store changes through the real daemon and busctl lose nothing (docs/dbus-api.md,
RemoveCertificate and ImportCertificate; docs/configuration.md, [store]).

Each test builds a store the way an administrator might (keys shared in one file, bundles, an
imported internal transport certificate, a renewal racing a removal, a repeated import), asks
the daemon over D-Bus to remove or import, and checks that every certificate that was not
asked to go is still there with its private key, and that what went is kept under
<state>/removed/.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd store_change_test.py -v
"""

import glob
import json
import os
import subprocess
import unittest

from daemon_integration_test import (FQDN, PICKUP_TIMEOUT, DaemonTest, pem_blocks,
                                     thumbprint_of)

MANAGER = ("org.transportcertd1", "/org/transportcertd1", "org.transportcertd1.Manager")


class StoreChanges(DaemonTest):
    """RemoveCertificate takes away only what was asked; ImportCertificate never overwrites."""

    def setUp(self):
        super().setUp()
        self.write_config({"publish": {"names": "a.example.com b.example.com c.example.com "
                                                "site.example.com"}})

    # --- asking the daemon -------------------------------------------------------------------

    def listed(self):
        """{thumbprint: has_private_key} from ListCertificates ({} until the daemon answers)."""
        code, out, _ = self.call("ListCertificates", "", "--json=short")
        return {e[0]: e[9] for e in json.loads(out)["data"][0]} if code == 0 else {}

    def call(self, method, signature="", *args):
        """Calls a Manager method; returns (exit code, stdout, stderr). With no signature,
        `args` are busctl options."""
        options = [] if signature else list(args)
        result = subprocess.run(
            ["busctl", f"--address={self.bus_address}", *options, "--", "call", *MANAGER, method,
             *([signature, *args] if signature else [])],
            capture_output=True, text=True, timeout=60, check=False)
        return result.returncode, result.stdout, result.stderr

    def remove(self, thumbprint):
        code, _, err = self.call("RemoveCertificate", "s", thumbprint)
        if code != 0:
            # busctl shows every AccessDenied as "Access denied"; dbus-send shows the daemon's
            # reason too.
            again = subprocess.run(
                ["dbus-send", f"--bus={self.bus_address}", "--print-reply",
                 f"--dest={MANAGER[0]}", MANAGER[1], f"{MANAGER[2]}.RemoveCertificate",
                 f"string:{thumbprint}"],
                capture_output=True, text=True, timeout=60, check=False)
            err += f"(dbus-send, asking again: {again.returncode}, {again.stderr.strip()})"
        self.assertEqual(code, 0, err)

    def import_pem(self, pem):
        code, out, err = self.call("ImportCertificate", "sas", pem, "0")
        self.assertEqual(code, 0, err)
        return out.split('"')[1]

    def wait_for(self, *thumbprints):
        self.wait_until(lambda: all(t in self.listed() for t in thumbprints), PICKUP_TIMEOUT,
                        "the certificates in the inventory")

    def assert_has_key(self, certificate):
        listed = self.listed()
        self.assertIn(certificate.thumbprint, listed, "the certificate is gone from the store")
        self.assertTrue(listed[certificate.thumbprint], "the certificate lost its private key")

    def kept(self, thumbprint):
        """The files kept by the removal of `thumbprint`: {name: text}."""
        dirs = glob.glob(os.path.join(self.state, "removed", f"*-{thumbprint}"))
        self.assertEqual(len(dirs), 1, f"one directory under removed/ for {thumbprint}")
        self.assertEqual(os.stat(dirs[0]).st_mode & 0o777, 0o700)
        return {name: self.read(os.path.join(dirs[0], name)) for name in os.listdir(dirs[0])}

    def store_thumbprints(self):
        """Every certificate in the store's files, read with our own eyes (not the daemon's)."""
        found = set()
        for path in glob.glob(os.path.join(self.store, "*")):
            for label, der in pem_blocks(self.read(path)):
                if label == "CERTIFICATE":
                    found.add(thumbprint_of(der))
        return found

    # --- the five reproductions --------------------------------------------------------------

    def test_removing_one_of_two_keys_in_one_file_keeps_the_other(self):
        a = self.certs.make("a.example.com")
        b = self.certs.make("b.example.com")
        self.put_in_store("a.crt", a.cert_pem)
        self.put_in_store("b.crt", b.cert_pem)
        self.put_in_store("keys.key", a.key_pem + b.key_pem)
        self.start()
        self.wait_for(a.thumbprint, b.thumbprint)
        self.wait_until(lambda: self.published_thumbprint("b.example.com.pem") == b.thumbprint,
                        PICKUP_TIMEOUT, "b published")

        self.remove(a.thumbprint)

        self.assertNotIn(a.thumbprint, self.listed())
        self.assert_has_key(b)
        self.assertEqual(self.read(os.path.join(self.store, "keys.key")), b.key_pem)
        self.assert_stays(lambda: self.published_thumbprint("b.example.com.pem") == b.thumbprint,
                          "b stays published")
        self.assertEqual(self.kept(a.thumbprint),
                         {"a.crt": a.cert_pem, "keys.key": a.key_pem + b.key_pem})
        self.wait_for_log(rf"removed certificate {a.thumbprint} and its private key; the "
                          r"original files are kept in .*/removed/\d{8}T\d{6}Z-" + a.thumbprint)

    def test_removing_a_certificate_whose_key_is_in_a_bundle_keeps_the_bundle(self):
        c = self.certs.make("c.example.com")
        d = self.certs.make("d.example.com")
        self.put_in_store("c-bundle.pem", c.cert_pem + c.key_pem + d.key_pem)
        self.put_in_store("d.crt", d.cert_pem)
        self.start()
        self.wait_for(c.thumbprint, d.thumbprint)

        self.remove(d.thumbprint)

        self.assertNotIn(d.thumbprint, self.listed())
        self.assert_has_key(c)
        self.assertEqual(self.read(os.path.join(self.store, "c-bundle.pem")),
                         c.cert_pem + c.key_pem)
        self.assertIn("c-bundle.pem", self.kept(d.thumbprint))

    def test_removing_a_certificate_keeps_the_internal_transport_certificate_in_its_file(self):
        x = self.certs.make(FQDN)
        e = self.certs.make("e.example.com")
        self.start()
        first = self.wait_for_first_internal_transport()
        imported = self.import_pem(x.cert_pem + x.key_pem + e.key_pem)
        self.assertEqual(imported, x.thumbprint)
        code, _, err = self.call("EnableCertificate", "sasb", x.thumbprint, "1", "SMTP", "true")
        self.assertEqual(code, 0, err)
        self.wait_until(lambda: self.designated() == x.thumbprint, PICKUP_TIMEOUT,
                        "X designated")
        self.put_in_store("e.crt", e.cert_pem)
        self.wait_for(e.thumbprint)
        generated_before = len(self.logged(r"new internal transport certificate"))

        self.remove(e.thumbprint)

        self.assert_has_key(x)
        self.assertEqual(self.designated(), x.thumbprint)
        self.assert_stays(
            lambda: len(self.logged(r"new internal transport certificate")) == generated_before,
            "no replacement generated")
        self.assertIn(first, self.listed())

    def test_a_renewal_renamed_in_during_the_debounce_survives_removing_the_old_one(self):
        old = self.certs.make("site.example.com")
        renewed = self.certs.make("site.example.com")
        self.put_in_store("site.pem", old.pem)
        self.start()
        self.wait_for(old.thumbprint)

        self.put_in_store("site.pem", renewed.pem)  # write + rename, then at once:
        code, _, err = self.call("RemoveCertificate", "s", old.thumbprint)

        # The removal looks at the store as it is now, not as the last (debounced) scan saw
        # it: the old certificate is gone already, and so the call says.
        self.assertNotEqual(code, 0)
        self.assertIn(f"no certificate {old.thumbprint} in the store", err)
        self.wait_for(renewed.thumbprint)
        self.assert_has_key(renewed)
        self.assertNotIn(old.thumbprint, self.listed())
        self.assertEqual(self.read(os.path.join(self.store, "site.pem")), renewed.pem)

    def test_importing_part_of_an_earlier_import_again_changes_nothing(self):
        a = self.certs.make("a.example.com")
        b = self.certs.make("b.example.com")
        self.start()
        self.wait_for_first_internal_transport()
        self.import_pem(a.cert_pem + a.key_pem + b.cert_pem + b.key_pem)
        files_before = {p: self.read(p) for p in glob.glob(os.path.join(self.store, "*"))}

        self.assertEqual(self.import_pem(a.cert_pem + a.key_pem), a.thumbprint)

        self.assert_has_key(a)
        self.assert_has_key(b)
        self.assertEqual({p: self.read(p) for p in glob.glob(os.path.join(self.store, "*"))},
                         files_before)
        self.wait_for_log(rf"the store already holds it; nothing changed")

    # --- what is refused -----------------------------------------------------------------

    def test_the_internal_transport_certificate_cannot_be_removed(self):
        self.start()
        internal = self.wait_for_first_internal_transport()

        code, _, err = self.call("RemoveCertificate", "s", internal)

        self.assertNotEqual(code, 0)
        self.assertIn("internal transport certificate", err)
        self.assertIn(internal, self.store_thumbprints())
        self.assertFalse(os.path.exists(os.path.join(self.state, "removed")))

    def test_a_removed_certificate_is_restored_by_moving_its_files_back(self):
        a = self.certs.make("a.example.com")
        self.put_in_store("a.pem", a.pem)
        self.start()
        self.wait_for(a.thumbprint)
        self.remove(a.thumbprint)
        self.assertNotIn(a.thumbprint, self.store_thumbprints())

        (directory,) = glob.glob(os.path.join(self.state, "removed", f"*-{a.thumbprint}"))
        for name in os.listdir(directory):
            os.rename(os.path.join(directory, name), os.path.join(self.store, name))

        self.wait_for(a.thumbprint)
        self.assert_has_key(a)

    def test_removed_files_are_deleted_after_keep_removed(self):
        self.write_config({"publish": {"names": "a.example.com"},
                           "store": {"keep_removed": "2s"}})
        a = self.certs.make("a.example.com")
        self.put_in_store("a.pem", a.pem)
        self.start()
        self.wait_for(a.thumbprint)
        self.remove(a.thumbprint)
        self.assertEqual(len(glob.glob(os.path.join(self.state, "removed", "*"))), 1)

        # No store event follows: the daemon's own deadline deletes them.
        self.wait_until(lambda: not glob.glob(os.path.join(self.state, "removed", "*")),
                        PICKUP_TIMEOUT + 3, "the kept files deleted after keep_removed")
        self.wait_for_log(r"deleted 1 removed certificate")


if __name__ == "__main__":
    unittest.main()

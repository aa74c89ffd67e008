#!/usr/bin/env python3
"""Certificates from an ACME CA reach the store, the selection and the published files through
the certbot deploy hook (packaging/certbot-deploy-hook, docs/acme.md).

Real parts only: pebble (Let's Encrypt's test CA) with challenge validation switched off and
certbot, both Debian packages, on loopback; the real daemon on a private dbus-daemon, which
the hook reaches as "the system bus" through DBUS_SYSTEM_BUS_ADDRESS; pebble's root CA given
to the daemon as `[selection] trust`.

Nothing sleeps to make an assertion true: every wait polls for a condition up to a deadline.
Durations are printed, never asserted.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd tests/acme/acme_test.py -v
"""

import glob
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
sys.path.insert(0, HERE)

# pylint: disable=wrong-import-position
import acme_support  # noqa: E402
from daemon_integration_test import (  # noqa: E402
    PICKUP_TIMEOUT, DaemonTest, pem_blocks, thumbprint_of)

HOOK = os.environ.get("TRANSPORTCERTD_DEPLOY_HOOK",
                      os.path.join(HERE, "..", "..", "packaging", "certbot-deploy-hook"))
NAME = "mx.example.test"
RETIRE_AFTER = 3  # seconds: [store] retire_superseded in the certbot test
HOOK_MESSAGE = "transportcertd certbot-deploy-hook: "


def certificate_thumbprints(path):
    with open(path, encoding="ascii") as f:
        return [thumbprint_of(der) for label, der in pem_blocks(f.read()) if label == "CERTIFICATE"]


class HookTest(DaemonTest):
    """Helpers to run the deploy hook against the test's daemon and to look at the result."""

    def hook_environment(self, extra=None):
        env = {k: v for k, v in os.environ.items()
               if k not in ("RENEWED_LINEAGE", "TRANSPORTCERTD_SERVICES")}
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        env.update(extra or {})
        return env

    def run_hook(self, lineage=None, services=None):
        extra = {}
        if lineage is not None:
            extra["RENEWED_LINEAGE"] = lineage
        if services is not None:
            extra["TRANSPORTCERTD_SERVICES"] = services
        return subprocess.run([HOOK], capture_output=True, text=True, timeout=60, check=False,
                              env=self.hook_environment(extra), stdin=subprocess.DEVNULL)

    def property_of(self, thumbprint, name):
        return self.busctl("get-property", "org.transportcertd1",
                           f"/org/transportcertd1/certificate/{thumbprint}",
                           "org.transportcertd1.Certificate", name).strip()

    def select(self, name, service="SMTP"):
        out = self.busctl("call", "org.transportcertd1", "/org/transportcertd1",
                          "org.transportcertd1.Manager", "SelectCertificate", "ss", name, service)
        m = re.fullmatch(r'ss "([0-9A-Fa-f]+)" "(.*)"\n', out)
        self.assertIsNotNone(m, out)
        return m.group(1).upper(), m.group(2)

    def make_lineage(self, directory, fullchain, privkey):
        """A certbot-like lineage: live/NAME/{fullchain,privkey}.pem as symbolic links into
        archive/NAME/ (either text may be None to leave that file out)."""
        archive = os.path.join(directory, "archive")
        live = os.path.join(directory, "live")
        os.makedirs(archive)
        os.makedirs(live)
        for name, text in (("fullchain", fullchain), ("privkey", privkey)):
            if text is None:
                continue
            with open(os.path.join(archive, f"{name}1.pem"), "w", encoding="ascii") as f:
                f.write(text)
            os.symlink(f"../archive/{name}1.pem", os.path.join(live, f"{name}.pem"))
        return live

    def snapshot(self):
        """What an import would change: the store's files with their contents, the bindings."""
        files = {}
        for name in sorted(os.listdir(self.store)):
            files[name] = self.read(os.path.join(self.store, name))
        return files, self.read(os.path.join(self.state, "bindings"))


class DeployHook(HookTest):
    """The hook on its own, with lineages made here: services, idempotence, and failures."""

    def setUp(self):
        super().setUp()
        self.start()
        self.internal = self.wait_for_first_internal_transport()

    def test_imports_a_lineage_for_the_services_asked_for_or_the_default(self):
        made = self.certs.make("smtp.example.com")
        lineage = self.make_lineage(os.path.join(self.tmp, "one"), made.cert_pem, made.key_pem)
        result = self.run_hook(lineage, services="SMTP,IMAP")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout,
                         f"{HOOK_MESSAGE}imported {lineage} as certificate {made.thumbprint}\n")
        self.assertEqual(self.property_of(made.thumbprint, "Services"), 'as 2 "SMTP" "IMAP"')
        self.assertEqual(self.property_of(made.thumbprint, "HasPrivateKey"), "b true")

        other = self.certs.make("imap.example.com")
        lineage = self.make_lineage(os.path.join(self.tmp, "two"), other.cert_pem, other.key_pem)
        result = self.run_hook(lineage)  # TRANSPORTCERTD_SERVICES unset: default_services
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.property_of(other.thumbprint, "Services"), 'as 1 "SMTP"')

    def test_running_again_on_the_same_lineage_changes_nothing(self):
        made = self.certs.make("smtp.example.com")
        lineage = self.make_lineage(os.path.join(self.tmp, "one"), made.cert_pem, made.key_pem)
        self.assertEqual(self.run_hook(lineage).returncode, 0)
        self.wait_until(lambda: self.logged(rf"imported certificate {made.thumbprint}"),
                        PICKUP_TIMEOUT, "the import")
        self.wait_for_reloads_to_finish()
        before, reloads = self.snapshot(), self.reload_count()
        result = self.run_hook(lineage)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(made.thumbprint, result.stdout)
        self.assert_stays(lambda: self.snapshot() == before and self.reload_count() == reloads,
                          "the second import changed the store, the bindings or reloaded")

    def test_a_broken_lineage_fails_with_one_line_and_changes_nothing(self):
        made = self.certs.make("smtp.example.com")
        stranger = self.certs.make("other.example.com")
        cases = {
            "no RENEWED_LINEAGE": (None, r"RENEWED_LINEAGE is not set"),
            "missing directory": (os.path.join(self.tmp, "nowhere"),
                                  r"nowhere: no such certbot lineage directory"),
            "no privkey.pem": (self.make_lineage(os.path.join(self.tmp, "nokey"),
                                                 made.cert_pem, None),
                               r"nokey/live/privkey\.pem: missing"),
            "dangling fullchain.pem": (None, r"dangling/live/fullchain\.pem: missing"),
            "empty fullchain.pem": (self.make_lineage(os.path.join(self.tmp, "empty"), "",
                                                      made.key_pem),
                                    r"empty/live/fullchain\.pem: empty"),
            "key of another certificate": (
                self.make_lineage(os.path.join(self.tmp, "mismatch"), made.cert_pem,
                                  stranger.key_pem),
                r"importing .*mismatch/live failed: .*no unencrypted private key matching"),
            "garbage": (self.make_lineage(os.path.join(self.tmp, "garbage"),
                                          "-----BEGIN CERTIFICATE-----\nnot base64\n",
                                          made.key_pem),
                        r"importing .*garbage/live failed: "),
            "unknown service": (self.make_lineage(os.path.join(self.tmp, "service"),
                                                  made.cert_pem, made.key_pem),
                                r"importing .*service/live failed: .*FTP"),
        }
        dangling = self.make_lineage(os.path.join(self.tmp, "dangling"), made.cert_pem,
                                     made.key_pem)
        os.unlink(os.path.join(self.tmp, "dangling", "archive", "fullchain1.pem"))
        cases["dangling fullchain.pem"] = (dangling, cases["dangling fullchain.pem"][1])
        self.wait_for_reloads_to_finish()
        before, reloads = self.snapshot(), self.reload_count()
        for what, (lineage, message) in cases.items():
            with self.subTest(what):
                result = self.run_hook(lineage, services="FTP" if what == "unknown service"
                                       else None)
                self.assertNotEqual(result.returncode, 0, result.stdout)
                self.assertEqual(result.stdout, "")
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertTrue(result.stderr.startswith(HOOK_MESSAGE), result.stderr)
                self.assertRegex(result.stderr, message)
                print(f"  {what}: {result.stderr.strip()}", file=sys.stderr)
        self.assert_stays(lambda: self.snapshot() == before and self.reload_count() == reloads,
                          "a failed import changed the store, the bindings or reloaded")
        self.assertIsNone(self.daemon.poll(), self.log_tail())

    def test_fails_with_one_line_when_the_daemon_is_not_there(self):
        made = self.certs.make("smtp.example.com")
        lineage = self.make_lineage(os.path.join(self.tmp, "one"), made.cert_pem, made.key_pem)
        self.stop()
        result = self.run_hook(lineage)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertRegex(result.stderr, rf"^{HOOK_MESSAGE}importing .* failed: .+")


class TrustAnchors(HookTest):
    """[selection] trust: a chain to an organisation's own root counts as verified once the root
    is named there, also when it is added by a reload of the configuration."""

    def make_ca_issued(self, name):
        """A root CA, and a certificate for `name` it issued; returns (root PEM, leaf PEM + key
        PEM, leaf thumbprint)."""
        work = os.path.join(self.tmp, "ca")
        os.makedirs(work)

        def path(file):
            return os.path.join(work, file)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("root.key"),
                        "-out", path("root.pem"), "-days", "30", "-subj", "/CN=Our Root CA",
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                       capture_output=True, check=True, timeout=30)
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("leaf.key"),
                        "-out", path("leaf.csr"), "-subj", f"/CN={name}"],
                       capture_output=True, check=True, timeout=30)
        with open(path("leaf.ext"), "w", encoding="ascii") as f:
            f.write(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{name}\n")
        subprocess.run(["openssl", "x509", "-req", "-in", path("leaf.csr"), "-CA", path("root.pem"),
                        "-CAkey", path("root.key"), "-CAcreateserial", "-days", "30",
                        "-extfile", path("leaf.ext"), "-out", path("leaf.pem")],
                       capture_output=True, check=True, timeout=30)
        texts = {}
        for file in ("root.pem", "leaf.pem", "leaf.key"):
            with open(path(file), encoding="ascii") as f:
                texts[file] = f.read()
        leaf = certificate_thumbprints(path("leaf.pem"))[0]
        return texts["root.pem"], texts["leaf.pem"] + texts["leaf.key"], leaf

    def test_a_root_named_by_a_reloaded_configuration_verifies_the_chain(self):
        root, bundle, leaf = self.make_ca_issued("smtp.example.com")
        anchors = os.path.join(self.tmp, "anchors")  # a directory of plain PEM files
        os.makedirs(anchors)
        with open(os.path.join(anchors, "our-root.crt"), "w", encoding="ascii") as f:
            f.write(root)
        self.put_in_store("smtp.pem", bundle)
        self.start()
        self.wait_for_first_internal_transport()
        selected, reason = self.select("smtp.example.com")
        self.assertEqual(selected, leaf, reason)
        self.assertIn("CA-issued with an incomplete chain", reason)

        self.write_config({"selection": {"trust": anchors}})
        self.send(signal.SIGHUP)
        self.wait_until(lambda: "verified chain" in self.select("smtp.example.com")[1],
                        PICKUP_TIMEOUT, "the chain to count as verified after the reload")

        # A broken anchor file is a configuration error with file and line; the running
        # configuration is kept.
        with open(os.path.join(anchors, "broken.pem"), "w", encoding="ascii") as f:
            f.write("not a certificate\n")
        self.write_config({"selection": {"trust": anchors}, "daemon": {"log_level": "debug"}})
        self.send(signal.SIGHUP)
        self.wait_for_log(rf"reload failed, keeping the running configuration: "
                          rf"{re.escape(self.config_path)}:\d+: trust: "
                          rf"{re.escape(os.path.join(anchors, 'broken.pem'))}: holds no certificate")
        self.assertIn("verified chain", self.select("smtp.example.com")[1])


class Certbot(HookTest):
    """pebble issues, certbot runs the hook, the daemon selects and publishes; then a renewal."""

    def setUp(self):
        super().setUp()
        missing = acme_support.missing_programs()
        if missing:
            self.skipTest(f"not installed: {' '.join(missing)} (scripts/deps installs them)")
        self.pebble = acme_support.Pebble(os.path.join(self.tmp, "pebble"))
        self.addCleanup(self.pebble.stop)
        root = os.path.join(self.tmp, "pebble-root.pem")
        with open(root, "w", encoding="ascii") as f:
            f.write(self.pebble.root_pem())
        self.certbot = acme_support.Certbot(self.pebble, os.path.join(self.tmp, "certbot"))
        # certbot runs this wrapper, which runs the hook and notes when it returned.
        self.hook_returns = os.path.join(self.tmp, "hook-returns")
        self.hook_output = os.path.join(self.tmp, "hook-output")
        self.wrapper = os.path.join(self.tmp, "deploy-hook")
        with open(self.wrapper, "w", encoding="ascii") as f:
            f.write(f"""#!/bin/sh
'{HOOK}' >>'{self.hook_output}' 2>&1
status=$?
date +%s.%N >>'{self.hook_returns}'
exit $status
""")
        os.chmod(self.wrapper, 0o755)
        # Enabled as docs/acme.md says: a symbolic link in certbot's deploy hook directory,
        # also named with --deploy-hook for the first issuance (certbot runs directory hooks
        # only on renewal, and runs a hook found there and named again only once).
        self.enabled_hook = os.path.join(self.certbot.deploy_hook_dir(), "transportcertd")
        os.symlink(self.wrapper, self.enabled_hook)
        self.write_config({"selection": {"trust": root}, "publish": {"names": NAME},
                           "store": {"retire_superseded": f"{RETIRE_AFTER}s"}})
        self.start()
        self.wait_for_first_internal_transport()

    def hook_returned_at(self):
        with open(self.hook_returns, encoding="ascii") as f:
            return float(f.read().split()[-1])

    def certbot_env(self):
        return self.hook_environment()

    def assert_taken_over(self, reloads_before):
        """The lineage's certificate is in the store with its key, selected for NAME with a
        verified chain, and published with its chain, followed by one reload. Returns the
        leaf's thumbprint, and the seconds from the hook's return to the published file and to
        the end of the reload command (negative: before the hook returned)."""
        lineage = self.certbot.lineage(NAME)
        leaf, *chain = certificate_thumbprints(os.path.join(lineage, "fullchain.pem"))
        with open(self.hook_output, encoding="utf-8") as f:
            self.assertIn(f"imported {lineage} as certificate {leaf}\n", f.read())

        def published():
            return self.published_thumbprint(f"{NAME}.pem") == leaf
        self.wait_until(published, PICKUP_TIMEOUT, f"{leaf} published for {NAME}")
        elapsed = (os.stat(os.path.join(self.published, f"{NAME}.pem")).st_mtime
                   - self.hook_returned_at())
        self.assertEqual(self.property_of(leaf, "HasPrivateKey"), "b true")
        selected, reason = self.select(NAME)
        self.assertEqual(selected, leaf, reason)
        self.assertIn("CA-issued with a verified chain", reason)
        self.assert_published_bundle(f"{NAME}.pem", leaf)
        blocks = self.published_blocks(f"{NAME}.pem")
        self.assertEqual([thumbprint_of(der) for label, der in blocks if label == "CERTIFICATE"],
                         [leaf, *chain], "the leaf then pebble's intermediate, without the root")
        self.assert_reloads(reloads_before + 1, "runs of reload_command for the import")
        reloaded = os.stat(self.reloads).st_mtime - self.hook_returned_at()
        return leaf, elapsed, reloaded

    def test_issues_imports_selects_publishes_and_renews(self):
        reloads = self.reload_count()
        started = time.monotonic()
        result = self.certbot.certonly(NAME, self.enabled_hook, self.certbot_env())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        first, published, reloaded = self.assert_taken_over(reloads)
        print(f"\n  certonly: {time.monotonic() - started:.1f} s for certbot; relative to the "
              f"hook's return: published {published * 1000:+.0f} ms, reloaded "
              f"{reloaded * 1000:+.0f} ms", file=sys.stderr)

        reloads = self.reload_count()
        started = time.monotonic()
        result = self.certbot.renew(self.certbot_env())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        renewed, published, reloaded = self.assert_taken_over(reloads)
        self.assertNotEqual(renewed, first)
        with open(self.hook_returns, encoding="ascii") as f:
            self.assertEqual(len(f.read().split()), 2, "the hook ran once per issuance")
        print(f"  renew: {time.monotonic() - started:.1f} s for certbot; relative to the "
              f"hook's return: published {published * 1000:+.0f} ms, reloaded "
              f"{reloaded * 1000:+.0f} ms", file=sys.stderr)
        # The renewed certificate outranks the first one, which is retired once it has been
        # superseded for retire_superseded: taken out of the store into removed/, key and all.
        self.wait_for_log(rf"retired superseded \(for {RETIRE_AFTER}s\) certificate {first} "
                          r"and its private key; the original files are kept in "
                          rf".*/removed/\d{{8}}T\d{{6}}Z-{first}",
                          timeout=PICKUP_TIMEOUT + RETIRE_AFTER)
        self.assertNotIn(first, self.busctl("call", "org.transportcertd1", "/org/transportcertd1",
                                            "org.transportcertd1.Manager", "ListCertificates"))
        (kept,) = glob.glob(os.path.join(self.state, "removed", f"*-{first}"))
        kept_certificates = set()
        for name in os.listdir(kept):
            kept_certificates.update(certificate_thumbprints(os.path.join(kept, name)))
        self.assertIn(first, kept_certificates)
        self.assertEqual(self.property_of(renewed, "HasPrivateKey"), "b true")
        self.assertEqual(self.select(NAME)[0], renewed)
        self.assertIsNone(self.daemon.poll(), self.log_tail())


if __name__ == "__main__":
    unittest.main()

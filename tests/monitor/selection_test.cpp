#include "monitor/selection.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "tests/support/assertions.h"
#include "tests/support/cert_factory.h"

namespace transportcertd {
namespace {

using testing::CertSpec;
using testing::MakeCa;
using testing::MakeCertificate;
using testing::TestCert;

constexpr std::int64_t kDay = 86400;

using testing::Contains;

class ASelection : public ::testing::Test {
 protected:
  // Makes a real certificate from `spec` (dated relative to now_) and puts it in the store;
  // returns its thumbprint.
  std::string Store(CertSpec spec, ChainStatus chain, bool with_key = true) {
    spec.now = now_;
    const TestCert made = MakeCertificate(spec);
    Result<Certificate> described = DescribeCertificate(made.x509.get());
    EXPECT_TRUE(described.ok()) << (described.ok() ? "" : described.error().message);
    if (!described.ok()) {
      return {};
    }
    StoredCertificate stored;
    stored.certificate = std::make_shared<const Certificate>(std::move(described).value());
    stored.file_names = {made.thumbprint + ".pem"};
    if (with_key) {
      stored.key_file_name = made.thumbprint + ".key";
    }
    stored.chain = chain;
    inventory_.certificates.push_back(std::move(stored));
    return made.thumbprint;
  }

  std::string StoreSelfSigned(CertSpec spec = {}) {
    return Store(std::move(spec), ChainStatus::kSelfSigned);
  }

  std::string StoreCaIssued(CertSpec spec = {}, ChainStatus chain = ChainStatus::kVerified) {
    spec.issuer = &ca_;
    return Store(std::move(spec), chain);
  }

  std::string StoreWithoutKey(CertSpec spec = {}) {
    return Store(std::move(spec), ChainStatus::kSelfSigned, /*with_key=*/false);
  }

  static CertSpec Named(std::vector<std::string> dns_names) {
    CertSpec spec;
    spec.dns_names = std::move(dns_names);
    return spec;
  }

  static CertSpec Expired() {
    CertSpec spec;
    spec.not_before_offset = -400 * kDay;
    spec.not_after_offset = -10 * kDay;
    return spec;
  }

  static CertSpec Dated(std::int64_t not_before_offset, std::int64_t not_after_offset) {
    CertSpec spec;
    spec.not_before_offset = not_before_offset;
    spec.not_after_offset = not_after_offset;
    return spec;
  }

  // The full selection; every call also checks that the full selection through a NameIndex
  // judges every certificate alike and that SelectWinner picks the same winner for the same
  // reason, so each test here tests all three.
  Selection SelectFor(const std::string& fqdn = "mail.example.com",
                      Service service = Service::kSmtp) const {
    const SelectionInput input{.inventory = inventory_,
                               .bindings = bindings_,
                               .default_services = default_services_,
                               .fqdn = fqdn,
                               .service = service,
                               .wildcard = wildcard_,
                               .now = now_};
    Selection full = Select(input);
    const NameIndex index(inventory_);
    const Selection fast = SelectWinner(input, index);
    const Selection indexed = Select(input, &index);
    EXPECT_EQ(WinnerOf(indexed), WinnerOf(full)) << fqdn;
    EXPECT_EQ(indexed.reason, full.reason) << fqdn;
    EXPECT_EQ(indexed.winner_expired, full.winner_expired) << fqdn;
    EXPECT_EQ(indexed.judgements.size(), full.judgements.size()) << fqdn;
    for (std::size_t i = 0; i < full.judgements.size() && i < indexed.judgements.size(); ++i) {
      EXPECT_EQ(indexed.judgements[i].thumbprint, full.judgements[i].thumbprint) << fqdn;
      EXPECT_EQ(indexed.judgements[i].verdict, full.judgements[i].verdict) << fqdn;
      EXPECT_EQ(indexed.judgements[i].reason, full.judgements[i].reason) << fqdn;
    }
    EXPECT_EQ(WinnerOf(fast), WinnerOf(full)) << "SelectWinner and Select differ for " << fqdn;
    EXPECT_EQ(fast.reason, full.reason) << fqdn;
    EXPECT_EQ(fast.winner_expired, full.winner_expired) << fqdn;
    EXPECT_TRUE(fast.judgements.empty());
    return full;
  }

  static std::string WinnerOf(const Selection& selection) {
    return selection.winner != nullptr ? std::string(selection.winner->cert().thumbprint())
                                       : "(no winner)";
  }

  static Judgement JudgementOf(const Selection& selection, const std::string& thumbprint) {
    const auto it = std::find_if(selection.judgements.begin(), selection.judgements.end(),
                                 [&](const Judgement& j) { return j.thumbprint == thumbprint; });
    if (it == selection.judgements.end()) {
      ADD_FAILURE() << "no judgement for " << thumbprint;
      return {};
    }
    return *it;
  }

  // The reason an ineligible certificate is given, checking that it is ineligible.
  std::string WhyIneligible(const std::string& thumbprint,
                            const std::string& fqdn = "mail.example.com") const {
    const Judgement judgement = JudgementOf(SelectFor(fqdn), thumbprint);
    EXPECT_EQ(judgement.verdict, Verdict::kIneligible) << judgement.reason;
    return judgement.reason;
  }

  const Certificate& CertOf(const std::string& thumbprint) const {
    const auto it = std::find_if(
        inventory_.certificates.begin(), inventory_.certificates.end(),
        [&](const StoredCertificate& s) { return s.cert().thumbprint() == thumbprint; });
    EXPECT_NE(it, inventory_.certificates.end());
    return it->cert();
  }

  static std::string Short(const std::string& thumbprint) { return thumbprint.substr(0, 8); }

  UnixTime now_ = static_cast<UnixTime>(std::time(nullptr));
  TestCert ca_ = MakeCa("Example Issuing CA");
  Inventory inventory_;
  Bindings bindings_;
  ServiceSet default_services_ = Bit(Service::kSmtp);
  WildcardMode wildcard_ = WildcardMode::kOneLevel;
};

// ---- The winner and its reason ----

TEST_F(ASelection, SelectsTheOnlyEligibleCertificateAndSaysWhy) {
  const std::string only = StoreCaIssued();

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), only);
  EXPECT_FALSE(selection.winner_expired);
  EXPECT_TRUE(Contains(selection.reason, "exact name match"));
  EXPECT_TRUE(Contains(selection.reason, "valid until " + FormatDate(CertOf(only).not_after)));
  EXPECT_TRUE(Contains(selection.reason, "CA-issued with a verified chain"));

  const Judgement judgement = JudgementOf(selection, only);
  EXPECT_EQ(judgement.verdict, Verdict::kSelected);
  EXPECT_EQ(judgement.reason, selection.reason);
}

TEST_F(ASelection, HasNoWinnerWhenNothingIsEligible) {
  StoreSelfSigned(Named({"other.example.net"}));

  const Selection selection = SelectFor();

  EXPECT_EQ(selection.winner, nullptr);
  EXPECT_TRUE(selection.reason.empty());
  EXPECT_FALSE(selection.winner_expired);
  ASSERT_EQ(selection.judgements.size(), 1u);
  EXPECT_EQ(selection.judgements[0].verdict, Verdict::kIneligible);
}

TEST_F(ASelection, HasNoWinnerForAnEmptyStore) {
  const Selection selection = SelectFor();

  EXPECT_EQ(selection.winner, nullptr);
  EXPECT_TRUE(selection.judgements.empty());
}

TEST_F(ASelection, ExplainsEveryCertificateOnceInInventoryOrder) {
  const std::string mismatch = StoreSelfSigned(Named({"other.example.net"}));
  const std::string outranked = StoreSelfSigned();
  const std::string no_key = StoreWithoutKey();
  const std::string winner = StoreCaIssued();

  const Selection selection = SelectFor();

  ASSERT_EQ(selection.judgements.size(), 4u);
  EXPECT_EQ(selection.judgements[0].thumbprint, mismatch);
  EXPECT_EQ(selection.judgements[1].thumbprint, outranked);
  EXPECT_EQ(selection.judgements[2].thumbprint, no_key);
  EXPECT_EQ(selection.judgements[3].thumbprint, winner);
  EXPECT_EQ(selection.judgements[0].verdict, Verdict::kIneligible);
  EXPECT_EQ(selection.judgements[1].verdict, Verdict::kEligible);
  EXPECT_EQ(selection.judgements[2].verdict, Verdict::kIneligible);
  EXPECT_EQ(selection.judgements[3].verdict, Verdict::kSelected);
  EXPECT_EQ(WinnerOf(selection), winner);
  for (const Judgement& judgement : selection.judgements) {
    EXPECT_FALSE(judgement.reason.empty()) << judgement.thumbprint;
    EXPECT_EQ(judgement.reason.find('\n'), std::string::npos) << judgement.reason;
  }
}

TEST_F(ASelection, NamesTheWinnerByItsFirstEightThumbprintCharactersWhenOutranking) {
  const std::string loser = StoreSelfSigned();
  const std::string winner = StoreCaIssued();

  const Judgement judgement = JudgementOf(SelectFor(), loser);

  EXPECT_EQ(judgement.verdict, Verdict::kEligible);
  EXPECT_EQ(judgement.reason, "outranked by " + Short(winner) + "…: CA-issued beats self-signed");
}

TEST_F(ASelection, PointsIntoTheInputInventory) {
  StoreSelfSigned(Named({"other.example.net"}));
  StoreSelfSigned();

  const Selection selection = SelectFor();

  EXPECT_EQ(selection.winner, &inventory_.certificates[1]);
}

// ---- Ranking 1: exact over wildcard ----

TEST_F(ASelection, PrefersAnExactNameOverAWildcardEvenWhenTheWildcardIsNewer) {
  const std::string exact = StoreSelfSigned(Dated(-300 * kDay, 60 * kDay));
  CertSpec newer_wildcard = Named({"*.example.com"});
  newer_wildcard.not_before_offset = -1 * kDay;
  newer_wildcard.not_after_offset = 700 * kDay;
  const std::string wildcard = StoreCaIssued(newer_wildcard);

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), exact);
  EXPECT_EQ(JudgementOf(selection, wildcard).reason,
            "outranked by " + Short(exact) + "…: exact name beats wildcard");
}

TEST_F(ASelection, PrefersAnExpiredExactNameOverAValidWildcard) {
  const std::string expired_exact = StoreCaIssued(Expired());
  const std::string wildcard = StoreCaIssued(Named({"*.example.com"}));

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), expired_exact);
  EXPECT_TRUE(selection.winner_expired);
  EXPECT_TRUE(Contains(JudgementOf(selection, wildcard).reason, "exact name beats wildcard"));
}

TEST_F(ASelection, SelectsAWildcardWhenNoExactNameIsEligible) {
  const std::string wildcard = StoreSelfSigned(Named({"*.example.com"}));

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), wildcard);
  EXPECT_TRUE(Contains(selection.reason, "wildcard name match"));
}

// ---- Ranking 2: valid over expired ----

TEST_F(ASelection, PrefersAValidSelfSignedOverAnExpiredCaCertificate) {
  const std::string expired_ca = StoreCaIssued(Expired());
  const std::string valid_self_signed = StoreSelfSigned();

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), valid_self_signed);
  EXPECT_FALSE(selection.winner_expired);
  const Judgement loser = JudgementOf(selection, expired_ca);
  EXPECT_EQ(loser.verdict, Verdict::kEligible);
  EXPECT_TRUE(Contains(loser.reason,
                       "outranked by " + Short(valid_self_signed) + "…: valid beats expired"));
  EXPECT_TRUE(Contains(loser.reason, "expired " + FormatDate(CertOf(expired_ca).not_after)));
}

TEST_F(ASelection, UsesAnExpiredCertificateOnlyWhenNothingValidIsEligibleAndFlagsIt) {
  const std::string expired = StoreCaIssued(Expired());
  const std::string valid_but_unbound = StoreSelfSigned();
  bindings_.services[valid_but_unbound] = Bit(Service::kImap);

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), expired);
  EXPECT_TRUE(selection.winner_expired);
  EXPECT_TRUE(Contains(selection.reason, "expired " + FormatDate(CertOf(expired).not_after)));
  EXPECT_EQ(JudgementOf(selection, valid_but_unbound).verdict, Verdict::kIneligible);
}

TEST_F(ASelection, MentionsTheExpiryOfAnExpiredCertificateOutrankedForAnotherReason) {
  CertSpec older = Expired();
  older.not_before_offset = -500 * kDay;
  const std::string older_expired = StoreCaIssued(older);
  const std::string newer_expired = StoreCaIssued(Expired());

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), newer_expired);
  EXPECT_TRUE(selection.winner_expired);
  const std::string reason = JudgementOf(selection, older_expired).reason;
  EXPECT_TRUE(Contains(reason, "newer NotBefore"));
  EXPECT_TRUE(Contains(reason, "expired " + FormatDate(CertOf(older_expired).not_after)));
}

TEST_F(ASelection, CountsACertificateAsValidUpToItsNotAfterSecond) {
  const std::string ends_now = StoreSelfSigned(Dated(-300 * kDay, 0));

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), ends_now);
  EXPECT_FALSE(selection.winner_expired);
}

// ---- Ranking 3: verified chain, then incomplete chain, then self-signed ----

TEST_F(ASelection, PrefersAVerifiedChainOverAnIncompleteOne) {
  const std::string incomplete = StoreCaIssued({}, ChainStatus::kIncomplete);
  const std::string verified = StoreCaIssued({}, ChainStatus::kVerified);

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), verified);
  EXPECT_EQ(JudgementOf(selection, incomplete).reason,
            "outranked by " + Short(verified) + "…: verified chain beats incomplete chain");
}

TEST_F(ASelection, PrefersAVerifiedCaCertificateOverANewerSelfSignedOne) {
  const std::string verified = StoreCaIssued(Dated(-200 * kDay, 100 * kDay));
  const std::string self_signed = StoreSelfSigned(Dated(-1 * kDay, 800 * kDay));

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), verified);
  EXPECT_EQ(JudgementOf(selection, self_signed).reason,
            "outranked by " + Short(verified) + "…: CA-issued beats self-signed");
}

TEST_F(ASelection, PrefersAnIncompleteChainOverSelfSigned) {
  const std::string self_signed = StoreSelfSigned();
  const std::string incomplete = StoreCaIssued({}, ChainStatus::kIncomplete);

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), incomplete);
  EXPECT_TRUE(Contains(selection.reason, "CA-issued with an incomplete chain"));
  EXPECT_EQ(
      JudgementOf(selection, self_signed).reason,
      "outranked by " + Short(incomplete) + "…: CA-issued (incomplete chain) beats self-signed");
}

TEST_F(ASelection, DescribesASelfSignedWinnerAsSelfSigned) {
  StoreSelfSigned();

  EXPECT_TRUE(Contains(SelectFor().reason, "self-signed"));
}

// ---- Ranking 4: NotBefore, NotAfter, thumbprint ----

TEST_F(ASelection, PrefersTheNewerNotBeforeAmongOtherwiseEqualCertificates) {
  const std::string older = StoreCaIssued(Dated(-30 * kDay, 300 * kDay));
  const std::string newer = StoreCaIssued(Dated(-2 * kDay, 200 * kDay));

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), newer);
  EXPECT_EQ(JudgementOf(selection, older).reason,
            "outranked by " + Short(newer) + "…: newer NotBefore");
}

TEST_F(ASelection, PrefersTheLaterNotAfterWhenNotBeforeIsEqual) {
  const std::string later = StoreCaIssued(Dated(-5 * kDay, 400 * kDay));
  const std::string sooner = StoreCaIssued(Dated(-5 * kDay, 90 * kDay));

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), later);
  EXPECT_EQ(JudgementOf(selection, sooner).reason,
            "outranked by " + Short(later) + "…: later NotAfter");
}

TEST_F(ASelection, BreaksAFullTieByTheLowerThumbprint) {
  const std::string first = StoreCaIssued(Dated(-5 * kDay, 90 * kDay));
  const std::string second = StoreCaIssued(Dated(-5 * kDay, 90 * kDay));
  ASSERT_NE(first, second);
  const std::string lower = std::min(first, second);
  const std::string higher = std::max(first, second);

  const Selection selection = SelectFor();

  EXPECT_EQ(WinnerOf(selection), lower);
  EXPECT_EQ(JudgementOf(selection, higher).reason,
            "outranked by " + Short(lower) + "…: lower thumbprint (tie)");
}

TEST_F(ASelection, DoesNotDependOnInventoryOrder) {
  const std::string older = StoreCaIssued(Dated(-30 * kDay, 300 * kDay));
  const std::string newer = StoreCaIssued(Dated(-2 * kDay, 200 * kDay));
  const std::string winner_before = WinnerOf(SelectFor());

  std::reverse(inventory_.certificates.begin(), inventory_.certificates.end());

  EXPECT_EQ(winner_before, newer);
  EXPECT_EQ(WinnerOf(SelectFor()), newer);
}

// ---- Eligibility: each rule and its reason ----

TEST_F(ASelection, RejectsAVersion1Certificate) {
  CertSpec v1;
  v1.version = 1;
  const std::string old = StoreSelfSigned(v1);

  EXPECT_EQ(WhyIneligible(old), "X.509 v1 (version 3 required)");
}

TEST_F(ASelection, RejectsACertificateForOtherNamesAndListsThem) {
  const std::string other = StoreSelfSigned(Named({"mail.example.org", "*.example.net"}));

  EXPECT_EQ(WhyIneligible(other), "name mismatch: covers mail.example.org, *.example.net");
}

TEST_F(ASelection, ListsAtMostFourNamesInANameMismatch) {
  const std::string many =
      StoreSelfSigned(Named({"a.example.org", "b.example.org", "c.example.org", "d.example.org",
                             "e.example.org", "f.example.org"}));

  const std::string reason = WhyIneligible(many);

  EXPECT_EQ(reason,
            "name mismatch: covers a.example.org, b.example.org, c.example.org, d.example.org, …");
}

TEST_F(ASelection, RejectsACertificateWithoutAPrivateKeyInTheStore) {
  const std::string keyless = StoreWithoutKey();

  EXPECT_EQ(WhyIneligible(keyless), "no private key in the store");
}

TEST_F(ASelection, RejectsAnRsa1024Key) {
  CertSpec weak;
  weak.key = "rsa:1024";
  const std::string rsa1024 = StoreSelfSigned(weak);

  EXPECT_EQ(WhyIneligible(rsa1024),
            "weak key: RSA 1024 bits (RSA ≥ 2048 or ECDSA P-256/P-384/P-521 required)");
}

TEST_F(ASelection, RejectsAnEcdsaKeyOnP192) {
  CertSpec weak;
  weak.key = "ec:P-192";
  const std::string p192 = StoreSelfSigned(weak);

  const std::string reason = WhyIneligible(p192);

  EXPECT_TRUE(Contains(reason, "weak key: ECDSA"));
  EXPECT_TRUE(Contains(reason, "(RSA ≥ 2048 or ECDSA P-256/P-384/P-521 required)"));
}

TEST_F(ASelection, AcceptsRsa2048AndEcdsaP384AndP521Keys) {
  CertSpec rsa;
  rsa.key = "rsa:2048";
  CertSpec p384;
  p384.key = "ec:P-384";
  CertSpec p521;
  p521.key = "ec:P-521";
  const std::vector<std::string> thumbprints = {StoreSelfSigned(rsa), StoreSelfSigned(p384),
                                                StoreSelfSigned(p521)};

  const Selection selection = SelectFor();

  for (const std::string& thumbprint : thumbprints) {
    EXPECT_NE(JudgementOf(selection, thumbprint).verdict, Verdict::kIneligible)
        << JudgementOf(selection, thumbprint).reason;
  }
}

TEST_F(ASelection, RejectsAKeyUsageWithoutDigitalSignature) {
  CertSpec spec;
  spec.key_usage = KU_KEY_AGREEMENT;
  const std::string no_signature = StoreSelfSigned(spec);

  EXPECT_EQ(WhyIneligible(no_signature), "key usage does not allow digital signature");
}

TEST_F(ASelection, RejectsAnRsaKeyUsageWithoutKeyEncipherment) {
  CertSpec spec;
  spec.key = "rsa:2048";
  spec.key_usage = KU_DIGITAL_SIGNATURE;
  const std::string rsa = StoreSelfSigned(spec);

  EXPECT_EQ(WhyIneligible(rsa), "key usage does not allow key encipherment (RSA)");
}

TEST_F(ASelection, AcceptsAnEcdsaKeyUsageWithDigitalSignatureOnly) {
  CertSpec spec;
  spec.key_usage = KU_DIGITAL_SIGNATURE;
  const std::string ec = StoreSelfSigned(spec);

  EXPECT_EQ(WinnerOf(SelectFor()), ec);
}

TEST_F(ASelection, AcceptsAnRsaKeyUsageWithSignatureAndEncipherment) {
  CertSpec spec;
  spec.key = "rsa:2048";
  spec.key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
  const std::string rsa = StoreSelfSigned(spec);

  EXPECT_EQ(WinnerOf(SelectFor()), rsa);
}

TEST_F(ASelection, RejectsAnExtendedKeyUsageWithoutServerAuth) {
  CertSpec spec;
  spec.eku = std::vector<std::string>{"clientAuth", "emailProtection"};
  const std::string client_only = StoreSelfSigned(spec);

  EXPECT_EQ(WhyIneligible(client_only), "extended key usage lacks serverAuth");
}

// As OpenSSL's TLS server purpose check: anyExtendedKeyUsage alone, or only a purpose
// unknown to OpenSSL, does not list serverAuth.
TEST_F(ASelection, RejectsAnExtendedKeyUsageOfAnyPurposeOrOfAnUnknownOneOnly) {
  CertSpec spec;
  spec.eku = std::vector<std::string>{"anyExtendedKeyUsage"};
  const std::string any = StoreSelfSigned(spec);
  spec.eku = std::vector<std::string>{"1.3.6.1.4.1.99999.1"};
  const std::string unknown = StoreSelfSigned(spec);

  EXPECT_EQ(WhyIneligible(any), "extended key usage lacks serverAuth");
  EXPECT_EQ(WhyIneligible(unknown), "extended key usage lacks serverAuth");
}

TEST_F(ASelection, AcceptsAnExtendedKeyUsageWithServerAuth) {
  CertSpec spec;
  spec.eku = std::vector<std::string>{"clientAuth", "serverAuth"};
  const std::string server = StoreSelfSigned(spec);

  EXPECT_EQ(WinnerOf(SelectFor()), server);
}

TEST_F(ASelection, RejectsACertificateNotEnabledForTheService) {
  const std::string imap_only = StoreSelfSigned();
  bindings_.services[imap_only] = Bit(Service::kImap);

  EXPECT_EQ(WhyIneligible(imap_only), "not enabled for SMTP");
  EXPECT_EQ(WinnerOf(SelectFor("mail.example.com", Service::kImap)), imap_only);
}

TEST_F(ASelection, RejectsACertificateExplicitlyEnabledForNothing) {
  const std::string disabled = StoreSelfSigned();
  bindings_.services[disabled] = 0;

  EXPECT_EQ(WhyIneligible(disabled), "not enabled for SMTP");
}

TEST_F(ASelection, EnablesUnboundCertificatesForTheDefaultServicesOnly) {
  default_services_ = Bit(Service::kSmtp) | Bit(Service::kImap);
  const std::string unbound = StoreSelfSigned();

  EXPECT_EQ(WinnerOf(SelectFor("mail.example.com", Service::kSmtp)), unbound);
  EXPECT_EQ(WinnerOf(SelectFor("mail.example.com", Service::kImap)), unbound);
  const Judgement pop = JudgementOf(SelectFor("mail.example.com", Service::kPop), unbound);
  EXPECT_EQ(pop.verdict, Verdict::kIneligible);
  EXPECT_EQ(pop.reason, "not enabled for POP");
}

TEST_F(ASelection, RejectsACertificateBeforeItsNotBefore) {
  const std::string future = StoreCaIssued(Dated(10 * kDay, 400 * kDay));

  EXPECT_EQ(WhyIneligible(future),
            "not yet valid: valid from " + FormatDate(CertOf(future).not_before));
}

TEST_F(ASelection, ReportsOnlyTheFirstRuleACertificateFails) {
  CertSpec v1_elsewhere;
  v1_elsewhere.version = 1;
  v1_elsewhere.cn = "other.example.net";
  v1_elsewhere.key = "rsa:1024";
  const std::string v1 = Store(v1_elsewhere, ChainStatus::kSelfSigned, /*with_key=*/false);
  CertSpec keyless_weak;
  keyless_weak.key = "rsa:1024";
  const std::string keyless = Store(keyless_weak, ChainStatus::kSelfSigned, /*with_key=*/false);
  CertSpec weak_future = Dated(5 * kDay, 90 * kDay);
  weak_future.key = "ec:P-192";
  const std::string weak = StoreSelfSigned(weak_future);
  const std::string unbound_future = StoreSelfSigned(Dated(5 * kDay, 90 * kDay));
  bindings_.services[unbound_future] = 0;

  EXPECT_EQ(WhyIneligible(v1), "X.509 v1 (version 3 required)");
  EXPECT_EQ(WhyIneligible(keyless), "no private key in the store");
  EXPECT_TRUE(Contains(WhyIneligible(weak), "weak key"));
  EXPECT_EQ(WhyIneligible(unbound_future), "not enabled for SMTP");
}

// ---- Names: wildcards, CN fallback, normalisation ----

TEST_F(ASelection, LetsAOneLevelWildcardCoverExactlyOneLabel) {
  wildcard_ = WildcardMode::kOneLevel;
  const std::string wildcard = StoreSelfSigned(Named({"*.example.com"}));

  EXPECT_EQ(WinnerOf(SelectFor("mail.example.com")), wildcard);
  EXPECT_EQ(WinnerOf(SelectFor("smtp.mail.example.com")), "(no winner)");
  EXPECT_TRUE(Contains(WhyIneligible(wildcard, "smtp.mail.example.com"), "name mismatch"));
}

TEST_F(ASelection, LetsAMultiLevelWildcardCoverSeveralLabels) {
  wildcard_ = WildcardMode::kMultiLevel;
  const std::string wildcard = StoreSelfSigned(Named({"*.example.com"}));

  EXPECT_EQ(WinnerOf(SelectFor("mail.example.com")), wildcard);
  EXPECT_EQ(WinnerOf(SelectFor("smtp.mail.example.com")), wildcard);
  EXPECT_EQ(WinnerOf(SelectFor("example.com")), "(no winner)");
}

TEST_F(ASelection, NeverMatchesAPartialWildcard) {
  const std::string partial = StoreSelfSigned(Named({"m*.example.com"}));

  EXPECT_TRUE(Contains(WhyIneligible(partial), "name mismatch"));
}

TEST_F(ASelection, IgnoresTheCommonNameWhenThereIsASanDnsName) {
  CertSpec spec = Named({"other.example.com"});
  spec.cn = "mail.example.com";
  const std::string san_elsewhere = StoreSelfSigned(spec);

  EXPECT_EQ(WhyIneligible(san_elsewhere), "name mismatch: covers other.example.com");
}

TEST_F(ASelection, UsesTheCommonNameWhenThereIsNoSanDnsName) {
  CertSpec spec = Named({});
  spec.cn = "mail.example.com";
  const std::string cn_only = StoreSelfSigned(spec);

  EXPECT_EQ(WinnerOf(SelectFor()), cn_only);
  EXPECT_TRUE(Contains(SelectFor().reason, "exact name match"));
}

TEST_F(ASelection, ExplainsACertificateWithNoNamesAtAll) {
  CertSpec spec = Named({});
  spec.cn = "";
  const std::string nameless = StoreSelfSigned(spec);

  EXPECT_TRUE(Contains(WhyIneligible(nameless), "name mismatch"));
}

TEST_F(ASelection, MatchesTheFqdnIgnoringCaseAndATrailingDot) {
  const std::string exact = StoreSelfSigned(Named({"Mail.Example.com"}));

  const Selection selection = SelectFor("MAIL.example.COM.");

  EXPECT_EQ(WinnerOf(selection), exact);
  EXPECT_TRUE(Contains(selection.reason, "exact name match"));
}

TEST_F(ASelection, PicksTheExactMatchAmongACertificatesNames) {
  const std::string both = StoreSelfSigned(Named({"*.example.com", "mail.example.com"}));

  EXPECT_TRUE(Contains(SelectFor().reason, "exact name match"));
  EXPECT_EQ(WinnerOf(SelectFor()), both);
}

TEST_F(ASelection, FindsCertificatesByAnyFormOfTheirNamesThroughTheNameIndex) {
  wildcard_ = WildcardMode::kMultiLevel;
  const std::string exact = StoreSelfSigned(Named({"MAIL.Example.COM."}));
  const std::string wildcard = StoreSelfSigned(Named({"*.Example.com."}));
  const std::string deep = StoreSelfSigned(Named({"*.b.example.com"}));
  StoreSelfSigned(Named({"other.example.org", "*.example.org"}));
  const NameIndex index(inventory_);

  const auto positions = [&](const std::vector<std::string>& thumbprints) {
    std::vector<std::size_t> found;
    for (std::size_t i = 0; i < inventory_.certificates.size(); ++i) {
      if (std::find(thumbprints.begin(), thumbprints.end(),
                    inventory_.certificates[i].cert().thumbprint()) != thumbprints.end()) {
        found.push_back(i);
      }
    }
    return found;
  };
  EXPECT_EQ(index.Candidates("mail.example.com.", wildcard_), positions({exact, wildcard}));
  EXPECT_EQ(index.Candidates("A.B.EXAMPLE.COM", wildcard_), positions({wildcard, deep}));
  EXPECT_EQ(index.Candidates("a.b.example.com", WildcardMode::kOneLevel), positions({deep}));
  EXPECT_EQ(index.Candidates("example.net", wildcard_), std::vector<std::size_t>{});
  // AtMostOneCandidate says the same as counting the candidates.
  for (const char* host : {"mail.example.com.", "A.B.EXAMPLE.COM", "a.b.example.com", "example.net",
                           "other.example.org", "x.example.org", "b.example.com"}) {
    for (const WildcardMode mode : {WildcardMode::kOneLevel, WildcardMode::kMultiLevel}) {
      EXPECT_EQ(index.AtMostOneCandidate(host, mode), index.Candidates(host, mode).size() <= 1)
          << host;
    }
  }
  wildcard_ = WildcardMode::kOneLevel;
  EXPECT_EQ(WinnerOf(SelectFor("x.b.example.com")), deep);
}

TEST_F(ASelection, KnowsWhichCertificatesAreTheOnlyOnesForOneOfTheirNames) {
  const std::string alone = StoreSelfSigned(Named({"alone.example.net", "shared.example.net"}));
  const std::string sharing = StoreSelfSigned(Named({"shared.example.net"}));
  const std::string renewal = StoreSelfSigned(Named({"shared.example.net"}));
  // Alone one level down only: "*.b.example.org" covers its host under the multi-level mode.
  const std::string deep = StoreSelfSigned(Named({"x.a.b.example.org"}));
  StoreSelfSigned(Named({"*.b.example.org"}));
  const std::string wildcard = StoreSelfSigned(Named({"*.c.example.org"}));
  const NameIndex index(inventory_);
  std::map<std::string, bool> only;
  for (std::size_t i = 0; i < inventory_.certificates.size(); ++i) {
    only[std::string(inventory_.certificates[i].cert().thumbprint())] =
        index.HasNameOnlyItCovers(i);
    // The definition: one of its names covers a host no other certificate may cover, under
    // either mode.
    bool expected = false;
    for (const std::string_view name : inventory_.certificates[i].cert().Names()) {
      expected =
          expected || (index.AtMostOneCandidate(CoveredHost(name), WildcardMode::kOneLevel) &&
                       index.AtMostOneCandidate(CoveredHost(name), WildcardMode::kMultiLevel));
    }
    EXPECT_EQ(index.HasNameOnlyItCovers(i), expected) << i;
  }
  EXPECT_TRUE(only[alone]);
  EXPECT_FALSE(only[sharing]);
  EXPECT_FALSE(only[renewal]);
  EXPECT_FALSE(only[deep]);
  EXPECT_TRUE(only[wildcard]);
  EXPECT_FALSE(index.HasNameOnlyItCovers(inventory_.certificates.size()));
}

// ---- Verdict names ----

TEST(AVerdict, HasTheNamesTheExplainCallUses) {
  EXPECT_STREQ(VerdictName(Verdict::kSelected), "selected");
  EXPECT_STREQ(VerdictName(Verdict::kEligible), "eligible");
  EXPECT_STREQ(VerdictName(Verdict::kIneligible), "ineligible");
}

}  // namespace
}  // namespace transportcertd

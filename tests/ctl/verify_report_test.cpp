// transportcertctl verify's verdicts, exit status, table and journal entry, without a network.
#include "ctl/verify_report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "daemon/alerts.h"

namespace transportcertctl {
namespace {

const std::string kSelected(40, 'A');
const std::string kOld(40, 'B');

VerifyRow Row(int port, Protocol protocol, const std::string& served, Verdict verdict) {
  VerifyRow row;
  row.endpoint = {port, protocol};
  row.name = "mail.example.test";
  row.service = std::string(ServiceOf(protocol));
  row.expected = kSelected;
  row.served = served;
  row.verdict = verdict;
  return row;
}

TEST(Judge, ComparesTheServedLeafWithTheSelection) {
  Served served;
  served.outcome = Served::Outcome::kServed;
  served.thumbprint = kSelected;
  EXPECT_EQ(Judge(served, kSelected), Verdict::kMatch);
  EXPECT_EQ(Judge(served, kOld), Verdict::kDiffers);
  EXPECT_EQ(Judge(served, ""), Verdict::kDiffers);  // served, but nothing is selected
  served.outcome = Served::Outcome::kNotListening;
  EXPECT_EQ(Judge(served, kSelected), Verdict::kNotListening);
  served.outcome = Served::Outcome::kTlsFailed;
  EXPECT_EQ(Judge(served, kSelected), Verdict::kTlsFailed);
}

TEST(RenderVerify, ExitsOneOnlyForDifferencesAndTlsFailures) {
  Options options;
  const Context context;
  const VerifyRow match = Row(25, Protocol::kSmtp, kSelected, Verdict::kMatch);
  const VerifyRow closed = Row(993, Protocol::kImaps, "", Verdict::kNotListening);
  EXPECT_EQ(RenderVerify(options, context, {match, closed}).exit_status, 0);
  EXPECT_EQ(
      RenderVerify(options, context, {match, Row(465, Protocol::kSmtps, kOld, Verdict::kDiffers)})
          .exit_status,
      1);
  EXPECT_EQ(
      RenderVerify(options, context, {match, Row(110, Protocol::kPop3, "", Verdict::kTlsFailed)})
          .exit_status,
      1);
  const std::string text = RenderVerify(options, context, {match, closed}).text;
  EXPECT_EQ(text,
            "PORT       NAME               SERVICE  EXPECTED      SERVED        VERDICT\n"
            "25/smtp    mail.example.test  SMTP     AAAAAAAAAAAA  AAAAAAAAAAAA  match\n"
            "993/imaps  mail.example.test  IMAP     AAAAAAAAAAAA  -             not-listening\n"
            "\n2 checks: 1 match, 1 not-listening.\n");
  options.legend = false;
  EXPECT_EQ(RenderVerify(options, context, {closed}).text,
            "993/imaps  mail.example.test  IMAP  AAAAAAAAAAAA  -  not-listening\n");
}

TEST(ServedDiffersJournalFields, CarryTheIdAndEveryFieldOfTheCatalogEntry) {
  const auto fields =
      ServedDiffersJournalFields(Row(465, Protocol::kSmtps, kOld, Verdict::kDiffers));
  std::set<std::string> names;
  for (const std::string& field : fields) names.insert(field.substr(0, field.find('=')));
  for (const std::string_view name : transportcertd::kServedDiffersFields) {
    EXPECT_EQ(names.count(std::string(name)), 1U) << name;
  }
  EXPECT_NE(std::find(fields.begin(), fields.end(),
                      "MESSAGE_ID=" + std::string(transportcertd::kServedDiffersMessageId)),
            fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "TRANSPORTCERTD_PORT=465/smtps"), fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "TRANSPORTCERTD_SERVED=" + kOld), fields.end());
  EXPECT_NE(std::find(fields.begin(), fields.end(), "TRANSPORTCERTD_EXPECTED=" + kSelected),
            fields.end());
  EXPECT_EQ(fields.front(), "MESSAGE=465/smtps serves " + kOld +
                                " for mail.example.test, but transportcertd selects " + kSelected +
                                " for SMTP");
}

TEST(ServedMatchMetrics, OneForAMatchZeroForAFailureNothingForAClosedPort) {
  VerifyRow odd = Row(465, Protocol::kSmtps, "", Verdict::kTlsFailed);
  odd.name = "a\"b\\c";
  EXPECT_EQ(
      ServedMatchMetrics({Row(25, Protocol::kSmtp, kSelected, Verdict::kMatch),
                          Row(993, Protocol::kImaps, kOld, Verdict::kDiffers), odd,
                          Row(110, Protocol::kPop3, "", Verdict::kNotListening)}),
      "# HELP transportcertd_served_match Whether the local port serves the certificate "
      "transportcertd selects for the name (1) or not (0), from the last transportcertctl "
      "verify.\n"
      "# TYPE transportcertd_served_match gauge\n"
      "transportcertd_served_match{port=\"25\",name=\"mail.example.test\",service=\"SMTP\"} 1\n"
      "transportcertd_served_match{port=\"993\",name=\"mail.example.test\",service=\"IMAP\"} 0\n"
      "transportcertd_served_match{port=\"465\",name=\"a\\\"b\\\\c\",service=\"SMTP\"} 0\n");
}

}  // namespace
}  // namespace transportcertctl

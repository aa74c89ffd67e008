#include "daemon/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace transportcertd {
namespace {

bool g_journal = false;

// systemd sets JOURNAL_STREAM=<dev>:<inode> when stderr is connected to the journal.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (stream == nullptr || fstat(STDERR_FILENO, &st) != 0) return false;
  return std::string(stream) == std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return LOG_CRIT;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::info:
      return LOG_NOTICE;  // alerts at "info" are still notable
    default:
      return LOG_DEBUG;
  }
}

}  // namespace

Result<LogTarget> ParseLogTarget(std::string_view text) {
  if (text == "auto") return LogTarget::kAuto;
  if (text == "console") return LogTarget::kConsole;
  if (text == "journal") return LogTarget::kJournal;
  return Error{"unknown log target \"" + std::string(text) + "\" (use auto, console or journal)"};
}

spdlog::level::level_enum ParseLogLevel(std::string_view text) {
  if (text == "warning") return spdlog::level::warn;
  return spdlog::level::from_str(std::string(text));
}

void SetUpLogging(LogTarget target, std::string_view level) {
  g_journal = target == LogTarget::kJournal || (target == LogTarget::kAuto && StderrIsJournal());
  std::shared_ptr<spdlog::logger> logger;
  if (g_journal) {
    logger = std::make_shared<spdlog::logger>(
        "transportcertd", std::make_shared<spdlog::sinks::systemd_sink_mt>("transportcertd"));
    logger->set_pattern("%v");
  } else {
    logger = std::make_shared<spdlog::logger>(
        "transportcertd", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(ParseLogLevel(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

std::string EscapeControlCharacters(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7F) {
      escaped += c;
      continue;
    }
    static constexpr char kDigits[] = "0123456789abcdef";
    escaped += "\\x";
    escaped += kDigits[byte >> 4];
    escaped += kDigits[byte & 0xF];
  }
  return escaped;
}

std::vector<std::string> JournalFields(AlertKind kind, const AlertFields& f) {
  const std::pair<std::string_view, const std::string*> all[] = {
      {kFieldThumbprint, &f.thumbprint},
      {kFieldSubject, &f.subject},
      {kFieldNotAfter, &f.not_after},
      {kFieldThreshold, &f.threshold},
      {kFieldFile, &f.file},
      {kFieldOldThumbprint, &f.old_thumbprint},
      {kFieldTlsaAdd, &f.tlsa_add},
      {kFieldTlsaRemove, &f.tlsa_remove}};
  const auto required = RequiredFields(kind);
  std::vector<std::string> fields;
  for (const auto& [name, value] : all) {
    if (!value->empty()) {
      fields.push_back(std::string(name) + "=" + *value);
    } else if (std::find(required.begin(), required.end(), name) != required.end()) {
      fields.push_back(std::string(name) + "=(unknown)");
    }
  }
  return fields;
}

void PrintStartupError(const std::string& line) {
  // "<3>" is LOG_ERR for the journal's stream reader (SyslogLevelPrefix=, on by default).
  std::cerr << (StderrIsJournal() ? "<3>" : "") << line << "\n";
}

void Alert(AlertKind kind, spdlog::level::level_enum level, const AlertFields& f,
           const std::string& message) {
  if (!g_journal) {
    spdlog::log(level, "{}", message);
    return;
  }
  std::vector<std::string> owned = {
      "MESSAGE=" + message, "MESSAGE_ID=" + std::string(MessageId(kind)),
      "PRIORITY=" + std::to_string(SyslogPriority(level)), "SYSLOG_IDENTIFIER=transportcertd"};
  for (auto& field : JournalFields(kind, f)) owned.push_back(std::move(field));
  std::vector<iovec> iov;
  for (auto& s : owned) iov.push_back({s.data(), s.size()});
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

std::string FormatTime(std::int64_t t) {
  const auto tt = static_cast<time_t>(t);
  struct tm tm {};
  char buf[40] = {};
  gmtime_r(&tt, &tm);
  if (strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return "";
  return buf;
}

AlertFields FieldsOf(const Certificate& cert) {
  AlertFields fields;
  fields.thumbprint = cert.thumbprint();
  fields.subject = cert.subject();
  fields.not_after = FormatTime(cert.not_after);
  return fields;
}

}  // namespace transportcertd

// Logging: readable lines on the console for people, or the journal under systemd. Ordinary
// messages go through spdlog; alerts (daemon/alerts.h) go to the journal with sd_journal_send
// so they carry MESSAGE_ID and structured fields, and to the console as one line.
// Loop thread only (spdlog itself is thread-safe, alerts are raised on the loop thread).
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/alerts.h"
#include "monitor/certificate.h"
#include "monitor/result.h"

namespace transportcertd {

enum class LogTarget { kAuto, kConsole, kJournal };

// Parses auto|console|journal.
Result<LogTarget> ParseLogTarget(std::string_view text);
// Parses trace|debug|info|warning|error|critical.
spdlog::level::level_enum ParseLogLevel(std::string_view text);

// Installs the default spdlog logger for `target` (auto: the journal when stderr is connected
// to it, as systemd says in $JOURNAL_STREAM; otherwise the console).
void SetUpLogging(LogTarget target, std::string_view level);

// `text` with every control character (and DEL) written as \xNN, so that untrusted text such as
// a file name stays on one log line and cannot send escape sequences to a terminal.
std::string EscapeControlCharacters(std::string_view text);

// The journal fields of an alert besides MESSAGE and MESSAGE_ID, as NAME=value: every
// non-empty field of `fields`, and each of RequiredFields(kind) even when empty.
std::vector<std::string> JournalFields(AlertKind kind, const AlertFields& fields);

// Prints a fatal start-up error (one line, no newline in `line`) to stderr; when stderr is the
// journal, at error priority, so that `systemctl status` shows it as an error.
void PrintStartupError(const std::string& line);

// `t` as "YYYY-MM-DD HH:MM:SS UTC", as alerts show times.
std::string FormatTime(std::int64_t t);

// The fields of an alert about `cert`: thumbprint, subject, not-after.
AlertFields FieldsOf(const Certificate& cert);

// Raises an alert: logged once, with its MESSAGE_ID and fields in the journal.
void Alert(AlertKind kind, spdlog::level::level_enum level, const AlertFields& fields,
           const std::string& message);

}  // namespace transportcertd

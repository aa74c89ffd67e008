// Test support: assertions that say what they saw when they fail.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace transportcertd::testing {

// EXPECT_TRUE(Contains(reason, "expired")) prints both strings when `part` is missing.
inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

}  // namespace transportcertd::testing

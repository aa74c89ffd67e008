// The tables transportcertctl prints (list, explain): columns as wide as their widest cell, two
// spaces apart, the last column not padded; a header line; colour escapes only when asked for.
// Widths count characters, not bytes, so a reason with "…" lines up. Pure; not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace transportcertctl {

enum class Colour { kNone, kRed, kYellow, kBold, kUnderline };

// `text` wrapped in the escape sequences of `colour` (and a reset) when `enabled`, else as is.
std::string Colourize(std::string_view text, Colour colour, bool enabled);

// The number of characters (UTF-8 code points) in `text`: its width on a terminal for the
// Latin text and punctuation certificates and reasons hold.
std::size_t DisplayWidth(std::string_view text);

struct Cell {
  std::string text;
  Colour colour = Colour::kNone;
};

class Table {
 public:
  explicit Table(std::vector<std::string> headers)
      : headers_(std::move(headers)), right_(headers_.size(), false) {}

  // Numbers read better right-aligned (DAYS).
  void AlignRight(std::size_t column) {
    if (column < right_.size()) right_[column] = true;
  }

  // A row with one cell per header (missing cells are empty, extra ones are dropped).
  void AddRow(std::vector<Cell> cells);
  std::size_t rows() const { return rows_.size(); }

  // The table, one line per row, each ending in '\n'; with `header` the column names come
  // first (underlined when `colour`); cells are coloured only when `colour`.
  std::string Render(bool header, bool colour) const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<Cell>> rows_;
};

}  // namespace transportcertctl

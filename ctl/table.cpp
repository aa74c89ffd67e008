#include "ctl/table.h"

#include <algorithm>
#include <utility>

namespace transportcertctl {

std::string Colourize(std::string_view text, Colour colour, bool enabled) {
  if (!enabled || colour == Colour::kNone) return std::string(text);
  const char* start = "";
  switch (colour) {
    case Colour::kRed:
      start = "\x1b[0;1;31m";
      break;
    case Colour::kYellow:
      start = "\x1b[0;1;33m";
      break;
    case Colour::kBold:
      start = "\x1b[0;1;39m";
      break;
    case Colour::kUnderline:
      start = "\x1b[0;4m";
      break;
    case Colour::kNone:
      break;
  }
  return std::string(start) + std::string(text) + "\x1b[0m";
}

std::size_t DisplayWidth(std::string_view text) {
  // Every byte that is not a UTF-8 continuation byte starts a character.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

void Table::AddRow(std::vector<Cell> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render(bool header, bool colour) const {
  const std::size_t columns = headers_.size();
  std::vector<std::size_t> widths(columns, 0);
  for (std::size_t c = 0; c < columns; ++c) {
    if (header) widths[c] = DisplayWidth(headers_[c]);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], DisplayWidth(row[c].text));
  }

  // One line: every cell but the last padded to its column's width, two spaces between.
  const auto line = [&](const std::vector<Cell>& cells) {
    std::string text;
    for (std::size_t c = 0; c < columns; ++c) {
      const std::size_t padding = widths[c] - DisplayWidth(cells[c].text);
      if (right_[c]) text.append(padding, ' ');
      text += Colourize(cells[c].text, cells[c].colour, colour);
      if (c + 1 < columns) text.append((right_[c] ? 0 : padding) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  };

  std::string out;
  if (header) {
    std::vector<Cell> names;
    for (const std::string& name : headers_) names.push_back(Cell{name, Colour::kNone});
    std::string heading = line(names);
    heading.pop_back();
    out += Colourize(heading, Colour::kUnderline, colour) + "\n";
  }
  for (const auto& row : rows_) out += line(row);
  return out;
}

}  // namespace transportcertctl

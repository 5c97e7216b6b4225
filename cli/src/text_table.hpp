// A plain-text table for the human output of inspect commands: a header row
// and columns padded to their widest cell; numeric columns right-aligned.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace celeriac::cli {

struct TableColumn {
  std::string title;
  bool right_aligned = false;
};

class TextTable {
 public:
  explicit TextTable(std::vector<TableColumn> columns);
  // ROW has one cell per column.
  void add_row(std::vector<std::string> row);
  void print(std::ostream& out) const;

 private:
  std::vector<TableColumn> columns_;
  std::vector<std::vector<std::string>> rows_;
};

} // namespace celeriac::cli

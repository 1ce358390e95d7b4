// deepjet/evaluation/jet_table.hpp: a read-only view of per-jet rows (jets x columns, row-major).
//
// Contract: JetTable does not own its values; they must outlive it. It is how predictions, truth
// and spectators reach evaluate(): from a std::vector<float> plus a column count, or from an
// xt::xtensor<float, 2> (jets x columns). A table may have zero columns (no spectators) and still
// count its jets. Constructing one whose value count is not rows * columns throws deepjet::Error.
#pragma once

#include "deepjet/core/error.hpp"

#include <xtensor/xtensor.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace deepjet::evaluation {

class JetTable {
 public:
  JetTable(std::span<const float> values, std::size_t rows, std::size_t columns)
      : values_(values), rows_(rows), columns_(columns) {
    if (values.size() != rows * columns) {
      throw Error("deepjet::evaluation::JetTable: " + std::to_string(values.size()) + " values are not " +
                  std::to_string(rows) + " jets x " + std::to_string(columns) + " columns");
    }
  }
  /// Row-major values with `columns` per jet (columns > 0; the jet count follows).
  JetTable(const std::vector<float>& values, std::size_t columns)
      : JetTable(values, columns == 0 ? 0 : values.size() / columns, columns) {}
  /// A jets x columns tensor (row-major, as xtensor's default layout).
  JetTable(const xt::xtensor<float, 2>& tensor)  // NOLINT(google-explicit-constructor): a view of it
      : JetTable(std::span<const float>(tensor.data(), tensor.size()), tensor.shape()[0], tensor.shape()[1]) {}

  std::size_t rows() const noexcept { return rows_; }
  std::size_t columns() const noexcept { return columns_; }
  std::span<const float> row(std::size_t jet) const { return values_.subspan(jet * columns_, columns_); }
  float operator()(std::size_t jet, std::size_t column) const { return values_[jet * columns_ + column]; }

 private:
  std::span<const float> values_;
  std::size_t rows_;
  std::size_t columns_;
};

}  // namespace deepjet::evaluation

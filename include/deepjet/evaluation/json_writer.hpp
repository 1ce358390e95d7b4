// deepjet/evaluation/json_writer.hpp: a minimal JSON text builder for deepjet's result files.
//
// Contract: JsonWriter appends to a string as the caller opens objects and arrays and adds keys and
// values; it inserts the commas and the indentation (two spaces per level; arrays of numbers stay
// on one line). Strings are escaped per RFC 8259; numbers are written with std::to_chars in their
// shortest form that reads back as the same double (locale-independent, deterministic); NaN and
// infinities, which JSON cannot hold, are written as null. Misuse (a key outside an object, a
// value without a key in an object, unbalanced close calls) is a programming error: assert.
#pragma once

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deepjet::evaluation {

class JsonWriter {
 public:
  JsonWriter& begin_object() { open('{', true); return *this; }
  JsonWriter& end_object() { close('}'); return *this; }
  JsonWriter& begin_array() { open('[', false); return *this; }
  JsonWriter& end_array() { close(']'); return *this; }

  /// The key of the next value in the current object.
  JsonWriter& key(std::string_view name) {
    assert(!levels_.empty() && levels_.back().is_object && !key_pending_);
    separate();
    append_string(name);
    text_ += ": ";
    key_pending_ = true;
    return *this;
  }

  JsonWriter& value(std::string_view text) { before_value(); append_string(text); return *this; }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag) { before_value(); text_ += flag ? "true" : "false"; return *this; }
  JsonWriter& value(std::nullptr_t) { before_value(); text_ += "null"; return *this; }
  JsonWriter& value(double number) { before_value(); append_number(number); return *this; }
  JsonWriter& value(std::size_t number) { before_value(); text_ += std::to_string(number); return *this; }
  JsonWriter& value(int number) { before_value(); text_ += std::to_string(number); return *this; }

  /// An array of numbers on one line.
  JsonWriter& numbers(std::span<const double> values) {
    before_value();
    text_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) text_ += ", ";
      append_number(values[i]);
    }
    text_ += ']';
    return *this;
  }
  /// An array of strings on one line.
  JsonWriter& strings(std::span<const std::string> values) {
    before_value();
    text_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) text_ += ", ";
      append_string(values[i]);
    }
    text_ += ']';
    return *this;
  }

  /// The finished document (all objects and arrays closed), with a final newline.
  std::string finish() {
    assert(levels_.empty());
    return text_ + "\n";
  }

 private:
  struct Level {
    bool is_object;
    bool empty = true;
  };

  void open(char bracket, bool is_object) {
    before_value();
    text_ += bracket;
    levels_.push_back({is_object});
  }
  void close(char bracket) {
    assert(!levels_.empty() && !key_pending_);
    const bool was_empty = levels_.back().empty;
    levels_.pop_back();
    if (!was_empty) newline();
    text_ += bracket;
  }
  // A value inside an array needs a separator; after a key it follows directly.
  void before_value() {
    if (key_pending_) {
      key_pending_ = false;
      return;
    }
    assert(levels_.empty() ? text_.empty() : !levels_.back().is_object);
    if (!levels_.empty()) separate();
  }
  void separate() {
    if (!levels_.back().empty) text_ += ',';
    levels_.back().empty = false;
    newline();
  }
  void newline() {
    text_ += '\n';
    text_.append(2 * levels_.size(), ' ');
  }
  void append_number(double number) {
    if (!std::isfinite(number)) {
      text_ += "null";
      return;
    }
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
    text_.append(buffer, result.ptr);
  }
  void append_string(std::string_view text) {
    text_ += '"';
    for (const char c : text) {
      switch (c) {
        case '"': text_ += "\\\""; break;
        case '\\': text_ += "\\\\"; break;
        case '\n': text_ += "\\n"; break;
        case '\r': text_ += "\\r"; break;
        case '\t': text_ += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            static constexpr char hex[] = "0123456789abcdef";
            text_ += "\\u00";
            text_ += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
            text_ += hex[static_cast<unsigned char>(c) & 0xf];
          } else {
            text_ += c;  // UTF-8 passes through unchanged
          }
      }
    }
    text_ += '"';
  }

  std::string text_;
  std::vector<Level> levels_;
  bool key_pending_ = false;
};

}  // namespace deepjet::evaluation

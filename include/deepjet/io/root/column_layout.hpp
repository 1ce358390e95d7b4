// deepjet/io/root/column_layout.hpp: how the entries of a branch are laid out in its baskets.
//
// Contract: describe_column() maps a branch (and, for members of split objects, the file's
// streamer infos) to a ColumnLayout: the stored value type and whether each entry holds a fixed
// number of values, a counted (jagged) run of values, an STL collection of basic values, a vector
// of vectors of basic values, a string, or a collection of strings. Double32_t and Float16_t leaves
// and members are Float64 / Float32 values with a RealPacking saying how ROOT packed them.
// Anything else (user classes read whole, other nested containers, maps, std::vector<Double32_t>
// ...) yields kind == Unsupported with a reason naming the branch and its type; it never guesses.
#pragma once

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "deepjet/io/root/streamer_info.hpp"
#include "deepjet/io/root/tree_metadata.hpp"

namespace deepjet::root {

enum class ValueType : std::uint8_t {
  Bool, Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64, String
};

inline std::size_t value_size(ValueType type) noexcept {
  switch (type) {
    case ValueType::Bool: case ValueType::Int8: case ValueType::UInt8: return 1;
    case ValueType::Int16: case ValueType::UInt16: return 2;
    case ValueType::Int32: case ValueType::UInt32: case ValueType::Float32: return 4;
    case ValueType::Int64: case ValueType::UInt64: case ValueType::Float64: return 8;
    case ValueType::String: return 1;
  }
  return 1;
}

inline const char* value_type_name(ValueType type) noexcept {
  switch (type) {
    case ValueType::Bool: return "bool";
    case ValueType::Int8: return "int8";
    case ValueType::UInt8: return "uint8";
    case ValueType::Int16: return "int16";
    case ValueType::UInt16: return "uint16";
    case ValueType::Int32: return "int32";
    case ValueType::UInt32: return "uint32";
    case ValueType::Int64: return "int64";
    case ValueType::UInt64: return "uint64";
    case ValueType::Float32: return "float32";
    case ValueType::Float64: return "float64";
    case ValueType::String: return "string";
  }
  return "?";
}

/// How ROOT packs a Double32_t or Float16_t value (TBufferFile::WriteDouble32 / WriteFloat16, with
/// the range parsed by TStreamerElement::GetRange from a member comment or a leaf title):
///   as_float  Double32_t without a range: a 4-byte float.
///   range     "[xmin,xmax]" or "[xmin,xmax,nbits]" with xmin < xmax: a 4-byte unsigned integer
///             n = unsigned(0.5 + factor * (clamp(x) - xmin)), factor = 2^nbits / (xmax - xmin)
///             (0xFFFFFFFF / (xmax - xmin) for 32 bits); read back as n / factor + xmin.
///   mantissa  "[0,0,nbits]" with nbits < 15, and Float16_t without a range (nbits = 12): the
///             float's exponent byte, then 2 bytes holding the mantissa rounded to nbits bits with
///             the sign in bit nbits + 1.
struct RealPacking {
  enum class Form : std::uint8_t { none, as_float, range, mantissa };
  Form form = Form::none;
  double xmin = 0;
  double xmax = 0;
  double factor = 0;
  int nbits = 0;
  std::string specification;  // the writer's range text ("[0,1,20]"), for leaf titles

  bool packed() const noexcept { return form != Form::none; }
  std::size_t stored_size() const noexcept { return form == Form::mantissa ? 3 : 4; }
};

struct ColumnLayout {
  enum class Kind {
    Fixed,        // `values_per_entry` values per entry at a fixed stride
    Counted,      // a run of values per entry, sized by the entry offsets (Jet_Px[NJet])
    Collection,   // std::vector<T>/std::set<T> of basic T: 10-byte header then the values
    Text,         // one string per entry (TLeafC, std::string, TString)
    TextCollection,  // std::vector<std::string> / std::set<TString> ...: 10-byte header, strings
    NestedCollection,  // std::vector<std::vector<T>> of basic T: 10-byte header, then per inner
                       // vector its 4-byte size and its values
    Unsupported
  } kind = Kind::Unsupported;
  ValueType type = ValueType::Int32;
  std::int64_t values_per_entry = 1;  // Fixed; for Counted: values per count unit (x[n][3])
  std::size_t entry_bytes = 0;        // Fixed: bytes per entry (several leaves in a leaf list)
  std::size_t leaf_offset = 0;        // Fixed: byte offset of this leaf inside the entry
  std::size_t entry_header_bytes = 0; // Counted/Collection/Text: bytes before the values
  std::string count_leaf;             // Counted: the leaf that holds the counts
  std::string description;            // human-readable type, e.g. "float[NJet]"
  std::string unsupported_reason;
  RealPacking packing;                // Double32_t (type Float64) and Float16_t (type Float32)
};

/// Bytes one value takes in a basket (3 or 4 for packed Double32_t / Float16_t values).
inline std::size_t stored_value_size(const ColumnLayout& layout) noexcept {
  return layout.packing.packed() ? layout.packing.stored_size() : value_size(layout.type);
}

namespace detail {

/// One number of a range specification, as TStreamerElement::GetRange reads it: spaces dropped,
/// lower case; anything mentioning pi is 2pi (also "2*pi", "twopi"), pi/2, pi/4 or pi, negated if
/// it contains '-'; otherwise a C number (0 if none).
inline double range_number(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != ' ') clean += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (clean.find("pi") != std::string::npos) {
    constexpr double pi = 3.14159265358979323846;
    double value = pi;
    if (clean.find("2pi") != std::string::npos || clean.find("2*pi") != std::string::npos ||
        clean.find("twopi") != std::string::npos) {
      value = 2 * pi;
    } else if (clean.find("pi/2") != std::string::npos) {
      value = pi / 2;
    } else if (clean.find("pi/4") != std::string::npos) {
      value = pi / 4;
    }
    return clean.find('-') != std::string::npos ? -value : value;
  }
  const double value = std::strtod(clean.c_str(), nullptr);
  return std::isfinite(value) ? value : 0.0;
}

}  // namespace detail

/// The packing from TStreamerElement's fXmin, fXmax, fFactor (as GetRange leaves them).
inline bool real_packing_from_values(double xmin, double xmax, double factor, bool float16, RealPacking& packing,
                                     std::string& problem) {
  packing = RealPacking{};
  packing.xmin = xmin;
  packing.xmax = xmax;
  if (factor != 0) {
    if (!std::isfinite(factor) || !std::isfinite(xmin) || factor < 0) {
      problem = "invalid range factor " + std::to_string(factor);
      return false;
    }
    packing.form = RealPacking::Form::range;
    packing.factor = factor;
    return true;
  }
  // ROOT keeps the number of mantissa bits in fXmin (nbits + 0.1).
  const double bits = std::isfinite(xmin) ? xmin : -1.0;
  if (bits > -1 && bits < 1) {
    packing.form = float16 ? RealPacking::Form::mantissa : RealPacking::Form::as_float;
    packing.nbits = float16 ? 12 : 0;
    packing.xmin = 0;
    return true;
  }
  if (bits < 1 || bits >= 23) {
    problem = "invalid number of mantissa bits " + std::to_string(bits);
    return false;
  }
  packing.form = RealPacking::Form::mantissa;
  packing.nbits = static_cast<int>(bits);
  packing.xmin = 0;
  return true;
}

/// The packing of a Double32_t (`float16` false) or Float16_t value whose member comment or leaf
/// title is `title` (ROOT's rules, see RealPacking). The first bracket without a comma is taken as
/// an array dimension ("[3][0,1,12]"). Returns false (and a reason) for specifications ROOT
/// itself cannot decode (a mantissa of more than 22 or fewer than 1 bits).
inline bool real_packing_from_title(std::string_view title, bool float16, RealPacking& packing,
                                    std::string& problem) {
  double xmin = 0, xmax = 0, factor = 0;
  auto left = title.find('[');
  auto right = left == std::string_view::npos ? left : title.find(']', left);
  auto comma = right == std::string_view::npos ? right : title.find(',', left);
  if (right != std::string_view::npos && (comma == std::string_view::npos || comma > right)) {
    left = title.find('[', right);
    right = left == std::string_view::npos ? left : title.find(']', left);
    comma = right == std::string_view::npos ? right : title.find(',', left);
    if (comma != std::string_view::npos && comma > right) comma = std::string_view::npos;
  }
  if (right != std::string_view::npos && comma != std::string_view::npos) {
    std::size_t comma2 = title.find(',', comma + 1);
    if (comma2 != std::string_view::npos && comma2 > right) comma2 = std::string_view::npos;
    long nbits = 32;
    if (comma2 != std::string_view::npos) {
      const std::string bits(title.substr(comma2 + 1, right - comma2 - 1));
      char* end = nullptr;
      const long parsed = std::strtol(bits.c_str(), &end, 10);
      if (end != bits.c_str()) nbits = parsed;
      if (nbits < 2 || nbits > 32) nbits = 32;  // ROOT: "reset to 32"
      right = comma2;
    }
    xmin = detail::range_number(title.substr(left + 1, comma - left - 1));
    xmax = detail::range_number(title.substr(comma + 1, right - comma - 1));
    const double bigint = nbits < 32 ? static_cast<double>(std::uint32_t(1) << nbits) : 4294967295.0;
    if (xmin < xmax) factor = bigint / (xmax - xmin);
    if (xmin >= xmax && nbits < 15) xmin = static_cast<double>(nbits) + 0.1;
  }
  return real_packing_from_values(xmin, xmax, factor, float16, packing, problem);
}

namespace detail {

/// ROOT's type codes (TStreamerInfo::EReadWrite) for basic types.
inline bool value_type_from_code(std::int32_t code, ValueType& type) {
  switch (code) {
    case 1: type = ValueType::Int8; return true;     // kChar
    case 2: type = ValueType::Int16; return true;    // kShort
    case 3: type = ValueType::Int32; return true;    // kInt
    case 4: type = ValueType::Int64; return true;    // kLong (64-bit on disk)
    case 5: type = ValueType::Float32; return true;  // kFloat
    case 6: type = ValueType::Int32; return true;    // kCounter
    case 8: type = ValueType::Float64; return true;  // kDouble
    case 11: type = ValueType::UInt8; return true;   // kUChar
    case 12: type = ValueType::UInt16; return true;  // kUShort
    case 13: type = ValueType::UInt32; return true;  // kUInt
    case 14: type = ValueType::UInt64; return true;  // kULong
    case 15: type = ValueType::UInt32; return true;  // kBits
    case 16: type = ValueType::Int64; return true;   // kLong64
    case 17: type = ValueType::UInt64; return true;  // kULong64
    case 18: type = ValueType::Bool; return true;    // kBool
    default: return false;                           // 7 char*, 9 Double32, 19 Float16 ...
  }
}

inline std::string normalized_type_name(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name.compare(i, 5, "std::") == 0) {
      i += 4;
      continue;
    }
    if (name[i] == ' ' && (out.empty() || out.back() == '<' || out.back() == ',' ||
                           i + 1 == name.size() || name[i + 1] == '>' || name[i + 1] == ',')) {
      continue;
    }
    out += name[i];
  }
  return out;
}

inline bool value_type_from_name(std::string_view raw, ValueType& type) {
  const std::string name = normalized_type_name(raw);
  struct Entry { const char* name; ValueType type; };
  static const Entry table[] = {
      {"bool", ValueType::Bool}, {"Bool_t", ValueType::Bool},
      {"char", ValueType::Int8}, {"Char_t", ValueType::Int8}, {"signed char", ValueType::Int8},
      {"int8_t", ValueType::Int8}, {"unsigned char", ValueType::UInt8},
      {"UChar_t", ValueType::UInt8}, {"uint8_t", ValueType::UInt8},
      {"short", ValueType::Int16}, {"Short_t", ValueType::Int16}, {"int16_t", ValueType::Int16},
      {"unsigned short", ValueType::UInt16}, {"UShort_t", ValueType::UInt16},
      {"uint16_t", ValueType::UInt16}, {"int", ValueType::Int32}, {"Int_t", ValueType::Int32},
      {"int32_t", ValueType::Int32}, {"unsigned int", ValueType::UInt32},
      {"unsigned", ValueType::UInt32}, {"UInt_t", ValueType::UInt32},
      {"uint32_t", ValueType::UInt32}, {"long", ValueType::Int64}, {"Long_t", ValueType::Int64},
      {"long long", ValueType::Int64}, {"Long64_t", ValueType::Int64},
      {"int64_t", ValueType::Int64}, {"unsigned long", ValueType::UInt64},
      {"ULong_t", ValueType::UInt64}, {"unsigned long long", ValueType::UInt64},
      {"ULong64_t", ValueType::UInt64}, {"uint64_t", ValueType::UInt64},
      {"float", ValueType::Float32}, {"Float_t", ValueType::Float32},
      {"double", ValueType::Float64}, {"Double_t", ValueType::Float64}};
  for (const Entry& entry : table) {
    if (name == entry.name) {
      type = entry.type;
      return true;
    }
  }
  return false;
}

/// "vector<float>" -> Collection of Float32; false for anything but a sequence of basic values.
inline bool collection_of_basic(std::string_view raw, ValueType& type) {
  const std::string name = normalized_type_name(raw);
  for (const char* prefix : {"vector<", "set<", "list<", "deque<"}) {
    const std::size_t length = std::char_traits<char>::length(prefix);
    if (name.compare(0, length, prefix) == 0 && name.size() > length && name.back() == '>') {
      return value_type_from_name(name.substr(length, name.size() - length - 1), type);
    }
  }
  return false;
}

/// "vector<vector<float> >" -> Float32; false for anything but vectors of vectors of basic values.
inline bool nested_vector_of_basic(std::string_view raw, ValueType& type) {
  const std::string name = normalized_type_name(raw);
  const std::string prefix = "vector<vector<";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() < prefix.size() + 2 ||
      name.compare(name.size() - 2, 2, ">>") != 0) {
    return false;
  }
  return value_type_from_name(name.substr(prefix.size(), name.size() - prefix.size() - 2), type);
}

inline ColumnLayout nested_collection(const std::string& type, ValueType value_type) {
  ColumnLayout layout;
  layout.kind = ColumnLayout::Kind::NestedCollection;
  layout.type = value_type;
  layout.entry_header_bytes = 10;  // byte count + version + number of inner vectors
  layout.description = normalized_type_name(type);
  return layout;
}

/// "vector<string>", "set<TString>" ...: a collection of strings.
inline bool collection_of_strings(std::string_view raw) {
  const std::string name = normalized_type_name(raw);
  for (const char* prefix : {"vector<", "set<", "list<", "deque<"}) {
    const std::size_t length = std::char_traits<char>::length(prefix);
    if (name.compare(0, length, prefix) == 0 && name.size() > length && name.back() == '>') {
      const std::string element = name.substr(length, name.size() - length - 1);
      return element == "string" || element == "TString";
    }
  }
  return false;
}

inline ColumnLayout string_collection(const std::string& type) {
  ColumnLayout layout;
  layout.kind = ColumnLayout::Kind::TextCollection;
  layout.type = ValueType::String;
  layout.entry_header_bytes = 10;  // byte count + version + element count
  layout.description = normalized_type_name(type);
  return layout;
}

inline ColumnLayout unsupported(const BranchDescription& branch, const std::string& type) {
  ColumnLayout layout;
  layout.kind = ColumnLayout::Kind::Unsupported;
  layout.description = type;
  layout.unsupported_reason = "branch \"" + branch.name + "\" of type " + type +
                              " is not supported (only basic types, fixed arrays, counted "
                              "arrays, strings and collections of basic types are)";
  return layout;
}

/// "float64", or for packed values "Double32_t[0,1,20]"-like names: "Double32_t(range 0..1, 20 bits)".
inline std::string packed_type_name(const ColumnLayout& layout) {
  if (!layout.packing.packed()) return value_type_name(layout.type);
  const RealPacking& p = layout.packing;
  std::string name = layout.type == ValueType::Float64 ? "Double32_t" : "Float16_t";
  switch (p.form) {
    case RealPacking::Form::as_float: return name + "(as float)";
    case RealPacking::Form::mantissa: return name + "(" + std::to_string(p.nbits) + "-bit mantissa)";
    case RealPacking::Form::range: {
      char text[96];
      std::snprintf(text, sizeof(text), "(%g..%g, factor %g)", p.xmin, p.xmax, p.factor);
      return name + text;
    }
    case RealPacking::Form::none: break;
  }
  return name;
}

/// Double32_t (code 9) and Float16_t (code 19) members: their packing from the streamer element.
inline bool element_packing(const StreamerElement& element, std::int32_t basic_code, ColumnLayout& layout,
                            std::string& problem) {
  if (basic_code != 9 && basic_code != 19) return true;
  const bool float16 = basic_code == 19;
  layout.type = float16 ? ValueType::Float32 : ValueType::Float64;
  if (element.explicit_range) {
    return real_packing_from_values(element.xmin, element.xmax, element.factor, float16, layout.packing, problem);
  }
  // Without kHasRange ROOT ignores the comment: plain float (Double32_t), 12-bit mantissa (Float16_t).
  return real_packing_from_title(element.has_range ? std::string_view(element.title) : std::string_view(), float16,
                                 layout.packing, problem);
}

inline ColumnLayout layout_of_plain_leaf(const BranchDescription& branch, const LeafDescription& leaf) {
  ColumnLayout layout;
  const std::string& cls = leaf.class_name;
  if (cls == "TLeafC") {
    layout.kind = ColumnLayout::Kind::Text;
    layout.type = ValueType::String;
    layout.description = "string";
    return layout;
  }
  if (cls == "TLeafO") layout.type = ValueType::Bool;
  else if (cls == "TLeafB") layout.type = leaf.is_unsigned ? ValueType::UInt8 : ValueType::Int8;
  else if (cls == "TLeafS") layout.type = leaf.is_unsigned ? ValueType::UInt16 : ValueType::Int16;
  else if (cls == "TLeafI") layout.type = leaf.is_unsigned ? ValueType::UInt32 : ValueType::Int32;
  else if (cls == "TLeafL" || cls == "TLeafG")
    layout.type = leaf.is_unsigned ? ValueType::UInt64 : ValueType::Int64;
  else if (cls == "TLeafF") layout.type = ValueType::Float32;
  else if (cls == "TLeafD") layout.type = ValueType::Float64;
  else if (cls == "TLeafD32" || cls == "TLeafF16") {
    // ROOT 6.22+ leaves of type 'd' / 'f': the title is the type with its range ("d[0,1,20]").
    const bool float16 = cls == "TLeafF16";
    layout.type = float16 ? ValueType::Float32 : ValueType::Float64;
    std::string problem;
    if (!real_packing_from_title(leaf.title, float16, layout.packing, problem)) {
      return unsupported(branch, cls + " leaf \"" + leaf.title + "\": " + problem);
    }
  }
  else return unsupported(branch, cls + " leaf \"" + leaf.title + "\"");
  // ROOT caps fixed array dimensions far below this; larger values only come from damaged files.
  constexpr std::int32_t max_values_per_entry = 1 << 24;
  if (leaf.length < 1 || leaf.length > max_values_per_entry) {
    return unsupported(branch, "leaf with invalid length " + std::to_string(leaf.length));
  }
  std::string type = packed_type_name(layout);
  if (!leaf.count_leaf.empty()) {
    layout.kind = ColumnLayout::Kind::Counted;
    layout.values_per_entry = leaf.length;
    layout.count_leaf = leaf.count_leaf;
    layout.description = type + "[" + leaf.count_leaf + "]" +
                         (leaf.length > 1 ? "[" + std::to_string(leaf.length) + "]" : "");
  } else {
    layout.kind = ColumnLayout::Kind::Fixed;
    layout.values_per_entry = leaf.length;
    layout.entry_bytes = static_cast<std::size_t>(leaf.length) * stored_value_size(layout);
    layout.description = leaf.length == 1 ? type : type + "[" + std::to_string(leaf.length) + "]";
  }
  return layout;
}

/// The streamer element a split-object branch stands for, if the file describes it.
inline const StreamerElement* member_element(const BranchDescription& branch,
                                             const StreamerInfos& infos) {
  if (branch.element_id < 0) return nullptr;
  auto found = infos.find(branch.element_class);
  if (found == infos.end()) return nullptr;
  const auto& elements = found->second.elements;
  if (static_cast<std::size_t>(branch.element_id) >= elements.size()) return nullptr;
  return &elements[static_cast<std::size_t>(branch.element_id)];
}

inline ColumnLayout layout_of_element(const BranchDescription& branch, const StreamerInfos& infos) {
  ColumnLayout layout;
  if (!branch.children.empty()) {
    const StreamerElement* element = member_element(branch, infos);
    const std::string type = element ? normalized_type_name(element->type_name) : branch.element_class;
    return unsupported(branch, "split object " + type + " (read its sub-branches instead)");
  }
  if (branch.element_id < 0) {
    // A top-level object branch: the class is the branch's type.
    const std::string& type = branch.element_class;
    if (collection_of_basic(type, layout.type)) {
      layout.kind = ColumnLayout::Kind::Collection;
      layout.entry_header_bytes = 10;  // byte count + version + element count
      layout.description = normalized_type_name(type);
      return layout;
    }
    if (collection_of_strings(type)) return string_collection(type);
    if (nested_vector_of_basic(type, layout.type)) return nested_collection(type, layout.type);
    if (normalized_type_name(type) == "string") {
      layout.kind = ColumnLayout::Kind::Text;
      layout.type = ValueType::String;
      layout.description = "std::string";
      return layout;
    }
    if (type == "TString") {
      layout.kind = ColumnLayout::Kind::Text;
      layout.type = ValueType::String;
      layout.description = "TString";
      return layout;
    }
    return unsupported(branch, type.empty() ? branch.class_name : type);
  }
  const StreamerElement* element = member_element(branch, infos);
  if (element == nullptr) {
    return unsupported(branch, "member " + std::to_string(branch.element_id) + " of " +
                                   branch.element_class + " (no streamer info)");
  }
  const std::int32_t code = element->type;
  const std::string type_name = normalized_type_name(element->type_name);
  // Members of split TClonesArrays and STL collections of objects (fType 31 / 41) hold one value
  // (or one fixed array) per element of the collection: their leaf names the count leaf, and the
  // entries are the values back to back.
  const std::string count_leaf = branch.leaves.empty() ? std::string() : branch.leaves[0].count_leaf;
  const bool in_collection = branch.element_kind == 31 || branch.element_kind == 41;
  // TObject::fBits may carry an extra process id per element, so its entries are not a whole
  // number of values.
  const bool object_bits = code == 15 || code == 35;
  // A basic type code (Double32_t and Float16_t with their packing); a range ROOT cannot decode
  // makes the member unsupported.
  std::string packing_problem;
  const auto basic = [&](std::int32_t basic_code) {
    if (basic_code == 9 || basic_code == 19) return element_packing(*element, basic_code, layout, packing_problem);
    return value_type_from_code(basic_code, layout.type);
  };
  if (element->type > 0 && element->type < 60 && (element->type % 20 == 9 || element->type % 20 == 19)) {
    ColumnLayout probe;
    if (!element_packing(*element, element->type % 20, probe, packing_problem)) {
      return unsupported(branch, type_name + " member \"" + element->title + "\": " + packing_problem);
    }
  }
  if (!count_leaf.empty() && code > 0 && code < 40 && !object_bits &&
      basic(code < 20 ? code : code - 20)) {
    const std::int64_t length = code < 20 ? 1 : std::max<std::int32_t>(element->array_length, 1);
    if (length > (1 << 24)) return unsupported(branch, "array member with invalid length " + std::to_string(length));
    layout.kind = ColumnLayout::Kind::Counted;
    layout.values_per_entry = length;
    layout.count_leaf = count_leaf;
    layout.description = packed_type_name(layout) + "[" + count_leaf + "]" +
                         (length > 1 ? "[" + std::to_string(length) + "]" : "");
    return layout;
  }
  if (in_collection || object_bits) {
    // Anything else inside a split TClonesArray or STL collection of objects holds one value of
    // a non-basic type per collection element: not a layout this reader decodes.
    return unsupported(branch, (type_name.empty() ? "type code " + std::to_string(code) : type_name) +
                                   (in_collection ? " inside a split collection" : " (TObject bits)"));
  }
  if (code > 0 && code < 20 && basic(code)) {
    layout.kind = ColumnLayout::Kind::Fixed;
    layout.values_per_entry = 1;
    layout.entry_bytes = stored_value_size(layout);
    layout.description = packed_type_name(layout);
    return layout;
  }
  if (code > 20 && code < 40 && basic(code - 20)) {
    const std::int64_t length = element->array_length > 0 ? element->array_length : 1;
    if (length > (1 << 24)) return unsupported(branch, "array member with invalid length " + std::to_string(length));
    layout.kind = ColumnLayout::Kind::Fixed;
    layout.values_per_entry = length;
    layout.entry_bytes = static_cast<std::size_t>(length) * stored_value_size(layout);
    layout.description = packed_type_name(layout) + "[" + std::to_string(length) + "]";
    return layout;
  }
  if (code > 40 && code < 60 && basic(code - 40)) {
    // Pointer to a counted array ("Int_t* fX; //[fN]"): a one-byte marker, then the values.
    layout.kind = ColumnLayout::Kind::Counted;
    layout.values_per_entry = 1;
    layout.entry_header_bytes = 1;
    layout.description = packed_type_name(layout) + "[]";
    return layout;
  }
  if (code == 65) {
    layout.kind = ColumnLayout::Kind::Text;
    layout.type = ValueType::String;
    layout.description = "TString";
    return layout;
  }
  if (code == 365 || ((code == 300 || code == 500) && type_name == "string")) {
    layout.kind = ColumnLayout::Kind::Text;
    layout.type = ValueType::String;
    layout.entry_header_bytes = 6;
    layout.description = "std::string";
    return layout;
  }
  if ((code == 300 || code == 500) && collection_of_strings(type_name)) return string_collection(type_name);
  if ((code == 300 || code == 500) && nested_vector_of_basic(type_name, layout.type)) {
    return nested_collection(type_name, layout.type);
  }
  if ((code == 300 || code == 500) && collection_of_basic(type_name, layout.type)) {
    layout.kind = ColumnLayout::Kind::Collection;
    layout.entry_header_bytes = 10;
    layout.description = type_name;
    return layout;
  }
  return unsupported(branch, type_name.empty() ? "type code " + std::to_string(code) : type_name);
}

}  // namespace detail

/// Layout of `leaf_index` within `branch` (leaf lists have several leaves).
inline ColumnLayout describe_column(const BranchDescription& branch, const StreamerInfos& infos,
                                    std::size_t leaf_index = 0) {
  if (!branch.external_file.empty()) {
    return detail::unsupported(branch, "baskets in external file " + branch.external_file);
  }
  if (branch.class_name == "TBranchElement") return detail::layout_of_element(branch, infos);
  if (branch.class_name != "TBranch") return detail::unsupported(branch, branch.class_name);
  if (branch.leaves.empty()) return detail::unsupported(branch, "branch without leaves");
  if (branch.leaves.size() == 1) return detail::layout_of_plain_leaf(branch, branch.leaves[0]);
  // A leaf list: each entry is the leaves' values one after the other.
  std::size_t entry_bytes = 0;
  std::size_t offset = 0;
  ColumnLayout chosen;
  for (std::size_t i = 0; i < branch.leaves.size(); ++i) {
    ColumnLayout leaf = detail::layout_of_plain_leaf(branch, branch.leaves[i]);
    if (leaf.kind != ColumnLayout::Kind::Fixed) {
      return detail::unsupported(branch, "leaf list with variable-size leaf " + branch.leaves[i].name);
    }
    if (i == leaf_index) {
      chosen = leaf;
      offset = entry_bytes;
    }
    entry_bytes += leaf.entry_bytes;
  }
  if (leaf_index >= branch.leaves.size()) return detail::unsupported(branch, "missing leaf");
  chosen.entry_bytes = entry_bytes;
  chosen.leaf_offset = offset;
  return chosen;
}

}  // namespace deepjet::root

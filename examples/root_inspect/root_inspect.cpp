// root_inspect: a quick look inside a ROOT file with deepjet's native reader.
//
//   root_inspect FILE                      trees (nested directories too), branches, types, entries
//   root_inspect FILE TREE BRANCH --json   one JSON object for the branch:
//       {"entries": E, "elements": N, "sum": S, "first": [[...], [...], [...]]}
//     (elements and sum count numeric values; string branches, and collections of strings,
//     report 0 and list their strings).
//
// Errors go to stderr and the exit code is 1.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "deepjet/io/root.hpp"

namespace {

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";  // JSON has no NaN/inf
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);  // bytes >= 0x80 pass through (UTF-8 or raw)
    }
  }
  return out + "\"";
}

void list_file(const deepjet::root::File& file) {
  const auto trees = file.tree_paths();
  if (trees.empty()) std::cout << "(no trees)\n";
  for (const std::string& path : trees) {
    const deepjet::root::Tree tree = file.tree(path);
    std::cout << "tree " << path << "  (" << tree.entries() << " entries, "
              << tree.branches().size() << " branches)\n";
    for (const auto& branch : tree.branches()) {
      std::cout << "  " << std::string(2 * branch.depth, ' ') << branch.name << "  " << branch.type
                << "  entries=" << branch.entries << (branch.supported ? "" : "  [unsupported]")
                << "\n";
    }
  }
}

void print_json(const deepjet::root::Tree& tree, const std::string& name) {
  const auto& info = tree.branch(name);
  std::string first = "[";
  if (info.layout.kind == deepjet::root::ColumnLayout::Kind::Text) {
    const auto strings = tree.read_strings(name);
    for (std::size_t i = 0; i < strings.size() && i < 3; ++i) {
      first += (i ? ", [" : "[") + json_string(strings[i]) + "]";
    }
    std::cout << "{\"entries\": " << strings.size() << ", \"elements\": 0, \"sum\": 0, \"first\": "
              << first << "]}\n";
    return;
  }
  if (info.layout.kind == deepjet::root::ColumnLayout::Kind::TextCollection) {
    const auto lists = tree.read_string_lists(name);
    for (std::size_t i = 0; i < lists.entries() && i < 3; ++i) {
      first += i ? ", [" : "[";
      const auto entry = lists[i];
      for (std::size_t j = 0; j < entry.size(); ++j) first += (j ? ", " : "") + json_string(entry[j]);
      first += "]";
    }
    std::cout << "{\"entries\": " << lists.entries() << ", \"elements\": 0, \"sum\": 0, \"first\": "
              << first << "]}\n";
    return;
  }
  if (info.layout.kind == deepjet::root::ColumnLayout::Kind::NestedCollection) {
    // Two levels of lists: each entry is a list of lists.
    const auto column = tree.read_nested<double>(name);
    double sum = 0;
    for (double value : column.values) sum += value;
    for (std::size_t i = 0; i < column.entries() && i < 3; ++i) {
      first += i ? ", [" : "[";
      for (std::size_t j = 0; j < column.lists(i); ++j) {
        const auto list = column(i, j);
        first += j ? ", [" : "[";
        for (std::size_t k = 0; k < list.size(); ++k) first += (k ? ", " : "") + json_number(list[k]);
        first += "]";
      }
      first += "]";
    }
    std::cout << "{\"entries\": " << column.entries() << ", \"elements\": " << column.values.size()
              << ", \"sum\": " << json_number(sum) << ", \"first\": " << first << "]}\n";
    return;
  }
  const auto column = tree.read_jagged<double>(name);
  double sum = 0;
  for (double value : column.values) sum += value;
  for (std::size_t i = 0; i < column.entries() && i < 3; ++i) {
    first += i ? ", [" : "[";
    const auto entry = column[i];
    for (std::size_t j = 0; j < entry.size(); ++j) first += (j ? ", " : "") + json_number(entry[j]);
    first += "]";
  }
  std::cout << "{\"entries\": " << column.entries() << ", \"elements\": " << column.values.size()
            << ", \"sum\": " << json_number(sum) << ", \"first\": " << first << "]}\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool json = false;
  std::vector<std::string> positional;
  for (const auto& arg : args) {
    if (arg == "--json") {
      json = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << "usage: root_inspect FILE [TREE BRANCH --json]\n";
      return 0;
    } else {
      positional.push_back(arg);
    }
  }
  try {
    if (positional.size() == 1 && !json) {
      list_file(deepjet::root::File(positional[0]));
      return 0;
    }
    if (positional.size() == 3 && json) {
      const deepjet::root::File file(positional[0]);
      print_json(file.tree(positional[1]), positional[2]);
      return 0;
    }
    std::cerr << "usage: root_inspect FILE [TREE BRANCH --json]\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "root_inspect: " << error.what() << "\n";
    return 1;
  }
}

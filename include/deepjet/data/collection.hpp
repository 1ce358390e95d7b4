// deepjet/data/collection.hpp: the data collection, the list of a dataset's training files.
//
// One HDF5 file (usually <directory>/collection.h5) with attributes only:
//   deepjet_file = "data collection", format_version = 1, library_version,
//   format (Format::describe()), table (the source tree or table name),
//   normalisation (Normalisation::to_text()), sources (every requested source, one per line),
//   files ("jets<TAB>crc32<TAB>training file<TAB>source" per converted source, in source order;
//   training files are relative to the collection's directory), failures ("source<TAB>reason"),
//   and optional named extras (the weighter, ...) as text.
// save() writes a new file under a temporary name and renames it, so the collection on disk is
// always a complete, earlier or later, state: the converter saves it after every finished file and a
// rerun resumes from it. load() refuses a collection of another Format by name.
#pragma once

#include "deepjet/core/atomic_file.hpp"
#include "deepjet/core/version.hpp"
#include "deepjet/data/normalisation.hpp"
#include "deepjet/io/hdf5/hdf5.hpp"

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace deepjet::data {

template <class Format>
struct Collection {
  struct TrainingFileEntry {
    std::string source;
    std::string training_file;  ///< relative to the collection's directory
    std::uint64_t jets = 0;
    std::uint32_t source_crc32 = 0;
  };
  struct Failure {
    std::string source;
    std::string reason;
  };

  std::string table;
  Normalisation<Format> normalisation = Normalisation<Format>::identity();
  std::vector<std::string> sources;
  std::vector<TrainingFileEntry> files;
  std::vector<Failure> failures;
  std::map<std::string, std::string> extras;

  std::uint64_t jets() const {
    std::uint64_t n = 0;
    for (const auto& f : files) n += f.jets;
    return n;
  }
  const TrainingFileEntry* find(const std::string& source) const {
    for (const auto& f : files)
      if (f.source == source) return &f;
    return nullptr;
  }

  void save(const std::filesystem::path& path) const {
    AtomicFile output(path);
    {
      hdf5::File file(output.temporary_path(), hdf5::File::Mode::create);
      file.write_attribute("deepjet_file", std::string("data collection"));
      file.write_attribute("format_version", std::uint64_t{1});
      file.write_attribute("library_version", std::string(version));
      file.write_attribute("format", Format::describe());
      file.write_attribute("table", table);
      file.write_attribute("normalisation", normalisation.to_text());
      std::string text;
      for (const auto& s : sources) text += checked(s, path) + "\n";
      file.write_attribute("sources", text);
      text.clear();
      for (const auto& f : files)
        text += std::to_string(f.jets) + "\t" + std::to_string(f.source_crc32) + "\t" + checked(f.training_file, path) +
                "\t" + checked(f.source, path) + "\n";
      file.write_attribute("files", text);
      text.clear();
      for (const auto& f : failures) text += checked(f.source, path) + "\t" + one_line(f.reason) + "\n";
      file.write_attribute("failures", text);
      for (const auto& [name, value] : extras) file.write_attribute("extra:" + name, value);
      file.close();
    }
    output.commit();
  }

  static Collection load(const std::filesystem::path& path) {
    hdf5::File file(path, hdf5::File::Mode::read);
    if (!file.has_attribute("deepjet_file") || file.read_string_attribute("deepjet_file") != "data collection")
      file.fail("is not a deepjet data collection");
    if (file.read_integer_attribute("format_version") != 1)
      file.fail("has collection format version " + std::to_string(file.read_integer_attribute("format_version")) +
                "; this deepjet reads version 1");
    if (file.read_string_attribute("format") != Format::describe())
      file.fail("was made for another data format (its 'format' attribute differs from this program's)");
    Collection c;
    c.table = file.read_string_attribute("table");
    try {
      c.normalisation = Normalisation<Format>::from_text(file.read_string_attribute("normalisation"));
    } catch (const Error& e) {
      file.fail(std::string("holds an unreadable normalisation: ") + e.what());
    }
    for (const auto& line : lines(file.read_string_attribute("sources"))) c.sources.push_back(line);
    for (const auto& line : lines(file.read_string_attribute("files"))) {
      const auto fields = split(line);
      if (fields.size() != 4) file.fail("has a damaged file list line: '" + line + "'");
      c.files.push_back({fields[3], fields[2], std::stoull(fields[0]), static_cast<std::uint32_t>(std::stoul(fields[1]))});
    }
    for (const auto& line : lines(file.read_string_attribute("failures"))) {
      const auto fields = split(line);
      c.failures.push_back({fields.at(0), fields.size() > 1 ? fields[1] : ""});
    }
    return load_extras(file, std::move(c));
  }

 private:
  static Collection load_extras(const hdf5::File& file, Collection c) {
    for (const auto& name : known_extras())
      if (file.has_attribute("extra:" + name)) c.extras[name] = file.read_string_attribute("extra:" + name);
    return c;
  }
  /// Extras a collection may carry (attributes cannot be listed through deepjet's HDF5 wrapper).
  static const std::vector<std::string>& known_extras() {
    static const std::vector<std::string> names{"weighter"};
    return names;
  }
  static std::string checked(const std::string& text, const std::filesystem::path& path) {
    if (text.find_first_of("\t\n") != std::string::npos)
      throw FileError(path.string(), "cannot record a path with a tab or a line break: '" + text + "'");
    return text;
  }
  static std::string one_line(std::string text) {
    for (char& ch : text)
      if (ch == '\n' || ch == '\t') ch = ' ';
    return text;
  }
  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  }
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string field; std::getline(in, field, '\t');) out.push_back(field);
    return out;
  }
};

}  // namespace deepjet::data

// deepjet/core/error.hpp: the exceptions deepjet throws.
//
// Contract: every failure a user can cause (a bad file, a model file that does not match the
// compiled model, a missing branch, invalid features) is reported by throwing deepjet::Error or a
// subclass, with a message that names the thing and the problem. Programming errors inside
// deepjet itself are assertions, not exceptions.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace deepjet {

/// Base class of everything deepjet throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A problem with one file: the message reads "<path>: <problem>".
class FileError : public Error {
 public:
  FileError(std::string path, std::string problem)
      : Error(path + ": " + problem), path_(std::move(path)), problem_(std::move(problem)) {}

  const std::string& path() const noexcept { return path_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

}  // namespace deepjet

// deepjet/data/batch_jobs.hpp: scripts that run one command per source file as independent batch
// jobs (HTCondor, Slurm job arrays), for converting a dataset without MPI.
//
//   deepjet::data::BatchJobs jobs{.name = "convert", .executable = "/abs/deepjet_quickstart",
//                                 .arguments = {"convert-one", "--dir", "/eos/run", "--index", "{index}"},
//                                 .jobs = collection.sources.size(), .logs = "/eos/run/batch/logs"};
//   write_text_file("run/batch/convert.sub", deepjet::data::htcondor_submit(jobs));   // condor_submit convert.sub
//   write_text_file("run/batch/convert.slurm", deepjet::data::slurm_array(jobs));     // sbatch convert.slurm
//
// Contract:
//   - Job i (0 <= i < jobs) runs `executable arguments...` with every "{index}" in an argument
//     replaced by i: HTCondor's $(Process), Slurm's $SLURM_ARRAY_TASK_ID.
//   - Arguments are quoted for the scheduler (HTCondor's argument syntax, the shell for Slurm), so
//     spaces and quotes in paths survive. Each job writes <logs>/<name>_<i>.out and .err.
//   - The scripts only describe the jobs: submitting them, and gathering the results afterwards
//     (data/convert.hpp: gather_conversions), is the user's next step.
//   - An empty executable or jobs = 0 is refused (deepjet::Error).
#pragma once

#include "deepjet/core/error.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace deepjet::data {

struct BatchJobs {
  std::string name = "convert";
  std::string executable;
  std::vector<std::string> arguments;  ///< "{index}" stands for the job's number
  std::size_t jobs = 0;
  std::filesystem::path logs = "logs";
  std::size_t memory_mb = 2048;
  std::string time_limit = "04:00:00";  ///< Slurm's --time (HTCondor jobs have no limit here)
};

namespace detail {
inline void check(const BatchJobs& jobs) {
  if (jobs.executable.empty()) throw Error("batch jobs: no executable given");
  if (jobs.jobs == 0) throw Error("batch jobs: no jobs to run (jobs = 0)");
}
inline std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}
// A word for the shell: single-quoted, a single quote as '\''.
inline std::string shell_word(const std::string& word) { return "'" + replace_all(word, "'", "'\\''") + "'"; }
}  // namespace detail

/// An HTCondor submit description (vanilla universe) queueing jobs.jobs jobs.
inline std::string htcondor_submit(const BatchJobs& jobs) {
  detail::check(jobs);
  // HTCondor's quoted argument syntax: the whole list in double quotes, each argument in single
  // quotes, a single quote inside as '' and a double quote as "".
  std::string arguments;
  for (const auto& a : jobs.arguments) {
    std::string word = detail::replace_all(detail::replace_all(a, "'", "''"), "\"", "\"\"");
    word = detail::replace_all(word, "{index}", "$(Process)");
    arguments += (arguments.empty() ? "'" : " '") + word + "'";
  }
  const std::string logs = jobs.logs.string() + "/" + jobs.name;
  // (Appended piece by piece: GCC 12 warns falsely about long chains of string +.)
  std::string text = "# deepjet: " + std::to_string(jobs.jobs) + " independent jobs; submit with condor_submit\n";
  text += "universe       = vanilla\n";
  text += "executable     = " + jobs.executable + "\n";
  text += "arguments      = \"" + arguments + "\"\n";
  text += "output         = " + logs + "_$(Process).out\n";
  text += "error          = " + logs + "_$(Process).err\n";
  text += "log            = " + logs + ".log\n";
  text += "request_memory = " + std::to_string(jobs.memory_mb) + "\n";
  text += "getenv         = True\n";
  text += "queue " + std::to_string(jobs.jobs) + "\n";
  return text;
}

/// A Slurm batch script of a job array 0 .. jobs.jobs - 1.
inline std::string slurm_array(const BatchJobs& jobs) {
  detail::check(jobs);
  std::string command = detail::shell_word(jobs.executable);
  for (const auto& a : jobs.arguments) {
    // "{index}" leaves the quotes for the array index: '...'"$SLURM_ARRAY_TASK_ID"'...'
    command += " " + detail::replace_all(detail::shell_word(a), "{index}", "'\"$SLURM_ARRAY_TASK_ID\"'");
  }
  const std::string logs = jobs.logs.string() + "/" + jobs.name;
  std::string text = "#!/bin/bash\n";
  text += "# deepjet: " + std::to_string(jobs.jobs) + " independent jobs; submit with sbatch\n";
  text += "#SBATCH --job-name=deepjet-" + jobs.name + "\n";
  text += "#SBATCH --array=0-" + std::to_string(jobs.jobs - 1) + "\n";
  text += "#SBATCH --output=" + logs + "_%a.out\n";
  text += "#SBATCH --error=" + logs + "_%a.err\n";
  text += "#SBATCH --mem=" + std::to_string(jobs.memory_mb) + "M\n";
  text += "#SBATCH --time=" + jobs.time_limit + "\n";
  text += "#SBATCH --ntasks=1\n";
  text += "exec " + command + "\n";
  return text;
}

}  // namespace deepjet::data

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
inline std::string shell_word(const std::string& word) {
  std::string quoted = "'";
  quoted.append(replace_all(word, "'", "'\\''")).append("'");
  return quoted;
}
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
    arguments.append(arguments.empty() ? "'" : " '").append(word).append("'");
  }
  const std::string logs = jobs.logs.string() + "/" + jobs.name;
  // (Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about chains of string +.)
  std::string text = "# deepjet: ";
  text.append(std::to_string(jobs.jobs)).append(" independent jobs; submit with condor_submit\n");
  text += "universe       = vanilla\n";
  text.append("executable     = ").append(jobs.executable).append("\n");
  text.append("arguments      = \"").append(arguments).append("\"\n");
  text.append("output         = ").append(logs).append("_$(Process).out\n");
  text.append("error          = ").append(logs).append("_$(Process).err\n");
  text.append("log            = ").append(logs).append(".log\n");
  text.append("request_memory = ").append(std::to_string(jobs.memory_mb)).append("\n");
  text += "getenv         = True\n";
  text.append("queue ").append(std::to_string(jobs.jobs)).append("\n");
  return text;
}

/// A Slurm batch script of a job array 0 .. jobs.jobs - 1.
inline std::string slurm_array(const BatchJobs& jobs) {
  detail::check(jobs);
  std::string command = detail::shell_word(jobs.executable);
  for (const auto& a : jobs.arguments) {
    // "{index}" leaves the quotes for the array index: '...'"$SLURM_ARRAY_TASK_ID"'...'
    command.append(" ").append(detail::replace_all(detail::shell_word(a), "{index}", "'\"$SLURM_ARRAY_TASK_ID\"'"));
  }
  const std::string logs = jobs.logs.string() + "/" + jobs.name;
  // (Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about chains of string +.)
  std::string text = "#!/bin/bash\n";
  text.append("# deepjet: ").append(std::to_string(jobs.jobs)).append(" independent jobs; submit with sbatch\n");
  text.append("#SBATCH --job-name=deepjet-").append(jobs.name).append("\n");
  text.append("#SBATCH --array=0-").append(std::to_string(jobs.jobs - 1)).append("\n");
  text.append("#SBATCH --output=").append(logs).append("_%a.out\n");
  text.append("#SBATCH --error=").append(logs).append("_%a.err\n");
  text.append("#SBATCH --mem=").append(std::to_string(jobs.memory_mb)).append("M\n");
  text.append("#SBATCH --time=").append(jobs.time_limit).append("\n");
  text += "#SBATCH --ntasks=1\n";
  text.append("exec ").append(command).append("\n");
  return text;
}

}  // namespace deepjet::data

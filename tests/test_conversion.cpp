// Converting a dataset: collections, parallel conversion, failures, resuming after kill -9.
#include "support/jet_tables.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>

namespace {

namespace fs = std::filesystem;
namespace dd = deepjet::data;
using deepjet::test::TemporaryDirectory;
using deepjet::test::TestData;
using deepjet::test::write_jet_table;

std::vector<std::string> make_sources(const TemporaryDirectory& dir, std::size_t files, std::size_t jets) {
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < files; ++i) {
    const auto path = dir / ("source" + std::to_string(i) + ".h5");
    write_jet_table(path, i * 100000, jets, i + 1);
    sources.push_back(path.string());
  }
  return sources;
}

TEST(Conversion, ParallelConversionRecordsFilesAndFailures) {
  TemporaryDirectory dir;
  auto sources = make_sources(dir, 3, 500);
  sources.insert(sources.begin() + 1, (dir / "missing.root").string());
  const auto report = dd::convert_sources<TestData>(sources, "tree", dir / "out", {.threads = 2, .progress = false});
  EXPECT_EQ(report.converted, 3u);
  EXPECT_EQ(report.failed, 1u);
  EXPECT_EQ(report.jets, 1500u);
  const auto collection = dd::Collection<TestData>::load(dir / "out" / "collection.h5");
  ASSERT_EQ(collection.files.size(), 3u);
  EXPECT_EQ(collection.files[0].source, sources[0]);  // in source order, whichever thread finished first
  EXPECT_EQ(collection.files[2].source, sources[3]);
  ASSERT_EQ(collection.failures.size(), 1u);
  EXPECT_EQ(collection.failures[0].source, sources[1]);
  EXPECT_NE(collection.failures[0].reason.find("missing.root: cannot open"), std::string::npos) << collection.failures[0].reason;
  EXPECT_EQ(collection.normalisation.jets_used, 1500u);
  for (const auto& f : collection.files) {
    dd::TrainingFile<TestData> file(dir / "out" / f.training_file);
    EXPECT_EQ(file.jets(), 500u);
    EXPECT_EQ(file.normalisation().to_text(), collection.normalisation.to_text());  // one normalisation for all
    EXPECT_EQ(f.source_crc32, dd::file_crc32(f.source));
  }
}

TEST(Conversion, ARerunSkipsConvertedFilesAndRedoesLostOnes) {
  TemporaryDirectory dir;
  const auto sources = make_sources(dir, 3, 200);
  dd::convert_sources<TestData>(sources, "tree", dir / "out", {.threads = 2, .progress = false});
  auto again = dd::convert_sources<TestData>(sources, "tree", dir / "out", {.progress = false});
  EXPECT_EQ(again.skipped, 3u);
  EXPECT_EQ(again.converted, 0u);
  const auto collection = dd::Collection<TestData>::load(dir / "out" / "collection.h5");
  fs::remove(dir / "out" / collection.files[1].training_file);
  std::ofstream(dir / "out" / "source0_0.h5.tmp-123-0") << "left by a killed run";
  again = dd::convert_sources<TestData>(sources, "tree", dir / "out", {.progress = false});
  EXPECT_EQ(again.skipped, 2u);
  EXPECT_EQ(again.converted, 1u);
  EXPECT_FALSE(fs::exists(dir / "out" / "source0_0.h5.tmp-123-0"));
  EXPECT_EQ(dd::Collection<TestData>::load(dir / "out" / "collection.h5").files.size(), 3u);
  EXPECT_THROW(dd::convert_sources<TestData>(sources, "other_table", dir / "out", {.progress = false}), deepjet::FileError);
}

TEST(Conversion, KilledConversionResumesToTheSameFiles) {
  TemporaryDirectory dir;
  const auto sources = make_sources(dir, 8, 4000);
  dd::convert_sources<TestData>(sources, "tree", dir / "reference", {.threads = 1, .progress = false});

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dd::convert_sources<TestData>(sources, "tree", dir / "out", {.threads = 1, .progress = false});
    std::_Exit(0);
  }
  // Kill it once at least one file is recorded (or when it is already done).
  for (int i = 0; i < 2000; ++i) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) break;
    if (fs::exists(dir / "out" / "collection.h5")) {
      try {
        if (!dd::Collection<TestData>::load(dir / "out" / "collection.h5").files.empty()) {
          ::kill(child, SIGKILL);
          ::waitpid(child, &status, 0);
          break;
        }
      } catch (const deepjet::Error&) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto resumed = dd::convert_sources<TestData>(sources, "tree", dir / "out", {.threads = 2, .progress = false});
  EXPECT_EQ(resumed.skipped + resumed.converted, 8u);
  std::printf("killed after %zu of 8 files\n", resumed.skipped);
  EXPECT_EQ(resumed.failed, 0u);
  const auto reference = dd::Collection<TestData>::load(dir / "reference" / "collection.h5");
  const auto collection = dd::Collection<TestData>::load(dir / "out" / "collection.h5");
  ASSERT_EQ(collection.files.size(), 8u);
  EXPECT_EQ(collection.normalisation.to_text(), reference.normalisation.to_text());
  for (std::size_t i = 0; i < 8; ++i) {
    const auto a = dd::TrainingFile<TestData>(dir / "reference" / reference.files[i].training_file).read(0, 4000);
    const auto b = dd::TrainingFile<TestData>(dir / "out" / collection.files[i].training_file).read(0, 4000);
    EXPECT_EQ(std::get<1>(a.inputs), std::get<1>(b.inputs)) << "file " << i;
    EXPECT_EQ(a.spectators, b.spectators) << "file " << i;
  }
  for (const auto& entry : fs::directory_iterator(dir / "out"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

TEST(Conversion, ACollectionOfAnotherFormatIsRefused) {
  TemporaryDirectory dir;
  dd::convert_sources<TestData>(make_sources(dir, 1, 50), "tree", dir / "out", {.progress = false});
  try {
    dd::Collection<dd::Format<dd::Blocks<deepjet::test::TestJet>, deepjet::test::TestTruth>>::load(dir / "out" / "collection.h5");
    FAIL() << "must throw";
  } catch (const deepjet::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("collection.h5: was made for another data format"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// A source opener that renames a branch on the way in: the converter and the normalisation use it.
class RenamingSource final : public dd::Source {
 public:
  explicit RenamingSource(std::unique_ptr<dd::Source> inner) : inner_(std::move(inner)) {}
  const std::string& path() const override { return inner_->path(); }
  std::uint64_t entries() const override { return inner_->entries(); }
  bool has_branch(const std::string& name) const override { return inner_->has_branch(map(name)); }
  std::vector<float> read_flat(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    return inner_->read_flat(map(name), first, last);
  }
  dd::JaggedColumn read_jagged(const std::string& name, std::uint64_t first, std::uint64_t last) const override {
    return inner_->read_jagged(map(name), first, last);
  }

 private:
  static std::string map(const std::string& name) { return name == "jet_eta" ? "jet_pseudorapidity" : name; }
  std::unique_ptr<dd::Source> inner_;
};

TEST(Conversion, ASourceOpenerAdaptsSources) {
  TemporaryDirectory dir;
  const auto sources = make_sources(dir, 2, 100);
  // The tables have jet_eta; pretend they only have jet_pseudorapidity by renaming it back.
  dd::ConvertSourcesOptions options{.progress = false};
  std::atomic<int> opened{0};
  options.opener = [&](const std::string& path, const std::string& table) -> std::unique_ptr<dd::Source> {
    ++opened;
    struct Back final : dd::Source {
      std::unique_ptr<dd::Source> inner;
      const std::string& path() const override { return inner->path(); }
      std::uint64_t entries() const override { return inner->entries(); }
      bool has_branch(const std::string& n) const override { return inner->has_branch(n); }
      std::vector<float> read_flat(const std::string& n, std::uint64_t a, std::uint64_t b) const override {
        return inner->read_flat(n == "jet_pseudorapidity" ? "jet_eta" : n, a, b);
      }
      dd::JaggedColumn read_jagged(const std::string& n, std::uint64_t a, std::uint64_t b) const override {
        return inner->read_jagged(n == "jet_pseudorapidity" ? "jet_eta" : n, a, b);
      }
    };
    auto back = std::make_unique<Back>();
    back->inner = dd::open_source(path, table);
    return std::make_unique<RenamingSource>(std::move(back));
  };
  const auto report = dd::convert_sources<TestData>(sources, "tree", dir / "out", options);
  EXPECT_EQ(report.converted, 2u);
  EXPECT_EQ(opened.load(), 4);  // once to measure the normalisation, once to convert, per source
  dd::convert_sources<TestData>(sources, "tree", dir / "plain", {.progress = false});
  EXPECT_EQ(dd::Collection<TestData>::load(dir / "out" / "collection.h5").normalisation.to_text(),
            dd::Collection<TestData>::load(dir / "plain" / "collection.h5").normalisation.to_text());
}

}  // namespace

namespace {

// The original framework's known failure: a full disk during conversion crashed the program.
// Simulated with a file-size limit: a clear error, nothing under the output's name, and the
// program goes on and ends normally (ctest runs each test in its own process, so a crash at exit
// would fail this test).
TEST(Conversion, AFullDiskIsAnErrorNotACrash) {
  TemporaryDirectory dir;
  const auto sources = make_sources(dir, 1, 20000);
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit previous{};
  getrlimit(RLIMIT_FSIZE, &previous);
  rlimit tiny = previous;
  tiny.rlim_cur = 200000;
  setrlimit(RLIMIT_FSIZE, &tiny);
  std::string message = "(nothing thrown)";
  try {
    dd::convert_file<TestData>(sources[0], "tree", dir / "train.h5", dd::Normalisation<TestData>::identity());
  } catch (const deepjet::FileError& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &previous);
  EXPECT_NE(message.find("train.h5"), std::string::npos) << message;
  EXPECT_NE(message.find("disk full"), std::string::npos) << message;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find("train.h5"), std::string::npos) << entry.path();
  // Files can still be written afterwards.
  const auto report = dd::convert_file<TestData>(sources[0], "tree", dir / "train.h5", dd::Normalisation<TestData>::identity());
  EXPECT_EQ(report.jets, 20000u);
}

}  // namespace

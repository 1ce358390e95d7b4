// examples/pfnano: a real CMS PFNano file -> a DeepJet-style training file.
//
//   pfnano [FILE.root [OUTPUT.h5]]     (default: the shared coffea-pfnano.root, pfnano_training.h5)
//
// The file's events become jets with their charged and neutral PF candidates and secondary
// vertices, taken through PFNano's index maps (pfnano_data.hpp, data/jet_source.hpp), and the
// hadron-flavour truth b / c / udsg. The program prints what it read and what it wrote.
// The values are prepared (missing values, clipping, logs) but not normalised: ten events are too
// few to measure a normalisation worth keeping.
#include "pfnano_data.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  const std::string input = argc > 1 ? argv[1] : DEEPJET_PFNANO_FILE;
  const std::string output = argc > 2 ? argv[2] : "pfnano_training.h5";
  try {
    const auto jets = pfnano::open_pfnano_jets(input);
    const std::uint64_t n = jets->entries();
    auto total = [&](const std::string& branch) {
      double sum = 0;
      for (float v : jets->read_flat(branch, 0, n)) sum += v;
      return static_cast<unsigned long long>(sum);
    };
    std::printf("pfnano: %s: %llu events, %llu jets\n", input.c_str(), static_cast<unsigned long long>(jets->events()),
                static_cast<unsigned long long>(n));
    std::printf("lists: %llu charged + %llu neutral candidates, %llu secondary vertices\n", total("cpf.size"),
                total("npf.size"), total("sv.size"));

    const auto report = deepjet::data::convert_file<pfnano::PFNanoData>(
        *jets, output, deepjet::data::Normalisation<pfnano::PFNanoData>::identity());
    std::printf("prepared: %llu non-finite and %llu missing values replaced, %llu list entries beyond the blocks' lengths\n",
                static_cast<unsigned long long>(report.counts.non_finite_replaced),
                static_cast<unsigned long long>(report.counts.missing_replaced),
                static_cast<unsigned long long>(report.counts.entries_cut));

    const deepjet::data::TrainingFile<pfnano::PFNanoData> file(output);
    const auto batch = file.read(0, file.jets());
    unsigned long long classes[3] = {};
    for (std::size_t j = 0; j < file.jets(); ++j)
      for (std::size_t c = 0; c < 3; ++c) classes[c] += batch.truth(j, c) != 0.0f;
    std::printf("wrote %s: %llu jets (b %llu, c %llu, udsg %llu), %llu dropped without a class, %.3f s\n", output.c_str(),
                static_cast<unsigned long long>(file.jets()), classes[0], classes[1], classes[2],
                static_cast<unsigned long long>(report.dropped_unlabelled), report.seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pfnano: %s\n", e.what());
    return 1;
  }
  return 0;
}

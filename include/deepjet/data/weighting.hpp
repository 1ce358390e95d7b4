// deepjet/data/weighting.hpp: a Weighter (data/weighter.hpp) measured over a collection.
//
// measure_weighter fills the weighter with the truth and spectators of every training file of the
// collection (not their inputs), chunk by chunk, and finishes it. Store it in the collection
// (collection.extras["weighter"] = weighter.to_text(), then save) so prediction reuses it, and give
// it to the Loader (LoaderOptions::weighter), which then fills JetBatch::weights.
#pragma once

#include "deepjet/data/collection.hpp"
#include "deepjet/data/training_file.hpp"
#include "deepjet/data/weighter.hpp"

#include <filesystem>

namespace deepjet::data {

template <class Format>
Weighter measure_weighter(const Collection<Format>& collection, const std::filesystem::path& directory,
                          WeighterConfig config, std::uint64_t chunk_jets = 65536) {
  Weighter weighter(std::move(config));
  for (const auto& f : collection.files) {
    const TrainingFile<Format> file(directory / f.training_file);
    for (std::uint64_t first = 0; first < file.jets(); first += chunk_jets) {
      const auto labels = file.read_labels(first, std::min(chunk_jets, file.jets() - first));
      weighter.add(labels.truth, labels.spectators);
    }
  }
  weighter.finish();
  return weighter;
}

}  // namespace deepjet::data

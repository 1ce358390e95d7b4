// deepjet/evaluation.hpp: judging a tagger: discriminants, ROC curves and AUCs, plots, the JSON
// summary and the HTML report.
#pragma once

#include "deepjet/evaluation/discriminants.hpp"
#include "deepjet/evaluation/evaluate.hpp"
#include "deepjet/evaluation/jet_table.hpp"
#include "deepjet/evaluation/json_writer.hpp"
#include "deepjet/evaluation/plots.hpp"
#include "deepjet/evaluation/prediction_file.hpp"
#include "deepjet/evaluation/report.hpp"
#include "deepjet/evaluation/roc.hpp"

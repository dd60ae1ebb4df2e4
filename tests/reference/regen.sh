#!/bin/sh
# Regenerate every reference file in this directory (needs R with lme4, lmerTest,
# pbkrtest, broom.mixed, jsonlite, glmmTMB, ggeffects, emmeans, multcomp, quantreg, lmtest, ape, car). usage: sh regen.sh [DATA_DIR]   (run from anywhere)
set -e
cd "$(dirname "$0")"
DATA=${1:-../../../shared/data}
Rscript simdata.R ../data
Rscript refgen.R lmm_models.R "$DATA" lmm.json
Rscript refgen.R glmm_models.R "$DATA" glmm.json
Rscript glmm_tight.R "$DATA" glmm_tight.json
Rscript refgen.R glmm_links.R "$DATA" glmm_links.json
Rscript glmm_tight.R "$DATA" glmm_links_tight.json "$DATA/lme4_datasets_types.json" glmm_links.R
Rscript family_links.R family_links.json
Rscript inference.R "$DATA" inference.json
Rscript glmm_profile.R "$DATA" glmm_profile.json
Rscript summaries.R "$DATA" summaries.json
Rscript glmm_hard.R glmm_hard.json
Rscript lmer_many.R "$DATA" lmer_many.json
Rscript formula_edit.R formula_edit.json
Rscript checking.R checking.json
Rscript fixed.R "$DATA" fixed.json
Rscript predictions.R "$DATA" predictions.json
Rscript contrasts_models.R "$DATA" contrasts.json
Rscript tmb_data.R "$DATA" ../data
Rscript tmb_models.R ../data tmb.json
Rscript tmb_inference.R ../data tmb_inference.json
Rscript friction.R ../../src/pymer/datasets/data friction.json
Rscript tmb_wiring.R ../data tmb_wiring.json
Rscript tmb_feat.R ../data tmb_feat.json
Rscript fidelity_answers.R fidelity_answers.json ../data
Rscript formula_language.R "$DATA" formula_language.json
Rscript fidelity_args.R "$DATA" fidelity_args.json
Rscript tmb_zire.R ../data tmb_zire.json
Rscript versions.R > versions.txt

# Helpers shared by the glmmTMB reference scripts (tmb_models.R, tmb_feat.R, tmb_zire.R,
# tmb_wiring.R; sourced, not run on its own): glmmTMB and common.R (capture, the exact
# JSON writer) loaded, and
# load_tmb(name, data_dir): DATA_DIR/tmb_<name>.csv with every factor given its levels
#   in R's order, as tmb_data.R wrote them to tmb_types.json.

suppressMessages(library(glmmTMB))
source("common.R")

load_tmb <- function(name, data_dir) {
  types <- fromJSON(file.path(data_dir, "tmb_types.json"), simplifyVector = FALSE)
  d <- read.csv(file.path(data_dir, paste0("tmb_", name, ".csv")), stringsAsFactors = FALSE)
  for (cn in names(types[[name]])) {
    ct <- types[[name]][[cn]]
    d[[cn]] <- factor(as.character(d[[cn]]), levels = unlist(ct$levels), ordered = isTRUE(ct$ordered))
  }
  d
}

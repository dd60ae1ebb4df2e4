# Writes the data sets of tmb_models.R to tests/data as tmb_<name>.csv, with
# tmb_types.json giving every factor's levels in R's order (glmmTMB's own data sets
# Salamanders and Owls, copies of lme4's sleepstudy, cbpp and grouseticks, the
# lecture's robinson_sites_counts, and a simulated beta response).
# usage: Rscript tmb_data.R SHARED_DATA_DIR OUT_DIR
suppressMessages({library(glmmTMB); library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
shared <- args[1]; out <- args[2]
sets <- list()
sets$Salamanders <- Salamanders
o <- Owls
o$logBroodSize <- log(o$BroodSize)
sets$Owls <- o
sets$sleepstudy <- lme4::sleepstudy
sets$cbpp <- lme4::cbpp
g <- lme4::grouseticks
sets$grouseticks <- g[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION")]
r <- read.csv(file.path(shared, "robinson_sites_counts.csv"), stringsAsFactors = FALSE)
r$site <- factor(r$site)
sets$robinson_sites_counts <- r
set.seed(101)
ng <- 20; nper <- 15
grp <- factor(rep(sprintf("g%02d", 1:ng), each = nper))
x <- round(runif(ng * nper), 3)
b <- rnorm(ng, sd = 0.5)
mu <- plogis(-0.5 + 1.2 * x + b[as.integer(grp)])
phi <- 8
yb <- rbeta(ng * nper, mu * phi, (1 - mu) * phi)
yb <- pmin(pmax(yb, 1e-6), 1 - 1e-6)
sets$beta_sim <- data.frame(y = yb, x = x, grp = grp)
types <- list()
for (nm in names(sets)) {
  d <- sets[[nm]]
  write.csv(d, file.path(out, paste0("tmb_", nm, ".csv")), row.names = FALSE)
  cols <- list()
  for (cn in names(d)) if (is.factor(d[[cn]]))
    cols[[cn]] <- list(levels = I(levels(d[[cn]])), ordered = is.ordered(d[[cn]]))
  types[[nm]] <- cols
}
writeLines(toJSON(types, auto_unbox = TRUE, pretty = TRUE), file.path(out, "tmb_types.json"))

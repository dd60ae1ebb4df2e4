# lme4's profile confidence intervals of glmer fits: confint(m) (method = "profile",
# its default, level 0.95) for binomial and Poisson GLMMs, Laplace (nAGQ = 1) and
# nAGQ = 0 (which lme4 cannot profile), including a singular (boundary) fit. Whole run:
# about 50 s (grouseticks' three-term Poisson profile takes 26 s).
#
# usage: Rscript glmm_profile.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript glmm_profile.R ../../../shared/data glmm_profile.json)
#
# The JSON is a dict keyed by id. Each entry: id, data, call (deparsed; `d` is the
# data), and either error (lme4's error message: its profile() fails on the nAGQ = 0
# fit with "theta size mismatch") or nAGQ, theta, fixef (the fit), objective (-2 logLik), singular, table
# (confint(m): rownames, columns, values), seconds (profile + confint time), warnings
# (warnings and messages of the fit and of confint).
suppressMessages(library(lme4))
invisible(Sys.setlocale("LC_COLLATE", "C"))

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript glmm_profile.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

models <- list(
  cbpp_binomial = list(data = "cbpp",
    call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial))),
  cbpp_binomial_nAGQ0 = list(data = "cbpp",
    call = quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial,
                       nAGQ = 0))),
  lamprey_juvenile_detect = list(data = "lamprey_lab_DNA",
    call = quote(glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), data = d, family = binomial))),
  grouseticks_poisson = list(data = "grouseticks",
    call = quote(glmer(TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
                       data = d, family = poisson))),
  cbpp_poisson_offset = list(data = "cbpp",
    call = quote(glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson))),
  # singular (boundary) fit: the random-intercept SD is 0
  cbpp_logical_response = list(data = "cbpp",
    call = quote(glmer(I(incidence > 0) ~ period + (1 | herd), data = d, family = binomial)))
)

res <- list()
for (id in names(models)) {
  cm <- models[[id]]
  d <- load_data(cm$data, data_dir, types)
  fitcap <- capture(eval(cm$call))
  m <- fitcap$value
  cap <- capture(tryCatch(confint(m), error = function(e) e))
  if (inherits(cap$value, "error")) {
    # lme4 cannot profile this fit: keep its error message
    res[[id]] <- list(id = id, data = cm$data, call = deparse1(cm$call), error = conditionMessage(cap$value))
    cat(sprintf("%-28s ERROR %s\n", id, conditionMessage(cap$value)))
    next
  }
  res[[id]] <- list(id = id, data = cm$data, call = deparse1(cm$call), nAGQ = m@devcomp$dims[["nAGQ"]],
                    theta = I(unname(getME(m, "theta"))), fixef = as.list(fixef(m)),
                    objective = -2 * as.numeric(logLik(m)), singular = isSingular(m),
                    table = tab(cap$value),
                    warnings = I(unique(c(fitcap$warnings, fitcap$messages, cap$warnings, cap$messages))),
                    seconds = cap$seconds)
  cat(sprintf("%-28s %7.2f s%s\n", id, cap$seconds, if (length(res[[id]]$warnings)) "  [warned]" else ""))
}
write_json_file(res, args[2])

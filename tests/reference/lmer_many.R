# Reference values for pymer.lmer_many: lme4 fitted to each response of a set on its own
# (the dream loop), with lmerTest's Satterthwaite t tests.
#
# usage: Rscript lmer_many.R DATA_DIR OUT.json [TYPES.json]
#   (from tests/reference: Rscript lmer_many.R ../../../shared/data lmer_many.json)
#
# The JSON is a dict keyed by set id. Each set has: data, rhs, responses (name ->
# description of how it is made from the data, 1-based rows set to NA), and fits
# (name -> REMLcrit, fixef (names, values), theta, sigma, nobs, satterthwaite
# (rownames, columns, values of lmerTest's coefficient table)).
suppressMessages({library(lme4); library(lmerTest)})
invisible(Sys.setlocale("LC_COLLATE", "C"))

script_dir <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
})
source(file.path(script_dir, "common.R"))

args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: Rscript lmer_many.R DATA_DIR OUT.json [TYPES.json]")
data_dir <- args[1]
types <- read_types(if (length(args) >= 3) args[3] else file.path(data_dir, "lme4_datasets_types.json"))

with_na <- function(x, rows) { x[rows] <- NA; x }

sets <- list(
  penicillin = list(
    data = "Penicillin", rhs = "~ 1 + (1 | plate) + (1 | sample)",
    responses = list(
      diameter = list(desc = "diameter", make = function(d) d$diameter),
      log_diameter = list(desc = "log(diameter)", make = function(d) log(d$diameter)),
      sq_diameter = list(desc = "diameter^2 / 10", make = function(d) d$diameter^2 / 10),
      na_diameter = list(desc = "diameter, NA at rows 3, 10", make = function(d) with_na(d$diameter, c(3, 10))),
      na_sqrt = list(desc = "sqrt(diameter), NA at row 5", make = function(d) with_na(sqrt(d$diameter), 5))
    )),
  sleepstudy = list(
    data = "sleepstudy", rhs = "~ Days + (Days | Subject)",
    responses = list(
      Reaction = list(desc = "Reaction", make = function(d) d$Reaction),
      log_Reaction = list(desc = "log(Reaction)", make = function(d) log(d$Reaction)),
      na_Reaction = list(desc = "Reaction, NA at rows 5, 77", make = function(d) with_na(d$Reaction, c(5, 77)))
    ))
)

out <- list()
for (id in names(sets)) {
  s <- sets[[id]]
  d <- load_data(s$data, data_dir, types)
  fits <- list()
  for (nm in names(s$responses)) {
    d$.y <- s$responses[[nm]]$make(d)
    m <- lmerTest::lmer(as.formula(paste(".y", s$rhs)), data = d, REML = TRUE)
    fe <- fixef(m)
    fits[[nm]] <- list(REMLcrit = REMLcrit(m), fixef = list(names = I(names(fe)), values = I(unname(fe))),
                       theta = I(unname(getME(m, "theta"))), sigma = sigma(m), nobs = nobs(m),
                       satterthwaite = tab(coef(summary(m, ddf = "Satterthwaite"))))
  }
  out[[id]] <- list(data = s$data, rhs = s$rhs,
                    responses = lapply(s$responses, function(r) r$desc), fits = fits)
}
write_json_file(out, args[2])
